//! OpenID for Verifiable Presentations 1.0, the verifier's side, pure: the authorization
//! request object it signs (§5, request by reference §5.7 / RFC 9101), the `openid4vp://` URI
//! a wallet scans, and the check of a wallet's response (§8: `vp_token` keyed by DCQL
//! credential query id, each an array of presentations; `direct_post` §8.2 and
//! `direct_post.jwt` §8.3). A request may ask for several credentials (several credential
//! queries, `credential_sets`); every presentation is checked with its own report, and a
//! response missing a required query or answering one not asked is refused (`dcql`).
//!
//! `jwt_vc_json` answers (Appendix B.1.3.1) are either a VC-JOSE-COSE `vp+jwt` (`vp_jwt`:
//! holder-signed, `nonce` and `aud` bound, each enclosed credential one answer to the query)
//! or, where the query does not require holder binding, a bare `vc+jwt`.
//!
//! What it owns: the request's claims, the order of the response checks (state, then every
//! presentation through [`crate::pipeline`] with this request's nonce and this verifier's
//! `client_id` as the key-binding audience, then the DCQL query), and which claims the relying
//! party gets back (only those the query asked for, of those disclosed). What it must not do:
//! read the clock (`now` is a parameter), store anything (single use is the service's atomic
//! update), or serve HTTP.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use credence_registry::keys::SecretKey;
use rand_core::{OsRng, RngCore as _};
use serde_json::{Map, Value, json};

use crate::dcql::{DcqlQuery, Format, PresentedCredential, Unmet};
use crate::jwe::{self, Enc, JweError};
use crate::pipeline::{Context, Expectations, HolderBinding, VerifyError};
use crate::report::{Outcome, Report, Verdict};
use crate::vp_jwt;
use crate::x509::CertificateChain;

/// The request object's JWS `typ` (RFC 9101 §10.8).
pub const REQUEST_OBJECT_TYPE: &str = "oauth-authz-req+jwt";
/// The request object's `aud` when the wallet's metadata is not known (§5.8, static discovery).
pub const SELF_ISSUED_AUDIENCE: &str = "https://self-issued.me/v2";
/// The client identifier prefix of a verifier identified by a DID (§5.9.3).
pub const DID_CLIENT_ID_PREFIX: &str = "decentralized_identifier:";
/// The content encryptions this verifier accepts for `direct_post.jwt`, preferred first.
pub const RESPONSE_ENC_VALUES: [Enc; 2] = [Enc::A128Gcm, Enc::A256Gcm];

/// How the wallet sends its response (§8.2, §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// A form POST of `vp_token` and `state`.
    DirectPost,
    /// A form POST of `response`, a JWE of the same parameters to the verifier's key.
    DirectPostJwt,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::DirectPost => "direct_post",
            ResponseMode::DirectPostJwt => "direct_post.jwt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "direct_post" => Some(ResponseMode::DirectPost),
            "direct_post.jwt" => Some(ResponseMode::DirectPostJwt),
            _ => None,
        }
    }
}

/// 128 random bits, base64url: nonces, states and request ids.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `client_id` of a verifier identified by `did` (§5.9.3).
pub fn did_client_id(did: &str) -> String {
    format!("{DID_CLIENT_ID_PREFIX}{did}")
}

/// An authorization request, as this verifier makes it.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Where the wallet posts its response (§8.2).
    pub response_uri: String,
    pub response_mode: ResponseMode,
    /// Single use, 128 random bits: the key-binding JWT must carry it.
    pub nonce: String,
    pub state: String,
    pub dcql_query: DcqlQuery,
    /// For `direct_post.jwt`: the verifier's ephemeral public key for this request, as a JWK
    /// with its `kid`.
    pub response_key: Option<Value>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The relying party's name, shown by the wallet (`client_metadata.client_name`, RFC 7591).
    pub client_name: Option<String>,
    /// Why the claims are asked for, shown by the wallet: a top-level `purpose` claim, a
    /// Credence extension other wallets ignore (OpenID4VP 1.0 defines none).
    pub purpose: Option<String>,
}

