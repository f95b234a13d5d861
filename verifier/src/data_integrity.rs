//! The verifier's half of W3C Data Integrity with the `eddsa-rdfc-2022` cryptosuite
//! (vc-di-eddsa §3.3; the issuer's half is `credence_issuer::data_integrity`): credentials and
//! presentations that carry their proof inside the JSON-LD document (`ldp_vc` / `ldp_vp`).
//! Strict parsing, the VCDM 2.0 shape, the proof's rules, and the proof's signature checked
//! against a key the caller found. Pure: no IO, no clock (`now` is a parameter), no key
//! discovery (`pipeline.rs` resolves the issuer's DID as of issuance and hands the key in).
//!
//! How a proof is checked (vc-di-eddsa §3.3.1-§3.3.6, RDFC-1.0):
//! - The document without `proof` is expanded as JSON-LD and canonicalized with RDF Dataset
//!   Canonicalization (RDFC-1.0); the proof configuration (the proof without `proofValue`,
//!   under the document's `@context`, §3.3.5) is canonicalized the same way; the signed bytes
//!   are SHA-256(canonical configuration) || SHA-256(canonical document) (§3.3.4); `proofValue`
//!   is the base58btc multibase of an Ed25519 signature over them (§3.3.6), checked strictly by
//!   `credence_registry::keys`.
//! - JSON-LD expansion and canonicalization are the `ssi` crate family's (`ssi-json-ld`,
//!   `ssi-rdf`), with `ssi_json_ld::StaticLoader`: contexts compiled into the binary, never
//!   fetched. Expansion is strict: an undefined term (a claim no context defines, which would
//!   otherwise silently fall out of what was signed) or a context URL that is not bundled is
//!   [`Defect::NotCanonicalizable`], not a signature failure. The W3C vector and credentials
//!   made by ssi itself are the tests' witnesses that this is the suite ssi implements.
//! - What is cacheable is cached ([`Canonicalizer`]): the hash of a proof configuration (the
//!   same for every credential an issuer signed in the same second with the same key and
//!   contexts) and the processed `@context` (the VCDM 2.0 context is large, and processing it
//!   is a fixed cost of every expansion). Nothing keyed on a whole document is kept.
//!
//! The rules, each a test (`tests/it/data_integrity.rs`):
//! - One proof, of `type` `DataIntegrityProof` and `cryptosuite` `eddsa-rdfc-2022` (any other
//!   suite is [`Defect::UnsupportedCryptosuite`]). Proof sets (an array of proofs) and proof
//!   chains (`previousProof`) are refused: Credence issues one proof, and a verifier that
//!   accepted sets would have to decide which signer it trusts for what.
//! - A credential's proof has `proofPurpose` `assertionMethod` and a `verificationMethod` that
//!   is a DID URL of the credential's `issuer` (never another DID's key, whatever that DID's
//!   document says). A presentation's proof has `proofPurpose` `authentication`, a `challenge`
//!   and a `domain` (checked by the pipeline against the verifier's nonce and audience).
//! - `created` is an RFC 3339 date-time stamp; `expires`, if present, is honoured.
//! - VCDM 2.0 shape as for `vc+jwt` (`vc_jwt::parse`): `@context` first entry the v2 context,
//!   `type` with `VerifiableCredential`, `issuer` a DID, `credentialSubject`, `validFrom` /
//!   `validUntil`. The issuer is resolved as of `proof.created` (the signing time, as `iat` for
//!   a JWT), else `validFrom`.
//! - Input is bounded: at most [`MAX_DOCUMENT_BYTES`], strict JSON (duplicate members and
//!   nesting deeper than `credence_registry::json::MAX_DEPTH` refused), a JSON object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use credence_registry::did::Did;
use credence_registry::keys::PublicKey;
use credence_registry::resolver::DidUrl;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use ssi_json_ld::{CompactJsonLd, Expandable as _, StaticLoader};
use ssi_rdf::{AnyLdEnvironment as _, LdEnvironment};

use crate::report::Defect;
use crate::vc_jwt;

