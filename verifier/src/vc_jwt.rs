//! The verifier's half of VC-JOSE-COSE `vc+jwt` (W3C "Securing Verifiable Credentials using
//! JOSE and COSE" §3.1): a W3C Verifiable Credential (Data Model 2.0) that *is* the JWT payload,
//! signed by its issuer. Strict parsing, the VCDM 2.0 shape, the validity window and the
//! `BitstringStatusListEntry`s; the JOSE rules themselves are `jose.rs`'s, shared with SD-JWT.
//! Pure: no IO, no clock (`now` is a parameter), no key discovery (`pipeline.rs` finds the key
//! in the issuer's DID document as of issuance).
//!
//! The rules, each a test (`tests/it/vc_jwt.rs`):
//! - JOSE: `typ` exactly `vc+jwt` (§3.1.1), `cty` absent or `vc`, `alg` EdDSA/ES256 bound to
//!   the key type, `crit` refused, duplicate members refused, `jwk`/`jku`/`x5u`/`x5c` never
//!   read; `kid` a DID URL of the issuer's DID.
//! - VCDM 2.0: `@context` an array whose first entry is `https://www.w3.org/ns/credentials/v2`
//!   (§4.3), `type` containing `VerifiableCredential` (§4.5), `issuer` a DID (as a string or an
//!   object's `id`, §4.7), a `credentialSubject` (§4.8), `validFrom` / `validUntil` RFC 3339
//!   date-time stamps (§4.9). A JWT `iss`, if present, must equal `issuer`.
//! - The issuance time, which selects the issuer's DID document, is the JWT `iat` if present,
//!   else `validFrom`; a credential with neither is refused (nothing says which keys applied).
//! - Validity: `exp`, `nbf`, `iat` (JWT) and `validFrom`, `validUntil` (VCDM), each with the
//!   caller's leeway.
//!
//! Which credential type the registry is asked about ([`registry_type`]): the registry names
//! types by URI (`ids::CredentialType`, the SD-JWT VC `vct` a Credence issuer also writes as its
//! W3C type by default). So the type checked is the last entry of `type`, after
//! `VerifiableCredential`, that is such a URI: VCDM lists the base type first and more specific
//! ones after it. A credential whose types are all bare terms (`UniversityDegreeCredential`)
//! names nothing a registry accredits, and fails the accreditation step when a registry is
//! asked (it is never "not checked" on the issuer's say-so).

use chrono::{DateTime, Duration, Utc};
use credence_registry::did::Did;
use credence_registry::ids::CredentialType;
use serde_json::{Map, Value};

use crate::jose::{self, Jws};
use crate::report::Defect;

/// The JWT `typ` of a credential (VC-JOSE-COSE §3.1.1, media type `application/vc+jwt`).
pub const VC_JWT_TYPE: &str = "vc+jwt";
/// The only `cty` a `vc+jwt` may carry (§3.1.1: optional).
pub const VC_CONTENT_TYPE: &str = "vc";
/// The first `@context` entry of every VCDM 2.0 document (§4.3).
pub const VC_CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// The VCDM 1.1 context, recognised only to say clearly why it is refused.
const VC_CONTEXT_V1: &str = "https://www.w3.org/2018/credentials/v1";
/// The base type every credential has (§4.5).
pub const BASE_TYPE: &str = "VerifiableCredential";
/// Largest credential accepted (the same bound as an SD-JWT presentation).
pub const MAX_CREDENTIAL_BYTES: usize = crate::sd_jwt::MAX_PRESENTATION_BYTES;

/// A parsed `vc+jwt`, its signature not yet verified.
#[derive(Debug, Clone)]
pub struct VcJwt<'a> {
    pub jws: Jws<'a>,
    /// `issuer` (a DID).
    pub issuer: Did,
    /// The `kid`, as an absolute DID URL of the issuer.
    pub kid: String,
    /// When it was issued: `iat`, else `validFrom`. The issuer's keys are those of then.
    pub issued: DateTime<Utc>,
    /// The entries of `type` other than `VerifiableCredential`, in order.
    pub types: Vec<String>,
}

impl VcJwt<'_> {
    /// The credential (the JWT payload).
    pub fn credential(&self) -> &Value {
        &self.jws.payload
    }
}

