//! The issuer service's errors: every condition a caller can cause or meet, each with an HTTP
//! status (an exhaustive match, no `_` arm: a new variant forces a decision), a stable RFC 9457
//! problem `type`, and a `detail` a support desk can act on.
//!
//! Server-side failures (database, sealed keys that do not open) are logged with their cause
//! and answered with a generic detail: internals and secrets never reach a response. The
//! domain returns these errors; `http/` only turns them into responses.

use credence_registry::error::{PROBLEM_BASE, Problem};
use http::StatusCode;

use crate::ids::IdError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No bearer token, or one that is not the admin token or any tenant's.
    #[error("a valid bearer token is required (Authorization: Bearer <token>)")]
    Unauthenticated,
    /// No such tenant, or the token is another tenant's (both look the same, so a token
    /// cannot be used to learn which tenants exist).
    #[error("no tenant {0} is reachable with this token")]
    TenantNotFound(String),
    /// The tenant has no credential type with this id.
    #[error("tenant has no credential type {0}")]
    TypeNotFound(String),
    /// No credential with this id was issued by this tenant.
    #[error("no credential {0} was issued by this tenant")]
    CredentialNotFound(String),
    /// The tenant id or its DID is taken.
    #[error("tenant {0} already exists")]
    TenantExists(String),
    /// The tenant already has a type with this id.
    #[error("credential type {0} already exists; choose another id")]
    TypeExists(String),
    /// The body is not acceptable JSON (syntax, duplicate keys, nesting too deep).
    #[error("{0}")]
    MalformedJson(#[from] credence_registry::json::JsonError),
    /// The body is JSON but not the request this endpoint takes (a member missing, of the
    /// wrong type, or unknown).
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is larger than the endpoint reads.
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A body sent with another media type than JSON.
    #[error("Content-Type {0} is not accepted here; send application/json")]
    UnsupportedMediaType(String),
    /// The claims do not satisfy the type's schema.
    #[error("claims violate the schema at {path}: {reason}")]
    SchemaViolation { path: String, reason: String },
    /// A format the credential type does not offer.
    #[error("credential type {type_id} does not offer {format}; it offers {offered}")]
    FormatNotOffered {
        type_id: String,
        format: String,
        offered: String,
    },
    /// A credential type definition that cannot work (a disclosable path the schema does not
    /// have, a registered claim made disclosable, no formats, a zero validity...).
    #[error("{0}")]
    InvalidType(String),
    /// The schema named by a type does not exist at the registry.
    #[error("the registry has no schema {0}")]
    SchemaNotFound(String),
    /// The credential could not be built from the claims (a claim the format reserves...).
    #[error("{0}")]
    Unissuable(String),
    /// The status change is not allowed (revoked is final; a type without suspension cannot
    /// be suspended; the credential's type has no status).
    #[error("{0}")]
    StatusConflict(String),
    /// Another key rotation of the tenant is under way (or was interrupted moments ago and
    /// may still reach the registry).
    #[error("a key rotation of tenant {0} is under way; try again in a few minutes")]
    RotationInProgress(String),
    /// The registry refused what the issuer sent (a DID registration, a list).
    #[error("the registry refused: {0}")]
    RegistryRefused(String),
    /// The registry could not be reached or did not answer usefully; nothing was done.
    #[error("the registry is unavailable: {0}")]
    RegistryUnavailable(String),
    /// No route here.
    #[error("{0}")]
    RouteNotFound(String),
    /// Our fault; the cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// The HTTP status of each condition.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::TenantNotFound(_)
            | Self::TypeNotFound(_)
            | Self::CredentialNotFound(_)
            | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::TenantExists(_)
            | Self::TypeExists(_)
            | Self::StatusConflict(_)
            | Self::RotationInProgress(_) => StatusCode::CONFLICT,
            Self::MalformedJson(_) | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::SchemaViolation { .. }
            | Self::FormatNotOffered { .. }
            | Self::InvalidType(_)
            | Self::SchemaNotFound(_)
            | Self::Unissuable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RegistryRefused(_) => StatusCode::BAD_GATEWAY,
            Self::RegistryUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable last segment of the problem `type`.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::Unauthenticated => ("unauthenticated", "Authentication required"),
            Self::TenantNotFound(_) => ("tenant-not-found", "Tenant not found"),
            Self::TypeNotFound(_) => ("credential-type-not-found", "Credential type not found"),
            Self::CredentialNotFound(_) => ("credential-not-found", "Credential not found"),
            Self::TenantExists(_) => ("tenant-exists", "Tenant already exists"),
            Self::TypeExists(_) => ("credential-type-exists", "Credential type already exists"),
            Self::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            Self::InvalidRequest(_) => ("invalid-request", "Invalid request"),
            Self::BodyTooLarge { .. } => ("body-too-large", "Request body too large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::SchemaViolation { .. } => ("schema-violation", "Claims violate the schema"),
            Self::FormatNotOffered { .. } => ("format-not-offered", "Format not offered"),
            Self::InvalidType(_) => ("invalid-credential-type", "Invalid credential type"),
            Self::SchemaNotFound(_) => ("schema-not-found", "Schema not found"),
            Self::Unissuable(_) => ("unissuable", "Credential cannot be issued"),
            Self::StatusConflict(_) => ("status-conflict", "Status change not allowed"),
            Self::RotationInProgress(_) => ("rotation-in-progress", "Key rotation under way"),
            Self::RegistryRefused(_) => ("registry-refused", "The registry refused"),
            Self::RegistryUnavailable(_) => ("registry-unavailable", "The registry is unavailable"),
            Self::RouteNotFound(_) => ("route-not-found", "Not found"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The RFC 9457 problem body. `Internal` says nothing about its cause.
    pub fn problem(&self) -> Problem {
        let (kind, title) = self.kind();
        let detail = match self {
            Self::Internal(_) => {
                "the issuer failed to complete the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            kind: format!("{PROBLEM_BASE}issuer/{kind}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            did_resolution_metadata: None,
        }
    }

    /// Maps what the registry answered: its refusals (4xx) are `RegistryRefused` with its
    /// detail; no answer or a 5xx is `RegistryUnavailable`.
    pub fn from_registry(error: credence_registry::error::Error) -> Self {
        let problem = error.problem();
        if error.is_refusal() {
            Self::RegistryRefused(problem.detail)
        } else {
            Self::RegistryUnavailable(problem.detail)
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Self::Internal(format!("store: {error}"))
    }
}

impl From<IdError> for Error {
    fn from(error: IdError) -> Self {
        Self::InvalidRequest(error.to_string())
    }
}
