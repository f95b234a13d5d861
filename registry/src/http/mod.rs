//! HTTP routes of the registry. Handlers only extract, call `Registry`/`Resolver`, and map the
//! result; every error leaves as an RFC 9457 problem (`application/problem+json`).

pub mod dids;
pub mod identifiers;
pub mod log;
pub mod schemas;
pub mod service;
pub mod status;
pub mod throttle;
pub mod trust;
pub mod witness;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::Error;
use crate::registry::{Registry, Resolution, timestamp};
use crate::resolver::Resolver;

/// Largest request body any registry endpoint reads (an operation is at most 8 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What registry handlers need.
#[derive(Clone, Debug)]
pub struct RegistryState {
    pub registry: Arc<Registry>,
    pub resolver: Arc<Resolver>,
    pub transparency: Arc<crate::transparency::Transparency>,
    pub schemas: Arc<crate::schemas::SchemaRegistry>,
    pub trust: Arc<crate::trust::TrustRegistry>,
    pub status: Arc<crate::status::StatusLists>,
}

/// The registry's routes, relative to wherever they are mounted.
pub fn router(state: RegistryState) -> Router {
    Router::new()
        .merge(dids::router())
        .merge(identifiers::router())
        .merge(log::router())
        .merge(schemas::router())
        .merge(trust::router())
        .merge(status::router())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The OpenAPI document of the registry routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(
            title = "Credence registry",
            description = "did:credence registry and DID resolver"
        ),
        paths(
            dids::create,
            dids::submit,
            dids::operations,
            identifiers::resolve,
            log::checkpoint,
            log::key,
            log::tile,
            log::inclusion,
            log::consistency
        ),
        components(schemas(
            crate::error::Problem,
            crate::transparency::InclusionProofBody,
            crate::transparency::ConsistencyProofBody
        ))
    )]
    struct RegistryApi;
    RegistryApi::openapi()
}

/// A raw request body whose rejections (too large, unreadable) are problems too.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Error;
    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Error> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::BodyTooLarge {
                        limit: MAX_BODY_BYTES,
                    }
                } else {
                    Error::MalformedJson(crate::json::JsonError::Syntax(rejection.body_text()))
                }
            })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Deactivated(resolution) = &self {
            // DID Resolution: a deactivated DID resolves with metadata, under 410.
            return (StatusCode::GONE, resolution_response(resolution)).into_response();
        }
        if let Error::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Error::RateLimited {
            retry_after_secs, ..
        }
        | Error::Throttled { retry_after_secs } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// Media type of a DID Resolution result (as the Universal Resolver serves it).
pub const RESOLUTION_MEDIA_TYPE: &str =
    "application/ld+json;profile=\"https://w3id.org/did-resolution\"";

/// A DID Resolution result body (DID Resolution §4).
pub fn resolution_body(resolution: &Resolution) -> Value {
    json!({
        "@context": "https://w3id.org/did-resolution/v1",
        "didDocument": resolution.document,
        "didDocumentMetadata": resolution.metadata,
        "didResolutionMetadata": {
            "contentType": "application/did+json",
            "retrieved": timestamp(chrono::Utc::now()),
        },
    })
}

fn resolution_response(resolution: &Resolution) -> Response {
    let mut response = axum::Json(resolution_body(resolution)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(RESOLUTION_MEDIA_TYPE),
    );
    response
}

/// Parses a DID taken raw (still percent-encoded) from a path: did:web ports are `%3A` and
/// must stay so.
fn did_from_path(raw: &str) -> Result<crate::did::Did, Error> {
    Ok(crate::did::Did::parse(raw)?)
}
