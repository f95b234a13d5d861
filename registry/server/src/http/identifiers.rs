//! `GET /1.0/identifiers/{did}`: DID Resolution and DID URL dereferencing over the HTTP(S)
//! binding (DID Resolution §"HTTP(S) Binding"), for every method the resolver supports.
//!
//! The handler takes the identifier from the raw request path, never from axum's decoded
//! path parameters: a did:web port is written `%3A` and must stay so. It negotiates the
//! representation from `Accept`, reads the options, calls [`credence_registry::resolver::Resolver`], and
//! shapes the answer; errors carry a full resolution (or dereferencing) result. What each
//! media type means is in registry/DID-METHOD.md §7.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{DID_RESOLUTION, Offer, RESOLUTION_MEDIA_TYPE, RegistryState, negotiate};
use credence_registry::did::Did;
use credence_registry::error::{Error, did_error_type};
use credence_registry::resolver::DidUrl;
use credence_registry::resolver::did_url::ResolutionParameters;
use credence_registry::wire::{Resolution, VersionSelector, timestamp};

pub(super) fn router() -> Router<RegistryState> {
    Router::new().route("/1.0/identifiers/{did}", get(resolve))
}

/// Media type of a DID URL dereferencing result (DID Resolution 1.0).
pub const DID_URL_DEREFERENCING: &str = "application/did-url-dereferencing";
/// The v0.x (Universal Resolver) media type of a dereferencing result.
const DEREFERENCING_LEGACY_PROFILE: &str = "https://w3id.org/did-url-dereferencing";
const RESOLUTION_LEGACY_PROFILE: &str = "https://w3id.org/did-resolution";
/// The media type of documents and of what a fragment selects from them.
const DID_JSON: &str = "application/did+json";

/// DID Resolution options of the HTTP GET binding, as query parameters (the identifier itself
/// is the path). Documentation only: the handler reads the query itself, so that an unknown
/// option is `invalidOptions` rather than a generic rejection.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ResolutionOptions {
    /// The version created by the operation with this hash.
    #[param(rename = "versionId")]
    version_id: Option<String>,
    /// The version current at this time: an RFC 3339 date-time such as 2026-01-01T00:00:00Z
    /// (a date alone is `invalidOptions`).
    #[param(rename = "versionTime")]
    version_time: Option<String>,
    /// did:credence only, resolution only: add `logProof`, an inclusion proof of the
    /// version's operation against the latest signed checkpoint.
    proof: Option<bool>,
}