/// The only cryptosuite accepted (vc-di-eddsa §3.3).
pub const CRYPTOSUITE: &str = "eddsa-rdfc-2022";
/// The proof `type` of every cryptosuite defined on Data Integrity 1.0 (§2.1).
pub const PROOF_TYPE: &str = "DataIntegrityProof";
/// The base type of every presentation (VCDM 2.0 §4.13).
pub const PRESENTATION_TYPE: &str = "VerifiablePresentation";
/// Largest document accepted, credential or presentation (the same bound as a JWT credential).
pub const MAX_DOCUMENT_BYTES: usize = vc_jwt::MAX_CREDENTIAL_BYTES;
/// Entries each [`Canonicalizer`] cache keeps before it starts over.
const CACHE_CAPACITY: usize = 1024;

/// What a proof is for (Data Integrity §2.1 `proofPurpose`; Controlled Identifiers §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofPurpose {
    /// An issuer asserting a credential's claims.
    AssertionMethod,
    /// A holder authenticating, in a presentation.
    Authentication,
}

impl ProofPurpose {
    pub fn name(self) -> &'static str {
        match self {
            Self::AssertionMethod => "assertionMethod",
            Self::Authentication => "authentication",
        }
    }
}

/// One `eddsa-rdfc-2022` proof, parsed, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Proof {
    /// `verificationMethod`: an absolute DID URL with a fragment.
    pub verification_method: String,
    /// The DID whose key the verification method is.
    pub signer: Did,
    pub purpose: ProofPurpose,
    /// `created`, if present.
    pub created: Option<DateTime<Utc>>,
    /// `expires`, if present.
    pub expires: Option<DateTime<Utc>>,
    /// `challenge`, if present (a presentation's nonce).
    pub challenge: Option<String>,
    /// `domain`, if present (a presentation's audience); a one-element array is taken too.
    pub domain: Option<String>,
    /// The Ed25519 signature `proofValue` encodes.
    signature: Vec<u8>,
    /// The proof configuration (§3.3.5): the proof without `proofValue`, under the document's
    /// `@context`.
    configuration: Value,
}

impl Proof {
    /// The proof configuration whose canonical form is hashed (vc-di-eddsa §3.3.5).
    pub fn configuration(&self) -> &Value {
        &self.configuration
    }
}

/// A document with its proof taken off: what the proof signs, and the proof.
#[derive(Debug, Clone)]
pub struct Secured {
    /// The document without `proof`.
    pub unsecured: Value,
    pub proof: Proof,
}

/// A parsed Data Integrity credential, its proof not yet checked.
#[derive(Debug, Clone)]
pub struct DiCredential {
    pub secured: Secured,
    /// `issuer` (a DID).
    pub issuer: Did,
    /// When it was signed: `proof.created`, else `validFrom`. The issuer's keys are those of
    /// then.
    pub issued: DateTime<Utc>,
    /// The entries of `type` other than `VerifiableCredential`, in order.
    pub types: Vec<String>,
}

impl DiCredential {
    /// The credential without its proof.
    pub fn credential(&self) -> &Value {
        &self.secured.unsecured
    }
}

/// A parsed Data Integrity presentation: its own proof (the holder's) and the one credential
/// it carries, neither checked yet.
#[derive(Debug, Clone)]
pub struct DiPresentation {
    pub secured: Secured,
    /// `holder`, if present: it must be the proof's signer.
    pub holder: Option<Did>,
    /// The credential, with its proof.
    pub credential: DiCredential,
}

/// Parses `bytes` as a Data Integrity credential: bounded strict JSON, the VCDM 2.0 shape, one
/// `eddsa-rdfc-2022` proof for `assertionMethod` by a key of the issuer.
pub fn parse_credential(bytes: &[u8]) -> Result<DiCredential, Defect> {
    credential(strict_object(bytes)?)
}