impl AuthorizationRequest {
    /// The request object's claims (§5.1, RFC 9101 §4).
    pub fn claims(&self) -> Value {
        let mut metadata = json!({
            // §11.1 / Appendix B: the formats and algorithms this verifier checks.
            "vp_formats_supported": {
                "dc+sd-jwt": {
                    "sd-jwt_alg_values": ["EdDSA", "ES256"],
                    "kb-jwt_alg_values": ["EdDSA", "ES256"],
                },
                // B.1.3.1.3: for the credentials and for the vp+jwt presenting them.
                "jwt_vc_json": {"alg_values": ["EdDSA", "ES256"]},
            },
        });
        if let Some(key) = &self.response_key {
            metadata["jwks"] = json!({"keys": [key]});
            metadata["encrypted_response_enc_values_supported"] =
                RESPONSE_ENC_VALUES.iter().map(|e| e.name()).collect();
        }
        if let Some(name) = &self.client_name {
            metadata["client_name"] = json!(name);
        }
        let mut claims = json!({
            "iss": self.client_id,
            "aud": SELF_ISSUED_AUDIENCE,
            "response_type": "vp_token",
            "client_id": self.client_id,
            "response_uri": self.response_uri,
            "response_mode": self.response_mode.as_str(),
            "nonce": self.nonce,
            "state": self.state,
            "dcql_query": self.dcql_query.to_value(),
            "client_metadata": metadata,
            "iat": self.issued_at.timestamp(),
            "exp": self.expires_at.timestamp(),
        });
        if let Some(purpose) = &self.purpose {
            claims["purpose"] = json!(purpose);
        }
        claims
    }

    /// The signed request object (`typ` `oauth-authz-req+jwt`), signed by `key` named `kid`.
    pub fn sign(&self, key: &SecretKey, kid: &str) -> String {
        credence_registry::signed::sign_typed(&self.claims(), key, kid, Some(REQUEST_OBJECT_TYPE))
    }

    /// The request object signed by the leaf key of `chain`, the chain in `x5c` (§5.9.3, for
    /// `x509_san_dns:` / `x509_hash:` client ids).
    pub fn sign_with_certificate(&self, key: &SecretKey, chain: &CertificateChain) -> String {
        credence_registry::signed::sign_with_header(
            &self.claims(),
            key,
            json!({"typ": REQUEST_OBJECT_TYPE, "x5c": chain.x5c()}),
        )
    }
}

/// The URI a wallet is handed (QR code, link): `openid4vp://?client_id=..&request_uri=..`
/// (§5.7: request by reference; `request_uri_method` defaults to GET).
pub fn authorization_request_uri(client_id: &str, request_uri: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    format!("openid4vp://?{query}")
}

/// Why a response is refused. `error_code` is the OAuth error it is answered with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResponseError {
    /// Not a form, a parameter missing or repeated, `vp_token` not a JSON object of arrays.
    #[error("the response is malformed: {0}")]
    Malformed(String),
    /// The `response` JWE could not be opened with this request's key.
    #[error("{0}")]
    Undecryptable(#[from] JweError),
    /// `state` is not this request's.
    #[error("the state does not match this request")]
    StateMismatch,
    /// The wallet answered with an error (§8.5) instead of a presentation.
    #[error("the wallet declined: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    WalletError {
        error: String,
        description: Option<String>,
    },
    /// A presentation failed a pipeline step.
    #[error("the presentation answering {id:?} (#{index}) is invalid at the {step} step: {detail}")]
    Invalid {
        id: String,
        index: usize,
        step: String,
        detail: String,
    },
    /// A presentation could not be checked (a registry or status list unreachable).
    #[error("the presentation answering {id:?} (#{index}) could not be checked: {detail}")]
    CouldNotCheck {
        id: String,
        index: usize,
        detail: String,
    },
    /// The presentations are valid but do not answer the DCQL query.
    #[error("the presentations do not answer the request: {0}")]
    Unmet(#[from] Unmet),
}

impl ResponseError {
    /// The OAuth error code (RFC 6749 §5.2 / OpenID4VP §8.5) of each condition.
    pub fn error_code(&self) -> &'static str {
        match self {
            ResponseError::Malformed(_)
            | ResponseError::Undecryptable(_)
            | ResponseError::StateMismatch
            | ResponseError::Invalid { .. }
            | ResponseError::Unmet(_) => "invalid_request",
            ResponseError::WalletError { .. } => "access_denied",
            ResponseError::CouldNotCheck { .. } => "temporarily_unavailable",
        }
    }
}

/// The response parameters (§8.1), from a form or a decrypted JWE.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseParams {
    Presentation {
        vp_token: Map<String, Value>,
        state: Option<String>,
    },
    Error {
        error: String,
        description: Option<String>,
        state: Option<String>,
    },
}

/// What a form POST to the response URI carries.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    Plain(ResponseParams),
    /// `response=<JWE>` (`direct_post.jwt`).
    Encrypted(String),
}

fn form_pairs(body: &[u8]) -> Result<BTreeMap<String, String>, ResponseError> {
    let mut pairs = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if pairs.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(ResponseError::Malformed(format!(
                "the parameter {name:?} is repeated"
            )));
        }
    }
    Ok(pairs)
}

