//! `/accreditations` and `/issuers`: the trust registry over HTTP.

use axum::Router;
use axum::extract::{Path, Query, RawPathParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Jose, RegistryState, Typed, did_from_path};
use crate::http::ApiError;
use credence_registry::error::Error;

pub(super) fn router() -> Router<RegistryState> {
    Router::new()
        .route("/accreditations", post(accredit))
        .route("/accreditations/{id}", get(show))
        .route("/accreditations/{id}/revoke", post(revoke))
        .route("/issuers/{did}", get(issuer))
        .route("/issuers/{did}/authorization", get(authorization))
}

/// Record an accreditation: the body is a compact JWS by the accreditor's DID.
#[utoipa::path(post, path = "/accreditations", request_body(content = String, content_type = "application/jose"),
    responses((status = 201, description = "recorded"), (status = 400, body = crate::http::ProblemDoc), (status = 403, body = crate::http::ProblemDoc),
              (status = 415, description = "Content-Type is not application/jose", body = crate::http::ProblemDoc)))]
pub async fn accredit(
    State(state): State<RegistryState>,
    body: Typed<Jose>,
) -> Result<Response, ApiError> {
    let view = state.trust.accredit(body.jws()?).await?;
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

/// One accreditation.
#[utoipa::path(get, path = "/accreditations/{id}", params(("id" = String, Path, description = "accreditation id")),
    responses((status = 200, description = "the accreditation"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn show(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(state.trust.get(&id).await?).into_response())
}

/// Revoke an accreditation: the body is a compact JWS by its accreditor over
/// `{"type": "AccreditationRevocation", "accreditation": id}`.
#[utoipa::path(post, path = "/accreditations/{id}/revoke", params(("id" = String, Path, description = "accreditation id")),
    request_body(content = String, content_type = "application/jose"),
    responses((status = 200, description = "revoked"), (status = 403, body = crate::http::ProblemDoc), (status = 409, body = crate::http::ProblemDoc),
              (status = 415, description = "Content-Type is not application/jose", body = crate::http::ProblemDoc)))]
pub async fn revoke(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
    body: Typed<Jose>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(state.trust.revoke(&id, body.jws()?).await?).into_response())
}

fn raw_did(params: &RawPathParams) -> &str {
    params
        .iter()
        .find(|(name, _)| *name == "did")
        .map_or("", |(_, value)| value)
}

/// Every accreditation naming this DID.
#[utoipa::path(get, path = "/issuers/{did}", params(("did" = String, Path, description = "an organisation's DID")),
    responses((status = 200, description = "accreditations")))]
pub async fn issuer(
    State(state): State<RegistryState>,
    params: RawPathParams,
) -> Result<Response, ApiError> {
    let did = did_from_path(raw_did(&params))?;
    let accreditations = state.trust.list(&did).await?;
    let anchor = state.trust.is_anchor(&did);
    Ok(axum::Json(credence_registry::wire::IssuerAccreditations {
        did,
        anchor,
        accreditations,
    })
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationQuery {
    /// The credential type (vct).
    #[serde(rename = "type")]
    #[param(value_type = String)]
    credential_type: credence_registry::ids::CredentialType,
    /// When (RFC 3339); default now.
    at: Option<String>,
}

/// Was this DID accredited to issue `type` at `at`? Answers with the chain and log indexes.
#[utoipa::path(get, path = "/issuers/{did}/authorization", params(("did" = String, Path, description = "issuer DID"), AuthorizationQuery),
    responses((status = 200, description = "allowed or not, with the chain"), (status = 400, body = crate::http::ProblemDoc)))]
pub async fn authorization(
    State(state): State<RegistryState>,
    params: RawPathParams,
    query: Result<Query<AuthorizationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let did = did_from_path(raw_did(&params))?;
    let Query(query) = query.map_err(|e| Error::InvalidQuery(e.body_text()))?;
    let at = match query.at {
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map_err(|e| {
                Error::InvalidAccreditation(format!("at={text:?} is not an RFC 3339 time: {e}"))
            })?
            .with_timezone(&Utc),
        None => state.trust.now(),
    };
    Ok(axum::Json(
        state
            .trust
            .authorization(&did, &query.credential_type, at)
            .await?,
    )
    .into_response())
}
