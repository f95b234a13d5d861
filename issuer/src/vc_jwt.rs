//! Issuing W3C Verifiable Credentials (Data Model 2.0) secured with JOSE: VC-JOSE-COSE
//! `vc+jwt`, where the JWT payload *is* the credential (VC-JOSE-COSE §3.1.1) and the protected
//! header carries `alg`, `kid` and `typ: vc+jwt` (§3.1.1; `cty` is optional and omitted).
//!
//! This module owns the credential document (`@context`, `type`, `issuer`, `validFrom`,
//! `validUntil`, `credentialSubject`, `credentialStatus` with `BitstringStatusListEntry`s) and
//! its signing. It adds no JWT registered claims (`iss`, `iat`, `exp`...): VC-JOSE-COSE
//! leaves them optional and a verifier reads the credential's own members. No clock: `now`
//! is a parameter.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use credence_registry::did::Did;
use serde_json::{Map, Value, json};

use crate::claims::Claims;
use crate::jws::IssuerKey;
use crate::status::{BitstringStatusEntry, VC_CONTEXT_V2};

/// The JWT `typ` of a VC-JOSE-COSE credential (§3.1.1; media type `application/vc+jwt`).
pub const JWT_TYPE: &str = "vc+jwt";
/// The base type every credential has (VCDM 2.0 §4.5).
pub const BASE_TYPE: &str = "VerifiableCredential";

/// Why a `vc+jwt` could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcJwtError {
    /// Not a credential type: a term or URL without whitespace, other than the base type.
    #[error("invalid credential type {0:?}: a term or URL, not VerifiableCredential itself")]
    InvalidCredentialType(String),
    /// Not an absolute URI to use as the credential `id` (VCDM 2.0 §4.4).
    #[error("invalid credential id {0:?}: an absolute URI (for example urn:uuid:...)")]
    InvalidCredentialId(String),
    /// The subject claims set `id`, which this module sets from the holder DID.
    #[error("credentialSubject.id is set from the holder DID, not from the claims")]
    SubjectIdInClaims,
    /// `validUntil` not after `validFrom`.
    #[error("validUntil ({until}) is not after validFrom ({from})")]
    ValidUntilBeforeValidFrom {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// The specific type of a credential (VCDM 2.0 §4.5), written after `VerifiableCredential`
/// in `type`; in Credence it names a schema published in the registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CredentialType(String);

impl CredentialType {
    pub fn parse(text: &str) -> Result<Self, VcJwtError> {
        if text.is_empty()
            || text.len() > 2048
            || text == BASE_TYPE
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(VcJwtError::InvalidCredentialType(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialType({})", self.0)
    }
}

/// The `id` of a credential: an absolute URI (VCDM 2.0 §4.4), typically `urn:uuid:...`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CredentialId(String);

impl CredentialId {
    pub fn parse(text: &str) -> Result<Self, VcJwtError> {
        match url::Url::parse(text) {
            Ok(url) if url.as_str() == text => Ok(Self(text.to_owned())),
            _ => Err(VcJwtError::InvalidCredentialId(text.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({})", self.0)
    }
}

/// What to issue, apart from the key and the time.
#[derive(Debug, Clone)]
pub struct VcJwtRequest {
    pub id: Option<CredentialId>,
    pub credential_type: CredentialType,
    /// Becomes `credentialSubject.id` when given.
    pub holder: Option<Did>,
    /// The other members of `credentialSubject`.
    pub subject: Claims,
    /// `validFrom`; issuance time when absent.
    pub valid_from: Option<DateTime<Utc>>,
    /// `validUntil`.
    pub valid_until: Option<DateTime<Utc>>,
    /// `credentialStatus`: usually one entry for revocation and, when the type can be
    /// suspended, one for suspension, at the same index.
    pub status: Vec<BitstringStatusEntry>,
}

/// Issues a `vc+jwt` signed by `key` (its DID is the `issuer`).
pub fn issue(
    key: &IssuerKey,
    request: &VcJwtRequest,
    now: DateTime<Utc>,
) -> Result<String, VcJwtError> {
    let credential = credential(key.issuer(), request, now)?;
    Ok(key.sign_jwt(JWT_TYPE, &credential))
}

/// The unsigned credential (VCDM 2.0) that [`issue`] signs.
pub fn credential(
    issuer: &Did,
    request: &VcJwtRequest,
    now: DateTime<Utc>,
) -> Result<Value, VcJwtError> {
    let valid_from = request.valid_from.unwrap_or(now);
    if let Some(until) = request.valid_until {
        if until <= valid_from {
            return Err(VcJwtError::ValidUntilBeforeValidFrom {
                from: valid_from,
                until,
            });
        }
    }
    if request.subject.get("id").is_some() {
        return Err(VcJwtError::SubjectIdInClaims);
    }
    let mut subject = Map::new();
    if let Some(holder) = &request.holder {
        subject.insert("id".into(), json!(holder.as_str()));
    }
    subject.extend(request.subject.as_map().clone());

    let mut credential = Map::new();
    credential.insert("@context".into(), json!([VC_CONTEXT_V2]));
    if let Some(id) = &request.id {
        credential.insert("id".into(), json!(id.as_str()));
    }
    credential.insert(
        "type".into(),
        json!([BASE_TYPE, request.credential_type.as_str()]),
    );
    credential.insert("issuer".into(), json!(issuer.as_str()));
    // VCDM 2.0 §4.9: dateTimeStamp values; whole seconds in UTC.
    credential.insert("validFrom".into(), json!(timestamp(valid_from)));
    if let Some(until) = request.valid_until {
        credential.insert("validUntil".into(), json!(timestamp(until)));
    }
    credential.insert("credentialSubject".into(), Value::Object(subject));
    // VCDM 2.0 §4.10: one status object, or an array of them.
    match request.status.as_slice() {
        [] => {}
        [entry] => {
            credential.insert("credentialStatus".into(), entry.to_json());
        }
        entries => {
            credential.insert(
                "credentialStatus".into(),
                entries.iter().map(BitstringStatusEntry::to_json).collect(),
            );
        }
    }
    Ok(Value::Object(credential))
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_types_and_ids() {
        fn check_type(input: &str, ok: bool) {
            assert_eq!(CredentialType::parse(input).is_ok(), ok, "{input:?}");
        }
        fn check_id(input: &str, ok: bool) {
            assert_eq!(CredentialId::parse(input).is_ok(), ok, "{input:?}");
        }
        check_type("UniversityDegreeCredential", true);
        check_type("https://schemas.example/degree", true);
        check_type("VerifiableCredential", false);
        check_type("", false);
        check_type("two words", false);
        check_id("urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5", true);
        check_id("https://issuer.example/credentials/1", true);
        check_id("not a uri", false);
        check_id("relative/path", false);
    }
}
