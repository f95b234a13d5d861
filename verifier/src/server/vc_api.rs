//! W3C VC API verification (VC API §3.3 "Verifying"): `POST /credentials/verify` and
//! `POST /presentations/verify`.
//!
//! A credential is a compact string (`dc+sd-jwt`, told by its `~`; otherwise `vc+jwt`) or the
//! VCDM 2.0 enveloped form (`{"type": "EnvelopedVerifiableCredential", "id":
//! "data:application/vc+jwt,<jwt>"}`, VC-JOSE-COSE §3.1.2; `data:application/dc+sd-jwt,` too).
//! A presentation is an SD-JWT with its key-binding JWT (compact, or enveloped as
//! `EnvelopedVerifiablePresentation` with `data:application/dc+sd-jwt,`): `options.challenge`
//! is the nonce and `options.domain` the audience the key-binding JWT must name.
//!
//! A credential or presentation may also be a JSON-LD object secured with an embedded Data
//! Integrity proof (`eddsa-rdfc-2022`, told by its `proof` member): a credential goes through
//! `verify_data_integrity`, a presentation (the holder's `authentication` proof, whose
//! `challenge` and `domain` must be `options.challenge` and `options.domain`) through
//! `verify_data_integrity_presentation`.
//!
//! The answer renders the pipeline's report: `checks` names the steps that passed, `errors`
//! the failed ones and those that could not be checked, `warnings` those not checked, each with
//! the step's name and the report's sentence. 200 when valid; 400 when the input could not
//! be parsed; 422 when it parsed and is invalid; 503 when a step could not be checked (a
//! registry or status list did not answer: not the presenter's fault, not a verdict of valid).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, JsonBody, VerifierState};
use crate::pipeline::{
    Expectations, HolderBinding, Policy, verify_data_integrity, verify_data_integrity_presentation,
    verify_sd_jwt_vc, verify_vc_jwt,
};
use crate::report::{Outcome, Report, Step, Verdict};

pub(super) fn router() -> Router<VerifierState> {
    Router::new()
        .route("/credentials/verify", post(verify_credential))
        .route("/presentations/verify", post(verify_presentation))
}

/// `VerifyCredentialRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyCredentialRequest {
    pub verifiable_credential: Value,
    #[serde(default)]
    pub options: CredentialOptions,
}

/// Options of `credentials/verify`: none are needed; unknown ones are refused rather than
/// silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialOptions {}

/// `VerifyPresentationRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyPresentationRequest {
    pub verifiable_presentation: Value,
    pub options: PresentationOptions,
}

/// The request a presentation must answer: the nonce the verifier gave the holder and the
/// verifier's own identifier (the key-binding JWT's `nonce` and `aud`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresentationOptions {
    pub challenge: String,
    pub domain: String,
}

/// The envelope formats taken, by the media type of an enveloped `data:` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    SdJwtVc,
    VcJwt,
}

/// What a request carries: a compact (or enveloped) JWT format, or a JSON-LD document with an
/// embedded Data Integrity proof, serialized again for the pipeline (which takes bytes, as
/// from a file or a wallet).
enum Input<'v> {
    Compact(Format, &'v str),
    DataIntegrity(Vec<u8>),
}

async fn verify_credential(
    State(state): State<VerifierState>,
    JsonBody(request): JsonBody<VerifyCredentialRequest>,
) -> Result<Response, ApiError> {
    let CredentialOptions {} = request.options;
    let input = envelope(
        &request.verifiable_credential,
        "EnvelopedVerifiableCredential",
    )?;
    let expectations = Expectations {
        now: state.clock.now(),
        leeway: state.leeway,
        holder_binding: HolderBinding::NotRequired,
        policy: Policy::default(),
    };
    let context = &state.context;
    let report = match input {
        Input::Compact(Format::SdJwtVc, compact) => {
            verify_sd_jwt_vc(compact.as_bytes(), &expectations, context).await?
        }
        Input::Compact(Format::VcJwt, compact) => {
            verify_vc_jwt(compact.as_bytes(), &expectations, context).await?
        }
        Input::DataIntegrity(document) => {
            verify_data_integrity(&document, &expectations, context).await?
        }
    };
    Ok(render(&report))
}