/// Parses `bytes` as a Data Integrity presentation: bounded strict JSON, `type`
/// `VerifiablePresentation`, one `eddsa-rdfc-2022` proof for `authentication`, exactly one
/// embedded Data Integrity credential (VCDM 2.0 §4.13 `verifiableCredential`).
///
/// One credential per presentation: the report of a verification speaks for one credential
/// (its issuer, status, accreditation, claims); a holder presents several by presenting several
/// times.
pub fn parse_presentation(bytes: &[u8]) -> Result<DiPresentation, Defect> {
    let document = strict_object(bytes)?;
    check_context(&document)?;
    let types = types_of(&document, "type")?;
    if !types.iter().any(|t| t == PRESENTATION_TYPE) {
        return Err(Defect::BadClaim {
            claim: "type",
            detail: "a presentation's type must include VerifiablePresentation (VCDM 2.0 §4.13)"
                .into(),
        });
    }
    let holder = match document.get("holder") {
        None => None,
        Some(value) => {
            let text = match value {
                Value::String(id) => Some(id.as_str()),
                Value::Object(object) => object.get("id").and_then(Value::as_str),
                _ => None,
            };
            Some(
                text.and_then(|t| Did::parse(t).ok())
                    .ok_or_else(|| Defect::BadClaim {
                        claim: "holder",
                        detail: "if present, a DID or an object whose id is a DID".into(),
                    })?,
            )
        }
    };
    let embedded = match document.get("verifiableCredential") {
        Some(Value::Object(_)) => document["verifiableCredential"].clone(),
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_object() => items[0].clone(),
        Some(Value::Array(items)) if items.len() > 1 => {
            return Err(Defect::BadClaim {
                claim: "verifiableCredential",
                detail: format!(
                    "{} credentials were presented; this verifier takes one per presentation",
                    items.len()
                ),
            });
        }
        _ => {
            return Err(Defect::BadClaim {
                claim: "verifiableCredential",
                detail: "required: one Data Integrity credential (an object with a proof)".into(),
            });
        }
    };
    let credential = credential(embedded)?;
    let secured = secured(document, ProofPurpose::Authentication)?;
    if let Some(holder) = &holder {
        if holder != &secured.proof.signer {
            return Err(Defect::BadClaim {
                claim: "holder",
                detail: format!(
                    "the presentation names {holder} as its holder but is signed by a key of {}",
                    secured.proof.signer
                ),
            });
        }
    }
    Ok(DiPresentation {
        secured,
        holder,
        credential,
    })
}

/// Parses `bytes` as any JSON-LD document secured with one `eddsa-rdfc-2022` proof of
/// `purpose`, without the credential's rules (an `issuer` that is not a DID, as in the W3C
/// vectors): for checking a proof alone with [`Canonicalizer::verify`].
pub fn parse_secured(bytes: &[u8], purpose: ProofPurpose) -> Result<Secured, Defect> {
    secured(strict_object(bytes)?, purpose)
}

/// A credential document (already parsed JSON) checked and split from its proof.
fn credential(document: Value) -> Result<DiCredential, Defect> {
    if !document.is_object() {
        return Err(Defect::Malformed(
            "a Data Integrity credential is a JSON object".into(),
        ));
    }
    check_context(&document)?;
    let all_types = types_of(&document, "type")?;
    if !all_types.iter().any(|t| t == vc_jwt::BASE_TYPE) {
        return Err(Defect::BadClaim {
            claim: "type",
            detail: "must include VerifiableCredential (VCDM 2.0 §4.5)".into(),
        });
    }
    let types = all_types
        .into_iter()
        .filter(|t| t != vc_jwt::BASE_TYPE)
        .collect();
    let issuer = issuer(&document)?;
    match document.get("credentialSubject") {
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
    let valid_from = date_time_stamp(&document, "validFrom")?;
    let valid_until = date_time_stamp(&document, "validUntil")?;
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if until < from {
            return Err(Defect::BadClaim {
                claim: "validUntil",
                detail: format!("{until} is before validFrom {from}"),
            });
        }
    }
    let secured = secured(document, ProofPurpose::AssertionMethod)?;
    if secured.proof.signer != issuer {
        return Err(Defect::KidNotOfIssuer {
            kid: secured.proof.verification_method.clone(),
            issuer: issuer.to_string(),
        });
    }
    let issued = secured
        .proof
        .created
        .or(valid_from)
        .ok_or_else(|| Defect::BadClaim {
            claim: "validFrom",
            detail: "the credential says neither when it was signed (proof.created) nor from \
                     when it is valid (validFrom); the issuer's keys are looked up as of then"
                .into(),
        })?;
    Ok(DiCredential {
        secured,
        issuer,
        issued,
        types,
    })
}