fn params_from(
    mut get: impl FnMut(&str) -> Result<Option<String>, ResponseError>,
) -> Result<ResponseParams, ResponseError> {
    let state = get("state")?;
    if let Some(error) = get("error")? {
        return Ok(ResponseParams::Error {
            error,
            description: get("error_description")?,
            state,
        });
    }
    let token =
        get("vp_token")?.ok_or_else(|| ResponseError::Malformed("vp_token is missing".into()))?;
    let vp_token = match credence_registry::json::parse_strict(token.as_bytes()) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(ResponseError::Malformed(
                "vp_token must be a JSON object keyed by credential query id".into(),
            ));
        }
        Err(e) => return Err(ResponseError::Malformed(format!("vp_token: {e}"))),
    };
    Ok(ResponseParams::Presentation { vp_token, state })
}

/// Parses the form body a wallet posts (`application/x-www-form-urlencoded`).
pub fn parse_response_form(body: &[u8]) -> Result<ResponseBody, ResponseError> {
    let pairs = form_pairs(body)?;
    if let Some(jwe) = pairs.get("response") {
        if pairs.len() != 1 {
            return Err(ResponseError::Malformed(
                "an encrypted response carries only the response parameter".into(),
            ));
        }
        return Ok(ResponseBody::Encrypted(jwe.clone()));
    }
    params_from(|name| Ok(pairs.get(name).cloned())).map(ResponseBody::Plain)
}

/// Opens a `direct_post.jwt` response with this request's key: the plaintext is a JSON object
/// of the response parameters, `vp_token` as a JSON value (§8.3).
pub fn decrypt_response(jwe: &str, key: &p256::SecretKey) -> Result<ResponseParams, ResponseError> {
    let opened = jwe::decrypt(jwe, key, &RESPONSE_ENC_VALUES)?;
    let value = credence_registry::json::parse_strict(&opened.plaintext)
        .map_err(|e| ResponseError::Malformed(format!("the decrypted response: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ResponseError::Malformed(
            "the decrypted response is not a JSON object".into(),
        ));
    };
    params_from(|name| match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        // vp_token is a JSON object in the encrypted form; re-serialized to be parsed once.
        Some(value @ Value::Object(_)) if name == "vp_token" => Ok(Some(value.to_string())),
        Some(_) => Err(ResponseError::Malformed(format!(
            "{name} has the wrong JSON type"
        ))),
    })
}

/// What a response must match: this request's state, nonce, the verifier's client id, the
/// query, and the verification time and tolerances.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub state: &'a str,
    pub query: &'a DcqlQuery,
    pub now: DateTime<Utc>,
    pub leeway: Duration,
    pub presentation_max_age: Duration,
}

/// A verified response: per credential query id, the claims the relying party asked for of
/// each presentation, and each presentation's per-step report.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedResponse {
    pub claims: BTreeMap<String, Vec<Value>>,
    pub reports: BTreeMap<String, Vec<Value>>,
}

/// A refused response, with the reports of the presentations checked before the refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedResponse {
    pub error: ResponseError,
    pub reports: BTreeMap<String, Vec<Value>>,
}

impl From<ResponseError> for RefusedResponse {
    fn from(error: ResponseError) -> Self {
        Self {
            error,
            reports: BTreeMap::new(),
        }
    }
}

/// A report as JSON: one entry per step, `{step, outcome, detail?}`, and the verdict.
pub fn report_json(report: &Report) -> Value {
    let steps: Vec<Value> = report
        .steps()
        .iter()
        .map(|s| match &s.outcome {
            Outcome::Passed => json!({"step": s.step.name(), "outcome": "passed"}),
            Outcome::Failed(defect) => {
                json!({"step": s.step.name(), "outcome": "failed", "detail": defect.to_string()})
            }
            Outcome::NotChecked(why) => {
                json!({"step": s.step.name(), "outcome": "not-checked", "detail": why})
            }
            Outcome::CouldNotCheck(why) => {
                json!({"step": s.step.name(), "outcome": "could-not-check", "detail": why})
            }
        })
        .collect();
    let verdict = match report.verdict() {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::CouldNotCheck => "could-not-check",
    };
    json!({"verdict": verdict, "steps": steps})
}

