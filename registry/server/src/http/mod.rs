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

use crate::registry::Registry;
use credence_registry::error::Error;
use credence_registry::resolver::Resolver;
use credence_registry::wire::{Resolution, timestamp};

/// An error as a handler returns it: the shared [`Error`] of the base crate, answered as an RFC
/// 9457 problem. The wrapper exists because the base crate has no HTTP server (the orphan rule
/// keeps `IntoResponse` for `Error` out of this crate); `?` converts anything that converts into
/// `Error`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

/// The OpenAPI description of [`credence_registry::error::Problem`] (the base crate carries no
/// `utoipa`); the same members, named `Problem` in the document.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct ProblemDoc {
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// DID Resolution §7.1 metadata (`{"error": "notFound"}`) on resolution endpoints.
    #[schema(rename = "didResolutionMetadata", value_type = Option<Object>)]
    did_resolution_metadata: Option<Value>,
}

/// The OpenAPI description of [`credence_registry::wire::InclusionProofBody`].
#[derive(utoipa::ToSchema)]
#[schema(as = InclusionProofBody)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct InclusionProofDoc {
    index: u64,
    size: u64,
    leaf_hash: String,
    root_hash: String,
    proof: Vec<String>,
}

/// The OpenAPI description of [`credence_registry::wire::ConsistencyProofBody`].
#[derive(utoipa::ToSchema)]
#[schema(as = ConsistencyProofBody)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ConsistencyProofDoc {
    from: u64,
    to: u64,
    from_root: String,
    to_root: String,
    proof: Vec<String>,
}

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
            schemas::publish,
            schemas::show,
            schemas::json_schema,
            schemas::type_metadata,
            trust::accredit,
            trust::show,
            trust::revoke,
            trust::issuer,
            trust::authorization,
            status::publish,
            status::serve,
            status::serve_by_uri,
            log::checkpoint,
            log::key,
            log::tile,
            log::inclusion,
            log::consistency
        ),
        components(schemas(ProblemDoc, InclusionProofDoc, ConsistencyProofDoc))
    )]
    struct RegistryApi;
    RegistryApi::openapi()
}

/// A raw request body whose rejections (too large, unreadable) are problems too.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;
    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::BodyTooLarge {
                        limit: MAX_BODY_BYTES,
                    }
                } else {
                    Error::MalformedJson(credence_registry::json::JsonError::Syntax(
                        rejection.body_text(),
                    ))
                }
            })
            .map_err(ApiError)
    }
}

/// The media types a POST body may be sent as. The `Content-Type` is checked before the body
/// is read, so a body of the wrong type is refused (415) before any work.
pub trait BodyMediaType {
    /// What the problem detail and the `Accept-Post` header list.
    const EXPECTED: &'static str;
    /// Whether `essence` (`type/subtype`, lower case, parameters removed) is accepted.
    fn accepts(essence: &str) -> bool;
}

/// JSON bodies (DID operations): `application/json` or any `application/*+json` (RFC 6839).
#[derive(Debug)]
pub struct Json;

impl BodyMediaType for Json {
    const EXPECTED: &'static str = "application/json";
    fn accepts(essence: &str) -> bool {
        essence == "application/json"
            || essence
                .strip_prefix("application/")
                .is_some_and(|subtype| subtype.ends_with("+json"))
    }
}

/// Compact JWS bodies (schemas, accreditations, revocations): `application/jose` (RFC 7515
/// §9.2.1).
#[derive(Debug)]
pub struct Jose;

impl BodyMediaType for Jose {
    const EXPECTED: &'static str = "application/jose";
    fn accepts(essence: &str) -> bool {
        essence == "application/jose"
    }
}

/// Signed status lists: `application/jose`, or the list's own media type, the one the registry
/// serves it under (`application/statuslist+jwt`, Token Status List §10.1;
/// `application/vc+jwt`, VC-JOSE-COSE §6.1).
#[derive(Debug)]
pub struct StatusListJwt;

impl BodyMediaType for StatusListJwt {
    const EXPECTED: &'static str =
        "application/jose, application/statuslist+jwt, application/vc+jwt";
    fn accepts(essence: &str) -> bool {
        matches!(
            essence,
            "application/jose" | "application/statuslist+jwt" | "application/vc+jwt"
        )
    }
}

/// A request body sent as one of `M`'s media types; anything else (or no `Content-Type`) is
/// `UnsupportedMediaType` (415) and the body is not read.
#[derive(Debug)]
pub struct Typed<M: BodyMediaType>(pub Bytes, std::marker::PhantomData<M>);

