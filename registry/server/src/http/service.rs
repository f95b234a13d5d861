//! Cross-cutting service endpoints every Credence process serves: `/health` (the process is
//! up), `/ready` (its database answers), `/metrics` (Prometheus text), `/openapi.json`; and
//! the request-metrics middleware behind `/metrics`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::store::DidStore;

/// What the service endpoints need.
#[derive(Clone)]
pub struct ServiceState {
    pub store: Arc<dyn DidStore>,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
}

/// The process-wide Prometheus recorder, installed on first use (one per process, shared by
/// every app built in it, which is what tests building several apps need).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours stays unused and
            // /metrics reports nothing, which the metrics test would catch.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

pub fn router(state: ServiceState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// The OpenAPI description of the service routes (mounted at the root in every composition).
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(health, ready, metrics, openapi))]
    struct ServiceApi;
    ServiceApi::openapi()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers (503 with a problem body when it does not).
#[utoipa::path(get, path = "/ready", responses((status = 200, description = "`{\"status\": \"ready\"}`"),
    (status = 503, body = crate::http::ProblemDoc)))]
async fn ready(State(state): State<ServiceState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            let problem = json!({
                "type": format!("{}database-unavailable", credence_registry::error::PROBLEM_BASE),
                "title": "Database unavailable",
                "status": 503,
                "detail": "the service cannot reach its database",
            });
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(problem)).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            response
        }
    }
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
async fn metrics() -> Response {
    let mut response = metrics_handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi(State(state): State<ServiceState>) -> Json<utoipa::openapi::OpenApi> {
    Json((*state.openapi).clone())
}

/// Counts requests and records their latency by route template (never the raw path, which
/// would carry DIDs and blow up cardinality) and status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    // Label values are bounded: any method outside the standard ones is "other" (a client
    // inventing methods must not create a series per invention).
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