/// Checks a response (§8.6): the state, then every presentation through the pipeline (key
/// binding to this request's nonce and this verifier's client id, §14.1), then the DCQL query.
/// `Err(VerifyError)` only if the expectations themselves are unusable.
pub async fn verify_response(
    params: &ResponseParams,
    expected: &Expected<'_>,
    context: &Context,
) -> Result<Result<VerifiedResponse, RefusedResponse>, VerifyError> {
    let (vp_token, state) = match params {
        ResponseParams::Error {
            error,
            description,
            state,
        } => {
            if state.as_deref() != Some(expected.state) {
                return Ok(Err(ResponseError::StateMismatch.into()));
            }
            return Ok(Err(ResponseError::WalletError {
                error: error.clone(),
                description: description.clone(),
            }
            .into()));
        }
        ResponseParams::Presentation { vp_token, state } => (vp_token, state),
    };
    if state.as_deref() != Some(expected.state) {
        return Ok(Err(ResponseError::StateMismatch.into()));
    }
    let mut reports: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut presented: BTreeMap<String, Vec<PresentedCredential>> = BTreeMap::new();
    let mut claims: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (id, answers) in vp_token {
        let refuse = |error, reports| Ok(Err(RefusedResponse { error, reports }));
        let Some(query) = expected.query.credential(id) else {
            return refuse(Unmet::UnknownQueryId(id.clone()).into(), reports);
        };
        // §8.1: each value is a non-empty array of presentations.
        let Some(answers) = answers.as_array().filter(|a| !a.is_empty()) else {
            return refuse(
                ResponseError::Malformed(format!(
                    "vp_token[{id:?}] must be a non-empty array of presentations"
                )),
                reports,
            );
        };
        for (index, answer) in answers.iter().enumerate() {
            let Some(text) = answer.as_str() else {
                return refuse(
                    ResponseError::Malformed(format!(
                        "vp_token[{id:?}][{index}] must be a string (a compact presentation)"
                    )),
                    reports,
                );
            };
            let binding = HolderBinding::Required {
                nonce: expected.nonce.to_owned(),
                audience: expected.client_id.to_owned(),
                max_age: expected.presentation_max_age,
            };
            let expectations = |holder_binding| Expectations {
                leeway: expected.leeway,
                holder_binding,
                ..Expectations::presentation(expected.now, expected.nonce, expected.client_id)
            };
            let not_required = || {
                if query.require_cryptographic_holder_binding {
                    binding.clone()
                } else {
                    HolderBinding::NotRequired
                }
            };
            // A `vp+jwt` (B.1.3.1.5) is always checked as an answer to this request (its nonce,
            // our client id), holder binding asked for or not; a bare `vc+jwt` binds nobody.
            let presentation = query.format == Format::VcJwt && vp_jwt::is_presentation(text);
            let answer_reports = match query.format {
                Format::SdJwtVc => vec![
                    crate::pipeline::verify_sd_jwt_vc(
                        text.as_bytes(),
                        &expectations(not_required()),
                        context,
                    )
                    .await?,
                ],
                Format::VcJwt if presentation => {
                    crate::pipeline::verify_vp_jwt(
                        text.as_bytes(),
                        &expectations(binding.clone()),
                        context,
                    )
                    .await?
                }
                Format::VcJwt => vec![
                    crate::pipeline::verify_vc_jwt(
                        text.as_bytes(),
                        &expectations(not_required()),
                        context,
                    )
                    .await?,
                ],
            };
            for report in answer_reports {
                reports
                    .entry(id.clone())
                    .or_default()
                    .push(report_json(&report));
                match report.verdict() {
                    Verdict::Valid => {}
                    Verdict::Invalid => {
                        let (step, defect) = report
                            .first_failure()
                            .map(|(s, d)| (s.name().to_owned(), d.to_string()))
                            .unwrap_or_default();
                        return refuse(
                            ResponseError::Invalid {
                                id: id.clone(),
                                index,
                                step,
                                detail: defect,
                            },
                            reports,
                        );
                    }
                    Verdict::CouldNotCheck => {
                        let detail = report
                            .steps()
                            .iter()
                            .find_map(|s| match &s.outcome {
                                Outcome::CouldNotCheck(why) => Some(format!("{}: {why}", s.step)),
                                _ => None,
                            })
                            .unwrap_or_default();
                        return refuse(
                            ResponseError::CouldNotCheck {
                                id: id.clone(),
                                index,
                                detail,
                            },
                            reports,
                        );
                    }
                }
                let disclosed = report
                    .valid_claims()
                    .map(|c| c.as_value().clone())
                    .unwrap_or(Value::Null);
                let types = match query.format {
                    Format::SdJwtVc => disclosed
                        .get("vct")
                        .and_then(Value::as_str)
                        .map(|vct| vec![vct.to_owned()])
                        .unwrap_or_default(),
                    Format::VcJwt => disclosed
                        .get("type")
                        .and_then(Value::as_array)
                        .map(|t| {
                            t.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                claims
                    .entry(id.clone())
                    .or_default()
                    .push(query.requested_claims(&disclosed));
                presented
                    .entry(id.clone())
                    .or_default()
                    .push(PresentedCredential {
                        format: query.format,
                        types,
                        claims: disclosed,
                        holder_bound: query.require_cryptographic_holder_binding || presentation,
                    });
            }
        }
    }
    if let Err(unmet) = expected.query.satisfied_by(&presented) {
        return Ok(Err(RefusedResponse {
            error: unmet.into(),
            reports,
        }));
    }
    Ok(Ok(VerifiedResponse { claims, reports }))
}