impl<M: BodyMediaType> Typed<M> {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The body as text: a compact JWS is ASCII, so anything that is not UTF-8 is not one.
    pub fn jws(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.0)
            .map_err(|_| Error::BadSignature("body must be a compact JWS (UTF-8 text)".into()))
    }
}

impl<S: Send + Sync, M: BodyMediaType> FromRequest<S> for Typed<M> {
    type Rejection = ApiError;
    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let received = request.headers().get(header::CONTENT_TYPE);
        let essence = received.and_then(|value| value.to_str().ok()).map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        if !essence.as_deref().is_some_and(M::accepts) {
            return Err(ApiError(Error::UnsupportedMediaType {
                received: received.map_or_else(
                    || "(none)".to_owned(),
                    |value| format!("{:?}", String::from_utf8_lossy(value.as_bytes())),
                ),
                expected: M::EXPECTED,
            }));
        }
        let Body(bytes) = Body::from_request(request, state).await?;
        Ok(Self(bytes, std::marker::PhantomData))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        if let Error::DeactivatedDid(resolution) = &error {
            // DID Resolution: a deactivated DID resolves with metadata, under 410.
            return (StatusCode::GONE, resolution_response(resolution)).into_response();
        }
        if let Error::Internal(cause) = &error {
            tracing::error!(%cause, "internal error");
        }
        let status = error.status();
        let mut response = (status, axum::Json(error.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match error {
            Error::RateLimited {
                retry_after_secs, ..
            }
            | Error::Throttled { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // RFC 9110 §15.5.16 suggests saying what would have been accepted.
            Error::UnsupportedMediaType { expected, .. } => {
                response
                    .headers_mut()
                    .insert("accept-post", HeaderValue::from_static(expected));
            }
            _ => {}
        }
        response
    }
}

/// Media type of a DID Resolution result as DID Resolution v0.x and the Universal Resolver
/// serve it (with `@context`). Current clients ask for [`DID_RESOLUTION`].
pub const RESOLUTION_MEDIA_TYPE: &str =
    "application/ld+json;profile=\"https://w3id.org/did-resolution\"";

/// Media type of a DID Resolution result (DID Resolution 1.0 §"DID Resolution Result").
pub const DID_RESOLUTION: &str = "application/did-resolution";

/// A DID Resolution result body in the v0.x shape, with `@context` (DID Resolution §4).
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

/// Parses a DID taken from a path.
fn did_from_path(raw: &str) -> Result<credence_registry::did::Did, Error> {
    Ok(credence_registry::did::Did::parse(raw)?)
}

/// A media type a handler can answer with: `type/subtype` (lower case) and the one parameter
/// negotiation looks at, `profile` (RFC 6906).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    pub essence: &'static str,
    pub profile: Option<&'static str>,
}

/// Which offer `Accept` chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// Its index in the offers.
    pub index: usize,
    /// True if the client named this media type (not only `*/*` or `type/*`, and not by
    /// sending no `Accept` at all).
    pub named: bool,
}

/// Proactive negotiation (RFC 9110 §12.5.1): each offer gets the weight of the most specific
/// media range that matches it; the heaviest offer with a weight above 0 wins, ties going to
/// the earlier offer. `None` when nothing is acceptable (answer 406). No `Accept` (or an empty
/// one) accepts anything.
///
/// A range with a `profile` parameter matches only an offer with that profile; other media
/// type parameters (`charset`, ...) are not compared. Written here (fifty lines) because the
/// crates at hand parse one media type, not an `Accept` list with weights.
pub fn negotiate(accept: Option<&HeaderValue>, offers: &[Offer]) -> Option<Chosen> {
    let Some(accept) = accept else {
        return (!offers.is_empty()).then_some(Chosen {
            index: 0,
            named: false,
        });
    };
    // A header that is not visible ASCII names nothing we could produce.
    let text = accept.to_str().ok()?;
    if text.trim().is_empty() {
        return negotiate(None, offers);
    }
    let ranges = parse_accept(text);
    let mut best: Option<(u16, Chosen)> = None;
    for (index, offer) in offers.iter().enumerate() {
        let Some((specificity, weight)) = ranges
            .iter()
            .filter_map(|range| range.specificity(offer).map(|s| (s, range.weight)))
            .max_by_key(|(specificity, _)| *specificity)
        else {
            continue;
        };
        if weight > 0 && best.is_none_or(|(best_weight, _)| weight > best_weight) {
            let named = specificity >= 2;
            best = Some((weight, Chosen { index, named }));
        }
    }
    best.map(|(_, chosen)| chosen)
}

