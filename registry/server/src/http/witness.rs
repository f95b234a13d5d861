//! The witness's HTTP face: `POST /add-checkpoint` (C2SP tlog-witness) and `GET /key`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use credence_registry::witness::{Witness, WitnessError};

/// Largest add-checkpoint body read.
const MAX_BODY: usize = 64 * 1024;

/// The witness application.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route(
            "/key",
            get(|State(w): State<Arc<Witness>>| async move { format!("{}\n", w.verifier_key()) }),
        )
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(witness)
}

async fn add_checkpoint(
    State(witness): State<Arc<Witness>>,
    body: Result<String, axum::extract::rejection::StringRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return problem(rejection.status(), "malformed", &rejection.body_text()),
    };
    match witness.add_checkpoint(&body).await {
        Ok(cosignatures) => {
            let mut response = cosignatures.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        Err(error) => refusal(&error),
    }
}

/// The answer to a refused add-checkpoint: every `WitnessError` mapped here, no other arm.
fn refusal(error: &WitnessError) -> Response {
    let (status, kind) = match error {
        // tlog-witness: 409 with the witness's size as text/x.tlog.size, so the log can retry.
        WitnessError::SizeMismatch(size) => {
            let mut response = (StatusCode::CONFLICT, format!("{size}\n")).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/x.tlog.size"),
            );
            return response;
        }
        WitnessError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed"),
        WitnessError::UnknownLog(_) => (StatusCode::NOT_FOUND, "unknown-log"),
        WitnessError::BadSignature(_) => (StatusCode::FORBIDDEN, "bad-checkpoint-signature"),
        WitnessError::Inconsistent(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "inconsistent-checkpoint")
        }
        WitnessError::State(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    if status.is_server_error() {
        tracing::error!(%error, "witness failed");
        return problem(
            status,
            kind,
            "the witness failed; the operator has the details in the log",
        );
    }
    problem(status, kind, &error.to_string())
}

/// An RFC 9457 problem in the registry's shared shape (`error::Problem`), typed under
/// `problems/witness/`.
fn problem(status: StatusCode, kind: &str, detail: &str) -> Response {
    let body = credence_registry::error::Problem {
        kind: format!("{}witness/{kind}", credence_registry::error::PROBLEM_BASE),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        did_resolution_metadata: None,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}