/// What the answer is: which result shape, under which media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Representation {
    /// The whole result, DID Resolution 1.0 shape (errors as RFC 9457 objects).
    Result(&'static str),
    /// The whole result, v0.x shape (`@context`, errors as names).
    LegacyResult(&'static str),
    /// The document (or what a fragment selects) alone.
    Bare(&'static str),
}

impl Representation {
    fn media_type(self) -> &'static str {
        match self {
            Self::Result(media_type) | Self::LegacyResult(media_type) | Self::Bare(media_type) => {
                media_type
            }
        }
    }

    /// True for the media types of a dereferencing result: asked of a DID, they ask for the
    /// DID to be dereferenced as a DID URL (DID Resolution's own HTTP example does this).
    fn is_dereferencing_result(self) -> bool {
        let media_type = self.media_type();
        media_type == DID_URL_DEREFERENCING || media_type.contains(DEREFERENCING_LEGACY_PROFILE)
    }
}

const fn offer(essence: &'static str, profile: Option<&'static str>) -> Offer {
    Offer { essence, profile }
}

/// What a DID resolves to, in preference order for `*/*`; last, a dereferencing result for
/// the clients that ask for one.
const RESOLUTION_OFFERS: [(Offer, Representation); 7] = [
    (
        offer(DID_RESOLUTION, None),
        Representation::Result(DID_RESOLUTION),
    ),
    (
        offer("application/ld+json", Some(RESOLUTION_LEGACY_PROFILE)),
        Representation::LegacyResult(RESOLUTION_MEDIA_TYPE),
    ),
    (offer(DID_JSON, None), Representation::Bare(DID_JSON)),
    (
        offer("application/did+ld+json", None),
        Representation::Bare("application/did+ld+json"),
    ),
    (
        offer("application/json", None),
        Representation::Result("application/json"),
    ),
    (
        offer(DID_URL_DEREFERENCING, None),
        Representation::Result(DID_URL_DEREFERENCING),
    ),
    (
        offer("application/ld+json", Some(DEREFERENCING_LEGACY_PROFILE)),
        Representation::LegacyResult(
            "application/ld+json;profile=\"https://w3id.org/did-url-dereferencing\"",
        ),
    ),
];

/// What a DID URL dereferences to, in preference order for `*/*`.
const DEREFERENCING_OFFERS: [(Offer, Representation); 5] = [
    (
        offer(DID_URL_DEREFERENCING, None),
        Representation::Result(DID_URL_DEREFERENCING),
    ),
    (
        offer("application/ld+json", Some(DEREFERENCING_LEGACY_PROFILE)),
        Representation::LegacyResult(
            "application/ld+json;profile=\"https://w3id.org/did-url-dereferencing\"",
        ),
    ),
    (offer(DID_JSON, None), Representation::Bare(DID_JSON)),
    (
        offer("application/did+ld+json", None),
        Representation::Bare("application/did+ld+json"),
    ),
    (
        offer("application/json", None),
        Representation::Result("application/json"),
    ),
];

/// Resolve a DID, or dereference a DID URL (percent-encoded, `#` as `%23`).
///
/// `Accept` chooses the answer: `application/did-resolution` (the whole result; the default),
/// `application/ld+json;profile="https://w3id.org/did-resolution"` (the same, v0.x shape),
/// `application/did+json` or `application/did+ld+json` (the document alone), or
/// `application/json`. For a DID URL: `application/did-url-dereferencing` (the default) or
/// the selected resource alone. Nothing acceptable: 406 `representationNotSupported`.
#[utoipa::path(get, path = "/1.0/identifiers/{did}",
    params(("did" = String, Path, description = "a DID, or a DID URL percent-encoded (`#` as `%23`); either written as is (`did:web:host%3A8443`) or entirely percent-encoded (`did%3Aweb%3Ahost%253A8443`)"),
           ResolutionOptions),
    responses((status = 200, description = "DID Resolution result, DID URL dereferencing result, or the document or resource alone, as negotiated",
                content(("application/did-resolution"), ("application/did-url-dereferencing"), ("application/did+json"),
                        ("application/did+ld+json"), ("application/ld+json"), ("application/json"))),
              (status = 400, description = "invalidDid, invalidDidUrl or invalidOptions, with a result whose didDocument is null", body = crate::http::ProblemDoc),
              (status = 404, description = "notFound, with a result whose didDocument is null", body = crate::http::ProblemDoc),
              (status = 406, description = "representationNotSupported", body = crate::http::ProblemDoc),
              (status = 410, description = "deactivated: the result with deactivated: true"),
              (status = 501, description = "methodNotSupported", body = crate::http::ProblemDoc)))]
pub async fn resolve(State(state): State<RegistryState>, uri: Uri, headers: HeaderMap) -> Response {
    // The `{did}` capture is the path's last segment, as sent (still percent-encoded).
    let raw = uri.path().rsplit('/').next().unwrap_or_default();
    let identifier = decode_identifier(raw);
    let is_url = match identifier.as_deref() {
        Ok(text) => text.contains(['/', '?', '#']),
        Err(_) => matches!(identifier, Err(Error::InvalidDidUrl(_))),
    };
    let negotiated = Negotiated::new(is_url, headers.get(header::ACCEPT));
    match answer(&state, &negotiated, identifier, uri.query()).await {
        Ok(response) => response,
        Err(error) => negotiated.error(error),
    }
}

