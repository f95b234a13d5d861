//! `/log/...`: the transparency log over HTTP — the signed checkpoint (C2SP tlog-checkpoint),
//! the verifier key, tiles and entry bundles (C2SP tlog-tiles), inclusion and consistency
//! proofs.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::RegistryState;
use crate::http::ApiError;
use credence_registry::error::Error;
use credence_registry::wire::{ConsistencyProofBody, InclusionProofBody};

pub(super) fn router() -> Router<RegistryState> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/key", get(key))
        .route("/log/tile/{*path}", get(tile))
        .route("/log/proof/inclusion", get(inclusion))
        .route("/log/proof/consistency", get(consistency))
}

fn text(body: String, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The latest signed checkpoint (a C2SP signed note).
#[utoipa::path(get, path = "/log/checkpoint", responses((status = 200, description = "signed checkpoint note", content_type = "text/plain")))]
pub async fn checkpoint(State(state): State<RegistryState>) -> Result<Response, ApiError> {
    Ok(text(state.transparency.checkpoint().await?, "no-cache"))
}

/// The checkpoint verifier key (`<origin>+<key id>+<base64>`), to pin.
#[utoipa::path(get, path = "/log/key", responses((status = 200, description = "note verifier key", content_type = "text/plain")))]
pub async fn key(State(state): State<RegistryState>) -> Response {
    text(
        format!("{}\n", state.transparency.verifier_key()),
        "public, max-age=3600",
    )
}

/// A tile (`<L>/<N>[.p/<W>]`) or entry bundle (`entries/<N>[.p/<W>]`), C2SP tlog-tiles.
#[utoipa::path(get, path = "/log/tile/{path}", params(("path" = String, Path, description = "e.g. 0/x001/234 or entries/000.p/17")),
    responses((status = 200, description = "tile bytes", content_type = "application/octet-stream"),
              (status = 400, body = crate::http::ProblemDoc), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn tile(
    State(state): State<RegistryState>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let body = state.transparency.tile(&path).await?;
    let mut response = body.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // A full tile never changes; a partial one is replaced as the log grows.
    let cache = if body.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// Log index of the entry.
    index: u64,
    /// Tree size to prove against (usually a checkpoint's size).
    size: u64,
}

/// Inclusion proof of entry `index` in the tree of `size` entries (RFC 6962 §2.1.1).
#[utoipa::path(get, path = "/log/proof/inclusion", params(InclusionQuery),
    responses((status = 200, body = crate::http::InclusionProofDoc), (status = 400, body = crate::http::ProblemDoc)))]
pub async fn inclusion(
    State(state): State<RegistryState>,
    query: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<InclusionProofBody>, ApiError> {
    let Query(query) = query.map_err(|e| Error::InvalidQuery(e.body_text()))?;
    Ok(axum::Json(
        state
            .transparency
            .inclusion(query.index, query.size)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Size of the older tree.
    from: u64,
    /// Size of the newer tree.
    to: u64,
}

/// Consistency proof between two tree sizes (RFC 6962 §2.1.2).
#[utoipa::path(get, path = "/log/proof/consistency", params(ConsistencyQuery),
    responses((status = 200, body = crate::http::ConsistencyProofDoc), (status = 400, body = crate::http::ProblemDoc)))]
pub async fn consistency(
    State(state): State<RegistryState>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ConsistencyProofBody>, ApiError> {
    let Query(query) = query.map_err(|e| Error::InvalidQuery(e.body_text()))?;
    Ok(axum::Json(
        state.transparency.consistency(query.from, query.to).await?,
    ))
}
