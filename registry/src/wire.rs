//! The wire types of every registry API, in one place: what the HTTP routes serve and the
//! client reads back. Plain serde types; no IO, no checks beyond what serde does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::ids::{AccreditationId, CredentialType, ListKey, LogIndex, SchemaId};

/// Which version of a DID document to resolve (DID Resolution `versionId`/`versionTime`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum VersionSelector {
    #[default]
    Latest,
    /// The version created by the operation with this hash.
    Id(String),
    /// The version current at this instant.
    Time(DateTime<Utc>),
}

impl VersionSelector {
    /// The version current at `text`, an RFC 3339 date-time (the `versionTime` parameter).
    pub fn at_time(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| Self::Time(at.with_timezone(&Utc)))
            .map_err(|e| format!("{text:?} is not an RFC 3339 date-time: {e}"))
    }

    /// The selector DID Resolution's `versionId` and `versionTime` options name (the HTTP
    /// query and the CLI's `--version-id` / `--version-time` alike). Both at once, or a
    /// `versionTime` that is not an RFC 3339 date-time (a date alone is not), is
    /// `InvalidOptions`.
    pub fn from_options(
        version_id: Option<String>,
        version_time: Option<&str>,
    ) -> Result<Self, crate::error::Error> {
        use crate::error::Error;
        match (version_id, version_time) {
            (Some(_), Some(_)) => Err(Error::InvalidOptions(
                "give versionId or versionTime, not both".into(),
            )),
            (Some(id), None) => Ok(Self::Id(id)),
            (None, Some(time)) => {
                Self::at_time(time).map_err(|e| Error::InvalidOptions(format!("versionTime {e}")))
            }
            (None, None) => Ok(Self::Latest),
        }
    }
}

/// DID document metadata (DID Core §7.1.3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
}

/// A resolved DID document with its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    pub document: Value,
    pub metadata: DocumentMetadata,
}

/// XML Schema dateTime in UTC, as DID Core §7.1.3 asks.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An inclusion proof as served (`GET /log/proof/inclusion`), hashes in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProofBody {
    pub index: u64,
    pub size: u64,
    pub leaf_hash: String,
    pub root_hash: String,
    pub proof: Vec<String>,
}

/// A consistency proof as served (`GET /log/proof/consistency`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyProofBody {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

/// Evidence that a resolved version is recorded in the log and valid: the operation that
/// produced it, where it is in the log, an inclusion proof against a signed checkpoint, and the
/// operations before it, from which a client re-validates the chain and rebuilds the document
/// (`verify_log_proof`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogProof {
    pub position: u64,
    pub operation: crate::ops::SignedOperation,
    /// The DID's operations before `operation` (positions 0 to `position - 1`), so a client
    /// re-validates the whole chain: signatures by the then-current rotation keys, `prev`
    /// links, the DID derived from the genesis.
    pub history: Vec<crate::ops::SignedOperation>,
    pub checkpoint: String,
    pub inclusion: InclusionProofBody,
}

/// A published schema as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedSchema {
    pub id: SchemaId,
    pub vct: CredentialType,
    pub publisher: Did,
    pub schema: Value,
    pub type_metadata: Value,
    pub created: String,
    pub log_index: LogIndex,
    /// The publisher's signed submission.
    pub jws: String,
}

impl PublishedSchema {
    /// The log entry that recorded it, rebuilt from what is served (see
    /// `RegistryClient::prove_entry`).
    pub fn log_entry(&self) -> crate::log::Entry {
        crate::log::Entry::Schema {
            id: self.id.to_string(),
            vct: self.vct.to_string(),
            publisher: self.publisher.clone(),
            jws: self.jws.clone(),
        }
    }
}

/// The payload an accreditor signs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccreditationClaims {
    /// Always `"Accreditation"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: Did,
    pub credential_types: Vec<CredentialType>,
    #[serde(default)]
    pub may_accredit: bool,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

