//! `GET /1.0/identifiers/{did}`: DID Resolution in the Universal Resolver shape, for every
//! method the resolver supports.

use axum::Router;
use axum::extract::{Query, RawPathParams, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use serde::Deserialize;

use super::{RESOLUTION_MEDIA_TYPE, RegistryState, did_from_path, resolution_body};
use crate::error::Error;
use crate::registry::VersionSelector;

pub(super) fn router() -> Router<RegistryState> {
    Router::new().route("/1.0/identifiers/{did}", get(resolve))
}

/// DID parameters for selecting a version (DID Core §3.2.1).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionQuery {
    /// The version created by the operation with this hash.
    version_id: Option<String>,
    /// The version current at this time (RFC 3339, e.g. 2026-01-01T00:00:00Z).
    version_time: Option<String>,
    /// did:credence only: add `logProof`, an inclusion proof of the version's operation
    /// against the latest signed checkpoint.
    #[serde(default)]
    proof: bool,
}

/// Resolve a DID. `Accept: application/did+json` returns only the document.
#[utoipa::path(get, path = "/1.0/identifiers/{did}", params(("did" = String, Path, description = "any supported DID"), VersionQuery),
    responses((status = 200, description = "DID Resolution result"), (status = 400, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 410, description = "deactivated, with metadata"),
              (status = 501, body = crate::error::Problem)))]
pub async fn resolve(
    State(state): State<RegistryState>,
    params: RawPathParams,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let raw = params
        .iter()
        .find(|(name, _)| *name == "did")
        .map_or("", |(_, value)| value);
    let did = did_from_path(raw)?;
    let Query(query) =
        query.map_err(|e| Error::InvalidDid(format!("bad query: {}", e.body_text())))?;
    let version = match (query.version_id, query.version_time) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidDid(
                "give versionId or versionTime, not both".into(),
            ));
        }
        (Some(id), None) => VersionSelector::Id(id),
        (None, Some(time)) => VersionSelector::at_time(&time)
            .map_err(|e| Error::InvalidDid(format!("versionTime {e}")))?,
        (None, None) => VersionSelector::Latest,
    };
    let resolution = state.resolver.resolve(&did, &version).await?;
    let log_proof = if query.proof && did.method() == crate::ops::METHOD {
        let chain = state.registry.version_chain(&did, &version).await?;
        Some(state.transparency.proof_for(&chain).await?)
    } else {
        None
    };
    let wants_document_only = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/did+json"));
    let mut response = if wants_document_only {
        let mut response = axum::Json(resolution.document).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/did+json"),
        );
        response
    } else {
        let mut body = resolution_body(&resolution);
        if let Some(proof) = log_proof {
            body["logProof"] =
                serde_json::to_value(proof).map_err(|e| Error::Internal(e.to_string()))?;
        }
        let mut response = axum::Json(body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(RESOLUTION_MEDIA_TYPE),
        );
        response
    };
    // Pinned versions never change; the latest may change at any moment.
    let cache = if resolution.metadata.next_version_id.is_some() {
        "public, max-age=86400, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}