async fn answer(
    state: &RegistryState,
    negotiated: &Negotiated,
    identifier: Result<String, Error>,
    query: Option<&str>,
) -> Result<Response, Error> {
    let identifier = identifier?;
    // DID Resolution §"DID Resolution Algorithm" order: the identifier, then the options,
    // then the representation, then the method.
    let target = if negotiated.dereferencing {
        Target::Url(DidUrl::parse(&identifier)?)
    } else {
        Target::Did(Did::parse(&identifier)?)
    };
    let options = Options::parse(query)?;
    let representation = negotiated.representation()?;
    let retrieved = timestamp(chrono::Utc::now());
    match target {
        Target::Did(did) => {
            resolve_did(
                state,
                negotiated,
                &did,
                &options,
                representation,
                &retrieved,
            )
            .await
        }
        Target::Url(url) => {
            dereference_url(state, &url, &options, representation, &retrieved).await
        }
    }
}

/// A DID's resolution result (or document alone), with its log proof when asked and possible.
async fn resolve_did(
    state: &RegistryState,
    negotiated: &Negotiated,
    did: &Did,
    options: &Options,
    representation: Representation,
    retrieved: &str,
) -> Result<Response, Error> {
    let proving = options.proof && did.method() == credence_registry::ops::METHOD;
    let resolution = state.resolver.resolve(did, &options.version).await?;
    let log_proof = if proving {
        let chain = state.registry.version_chain(did, &options.version).await?;
        Some(state.transparency.proof_for(&chain).await?)
    } else {
        None
    };
    // DID Resolution: a deactivated DID resolves with its metadata under 410; a deactivation
    // is proven like any other state, so its 410 carries the proof.
    if resolution.metadata.deactivated {
        return Ok(negotiated.deactivated(&resolution, log_proof.as_ref()));
    }
    let body = match representation {
        Representation::Bare(_) => resolution.document.clone(),
        Representation::Result(_) | Representation::LegacyResult(_) => {
            let mut body = resolution_result(
                representation,
                Some(&resolution),
                resolution_metadata(retrieved),
            );
            if let Some(proof) = log_proof {
                body["logProof"] =
                    serde_json::to_value(proof).map_err(|e| Error::Internal(e.to_string()))?;
            }
            body
        }
    };
    // Pinned versions never change; the latest may change at any moment.
    let immutable = resolution.metadata.next_version_id.is_some();
    Ok(respond(StatusCode::OK, representation, body, immutable))
}

/// What a DID URL names (a verification method, a service, the document), as negotiated.
async fn dereference_url(
    state: &RegistryState,
    url: &DidUrl,
    options: &Options,
    representation: Representation,
    retrieved: &str,
) -> Result<Response, Error> {
    if options.proof {
        return Err(Error::InvalidOptions(
            "proof applies to resolving a did:credence DID, not to dereferencing a DID URL".into(),
        ));
    }
    let dereferenced = state.resolver.dereference(url, &options.version).await?;
    let immutable = dereferenced.metadata.next_version_id.is_some();
    let body = match representation {
        Representation::Bare(_) => dereferenced.content.value().clone(),
        Representation::Result(_) | Representation::LegacyResult(_) => {
            let mut body = json!({
                "contentStream": dereferenced.content.value().clone(),
                "contentMetadata": dereferenced.metadata,
                "dereferencingMetadata": resolution_metadata(retrieved),
            });
            if let Representation::LegacyResult(_) = representation {
                body["@context"] = json!("https://w3id.org/did-resolution/v1");
            }
            body
        }
    };
    Ok(respond(StatusCode::OK, representation, body, immutable))
}

enum Target {
    Did(Did),
    Url(DidUrl),
}

/// The options of one request.
struct Options {
    version: VersionSelector,
    proof: bool,
}

impl Options {
    /// Reads `versionId`, `versionTime` and `proof`; anything else, a repeated or malformed
    /// option, or both version selectors is `InvalidOptions`.
    fn parse(query: Option<&str>) -> Result<Self, Error> {
        let mut version = ResolutionParameters::default();
        let mut proof = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if version.take(&name, &value)? {
                continue;
            }
            match (name.as_ref(), proof) {
                ("proof", None) => {
                    proof = Some(match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(Error::InvalidOptions(format!(
                                "proof must be true or false, not {other:?}"
                            )));
                        }
                    });
                }
                ("proof", Some(_)) => {
                    return Err(Error::InvalidOptions("proof is given twice".into()));
                }
                (other, _) => {
                    return Err(Error::InvalidOptions(format!(
                        "unknown option {other:?}; this resolver takes versionId, versionTime and \
                         proof"
                    )));
                }
            }
        }
        Ok(Self {
            version: version.selector()?,
            proof: proof.unwrap_or(false),
        })
    }
}

