//! The crate's error enum: every condition a client can cause or meet, each with a status, a
//! stable problem `type`, and a `detail` a support desk can act on (RFC 9457).
//!
//! The status mapping is exhaustive (no `_` arm): adding a variant forces a decision about it.
//! Server-side failures (database) are logged with their cause and answered with a generic
//! detail, so internals never leak to clients.

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::keys::KeyError;
use crate::ops::OpError;
use crate::wire::Resolution;

/// Base of our problem `type` URIs. They are identifiers; nothing is served there yet.
pub const PROBLEM_BASE: &str = "https://credence.example/problems/";

/// An RFC 9457 problem body, with the DID Resolution error name where one applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// DID Resolution §7.1 metadata (`{"error": "notFound"}`) on resolution endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_resolution_metadata: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request body is not acceptable JSON (syntax, duplicate keys, nesting).
    #[error("{0}")]
    MalformedJson(#[from] crate::json::JsonError),
    /// A string that should be a DID is not one.
    #[error("{0}")]
    InvalidDid(String),
    /// A string that should be a DID URL (DID Core §3.2) is not one: a bad path, query or
    /// fragment after a well-formed DID.
    #[error("{0}")]
    InvalidDidUrl(String),
    /// Resolution or dereferencing options that are unknown or malformed (an unknown query
    /// parameter, a `versionTime` that is not an RFC 3339 date-time, two version selectors).
    #[error("{0}")]
    InvalidOptions(String),
    /// A DID of a method this service does not resolve.
    #[error("DID method {0:?} is not supported; supported: credence, key, jwk, web")]
    MethodNotSupported(String),
    /// No such DID.
    #[error("{0}")]
    NotFound(String),
    /// The DID exists but the requested version does not.
    #[error("{0}")]
    VersionNotFound(String),
    /// The DID resolved, but its DID URL names nothing: no verification method or service
    /// with that fragment, or a path or query the method does not define.
    #[error("{0}")]
    DidUrlNotFound(String),
    /// None of the representations the client accepts (`Accept`) can be produced.
    #[error(
        "none of the accepted media types ({accepted}) can be produced; available: {available}"
    )]
    RepresentationNotSupported { accepted: String, available: String },
    /// A request body sent with a media type (`Content-Type`) the endpoint does not take.
    #[error("Content-Type {received} is not accepted here; send {expected}")]
    UnsupportedMediaType {
        received: String,
        expected: &'static str,
    },
    /// What was asked needs a live DID, and this one is deactivated: a DID URL's content, or
    /// an answer a registry gave as 410. The resolution (with `deactivated: true`) goes with
    /// it. Resolving a deactivated DID is not an error: it is `Ok`, with `deactivated: true` in
    /// its metadata.
    #[error("the DID is deactivated")]
    DeactivatedDid(Box<Resolution>),
    /// A key embedded in a DID or operation is unusable.
    #[error("{0}")]
    InvalidKey(#[from] KeyError),
    /// The operation breaks a rule of the method.
    #[error("{0}")]
    Operation(#[from] OpError),
    /// Someone else's operation was appended first on the same `prev`.
    #[error("another operation was accepted first; the current head is {head}")]
    ForkedHistory { head: String },
    /// This operation (or this DID's genesis) was already accepted.
    #[error("{0}")]
    Replayed(String),
    /// Per-DID write limit.
    #[error("this DID has reached its limit of {limit}; try again later")]
    RateLimited {
        limit: &'static str,
        retry_after_secs: u64,
    },
    /// Too many writes from this client, or from everyone (`http::throttle`).
    #[error("too many writes; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// A did:web target that policy forbids (loopback, private, plain http).
    #[error("{0}")]
    ForbiddenTarget(String),
    /// A remote party (did:web host, remote registry) did not give a usable answer.
    #[error("{0}")]
    Upstream(String),
    /// The log's publisher has not signed a checkpoint covering the entry asked about within
    /// the wait a read allows (reads never sign: only the publisher does).
    #[error("no checkpoint covering log size {0} was published in time; retry shortly")]
    CheckpointPending(u64),
    /// The document a remote party served is not acceptable.
    #[error("{0}")]
    InvalidDocument(String),
    /// A remote registry's log evidence did not verify: bad checkpoint signature, missing
    /// witness cosignatures, a rollback or split view, or a proof that does not hold.
    #[error("{0}")]
    LogVerification(String),
    /// A signed submission whose signature is malformed or does not verify.
    #[error("{0}")]
    BadSignature(String),
    /// The signer is not allowed to do this (not a trust anchor, key not authorized).
    #[error("{0}")]
    Forbidden(String),
    /// A schema or type metadata that is not acceptable.
    #[error("{0}")]
    InvalidSchema(String),
    /// An accreditation or revocation that is not well formed.
    #[error("{0}")]
    InvalidAccreditation(String),
    /// No accreditation with that id.
    #[error("{0}")]
    AccreditationNotFound(String),
    /// No route at that path (the app's fallback), so a client gets a problem body, not an
    /// empty 404.
    #[error("{0}")]
    RouteNotFound(String),
    /// A status list that is malformed, too small, or inflates past the limit.
    #[error("{0}")]
    InvalidStatusList(String),
    /// A status list version not newer than the current one.
    #[error("{0}")]
    StaleStatusList(String),
    /// No such status list (or version).
    #[error("{0}")]
    StatusListNotFound(String),
    /// A `vct` already published by another party.
    #[error("{0}")]
    VctTaken(String),
    /// No schema with that id or vct.
    #[error("{0}")]
    SchemaNotFound(String),
    /// A query string that does not parse: an unknown parameter, a missing or malformed value.
    #[error("{0}")]
    InvalidQuery(String),
    /// A log request (proof sizes, tile path) that does not fit the log.
    #[error("{0}")]
    InvalidLogRequest(String),
    /// A tile or entry bundle the log does not (yet) hold.
    #[error("{0}")]
    TileNotFound(String),
    /// The request body exceeds the endpoint's limit.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A submission larger than its kind allows, or whose log entry would not fit the log
    /// (`log::MAX_ENTRY_BYTES`). Refused before anything is written.
    #[error("{0}")]
    TooLarge(String),
    /// A problem answered by a remote Credence service, passed on as it came.
    #[error("{}", .0.detail)]
    Remote(Problem),
    /// Database or other server-side failure. Logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// (status, stable problem type, title, DID Resolution error name if any)
    fn classify(&self) -> (StatusCode, &'static str, &'static str, Option<&'static str>) {
        use StatusCode as S;
        match self {
            Self::MalformedJson(_) => (
                S::BAD_REQUEST,
                "malformed-json",
                "Request body is not acceptable JSON",
                None,
            ),
            Self::InvalidDid(_) => (
                S::BAD_REQUEST,
                "invalid-did",
                "Invalid DID",
                Some("invalidDid"),
            ),
            Self::InvalidDidUrl(_) => (
                S::BAD_REQUEST,
                "invalid-did-url",
                "Invalid DID URL",
                Some("invalidDidUrl"),
            ),
            Self::InvalidOptions(_) => (
                S::BAD_REQUEST,
                "invalid-options",
                "Invalid resolution options",
                Some("invalidOptions"),
            ),
            Self::MethodNotSupported(_) => (
                S::NOT_IMPLEMENTED,
                "method-not-supported",
                "DID method not supported",
                Some("methodNotSupported"),
            ),
            Self::NotFound(_) => (S::NOT_FOUND, "not-found", "DID not found", Some("notFound")),
            Self::VersionNotFound(_) => (
                S::NOT_FOUND,
                "version-not-found",
                "DID version not found",
                Some("notFound"),
            ),
            Self::DidUrlNotFound(_) => (
                S::NOT_FOUND,
                "did-url-not-found",
                "Nothing found at this DID URL",
                Some("notFound"),
            ),
            Self::RepresentationNotSupported { .. } => (
                S::NOT_ACCEPTABLE,
                "representation-not-supported",
                "Representation not supported",
                Some("representationNotSupported"),
            ),
            Self::UnsupportedMediaType { .. } => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported request media type",
                None,
            ),
            Self::DeactivatedDid(_) => (S::GONE, "deactivated", "DID deactivated", None),
            Self::InvalidKey(error) => {
                let name = match error {
                    KeyError::InvalidPublicKeyLength { .. } => "invalidPublicKeyLength",
                    KeyError::InvalidPublicKeyType(_) => "invalidPublicKeyType",
                    KeyError::InvalidEncoding(_)
                    | KeyError::InvalidPublicKey(_)
                    | KeyError::WeakKey
                    | KeyError::UnknownKeyType(_) => "invalidPublicKey",
                };
                (
                    S::BAD_REQUEST,
                    "invalid-public-key",
                    "Invalid public key",
                    Some(name),
                )
            }
            Self::Operation(error) => match error {
                OpError::Malformed(_) => (
                    S::BAD_REQUEST,
                    "malformed-operation",
                    "Malformed operation",
                    None,
                ),
                OpError::InvalidKey { .. } => (
                    S::BAD_REQUEST,
                    "invalid-public-key",
                    "Invalid key in operation",
                    None,
                ),
                OpError::BadSignature(_) => (
                    S::BAD_REQUEST,
                    "invalid-signature",
                    "Invalid signature",
                    None,
                ),
                OpError::NotARotationKey { .. } => (
                    S::FORBIDDEN,
                    "not-a-rotation-key",
                    "Not signed by a rotation key",
                    None,
                ),
                OpError::StalePrev { .. } => (
                    S::CONFLICT,
                    "forked-history",
                    "Operation does not extend the current head",
                    None,
                ),
                OpError::Deactivated => {
                    (S::CONFLICT, "did-deactivated", "DID is deactivated", None)
                }
                OpError::WrongKind(_) => (
                    S::BAD_REQUEST,
                    "wrong-operation-type",
                    "Wrong operation type",
                    None,
                ),
            },
            Self::ForkedHistory { .. } => (
                S::CONFLICT,
                "forked-history",
                "Operation does not extend the current head",
                None,
            ),
            Self::Replayed(_) => (S::CONFLICT, "replayed", "Already accepted", None),
            Self::RateLimited { .. } => (
                S::TOO_MANY_REQUESTS,
                "rate-limited",
                "Write limit reached",
                None,
            ),
            Self::Throttled { .. } => (S::TOO_MANY_REQUESTS, "throttled", "Too many writes", None),
            Self::ForbiddenTarget(_) => (
                S::BAD_REQUEST,
                "forbidden-target",
                "did:web target not allowed",
                Some("invalidDid"),
            ),
            Self::CheckpointPending(_) => (
                S::SERVICE_UNAVAILABLE,
                "checkpoint-pending",
                "Checkpoint not yet published",
                None,
            ),
            Self::Upstream(_) => (
                S::BAD_GATEWAY,
                "upstream-unavailable",
                "Remote party did not answer",
                Some("internalError"),
            ),
            Self::InvalidDocument(_) => (
                S::BAD_GATEWAY,
                "invalid-document",
                "Remote DID document is not acceptable",
                Some("invalidDidDocument"),
            ),
            Self::LogVerification(_) => (
                S::BAD_GATEWAY,
                "log-verification-failed",
                "Registry log evidence did not verify",
                Some("internalError"),
            ),
            Self::BadSignature(_) => (
                S::BAD_REQUEST,
                "invalid-signature",
                "Invalid signature",
                None,
            ),
            Self::Forbidden(_) => (S::FORBIDDEN, "not-authorized", "Not authorized", None),
            Self::InvalidSchema(_) => (S::BAD_REQUEST, "invalid-schema", "Invalid schema", None),
            Self::InvalidAccreditation(_) => (
                S::BAD_REQUEST,
                "invalid-accreditation",
                "Invalid accreditation",
                None,
            ),
            Self::AccreditationNotFound(_) => (
                S::NOT_FOUND,
                "accreditation-not-found",
                "Accreditation not found",
                None,
            ),
            Self::RouteNotFound(_) => (S::NOT_FOUND, "route-not-found", "No such route", None),
            Self::InvalidStatusList(_) => (
                S::BAD_REQUEST,
                "invalid-status-list",
                "Invalid status list",
                None,
            ),
            Self::StaleStatusList(_) => (
                S::CONFLICT,
                "stale-status-list",
                "Status list is not newer than the current one",
                None,
            ),
            Self::StatusListNotFound(_) => (
                S::NOT_FOUND,
                "status-list-not-found",
                "Status list not found",
                None,
            ),
            Self::VctTaken(_) => (
                S::CONFLICT,
                "vct-taken",
                "Credential type owned by another publisher",
                None,
            ),
            Self::SchemaNotFound(_) => (S::NOT_FOUND, "schema-not-found", "Schema not found", None),
            Self::InvalidQuery(_) => (S::BAD_REQUEST, "invalid-query", "Invalid query", None),
            Self::InvalidLogRequest(_) => (
                S::BAD_REQUEST,
                "invalid-log-request",
                "Invalid log request",
                None,
            ),
            Self::TileNotFound(_) => (S::NOT_FOUND, "tile-not-found", "Tile not found", None),
            Self::BodyTooLarge { .. } => (
                S::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
                None,
            ),
            Self::TooLarge(_) => (
                S::PAYLOAD_TOO_LARGE,
                "too-large",
                "Submission too large",
                None,
            ),
            Self::Remote(problem) => (
                S::from_u16(problem.status).unwrap_or(S::BAD_GATEWAY),
                "remote",
                "Remote service refused the request",
                None,
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                Some("internalError"),
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.classify().0
    }

    /// A verdict on the request itself, which will be refused again as it is (a 4xx other than
    /// 408 and 429), as opposed to a failure to get one (unreachable, overloaded,
    /// rate-limited: trying again may work).
    pub fn is_refusal(&self) -> bool {
        let status = self.problem().status;
        (400..500).contains(&status) && status != 429 && status != 408
    }

    /// The DID Resolution error name (`notFound`, `invalidDid`, ...) if this error is one a
    /// resolver or dereferencer reports; see [`did_error_type`] for its URL form.
    pub fn resolution_error(&self) -> Option<&'static str> {
        self.classify().3
    }

    /// The problem body. Internal errors get a generic detail; the cause is logged by the caller.
    pub fn problem(&self) -> Problem {
        if let Self::Remote(problem) = self {
            return problem.clone();
        }
        let (status, kind, title, resolution_error) = self.classify();
        Problem {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: match self {
                Self::Internal(_) => {
                    "the server failed; the operator has the details in the log".to_owned()
                }
                other => other.to_string(),
            },
            did_resolution_metadata: resolution_error
                .map(|name| serde_json::json!({ "error": name })),
        }
    }
}

/// Namespace of the DID Resolution 1.0 error `type` URLs (DID Resolution §"Errors").
pub const DID_ERROR_BASE: &str = "https://www.w3.org/ns/did#";

/// The DID Resolution 1.0 error `type` URL of an error name: DID Core 1.0 and DID Resolution
/// v0.3 write `notFound`, DID Resolution 1.0 writes `https://www.w3.org/ns/did#NOT_FOUND`.
/// Names without a URL of their own get the spec's namespace, as the spec asks.
pub fn did_error_type(name: &str) -> String {
    let mut upper = String::with_capacity(DID_ERROR_BASE.len() + name.len() + 4);
    upper.push_str(DID_ERROR_BASE);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            upper.push('_');
        }
        upper.push(c.to_ascii_uppercase());
    }
    upper
}