/// Bounded, strict JSON: an object.
fn strict_object(bytes: &[u8]) -> Result<Value, Defect> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Defect::TooLarge {
            size: bytes.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let value = credence_registry::json::parse_strict(bytes)
        .map_err(|e| Defect::Malformed(format!("not a JSON document: {e}")))?;
    if !value.is_object() {
        return Err(Defect::Malformed(
            "a Data Integrity document is a JSON object".into(),
        ));
    }
    Ok(value)
}

/// VCDM 2.0 §4.3: an array whose first entry is the v2 context. The other entries are checked
/// when the document is expanded (bundled or embedded, never fetched).
fn check_context(document: &Value) -> Result<(), Defect> {
    let bad = |detail: String| Defect::BadClaim {
        claim: "@context",
        detail,
    };
    match document.get("@context") {
        Some(Value::Array(contexts)) => match contexts.first().and_then(Value::as_str) {
            Some(vc_jwt::VC_CONTEXT_V2) => Ok(()),
            _ => Err(bad(format!(
                "the first entry must be {} (VCDM 2.0 §4.3)",
                vc_jwt::VC_CONTEXT_V2
            ))),
        },
        Some(_) => Err(bad("must be an array (VCDM 2.0 §4.3)".into())),
        None => Err(bad("required (VCDM 2.0 §4.3)".into())),
    }
}