async fn verify_presentation(
    State(state): State<VerifierState>,
    JsonBody(request): JsonBody<VerifyPresentationRequest>,
) -> Result<Response, ApiError> {
    let input = envelope(
        &request.verifiable_presentation,
        "EnvelopedVerifiablePresentation",
    )?;
    if matches!(input, Input::Compact(Format::VcJwt, _)) {
        return Err(ApiError::UnsupportedFormat(
            "presentations are taken as SD-JWT with a key-binding JWT (dc+sd-jwt) or as Data \
             Integrity presentations; vp+jwt is not supported yet"
                .into(),
        ));
    }
    let expectations = Expectations {
        now: state.clock.now(),
        leeway: state.leeway,
        holder_binding: HolderBinding::Required {
            nonce: request.options.challenge,
            audience: request.options.domain,
            max_age: state.presentation_max_age,
        },
        policy: Policy::default(),
    };
    let report = match input {
        Input::DataIntegrity(document) => {
            verify_data_integrity_presentation(&document, &expectations, &state.context).await?
        }
        Input::Compact(_, compact) => {
            verify_sd_jwt_vc(compact.as_bytes(), &expectations, &state.context).await?
        }
    };
    Ok(render(&report))
}

/// The compact credential or presentation in `value`: a string as is, or the `data:` URL of
/// an enveloped one (VC-JOSE-COSE §3.1.2; RFC 2397 with no parameters and no base64: a
/// compact JWS is already URL-safe text); or an object with an embedded `proof` (Data
/// Integrity).
fn envelope<'v>(value: &'v Value, envelope_type: &str) -> Result<Input<'v>, ApiError> {
    let compact_format = |text: &str| {
        if text.contains('~') {
            Format::SdJwtVc
        } else {
            Format::VcJwt
        }
    };
    match value {
        Value::String(text) => Ok(Input::Compact(compact_format(text), text.as_str())),
        Value::Object(object) if object.contains_key("proof") => {
            Ok(Input::DataIntegrity(serde_json::to_vec(value).map_err(
                |e| ApiError::InvalidRequest(format!("the document cannot be serialized: {e}")),
            )?))
        }
        Value::Object(object) => {
            let kind = object.get("type").and_then(Value::as_str);
            if kind != Some(envelope_type) {
                return Err(ApiError::UnsupportedFormat(format!(
                    "an object must be an {envelope_type} or carry an embedded Data Integrity \
                     proof (eddsa-rdfc-2022)"
                )));
            }
            let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
            if let Some(jwt) = id.strip_prefix("data:application/vc+jwt,") {
                Ok(Input::Compact(Format::VcJwt, jwt))
            } else if let Some(sd_jwt) = id.strip_prefix("data:application/dc+sd-jwt,") {
                Ok(Input::Compact(Format::SdJwtVc, sd_jwt))
            } else {
                Err(ApiError::UnsupportedFormat(
                    "the envelope's id must be a data: URL of application/vc+jwt or \
                     application/dc+sd-jwt"
                        .into(),
                ))
            }
        }
        _ => Err(ApiError::InvalidRequest(
            "the credential must be a compact string or an enveloped credential object".into(),
        )),
    }
}

/// The VC API verification result for `report`, under the status its verdict calls for.
pub fn render(report: &Report) -> Response {
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for step in report.steps() {
        let name = step.step.name();
        match &step.outcome {
            Outcome::Passed => checks.push(json!(name)),
            Outcome::Failed(defect) => errors.push(entry(step.step, "failed", &defect.to_string())),
            Outcome::CouldNotCheck(why) => errors.push(entry(step.step, "could-not-check", why)),
            Outcome::NotChecked(why) => warnings.push(entry(step.step, "not-checked", why)),
        }
    }
    let verdict = report.verdict();
    let status = match verdict {
        Verdict::Valid => StatusCode::OK,
        Verdict::Invalid if matches!(report.outcome(Step::Parse), Outcome::Failed(_)) => {
            StatusCode::BAD_REQUEST
        }
        Verdict::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        Verdict::CouldNotCheck => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = json!({
        "verified": verdict == Verdict::Valid,
        "checks": checks,
        "warnings": warnings,
        "errors": errors,
    });
    (status, axum::Json(body)).into_response()
}

/// One warning or error: a problem-details object naming the step and the report's sentence.
fn entry(step: Step, outcome: &str, detail: &str) -> Value {
    let name = step.name();
    json!({
        "type": format!("{}verification/{name}/{outcome}", credence_registry::error::PROBLEM_BASE),
        "title": format!("{name}: {}", outcome.replace('-', " ")),
        "step": name,
        "detail": detail,
    })
}