/// The identifier in the path. Written as is (`did:web:host%3A8443`, the Universal Resolver
/// convention), the DID is taken exactly as sent: `%2F` marks a DID path, and the query and
/// fragment, which cannot travel raw in one path segment, start at the first `%3F` or `%23`
/// and are percent-decoded once. Entirely percent-encoded (`did%3Aweb%3Ahost%253A8443`, as DID
/// Resolution's GET binding writes it when options are given), the whole identifier is
/// decoded once.
fn decode_identifier(raw: &str) -> Result<String, Error> {
    let decode = |text: &str| {
        credence_registry::resolver::web::percent_decode(text)
            .and_then(|bytes| String::from_utf8(bytes).ok())
    };
    let fully_encoded = raw
        .get(..6)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("did%3a"));
    if fully_encoded {
        return decode(raw).ok_or_else(|| {
            Error::InvalidDid(format!("bad percent-encoding in the identifier {raw:?}"))
        });
    }
    let upper = raw.to_ascii_uppercase();
    let tail = [upper.find("%3F"), upper.find("%23")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(raw.len());
    let (did_and_path, query_and_fragment) = raw.split_at(tail);
    let mut out = String::with_capacity(raw.len());
    let mut rest = did_and_path;
    while let Some(at) = rest.to_ascii_uppercase().find("%2F") {
        out.push_str(&rest[..at]);
        out.push('/');
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    let decoded = decode(query_and_fragment).ok_or_else(|| {
        Error::InvalidDidUrl(format!(
            "bad percent-encoding in the DID URL's query or fragment {query_and_fragment:?}"
        ))
    })?;
    out.push_str(&decoded);
    Ok(out)
}

fn resolution_metadata(retrieved: &str) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("contentType".into(), DID_JSON.into());
    metadata.insert("retrieved".into(), retrieved.into());
    metadata
}

/// A whole DID Resolution result: the 1.0 shape, or the v0.x one with `@context`.
fn resolution_result(
    representation: Representation,
    resolution: Option<&Resolution>,
    metadata: Map<String, Value>,
) -> Value {
    let mut body = json!({
        "didDocument": resolution.map_or(Value::Null, |r| r.document.clone()),
        "didDocumentMetadata": resolution.map_or_else(|| json!({}), |r| json!(r.metadata)),
        "didResolutionMetadata": metadata,
    });
    if let Representation::LegacyResult(_) = representation {
        body["@context"] = json!("https://w3id.org/did-resolution/v1");
    }
    body
}