impl Error {
    /// Rebuilds an error from a problem body a Credence service sent. Conditions callers branch
    /// on (not found) come back as their own variants; the rest travel as `Remote`.
    pub fn from_problem(problem: Problem) -> Self {
        match problem.kind.strip_prefix(PROBLEM_BASE) {
            Some("not-found") => Self::NotFound(problem.detail),
            Some("version-not-found") => Self::VersionNotFound(problem.detail),
            Some("invalid-did") => Self::InvalidDid(problem.detail),
            Some("invalid-did-url") => Self::InvalidDidUrl(problem.detail),
            Some("invalid-options") => Self::InvalidOptions(problem.detail),
            Some("did-url-not-found") => Self::DidUrlNotFound(problem.detail),
            _ => Self::Remote(problem),
        }
    }
}

impl From<crate::log::LogError> for Error {
    /// For the registry's own log computations: an entry too large to log is the client's
    /// (413); any other failure there is the server's.
    fn from(error: crate::log::LogError) -> Self {
        match error {
            crate::log::LogError::EntryTooLarge { .. } => Self::TooLarge(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Refuses a signed submission of `kind` longer than `limit` bytes, before any parsing or
/// signature check (cheap checks first).
pub fn check_size(kind: &str, jws: &str, limit: usize) -> Result<(), Error> {
    if jws.len() > limit {
        return Err(Error::TooLarge(format!(
            "the {kind} is {} bytes; at most {limit} are accepted",
            jws.len()
        )));
    }
    Ok(())
}

impl From<crate::did::InvalidDid> for Error {
    fn from(error: crate::did::InvalidDid) -> Self {
        Self::InvalidDid(error.to_string())
    }
}