/// Parses a compact `vc+jwt` and checks its header and its VCDM 2.0 shape.
pub fn parse(text: &str) -> Result<VcJwt<'_>, Defect> {
    if text.len() > MAX_CREDENTIAL_BYTES {
        return Err(Defect::TooLarge {
            size: text.len(),
            max: MAX_CREDENTIAL_BYTES,
        });
    }
    let jws = Jws::parse(text.trim(), "the credential", VC_JWT_TYPE)?;
    match jws.header.get("cty") {
        None => {}
        Some(Value::String(cty)) if cty == VC_CONTENT_TYPE => {}
        Some(other) => {
            return Err(Defect::WrongContentType {
                what: "the credential",
                found: other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned),
                expected: VC_CONTENT_TYPE,
            });
        }
    }
    let credential = &jws.payload;
    check_context(credential)?;
    let types = credential_types(credential)?;
    let issuer = issuer(credential)?;
    if let Some(iss) = credential.get("iss") {
        if iss.as_str() != Some(issuer.as_str()) {
            return Err(Defect::IssuerMismatch {
                iss: iss.as_str().map_or_else(|| iss.to_string(), str::to_owned),
                issuer: issuer.to_string(),
            });
        }
    }
    match credential.get("credentialSubject") {
        Some(Value::Object(_)) => {}
        Some(Value::Array(subjects))
            if !subjects.is_empty() && subjects.iter().all(Value::is_object) => {}
        _ => {
            return Err(Defect::BadClaim {
                claim: "credentialSubject",
                detail: "required, an object or a non-empty array of objects (VCDM 2.0 §4.8)"
                    .into(),
            });
        }
    }
    let valid_from = date_time_stamp(credential, "validFrom")?;
    let valid_until = date_time_stamp(credential, "validUntil")?;
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if until < from {
            return Err(Defect::BadClaim {
                claim: "validUntil",
                detail: format!("{until} is before validFrom {from}"),
            });
        }
    }
    let issued = jose::numeric_date(credential, "iat")?
        .or(valid_from)
        .ok_or_else(|| Defect::BadClaim {
            claim: "validFrom",
            detail: "the credential says neither when it was issued (iat) nor from when it is \
                     valid (validFrom); the issuer's keys are looked up as of then"
                .into(),
        })?;
    let kid = jose::issuer_kid(&jws.header, &issuer)?;
    Ok(VcJwt {
        jws,
        issuer,
        kid,
        issued,
        types,
    })
}

/// §4.3: an ordered set whose first item is the VCDM 2.0 context.
fn check_context(credential: &Value) -> Result<(), Defect> {
    let bad = |detail: String| Defect::BadClaim {
        claim: "@context",
        detail,
    };
    let first = match credential.get("@context") {
        Some(Value::Array(contexts)) => contexts.first(),
        Some(_) => return Err(bad("must be an array (VCDM 2.0 §4.3)".into())),
        None => return Err(bad("required (VCDM 2.0 §4.3)".into())),
    };
    match first.and_then(Value::as_str) {
        Some(VC_CONTEXT_V2) => Ok(()),
        Some(VC_CONTEXT_V1) => Err(bad(format!(
            "this is a VCDM 1.1 credential; vc+jwt secures VCDM 2.0 documents, whose first \
             context is {VC_CONTEXT_V2}"
        ))),
        _ => Err(bad(format!("the first entry must be {VC_CONTEXT_V2}"))),
    }
}

/// §4.5: `type` is a string or an array of strings and contains `VerifiableCredential`; the
/// others are returned in order.
fn credential_types(credential: &Value) -> Result<Vec<String>, Defect> {
    let bad = |detail: &str| Defect::BadClaim {
        claim: "type",
        detail: detail.to_owned(),
    };
    let all: Vec<&str> = match credential.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|t| t.as_str().ok_or_else(|| bad("every type must be a string")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(bad(
                "required, a string or an array of strings (VCDM 2.0 §4.5)",
            ));
        }
    };
    if !all.contains(&BASE_TYPE) {
        return Err(bad("must include VerifiableCredential (VCDM 2.0 §4.5)"));
    }
    Ok(all
        .into_iter()
        .filter(|t| *t != BASE_TYPE)
        .map(str::to_owned)
        .collect())
}

/// §4.7: `issuer` is a URL or an object with an `id`; ours must be a DID.
fn issuer(credential: &Value) -> Result<Did, Defect> {
    let text = match credential.get("issuer") {
        Some(Value::String(id)) => Some(id.as_str()),
        Some(Value::Object(object)) => object.get("id").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| Defect::BadClaim {
        claim: "issuer",
        detail: "required, a DID or an object whose id is a DID (VCDM 2.0 §4.7)".into(),
    })?;
    Did::parse(text).map_err(|e| Defect::BadClaim {
        claim: "issuer",
        detail: format!("the issuer must be a DID: {e}"),
    })
}

/// A VCDM `dateTimeStamp` (§4.9: an XML Schema date-time with a time zone), if present.
fn date_time_stamp(
    credential: &Value,
    claim: &'static str,
) -> Result<Option<DateTime<Utc>>, Defect> {
    let Some(value) = credential.get(claim) else {
        return Ok(None);
    };
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| Some(time.with_timezone(&Utc)))
        .ok_or_else(|| Defect::BadClaim {
            claim,
            detail: "not a date-time stamp with a time zone (VCDM 2.0 §4.9)".into(),
        })
}