fn respond(
    status: StatusCode,
    representation: Representation,
    body: Value,
    immutable: bool,
) -> Response {
    let media_type = representation.media_type();
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    let cache = if immutable {
        "public, max-age=86400, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // The answer depends on Accept; shared caches must key on it.
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// What one request asks for: resolving a DID or dereferencing a DID URL, and in which
/// representation.
struct Negotiated {
    /// The identifier is a DID URL (not a plain DID).
    is_url: bool,
    /// The answer is a dereferencing: a DID URL, or a DID whose client asked for a
    /// dereferencing result.
    dereferencing: bool,
    /// The chosen representation and whether the client named it; `None` if nothing it
    /// accepts can be produced.
    representation: Option<(Representation, bool)>,
    /// The `Accept` value, for the 406 detail.
    accepted: String,
}

impl Negotiated {
    fn new(is_url: bool, accept: Option<&HeaderValue>) -> Self {
        let offers = Self::offers_for(is_url);
        let representation = negotiate(
            accept,
            &offers.iter().map(|(offer, _)| *offer).collect::<Vec<_>>(),
        )
        .map(|chosen| (offers[chosen.index].1, chosen.named));
        Self {
            is_url,
            dereferencing: is_url
                || representation.is_some_and(|(chosen, _)| chosen.is_dereferencing_result()),
            representation,
            accepted: accept
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .unwrap_or_default(),
        }
    }

    fn offers_for(is_url: bool) -> &'static [(Offer, Representation)] {
        if is_url {
            &DEREFERENCING_OFFERS
        } else {
            &RESOLUTION_OFFERS
        }
    }

    /// The representation to answer with, or `RepresentationNotSupported` (406).
    fn representation(&self) -> Result<Representation, Error> {
        match self.representation {
            Some((representation, _)) => Ok(representation),
            None => Err(Error::RepresentationNotSupported {
                accepted: self.accepted.clone(),
                available: Self::offers_for(self.is_url)
                    .iter()
                    .map(|(_, representation)| representation.media_type())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// An error answer: the problem (RFC 9457) with the members of a resolution or
    /// dereferencing result beside it (`didDocument: null`, `didDocumentMetadata: {}`,
    /// `didResolutionMetadata.error`; or `contentStream: null`, `contentMetadata: {}`,
    /// `dereferencingMetadata.error`). A client that named a result media type gets that media
    /// type and its error form (1.0: an object with a `https://www.w3.org/ns/did#…` type;
    /// v0.x: a name); everyone else gets `application/problem+json` with the error name.
    /// A deactivated DID answers 410 with its whole result.
    fn error(&self, error: Error) -> Response {
        if let Error::DeactivatedDid(resolution) = &error {
            return self.deactivated(resolution, None);
        }
        if let Error::Internal(cause) = &error {
            tracing::error!(%cause, "internal error");
        }
        let problem = error.problem();
        let status = error.status();
        let (media_type, modern) = match self.representation {
            Some((Representation::Result(media_type), true))
                if media_type == DID_RESOLUTION || media_type == DID_URL_DEREFERENCING =>
            {
                (media_type, true)
            }
            Some((Representation::LegacyResult(media_type), true)) => (media_type, false),
            _ => ("application/problem+json", false),
        };
        let error_value = error.resolution_error().map(|name| {
            if modern {
                json!({
                    "type": did_error_type(name),
                    "title": problem.title,
                    "detail": problem.detail,
                })
            } else {
                json!(name)
            }
        });
        let mut body = json!({
            "type": problem.kind,
            "title": problem.title,
            "status": problem.status,
            "detail": problem.detail,
        });
        let mut metadata = Map::new();
        if let Some(value) = error_value {
            metadata.insert("error".into(), value);
        }
        if self.dereferencing {
            body["contentStream"] = Value::Null;
            body["contentMetadata"] = json!({});
            body["dereferencingMetadata"] = Value::Object(metadata);
        } else {
            body["didDocument"] = Value::Null;
            body["didDocumentMetadata"] = json!({});
            body["didResolutionMetadata"] = Value::Object(metadata);
        }
        if media_type == RESOLUTION_MEDIA_TYPE || media_type.contains(DEREFERENCING_LEGACY_PROFILE)
        {
            body["@context"] = json!("https://w3id.org/did-resolution/v1");
        }
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        response
    }

    /// 410 with the whole result: in the shape the client asked for, or the 1.0 shape if it
    /// asked for the document alone (which a deactivated DID no longer has).
    fn deactivated(
        &self,
        resolution: &Resolution,
        log_proof: Option<&credence_registry::wire::LogProof>,
    ) -> Response {
        let representation = match self.representation {
            Some((representation @ Representation::LegacyResult(_), _))
            | Some((representation @ Representation::Result(_), _)) => representation,
            _ if self.dereferencing => Representation::Result(DID_URL_DEREFERENCING),
            _ => Representation::Result(DID_RESOLUTION),
        };
        let metadata = resolution_metadata(&timestamp(chrono::Utc::now()));
        let body = if self.dereferencing {
            let mut body = json!({
                "contentStream": resolution.document,
                "contentMetadata": resolution.metadata,
                "dereferencingMetadata": metadata,
            });
            if let Representation::LegacyResult(_) = representation {
                body["@context"] = json!("https://w3id.org/did-resolution/v1");
            }
            body
        } else {
            let mut body = resolution_result(representation, Some(resolution), metadata);
            if let Some(proof) = log_proof.and_then(|proof| serde_json::to_value(proof).ok()) {
                body["logProof"] = proof;
            }
            body
        };
        respond(StatusCode::GONE, representation, body, false)
    }
}
