//! `/tenants`: create a tenant (operator's admin token), show one and rotate its keys (its own
//! token).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{ApiError, Bearer, JsonBody};
use crate::error::Error;
use crate::ids::TenantId;
use crate::rotation::Rotation;
use crate::state::AppState;
use crate::tenants::{NewTenant, TenantView};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create))
        .route("/tenants/{tenant}", get(show))
        .route("/tenants/{tenant}/rotate", post(rotate))
}

/// A tenant to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantBody {
    /// The tenant's id in URLs (a slug: a-z 0-9 -).
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The created tenant and its API token, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTenantBody {
    pub tenant: TenantView,
    pub did: String,
    pub token: String,
}

/// Create a tenant: generates its keys, registers its DID at the registry, returns its token.
#[utoipa::path(post, path = "/tenants", request_body = CreateTenantBody,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedTenantBody), (status = 400, body = super::ProblemDoc),
              (status = 401, body = super::ProblemDoc), (status = 409, body = super::ProblemDoc),
              (status = 502, body = super::ProblemDoc), (status = 503, body = super::ProblemDoc)))]
pub async fn create(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    JsonBody(body): JsonBody<CreateTenantBody>,
) -> Result<(StatusCode, axum::Json<CreatedTenantBody>), ApiError> {
    if token.hash() != state.admin_token {
        return Err(ApiError(Error::Unauthenticated));
    }
    let created = state
        .service
        .create_tenant(NewTenant {
            id: TenantId::parse(&body.id)?,
            name: body.name,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedTenantBody {
            did: created.tenant.did.to_string(),
            tenant: created.tenant,
            token: created.token.expose().to_owned(),
        }),
    ))
}

/// A tenant, as its own token sees it.
#[utoipa::path(get, path = "/tenants/{tenant}", params(("tenant" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc)))]
pub async fn show(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    Ok(axum::Json(TenantView::from(&tenant)))
}

/// Rotate the tenant's keys: a DID update signed with its current rotation key; what it
/// signs from now on carries the new `kid`, and what it signed before keeps verifying.
#[utoipa::path(post, path = "/tenants/{tenant}/rotate", params(("tenant" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Rotation), (status = 401, body = super::ProblemDoc),
              (status = 404, body = super::ProblemDoc), (status = 409, body = super::ProblemDoc),
              (status = 502, body = super::ProblemDoc), (status = 503, body = super::ProblemDoc)))]
pub async fn rotate(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
) -> Result<axum::Json<Rotation>, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    Ok(axum::Json(
        state.service.rotate_tenant_keys(&tenant.id).await?,
    ))
}

/// A tenant id from a path: one that cannot be a tenant is a tenant not found.
pub(super) fn tenant_id(text: &str) -> Result<TenantId, Error> {
    TenantId::parse(text).map_err(|_| Error::TenantNotFound(text.to_owned()))
}