/// `type`: a string or an array of strings.
fn types_of(document: &Value, claim: &'static str) -> Result<Vec<String>, Defect> {
    let bad = || Defect::BadClaim {
        claim,
        detail: "required, a string or an array of strings".into(),
    };
    match document.get(claim) {
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(many)) => many
            .iter()
            .map(|t| t.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// VCDM 2.0 §4.7: `issuer` is a URL or an object with an `id`; ours must be a DID.
fn issuer(document: &Value) -> Result<Did, Defect> {
    let text = match document.get("issuer") {
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

/// A `dateTimeStamp` member (an RFC 3339 date-time with a time zone), if present.
fn date_time_stamp(object: &Value, claim: &'static str) -> Result<Option<DateTime<Utc>>, Defect> {
    let Some(value) = object.get(claim) else {
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

/// Takes the proof off `document` and checks its shape (Data Integrity §2.1, vc-di-eddsa
/// §3.3.1 steps 1-3): one proof, `DataIntegrityProof`, `eddsa-rdfc-2022`, of `purpose`, by a
/// DID URL, with a base58btc `proofValue` of 64 bytes; if the proof carries an `@context`, the
/// document's starts with it.
fn secured(mut document: Value, purpose: ProofPurpose) -> Result<Secured, Defect> {
    let object = document
        .as_object_mut()
        .ok_or_else(|| Defect::Malformed("a Data Integrity document is a JSON object".into()))?;
    let proof = match object.remove("proof") {
        Some(Value::Object(proof)) => proof,
        Some(Value::Array(proofs)) if proofs.len() == 1 && proofs[0].is_object() => {
            match proofs.into_iter().next() {
                Some(Value::Object(proof)) => proof,
                _ => unreachable!("checked to be one object"),
            }
        }
        Some(Value::Array(_)) => {
            return Err(Defect::BadProof(
                "several proofs (a proof set) are not accepted; one eddsa-rdfc-2022 proof is"
                    .into(),
            ));
        }
        Some(_) => return Err(Defect::BadProof("proof must be an object".into())),
        None => {
            return Err(Defect::BadProof(
                "the document has no proof (an unsecured document proves nothing)".into(),
            ));
        }
    };
    let proof_string = |name: &'static str| -> Result<Option<&str>, Defect> {
        match proof.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(Defect::BadProof(format!("{name} must be a string"))),
        }
    };
    match proof_string("type")? {
        Some(PROOF_TYPE) => {}
        Some(other) => {
            return Err(Defect::UnsupportedCryptosuite {
                found: format!("proof type {other}"),
            });
        }
        None => return Err(Defect::BadProof("the proof has no type".into())),
    }
    match proof_string("cryptosuite")? {
        Some(CRYPTOSUITE) => {}
        Some(other) => {
            return Err(Defect::UnsupportedCryptosuite {
                found: other.to_owned(),
            });
        }
        None => return Err(Defect::BadProof("the proof has no cryptosuite".into())),
    }
    if proof.contains_key("previousProof") {
        return Err(Defect::BadProof(
            "proof chains (previousProof) are not accepted; one eddsa-rdfc-2022 proof is".into(),
        ));
    }
    let found_purpose = proof_string("proofPurpose")?.unwrap_or("(none)");
    if found_purpose != purpose.name() {
        return Err(Defect::BadProof(format!(
            "the proof's purpose is {found_purpose}; it must be {}",
            purpose.name()
        )));
    }
    let method_text = proof_string("verificationMethod")?.unwrap_or_default();
    let method = DidUrl::parse(method_text)
        .ok()
        .filter(|url| {
            url.path().is_empty()
                && url.query().is_none()
                && url.fragment().is_some_and(|f| !f.is_empty())
        })
        .ok_or_else(|| {
            Defect::BadProof(format!(
                "verificationMethod {method_text:?} must be a DID URL naming a key (did:...#key)"
            ))
        })?;
    let time = |name: &'static str| -> Result<Option<DateTime<Utc>>, Defect> {
        proof_string(name)?
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        Defect::BadProof(format!("{name} is not a date-time stamp (RFC 3339)"))
                    })
            })
            .transpose()
    };
    let created = time("created")?;
    let expires = time("expires")?;
    let challenge = proof_string("challenge")?.map(str::to_owned);
    let domain = match proof.get("domain") {
        None => None,
        Some(Value::String(domain)) => Some(domain.clone()),
        Some(Value::Array(domains)) if domains.len() == 1 => Some(
            domains[0]
                .as_str()
                .ok_or_else(|| Defect::BadProof("domain must be a string".into()))?
                .to_owned(),
        ),
        Some(_) => {
            return Err(Defect::BadProof(
                "domain must be one string (this verifier is one audience)".into(),
            ));
        }
    };
    // §3.3.6: proofValue is a multibase base58btc ('z') encoding of the 64-byte signature.
    let proof_value = proof_string("proofValue")?.unwrap_or_default();
    let signature = proof_value
        .strip_prefix('z')
        .and_then(|b58| multibase::Base::Base58Btc.decode(b58).ok())
        .filter(|bytes| bytes.len() == 64)
        .ok_or_else(|| {
            Defect::BadSignature(
                "proofValue must be a base58btc multibase ('z...') Ed25519 signature of 64 bytes"
                    .into(),
            )
        })?;
    let mut configuration: Map<String, Value> = proof;
    configuration.remove("proofValue");
    let document_context = object.get("@context").cloned().unwrap_or(Value::Null);
    // §3.3.1 step 3 (Data Integrity §4.4): a proof that names its contexts must name a prefix
    // of the document's, in order.
    if let Some(proof_context) = configuration.remove("@context") {
        let proof_list = context_list(&proof_context);
        let document_list = context_list(&document_context);
        if proof_list.len() > document_list.len()
            || proof_list.iter().zip(&document_list).any(|(a, b)| a != b)
        {
            return Err(Defect::BadProof(
                "the proof's @context is not a prefix of the document's".into(),
            ));
        }
    }
    configuration.insert("@context".into(), document_context);
    Ok(Secured {
        unsecured: document,
        proof: Proof {
            verification_method: method.to_string(),
            signer: method.did().clone(),
            purpose,
            created,
            expires,
            challenge,
            domain,
            signature,
            configuration: Value::Object(configuration),
        },
    })
}

fn context_list(context: &Value) -> Vec<&Value> {
    match context {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    }
}

