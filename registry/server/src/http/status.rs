//! `/status-lists`: publish and serve status lists at stable URLs with caching headers.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{RegistryState, StatusListJwt, Typed};
use crate::http::ApiError;
use credence_registry::error::Error;

pub(super) fn router() -> Router<RegistryState> {
    Router::new()
        .route("/status-lists", post(publish))
        .route("/status-lists/{key}", get(serve))
        .route("/status-lists/{did}/{name}", get(serve_by_uri))
}

/// The list at its URI (`<registry>/status-lists/<issuer DID>/<name>`, the list's `sub`), so
/// the URI a credential carries is where a verifier fetches the list.
#[utoipa::path(get, path = "/status-lists/{did}/{name}", params(("did" = String, Path, description = "the issuer's DID"),
        ("name" = String, Path, description = "the list's name"), VersionQuery),
    responses((status = 200, description = "the signed list"), (status = 304, description = "not modified"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn serve_by_uri(
    state: State<RegistryState>,
    Path((did, name)): Path<(String, String)>,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = credence_registry::status::key_for(&did, &name);
    serve(state, Path(key.to_string()), query, headers).await
}

/// Publish a status list version: the body is the issuer's signed `statuslist+jwt` or
/// `vc+jwt` (Bitstring Status List credential).
#[utoipa::path(post, path = "/status-lists",
    request_body(content = String, description = "the signed list as a compact JWS",
                 content(("application/jose"), ("application/statuslist+jwt"), ("application/vc+jwt"))),
    responses((status = 201, description = "accepted"), (status = 400, body = crate::http::ProblemDoc),
              (status = 403, body = crate::http::ProblemDoc), (status = 409, body = crate::http::ProblemDoc),
              (status = 415, description = "Content-Type is none of application/jose, application/statuslist+jwt, application/vc+jwt", body = crate::http::ProblemDoc)))]
pub async fn publish(
    State(state): State<RegistryState>,
    body: Typed<StatusListJwt>,
) -> Result<Response, ApiError> {
    let version = state.status.publish(body.jws()?).await?;
    let mut response = (StatusCode::CREATED, axum::Json(&*version)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("status-lists/{}", version.key)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A specific version (its issued time in Unix milliseconds); default the latest.
    version: Option<i64>,
}

/// The list as its issuer signed it, with the spec's media type, an ETag, and caching from
/// the list's TTL (a pinned version is immutable).
#[utoipa::path(get, path = "/status-lists/{key}", params(("key" = String, Path, description = "list key"), VersionQuery),
    responses((status = 200, description = "the signed list"), (status = 304, description = "not modified"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn serve(
    State(state): State<RegistryState>,
    Path(key): Path<String>,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| Error::InvalidQuery(e.body_text()))?;
    let version = state.status.get(&key, query.version).await?;
    let etag = format!("\"{}-{}\"", version.key, version.version);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        version.jws.clone().into_response()
    };
    list_headers(
        response.headers_mut(),
        &version,
        &etag,
        query.version.is_some(),
    );
    Ok(response)
}

/// A served list's headers: its media type, ETag, caching (a pinned version is immutable; the
/// latest is cached for the list's ttl, bounded by the registry) and where it is logged.
fn list_headers(
    out: &mut HeaderMap,
    version: &credence_registry::wire::StatusListVersion,
    etag: &str,
    pinned: bool,
) {
    let cache = if pinned {
        "public, max-age=31536000, immutable".to_owned()
    } else {
        // The list's ttl is the issuer's wish; the registry bounds how long a revocation can
        // stay unseen in caches.
        format!(
            "public, max-age={}",
            version
                .ttl_seconds
                .min(credence_registry::status::MAX_TTL_SECONDS)
        )
    };
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(version.format.media_type()),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache) {
        out.insert(header::CACHE_CONTROL, value);
    }
    out.insert(
        credence_registry::status::LOG_INDEX_HEADER,
        HeaderValue::from(version.log_index.get()),
    );
}
