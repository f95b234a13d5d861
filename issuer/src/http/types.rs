//! `/tenants/{tenant}/types`: register and list a tenant's credential types.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

use super::tenants::tenant_id;
use super::{ApiError, Bearer, JsonBody};
use crate::state::AppState;
use crate::types::{TypeRequest, TypeView};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/tenants/{tenant}/types", get(list).post(register))
}

/// Register a credential type against a schema published in the registry.
#[utoipa::path(post, path = "/tenants/{tenant}/types", params(("tenant" = String, Path)),
    request_body = TypeRequest, security(("bearer" = [])),
    responses((status = 201, body = TypeView), (status = 400, body = super::ProblemDoc),
              (status = 401, body = super::ProblemDoc), (status = 404, body = super::ProblemDoc),
              (status = 409, body = super::ProblemDoc), (status = 422, body = super::ProblemDoc)))]
pub async fn register(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<TypeRequest>,
) -> Result<(StatusCode, axum::Json<TypeView>), ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let view = state.service.register_type(&tenant, body).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// The tenant's credential types.
#[utoipa::path(get, path = "/tenants/{tenant}/types", params(("tenant" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<TypeView>), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc)))]
pub async fn list(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
) -> Result<axum::Json<Vec<TypeView>>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    Ok(axum::Json(state.service.types(&tenant).await?))
}
