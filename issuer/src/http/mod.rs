//! The issuer's admin API over HTTP. Handlers only extract (a bearer token, a path, a strict
//! JSON body), call `IssuerService`, and map the result; every error leaves as an RFC 9457
//! problem (`application/problem+json`). Bodies are limited to [`MAX_BODY_BYTES`] and parsed
//! with `credence_registry::json::parse_strict` (no duplicate keys, bounded nesting) before
//! any typed decoding.
//!
//! Routes (relative to where the router is mounted, `/issuer` in `credence serve`):
//! `/tenants` (admin token), `/tenants/{tenant}`, `/tenants/{tenant}/rotate`,
//! `/tenants/{tenant}/types`,
//! `/tenants/{tenant}/credentials`, `/tenants/{tenant}/credentials/{id}` and its
//! `/revoke`, `/suspend`, `/reinstate` (the tenant's token); the W3C VC API's
//! `/{tenant}/credentials/issue` and `/{tenant}/credentials/status` ([`vc_api`], the tenant's
//! token). OpenID4VCI's routes (`oid4vci.rs`: `/tenants/{tenant}/offers`, and the
//! wallet-facing `/{tenant}/token`, `/nonce`, `/credential`, `/offers/{id}`, which answer OAuth
//! error bodies) are merged here; its well-known documents are outside the prefix
//! (`crate::well_known_router`).

pub mod credentials;
pub mod oid4vci;
pub mod tenants;
pub mod types;
pub mod vc_api;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::secrets::BearerToken;
use crate::state::AppState;

/// Largest request body read (an issuance's claims with a schema's worth of nesting).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An error as a handler returns it.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        if let Error::Internal(cause) = &error {
            tracing::error!(%cause, "internal error");
        }
        let mut response = (error.status(), axum::Json(error.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(error, Error::Unauthenticated) {
            // RFC 6750 §3.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The OpenAPI description of `credence_registry::error::Problem`.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct ProblemDoc {
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
}

/// The token of `Authorization: Bearer <token>`; missing or malformed is `Unauthenticated`.
#[derive(Debug)]
pub struct Bearer(pub BearerToken);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthenticated)?;
        let (scheme, token) = value.split_once(' ').ok_or(Error::Unauthenticated)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError(Error::Unauthenticated));
        }
        Ok(Self(BearerToken::new(token)))
    }
}

/// A JSON request body: `Content-Type: application/json` (or `+json`), at most
/// [`MAX_BODY_BYTES`], strictly parsed, then decoded into `T` (unknown members refused by
/// `T`'s `deny_unknown_fields`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let essence = content_type
            .as_deref()
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        let is_json = essence.as_deref().is_some_and(|e| {
            e == "application/json"
                || e.strip_prefix("application/")
                    .is_some_and(|subtype| subtype.ends_with("+json"))
        });
        if !is_json {
            return Err(ApiError(Error::UnsupportedMediaType(
                content_type.map_or_else(|| "(none)".to_owned(), |v| format!("{v:?}")),
            )));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::BodyTooLarge {
                        limit: MAX_BODY_BYTES,
                    }
                } else {
                    Error::InvalidRequest(format!(
                        "the body could not be read: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        let value = credence_registry::json::parse_strict(&bytes)?;
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|e| ApiError(Error::InvalidRequest(e.to_string())))
    }
}

/// The admin routes, relative to wherever they are mounted.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(tenants::router())
        .merge(types::router())
        .merge(credentials::router())
        .merge(oid4vci::router())
        .merge(vc_api::router())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The OpenAPI document of the admin routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(
            title = "Credence issuer",
            description = "Tenants, credential types, issuance and status"
        ),
        paths(
            tenants::create,
            tenants::show,
            tenants::rotate,
            types::register,
            types::list,
            credentials::issue,
            credentials::list,
            credentials::show,
            credentials::revoke,
            credentials::suspend,
            credentials::reinstate,
            oid4vci::create_offer,
            oid4vci::credential_offer,
            vc_api::issue,
            vc_api::update_status,
        ),
        components(schemas(
            ProblemDoc,
            tenants::CreateTenantBody,
            tenants::CreatedTenantBody,
            crate::tenants::TenantView,
            crate::rotation::Rotation,
            crate::types::TypeRequest,
            crate::types::TypeView,
            crate::issue::IssueRequest,
            crate::issue::Issued,
            crate::issue::RecordView,
            crate::issue::StatusRef,
            credentials::RecordWithStatus,
            crate::status_service::StatusView,
            crate::offers::OfferRequest,
            crate::offers::TxCodeRequest,
            crate::offers::CreatedOffer,
            crate::vc_api::IssueCredentialRequest,
            crate::vc_api::IssueCredentialOptions,
            crate::vc_api::IssueCredentialResponse,
            crate::vc_api::UpdateStatusRequest,
        ))
    )]
    struct IssuerApi;
    IssuerApi::openapi()
}