/// The validity window at `now`: `validFrom`, `validUntil`, each with `leeway` for clock skew,
/// and the issuer's proof not made in the future nor past its `expires`.
pub fn check_times(
    credential: &DiCredential,
    now: DateTime<Utc>,
    leeway: Duration,
) -> Result<(), Defect> {
    let document = credential.credential();
    if let Some(until) = date_time_stamp(document, "validUntil")? {
        if now >= until + leeway {
            return Err(Defect::Expired { exp: until });
        }
    }
    if let Some(from) = date_time_stamp(document, "validFrom")? {
        if now + leeway < from {
            return Err(Defect::NotYetValid { nbf: from });
        }
    }
    let proof = &credential.secured.proof;
    if let Some(created) = proof.created {
        if created > now + leeway {
            return Err(Defect::IssuedInFuture { iat: created });
        }
    }
    if let Some(expires) = proof.expires {
        if now >= expires + leeway {
            return Err(Defect::Expired { exp: expires });
        }
    }
    Ok(())
}

/// Checks Data Integrity proofs, keeping what several checks share: proof-configuration
/// hashes and processed contexts. Share one (the pipeline's `Context` holds one); bounded.
#[derive(Debug, Default)]
pub struct Canonicalizer {
    /// Canonical proof configuration (as JSON text) -> its SHA-256.
    configuration_hashes: Mutex<HashMap<String, [u8; 32]>>,
    /// Whether to use the caches (off: every check from scratch, for comparisons).
    uncached: bool,
    contexts: context_cache::ContextCache,
}

impl Canonicalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// One that keeps nothing between checks.
    pub fn without_caches() -> Self {
        Self {
            uncached: true,
            ..Self::default()
        }
    }

    /// Checks `secured`'s proof with `key` (vc-di-eddsa §3.3.1): the key must be Ed25519,
    /// and the signature over the hash data valid. An undefined term or an unbundled context
    /// is [`Defect::NotCanonicalizable`]; a bad signature [`Defect::BadSignature`].
    pub async fn verify(&self, secured: &Secured, key: &PublicKey) -> Result<(), Defect> {
        if !matches!(key, PublicKey::Ed25519(_)) {
            return Err(Defect::KeyNotAuthorized {
                kid: secured.proof.verification_method.clone(),
                detail: format!(
                    "eddsa-rdfc-2022 proofs are made with Ed25519 keys; this method is a {} key",
                    key.type_name()
                ),
            });
        }
        let hash_data = self.hash_data(secured).await?;
        key.verify_raw(&hash_data, &secured.proof.signature)
            .map_err(|e| Defect::BadSignature(e.to_string()))
    }

    /// SHA-256(canonical proof configuration) || SHA-256(canonical document) (§3.3.4).
    pub async fn hash_data(&self, secured: &Secured) -> Result<[u8; 64], Defect> {
        let configuration = self
            .configuration_hash(&secured.proof.configuration)
            .await?;
        let document = sha256_lines(&self.canonical_nquads(&secured.unsecured).await?);
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&configuration);
        out[32..].copy_from_slice(&document);
        Ok(out)
    }

    /// The canonical N-Quads (RDFC-1.0) of `document` expanded with the bundled contexts, one
    /// line per quad in canonical order.
    pub async fn canonical_nquads(&self, document: &Value) -> Result<Vec<String>, Defect> {
        let mut environment: LdEnvironment = LdEnvironment::default();
        let expanded = if self.uncached {
            let json = CompactJsonLd(json_syntax_value(document));
            json.expand_with(&mut environment, &StaticLoader)
                .await
                .map_err(|e| Defect::NotCanonicalizable(e.to_string()))?
        } else {
            self.contexts.expand(document, &mut environment).await?
        };
        environment
            .canonical_form_of(&expanded)
            .map_err(|e| Defect::NotCanonicalizable(e.to_string()))
    }

    async fn configuration_hash(&self, configuration: &Value) -> Result<[u8; 32], Defect> {
        let key = (!self.uncached).then(|| configuration.to_string());
        if let Some(key) = &key {
            let cached = self
                .configuration_hashes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key)
                .copied();
            if let Some(hash) = cached {
                return Ok(hash);
            }
        }
        let hash = sha256_lines(&self.canonical_nquads(configuration).await?);
        if let Some(key) = key {
            let mut hashes = self
                .configuration_hashes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if hashes.len() >= CACHE_CAPACITY {
                hashes.clear();
            }
            hashes.insert(key, hash);
        }
        Ok(hash)
    }
}

