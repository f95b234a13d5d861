//! `/tenants/{tenant}/credentials`: issue (any list of the type's formats), list what was
//! issued (records, never claims), show one with its status, and revoke / suspend / reinstate.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::tenants::tenant_id;
use super::{ApiError, Bearer, JsonBody};
use crate::error::Error;
use crate::ids::RecordId;
use crate::issue::{IssueRequest, Issued, RecordView};
use crate::state::AppState;
use crate::status_service::{StatusAction, StatusView, status_from_code, status_name};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/credentials", get(list).post(issue))
        .route("/tenants/{tenant}/credentials/{id}", get(show))
        .route("/tenants/{tenant}/credentials/{id}/revoke", post(revoke))
        .route("/tenants/{tenant}/credentials/{id}/suspend", post(suspend))
        .route(
            "/tenants/{tenant}/credentials/{id}/reinstate",
            post(reinstate),
        )
}

/// Issue a credential in one or more formats sharing one record and one status entry.
#[utoipa::path(post, path = "/tenants/{tenant}/credentials", params(("tenant" = String, Path)),
    request_body = IssueRequest, security(("bearer" = [])),
    responses((status = 201, body = Issued), (status = 400, body = super::ProblemDoc),
              (status = 401, body = super::ProblemDoc), (status = 404, body = super::ProblemDoc),
              (status = 413, body = super::ProblemDoc), (status = 422, body = super::ProblemDoc)))]
pub async fn issue(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<IssueRequest>,
) -> Result<(StatusCode, axum::Json<Issued>), ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let issued = state.service.issue(&tenant, body).await?;
    Ok((StatusCode::CREATED, axum::Json(issued)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many records (1 to 1000; 100 by default).
    limit: Option<u32>,
}

/// What the tenant issued, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/credentials",
    params(("tenant" = String, Path), ("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<RecordView>), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc)))]
pub async fn list(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Vec<RecordView>>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let Query(query) = query.map_err(|e| Error::InvalidRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError(Error::InvalidRequest(
            "limit must be 1 to 1000".into(),
        )));
    }
    let records = state.service.store().records(&tenant.id, limit).await?;
    Ok(axum::Json(records.iter().map(RecordView::from).collect()))
}

/// One record and its current status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordWithStatus {
    #[serde(flatten)]
    pub record: RecordView,
    /// `valid`, `revoked`, `suspended`, or absent for a type without status.
    pub current_status: Option<&'static str>,
}

/// A record of issuance and the credential's current status.
#[utoipa::path(get, path = "/tenants/{tenant}/credentials/{id}",
    params(("tenant" = String, Path), ("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = RecordWithStatus), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc)))]
pub async fn show(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<RecordWithStatus>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let id = record_id(&id)?;
    let (record, code) = state
        .service
        .store()
        .record(&tenant.id, &id)
        .await?
        .ok_or_else(|| Error::CredentialNotFound(id.to_string()))?;
    let current_status = code.map(status_from_code).transpose()?.map(status_name);
    Ok(axum::Json(RecordWithStatus {
        record: RecordView::from(&record),
        current_status,
    }))
}

fn record_id(text: &str) -> Result<RecordId, Error> {
    RecordId::parse(text).map_err(|_| Error::CredentialNotFound(text.to_owned()))
}

async fn change(
    state: AppState,
    token: crate::secrets::BearerToken,
    tenant: String,
    id: String,
    action: StatusAction,
) -> Result<axum::Json<StatusView>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let id = record_id(&id)?;
    Ok(axum::Json(
        state.service.change_status(&tenant, &id, action).await?,
    ))
}

/// Revoke a credential (final); the registry's lists show it within seconds.
#[utoipa::path(post, path = "/tenants/{tenant}/credentials/{id}/revoke",
    params(("tenant" = String, Path), ("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc), (status = 409, body = super::ProblemDoc)))]
pub async fn revoke(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<StatusView>, ApiError> {
    change(state, token, tenant, id, StatusAction::Revoke).await
}

/// Suspend a credential (its type must have suspension).
#[utoipa::path(post, path = "/tenants/{tenant}/credentials/{id}/suspend",
    params(("tenant" = String, Path), ("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc), (status = 409, body = super::ProblemDoc)))]
pub async fn suspend(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<StatusView>, ApiError> {
    change(state, token, tenant, id, StatusAction::Suspend).await
}

/// Lift a suspension.
#[utoipa::path(post, path = "/tenants/{tenant}/credentials/{id}/reinstate",
    params(("tenant" = String, Path), ("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc), (status = 409, body = super::ProblemDoc)))]
pub async fn reinstate(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<StatusView>, ApiError> {
    change(state, token, tenant, id, StatusAction::Reinstate).await
}