/// One element of an `Accept` list.
#[derive(Debug)]
struct MediaRange {
    /// `type/subtype`, lower case; either may be `*`.
    essence: String,
    profile: Option<String>,
    /// The `q` weight in thousandths (RFC 9110 §12.4.2).
    weight: u16,
}

impl MediaRange {
    /// How specifically this range matches `offer`: 3 with a matching profile, 2 by name, 1 by
    /// `type/*`, 0 by `*/*`; `None` if it does not match.
    fn specificity(&self, offer: &Offer) -> Option<u8> {
        if self.essence == "*/*" {
            return Some(0);
        }
        if let Some(kind) = self.essence.strip_suffix("/*") {
            return offer
                .essence
                .split('/')
                .next()
                .is_some_and(|k| k == kind)
                .then_some(1);
        }
        if self.essence != offer.essence {
            return None;
        }
        match (&self.profile, offer.profile) {
            (None, _) => Some(2),
            (Some(wanted), Some(offered)) if wanted == offered => Some(3),
            (Some(_), _) => None,
        }
    }
}

/// Splits `text` at `separator` outside double-quoted strings.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The media ranges of an `Accept` value; malformed elements (no `type/subtype`, a bad `q`)
/// are left out, as if not sent.
fn parse_accept(text: &str) -> Vec<MediaRange> {
    let mut ranges = Vec::new();
    'elements: for element in split_unquoted(text, ',') {
        let mut parts = split_unquoted(element, ';').into_iter();
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let valid_token = |t: &str| !t.is_empty() && !t.contains(char::is_whitespace);
        match essence.split_once('/') {
            Some((kind, subtype)) if valid_token(kind) && valid_token(subtype) => {}
            _ => continue,
        }
        let mut range = MediaRange {
            essence,
            profile: None,
            weight: 1000,
        };
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue 'elements;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map_or_else(
                    || value.to_owned(),
                    |v| v.replace("\\\"", "\"").replace("\\\\", "\\"),
                );
            match name.as_str() {
                "q" => match parse_weight(&value) {
                    Some(weight) => range.weight = weight,
                    None => continue 'elements,
                },
                "profile" => range.profile = Some(value),
                _ => {}
            }
        }
        ranges.push(range);
    }
    ranges
}

/// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: [Offer; 3] = [
        Offer {
            essence: "application/did-resolution",
            profile: None,
        },
        Offer {
            essence: "application/ld+json",
            profile: Some("https://w3id.org/did-resolution"),
        },
        Offer {
            essence: "application/did+json",
            profile: None,
        },
    ];

    #[track_caller]
    fn check(accept: Option<&str>, expected: Option<(usize, bool)>) {
        let header = accept.map(|a| HeaderValue::from_str(a).expect("header"));
        let chosen = negotiate(header.as_ref(), &OFFERS).map(|c| (c.index, c.named));
        assert_eq!(chosen, expected, "Accept: {accept:?}");
    }

    #[test]
    fn accept_headers_choose_by_weight_then_specificity_then_order() {
        check(None, Some((0, false)));
        check(Some(""), Some((0, false)));
        check(Some("*/*"), Some((0, false)));
        check(Some("application/*"), Some((0, false)));
        check(Some("application/did+json"), Some((2, true)));
        check(Some("APPLICATION/DID+JSON; charset=utf-8"), Some((2, true)));
        check(
            Some("application/did+json;q=0, application/ld+json"),
            Some((1, true)),
        );
        check(
            Some(r#"application/ld+json;profile="https://w3id.org/did-resolution""#),
            Some((1, true)),
        );
        check(
            Some(r#"application/ld+json;profile="https://example.com/other""#),
            None,
        );
        check(
            Some("application/did+json;q=0.5, */*;q=0.1"),
            Some((2, true)),
        );
        check(
            Some("application/did+json;q=0.1, */*;q=0.5"),
            Some((0, false)),
        );
        check(
            Some("application/did-resolution;q=0.9, application/did+json"),
            Some((2, true)),
        );
        check(Some("text/html"), None);
        check(Some("application/did+cbor"), None);
        check(Some("*/*;q=0"), None);
        check(Some("application/did+json;q=2"), None);
        check(Some("application/did+json;q=0.0001"), None);
        check(
            Some("nonsense, application/did+json;q=1.000"),
            Some((2, true)),
        );
        check(Some("text/html, */*;q=0.2"), Some((0, false)));
    }
}