fn sha256_lines(lines: &[String]) -> [u8; 32] {
    lines
        .iter()
        .fold(Sha256::new(), |hash, line| {
            hash.chain_update(line.as_bytes())
        })
        .finalize()
        .into()
}

fn json_syntax_value(value: &Value) -> ssi_json_ld::syntax::Value {
    // serde_json -> json_syntax through serde: infallible for a serde_json::Value (string keys,
    // finite numbers).
    ssi_json_ld::syntax::to_value(value).unwrap_or(ssi_json_ld::syntax::Value::Null)
}

/// Processed `@context`s, so that the VCDM 2.0 context (and whatever else a document names) is
/// processed once, not on every expansion.
///
/// JSON-LD 1.1 Expansion (§13.1 step 9 / `json-ld` 0.21 `element.rs`) processes a top-level
/// `@context` against the initial (empty) active context, then expands the other entries.
/// Processing that `@context` once, keeping the resulting active context, and expanding the
/// document without its `@context` from that active context gives the same expanded document:
/// the same algorithm, with step 9's result remembered. Only the top-level `@context` is
/// cached; type- and property-scoped contexts are processed during expansion, as always.
/// Keyed by the `@context` value's JSON text; a context that fails to process is not cached.
mod context_cache {
    use super::*;
    use ssi_json_ld::json_ld::context_processing::Process as _;
    use ssi_json_ld::json_ld::expansion::{Action, Options, Policy};
    use ssi_json_ld::json_ld::syntax::TryFromJson as _;
    use ssi_json_ld::json_ld::{BlankIdBuf, ExpandedDocument};
    use ssi_json_ld::json_ld::{Expand as _, IriBuf};

    type ActiveContext = ssi_json_ld::json_ld::Context<IriBuf, BlankIdBuf>;

    /// `ssi_json_ld::CompactJsonLd`'s expansion options: strict (undefined terms and invalid
    /// values refused).
    fn options() -> Options {
        Options {
            policy: Policy {
                invalid: Action::Reject,
                allow_undefined: false,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[derive(Default)]
    pub(super) struct ContextCache {
        processed: Mutex<HashMap<String, Arc<ActiveContext>>>,
    }

    impl std::fmt::Debug for ContextCache {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let entries = self
                .processed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            write!(f, "ContextCache({entries} processed contexts)")
        }
    }

    impl ContextCache {
        pub(super) async fn expand(
            &self,
            document: &Value,
            environment: &mut LdEnvironment,
        ) -> Result<ExpandedDocument, Defect> {
            let fail = |e: &dyn std::fmt::Display| Defect::NotCanonicalizable(e.to_string());
            let Some(object) = document.as_object() else {
                return Err(Defect::NotCanonicalizable("not a JSON object".into()));
            };
            let Some(local) = object.get("@context") else {
                let json = CompactJsonLd(json_syntax_value(document));
                return json
                    .expand_with(environment, &StaticLoader)
                    .await
                    .map_err(|e| fail(&e));
            };
            let key = local.to_string();
            let cached = self
                .processed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .cloned();
            let active = match cached {
                Some(active) => active,
                None => {
                    let local = ssi_json_ld::json_ld::syntax::context::Context::try_from_json(
                        json_syntax_value(local),
                    )
                    .map_err(|e| fail(&e))?;
                    let processed = local
                        .process_with(
                            &mut environment.vocabulary,
                            &ActiveContext::new(None),
                            &StaticLoader,
                            None,
                            options().into(),
                        )
                        .await
                        .map_err(|e| fail(&e))?
                        .into_processed();
                    let processed = Arc::new(processed);
                    let mut contexts = self
                        .processed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if contexts.len() >= CACHE_CAPACITY {
                        contexts.clear();
                    }
                    contexts.insert(key, processed.clone());
                    processed
                }
            };
            let mut rest = object.clone();
            rest.remove("@context");
            json_syntax_value(&Value::Object(rest))
                .expand_full(
                    &mut environment.vocabulary,
                    (*active).clone(),
                    None,
                    &StaticLoader,
                    options(),
                    (),
                )
                .await
                .map_err(|e| fail(&e))
        }
    }
}
