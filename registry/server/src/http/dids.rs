//! `/dids`: submit did:credence operations and read a DID's operation log.

use axum::Router;
use axum::extract::{RawPathParams, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Json, RegistryState, Typed, did_from_path, resolution_body};
use crate::http::ApiError;
use credence_registry::wire::timestamp;

pub(super) fn router() -> Router<RegistryState> {
    Router::new()
        .route("/dids", post(create))
        .route("/dids/{did}/ops", post(submit).get(operations))
}

/// Register a new DID with its signed genesis (create) operation.
#[utoipa::path(post, path = "/dids", request_body(content = Object, content_type = "application/json", description = "signed create operation"),
    responses((status = 201, description = "DID Resolution result of the new DID"),
              (status = 400, body = crate::http::ProblemDoc), (status = 409, body = crate::http::ProblemDoc),
              (status = 415, description = "Content-Type is not application/json (or +json)", body = crate::http::ProblemDoc)))]
pub async fn create(
    State(state): State<RegistryState>,
    body: Typed<Json>,
) -> Result<Response, ApiError> {
    let resolution = state.registry.submit(None, body.bytes()).await?;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(resolution_body(&resolution)),
    )
        .into_response();
    if let Some(id) = resolution.document.get("id").and_then(Value::as_str) {
        if let Ok(location) = HeaderValue::from_str(&format!("1.0/identifiers/{id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    Ok(response)
}

/// Append a signed update or deactivate operation to a DID.
#[utoipa::path(post, path = "/dids/{did}/ops", params(("did" = String, Path, description = "a did:credence DID")),
    request_body(content = Object, content_type = "application/json", description = "signed update or deactivate operation"),
    responses((status = 201, description = "DID Resolution result after the operation"),
              (status = 400, body = crate::http::ProblemDoc), (status = 403, body = crate::http::ProblemDoc),
              (status = 404, body = crate::http::ProblemDoc), (status = 409, body = crate::http::ProblemDoc),
              (status = 415, description = "Content-Type is not application/json (or +json)", body = crate::http::ProblemDoc),
              (status = 429, body = crate::http::ProblemDoc)))]
pub async fn submit(
    State(state): State<RegistryState>,
    params: RawPathParams,
    body: Typed<Json>,
) -> Result<Response, ApiError> {
    let did = did_from_path(raw_did(&params))?;
    let resolution = state.registry.submit(Some(&did), body.bytes()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(resolution_body(&resolution)),
    )
        .into_response())
}

/// The DID's whole signed operation log, oldest first, for audit.
#[utoipa::path(get, path = "/dids/{did}/ops", params(("did" = String, Path, description = "a did:credence DID")),
    responses((status = 200, description = "operations"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn operations(
    State(state): State<RegistryState>,
    params: RawPathParams,
) -> Result<Response, ApiError> {
    let did = did_from_path(raw_did(&params))?;
    let history = state.registry.operations(&did).await?;
    let operations: Vec<Value> = history
        .iter()
        .map(|op| {
            json!({
                "position": op.position,
                "hash": op.hash,
                "created": timestamp(op.created),
                "logIndex": op.log_index,
                "operation": op.operation,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "did": did, "operations": operations })).into_response())
}

fn raw_did(params: &RawPathParams) -> &str {
    params
        .iter()
        .find(|(name, _)| *name == "did")
        .map_or("", |(_, value)| value)
}
