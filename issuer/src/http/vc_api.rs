//! The W3C VC API issuer routes, per tenant: `POST /{tenant}/credentials/issue` and
//! `POST /{tenant}/credentials/status` (mounted under `/issuer`, so
//! `/issuer/<tenant>/credentials/issue` as issue 11 names them). Each takes the tenant's bearer
//! token, a strict JSON body, and calls `IssuerService::vc_api_issue` /
//! `vc_api_update_status` (`crate::vc_api`), which say how a VC API request maps to this
//! service. Errors are RFC 9457 problems like every other route here.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;

use super::tenants::tenant_id;
use super::{ApiError, Bearer, JsonBody};
use crate::state::AppState;
use crate::status_service::StatusView;
use crate::vc_api::{IssueCredentialRequest, IssueCredentialResponse, UpdateStatusRequest};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/credentials/issue", post(issue))
        .route("/{tenant}/credentials/status", post(update_status))
}

/// VC API issueCredential: a VCDM 2.0 credential of one of the tenant's types, secured as
/// Data Integrity `eddsa-rdfc-2022` (default) or enveloped `vc+jwt` (`options.format`).
#[utoipa::path(post, path = "/{tenant}/credentials/issue", params(("tenant" = String, Path)),
    request_body = IssueCredentialRequest, security(("bearer" = [])), tag = "W3C VC API",
    responses((status = 201, body = IssueCredentialResponse),
              (status = 400, body = super::ProblemDoc), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc), (status = 413, body = super::ProblemDoc),
              (status = 422, body = super::ProblemDoc)))]
pub async fn issue(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<IssueCredentialRequest>,
) -> Result<(StatusCode, axum::Json<IssueCredentialResponse>), ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let issued = state.service.vc_api_issue(&tenant, body).await?;
    Ok((StatusCode::CREATED, axum::Json(issued)))
}

/// VC API updateCredentialStatus: `status: true` revokes or suspends the entry named by
/// `credentialStatus.statusPurpose`, `false` lifts a suspension; the registry's list follows.
#[utoipa::path(post, path = "/{tenant}/credentials/status", params(("tenant" = String, Path)),
    request_body = UpdateStatusRequest, security(("bearer" = [])), tag = "W3C VC API",
    responses((status = 200, body = StatusView), (status = 400, body = super::ProblemDoc),
              (status = 401, body = super::ProblemDoc), (status = 404, body = super::ProblemDoc),
              (status = 409, body = super::ProblemDoc)))]
pub async fn update_status(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<UpdateStatusRequest>,
) -> Result<axum::Json<StatusView>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    Ok(axum::Json(
        state.service.vc_api_update_status(&tenant, body).await?,
    ))
}