impl AccreditationClaims {
    /// The claims of an accreditation of `subject` for `credential_types` from `valid_from`
    /// until `valid_until`, letting it accredit others for them if `may_accredit`.
    pub fn new(
        subject: Did,
        credential_types: Vec<CredentialType>,
        may_accredit: bool,
        valid_from: DateTime<Utc>,
        valid_until: DateTime<Utc>,
    ) -> Self {
        Self {
            kind: "Accreditation".to_owned(),
            subject,
            credential_types,
            may_accredit,
            valid_from,
            valid_until,
        }
    }
}

/// The payload an accreditor signs to revoke one of its accreditations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevocationClaims {
    /// Always `"AccreditationRevocation"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub accreditation: AccreditationId,
}

impl RevocationClaims {
    /// The claims revoking the accreditation with id `accreditation`.
    pub fn new(accreditation: &AccreditationId) -> Self {
        Self {
            kind: "AccreditationRevocation".to_owned(),
            accreditation: accreditation.clone(),
        }
    }
}

/// An accreditation as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccreditationView {
    pub id: AccreditationId,
    pub subject: Did,
    pub accreditor: Did,
    pub credential_types: Vec<CredentialType>,
    pub may_accredit: bool,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// When the registry recorded it; it takes effect at the later of this and `validFrom`.
    pub recorded: DateTime<Utc>,
    pub log_index: LogIndex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_log_index: Option<LogIndex>,
    pub jws: String,
    /// The accreditor's signed revocation, as logged at `revoked_log_index`, so a client can
    /// prove the revocation as it proves the accreditation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_jws: Option<String>,
}

impl AccreditationView {
    /// The log entry that recorded it, rebuilt from what is served: a client checks its
    /// inclusion at `log_index` to prove the accreditation was logged as served.
    pub fn log_entry(&self) -> crate::log::Entry {
        crate::log::Entry::Accreditation {
            id: self.id.to_string(),
            jws: self.jws.clone(),
        }
    }
}

/// Every accreditation naming a DID, as served (`GET /issuers/{did}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerAccreditations {
    pub did: Did,
    /// Whether the registry says it is one of its trust anchors (its configuration: not
    /// provable from the log).
    pub anchor: bool,
    pub accreditations: Vec<AccreditationView>,
}

/// The answer to "may `issuer` issue `credential_type` at `at`?".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub issuer: Did,
    pub credential_type: CredentialType,
    pub at: DateTime<Utc>,
    pub allowed: bool,
    /// From the issuer's own accreditation up to the one signed by an anchor.
    pub chain: Vec<AccreditationView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The two securing formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StatusFormat {
    /// W3C Bitstring Status List credential as a VC-JOSE-COSE `vc+jwt`.
    BitstringVcJwt,
    /// IETF Token Status List as `statuslist+jwt`.
    TokenStatusListJwt,
}

impl StatusFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::BitstringVcJwt => "application/vc+jwt",
            Self::TokenStatusListJwt => "application/statuslist+jwt",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::BitstringVcJwt => "bitstringVcJwt",
            Self::TokenStatusListJwt => "tokenStatusListJwt",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "bitstringVcJwt" => Some(Self::BitstringVcJwt),
            "tokenStatusListJwt" => Some(Self::TokenStatusListJwt),
            _ => None,
        }
    }
}

/// A stored version as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusListVersion {
    /// Stable key of the list: base32 SHA-256 of its URI, 32 characters.
    pub key: ListKey,
    pub uri: String,
    pub issuer: Did,
    pub format: StatusFormat,
    /// `iat`/`validFrom` in Unix milliseconds; also the version selector.
    pub version: i64,
    pub ttl_seconds: u64,
    pub log_index: LogIndex,
    pub jws: String,
}

impl StatusListVersion {
    /// The log entry that recorded this version, rebuilt from what is served (see
    /// `RegistryClient::prove_entry`).
    pub fn log_entry(&self) -> crate::log::Entry {
        crate::log::Entry::StatusList {
            key: self.key.to_string(),
            uri: self.uri.clone(),
            issuer: self.issuer.clone(),
            jws: self.jws.clone(),
        }
    }
}