/// The validity window at `now`: the JWT's `exp`, `nbf`, `iat` and the credential's
/// `validFrom`, `validUntil`, each with `leeway` for clock skew.
pub fn check_times(
    credential: &VcJwt<'_>,
    now: DateTime<Utc>,
    leeway: Duration,
) -> Result<(), Defect> {
    let payload = credential.credential();
    jose::check_times(payload, now, leeway)?;
    if let Some(until) = date_time_stamp(payload, "validUntil")? {
        if now >= until + leeway {
            return Err(Defect::Expired { exp: until });
        }
    }
    if let Some(from) = date_time_stamp(payload, "validFrom")? {
        if now + leeway < from {
            return Err(Defect::NotYetValid { nbf: from });
        }
    }
    Ok(())
}

/// The credential type the registry is asked about: the last entry of `type` that is a
/// registry credential type (a URI); `None` if every type is a bare term. See the module doc.
pub fn registry_type(types: &[String]) -> Option<&str> {
    types
        .iter()
        .rev()
        .find(|t| CredentialType::parse(t).is_ok())
        .map(String::as_str)
}

/// What a set bit in a W3C bitstring list means (Bitstring Status List §2.1 `statusPurpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPurpose {
    Revocation,
    Suspension,
}

impl StatusPurpose {
    pub fn name(self) -> &'static str {
        match self {
            Self::Revocation => "revocation",
            Self::Suspension => "suspension",
        }
    }
}

/// One `BitstringStatusListEntry` (Bitstring Status List §2.1) this verifier checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitstringEntry {
    pub purpose: StatusPurpose,
    /// `statusListIndex`.
    pub index: u64,
    /// `statusListCredential`: the URL of the `BitstringStatusListCredential`.
    pub list: String,
    /// `statusSize` (bits per entry), 1 when absent.
    pub size: u8,
}

/// What `credentialStatus` asks a verifier to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusEntries {
    /// The revocation and suspension entries.
    pub checked: Vec<BitstringEntry>,
    /// Entries of a kind this verifier does not check (another `type`), by type name: the
    /// issuer says there is a status to check and we cannot, so status "could not be checked".
    pub unsupported: Vec<String>,
    /// Bitstring entries of another purpose (`refresh`, `message`): not about validity.
    pub ignored_purposes: Vec<String>,
}

/// The credential's status entries (VCDM 2.0 §4.10: one object or an array of them).
/// A malformed `BitstringStatusListEntry` is [`Defect::BadStatusEntry`].
pub fn status_entries(credential: &Value) -> Result<StatusEntries, Defect> {
    let entries: Vec<&Value> = match credential.get("credentialStatus") {
        None => return Ok(StatusEntries::default()),
        Some(Value::Array(entries)) => entries.iter().collect(),
        Some(one) => vec![one],
    };
    let mut out = StatusEntries::default();
    for entry in entries {
        let bad = |detail: &str| Defect::BadStatusEntry(detail.to_owned());
        let Value::Object(entry) = entry else {
            return Err(bad("credentialStatus must hold objects"));
        };
        let kind = entry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("(none)");
        if kind != "BitstringStatusListEntry" {
            out.unsupported.push(kind.to_owned());
            continue;
        }
        let purpose = match string(entry, "statusPurpose") {
            Some("revocation") => StatusPurpose::Revocation,
            Some("suspension") => StatusPurpose::Suspension,
            Some(other) => {
                out.ignored_purposes.push(other.to_owned());
                continue;
            }
            None => {
                return Err(bad(
                    "statusPurpose is required (Bitstring Status List §2.1)",
                ));
            }
        };
        // §2.1: statusListIndex is a string holding a non-negative integer.
        let index = string(entry, "statusListIndex")
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| {
                bad("statusListIndex must be a string holding a non-negative integer (§2.1)")
            })?;
        let list = string(entry, "statusListCredential")
            .filter(|uri| url::Url::parse(uri).is_ok())
            .ok_or_else(|| bad("statusListCredential must be a URL (§2.1)"))?
            .to_owned();
        let size = match entry.get("statusSize") {
            None => 1,
            Some(size) => size
                .as_u64()
                .and_then(|s| u8::try_from(s).ok())
                .filter(|s| matches!(s, 1 | 2 | 4 | 8))
                .ok_or_else(|| bad("statusSize must be 1, 2, 4 or 8"))?,
        };
        out.checked.push(BitstringEntry {
            purpose,
            index,
            list,
            size,
        });
    }
    Ok(out)
}

fn string<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v str> {
    object.get(name).and_then(Value::as_str)
}

/// The claims a type's schema describes: each `credentialSubject` without its `id` (the
/// holder's identifier, which the issuer adds to the claims it validated).
pub fn subject_claims(credential: &Value) -> Vec<Value> {
    let strip = |subject: &Value| {
        let mut subject = subject.clone();
        if let Value::Object(map) = &mut subject {
            map.remove("id");
        }
        subject
    };
    match credential.get("credentialSubject") {
        Some(Value::Array(subjects)) => subjects.iter().map(strip).collect(),
        Some(subject) => vec![strip(subject)],
        None => Vec::new(),
    }
}
