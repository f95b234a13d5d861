//! Issuing W3C Verifiable Credentials (Data Model 2.0) secured with a Data Integrity proof,
//! cryptosuite `eddsa-rdfc-2022` (W3C vc-di-eddsa §3.1): the credential is expanded as JSON-LD,
//! canonicalized with RDF Dataset Canonicalization (RDFC-1.0), hashed with SHA-256 together
//! with the canonical proof configuration, and signed with Ed25519. In OpenID4VCI 1.0 this is
//! the `ldp_vc` credential format (Appendix A.1.2), the name [`crate::ids::Format::LdpVc`]
//! carries.
//!
//! Everything cryptographic and everything JSON-LD is the `ssi` crate family's
//! (`ssi-data-integrity`'s `EdDsaRdfc2022`, `ssi-json-ld`, `ssi-rdf`); this module only builds
//! the document and the proof options and hands ssi a signer whose signature comes from
//! `credence_registry::keys` (through [`IssuerKey`]), so no secret bytes are converted, copied
//! or printed here.
//!
//! **Contexts are bundled, never fetched.** Expansion uses `ssi_json_ld::StaticLoader`, which
//! answers from contexts compiled into the binary (its copy of
//! `https://www.w3.org/ns/credentials/v2` is byte-for-byte the W3C Recommendation's, with the
//! Bitstring Status List terms) and refuses every other URL. Expansion is strict
//! (`ssi_json_ld`'s policy: undefined terms and invalid values are errors), so a claim that
//! would silently drop out of the signed RDF is an error instead.
//!
//! **Claims need a vocabulary.** The VCDM 2.0 base context has no `@vocab` (the Recommendation
//! removed it; the `undefined-terms` context is opt-in), so the claims of a Credence type are
//! undefined terms against it. Each credential therefore carries, after the base context, an
//! embedded context `{"@vocab": <the type's vocabulary>}`, the vocabulary being derived from the
//! type's `vct` ([`Vocabulary::for_type`]); an embedded context needs no fetching by anyone.
//! JSON `null` claims are dropped by JSON-LD expansion and so are not signed.
//!
//! No clock: `now` is a parameter. No I/O: the loader is static, so every future here completes
//! without waiting.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use ssi_claims_core::{MessageSignatureError, SignatureEnvironment, SignatureError};
use ssi_data_integrity::ssi_rdf::{AnyLdEnvironment as _, LdEnvironment};
use ssi_data_integrity::suites::EdDsaRdfc2022;
use ssi_data_integrity::{CryptographicSuite as _, DataIntegrityDocument, ProofOptions};
use ssi_json_ld::{Expandable as _, StaticLoader};
use ssi_verification_methods::{MessageSigner, Multikey, ProofPurpose, ReferenceOrOwned, Signer};

use crate::claims::Claims;
use crate::jws::{IssuerKey, Kid};
use crate::status::VC_CONTEXT_V2;
use crate::vc_jwt::{self, VcJwtError, VcJwtRequest};

/// The cryptosuite of every proof made here (vc-di-eddsa §3.1).
pub const CRYPTOSUITE: &str = "eddsa-rdfc-2022";

/// Why a Data Integrity credential could not be issued or canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataIntegrityError {
    /// `eddsa-rdfc-2022` signs with Ed25519 only; the tenant's key is of another type.
    #[error(
        "format not available for this key: eddsa-rdfc-2022 needs an Ed25519 key, this issuer signs with {0}"
    )]
    KeyNotEd25519(&'static str),
    /// The credential document could not be built (the same rules as `vc+jwt`).
    #[error(transparent)]
    Credential(#[from] VcJwtError),
    /// The type's vocabulary is not an absolute IRI.
    #[error("invalid vocabulary {0:?}: an absolute IRI is needed for the claims' terms")]
    InvalidVocabulary(String),
    /// A claim name that JSON-LD would read as a keyword (`@id`, `@context`...), which would
    /// change what the credential means rather than add a claim.
    #[error("claim name {0:?} is a JSON-LD keyword; claim names must not start with '@'")]
    KeywordClaimName(String),
    /// The document is not a JSON object with `@context` and `type` as Data Integrity reads it.
    #[error("not a JSON-LD document: {0}")]
    NotADocument(String),
    /// JSON-LD expansion or canonicalization refused the document: an undefined term, a
    /// context that is not bundled, an invalid value.
    #[error("the credential cannot be canonicalized: {0}")]
    Canonicalization(String),
    /// The proof could not be made (ssi's own error, without key material).
    #[error("the proof could not be made: {0}")]
    Signing(String),
}

/// The JSON-LD vocabulary (`@vocab`) a credential type's claims are expressed in: an absolute
/// IRI ending in `#` or `/`, to which a claim name is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary(String);

impl Vocabulary {
    /// Takes `iri` as it is; it must be absolute and end in `#` or `/`.
    pub fn parse(iri: &str) -> Result<Self, DataIntegrityError> {
        let bad = || DataIntegrityError::InvalidVocabulary(iri.to_owned());
        let url = url::Url::parse(iri).map_err(|_| bad())?;
        if url.as_str() != iri || !iri.ends_with(['#', '/']) || iri.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Self(iri.to_owned()))
    }

    /// The vocabulary of a type identified by `vct` (a URI): `vct` itself if it already ends in
    /// `#` or `/`, `vct/` if it has a fragment, otherwise `vct#`. So
    /// `https://agency.example/vct/licence` gives claims such as
    /// `https://agency.example/vct/licence#companyName`.
    pub fn for_type(vct: &str) -> Result<Self, DataIntegrityError> {
        if vct.ends_with(['#', '/']) {
            Self::parse(vct)
        } else if vct.contains('#') {
            Self::parse(&format!("{vct}/"))
        } else {
            Self::parse(&format!("{vct}#"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Issues the credential `request` describes, signed by `key` (its DID is the `issuer`, its
/// `kid` the proof's `verificationMethod`), as a JSON object with a `proof`. The document is
/// the one `vc+jwt` signs ([`vc_jwt::credential`]) with the type's vocabulary added to its
/// `@context`.
pub async fn issue(
    key: &IssuerKey,
    request: &VcJwtRequest,
    vocabulary: &Vocabulary,
    now: DateTime<Utc>,
) -> Result<Value, DataIntegrityError> {
    // Checked before anything is built, so a P-256 tenant learns why at once.
    check_key(key)?;
    let mut credential = vc_jwt::credential(key.issuer(), request, now)?;
    refuse_keyword_names(&credential["credentialSubject"])?;
    credential["@context"] = json!([VC_CONTEXT_V2, {"@vocab": vocabulary.as_str()}]);
    sign(key, credential, now).await
}

/// Adds an `eddsa-rdfc-2022` proof to `document` (a JSON-LD object; an existing `proof` is
/// refused by ssi's document model), made at `created` by `key`, `verificationMethod` =
/// `key`'s `kid`, `proofPurpose` = `assertionMethod`. The proof configuration takes the
/// document's `@context` (vc-di-eddsa §3.3.5), as ssi implements it.
pub async fn sign(
    key: &IssuerKey,
    document: Value,
    created: DateTime<Utc>,
) -> Result<Value, DataIntegrityError> {
    check_key(key)?;
    let document: DataIntegrityDocument = serde_json::from_value(document)
        .map_err(|e| DataIntegrityError::NotADocument(e.to_string()))?;
    let method = multikey(key.kid(), &key.public())?;
    let mut methods = HashMap::new();
    methods.insert(method.id.clone(), method.clone());
    // VCDM 2.0 §4.9 dateTimeStamp, whole seconds in UTC, kept as written (`Lexical`).
    let created = parse_lexical(&timestamp(created))?;
    let options = ProofOptions::new(
        created,
        ReferenceOrOwned::Reference(method.id.clone()),
        ProofPurpose::Assertion,
        (),
    );
    let environment = SignatureEnvironment {
        json_ld_loader: StaticLoader,
        eip712_loader: (),
    };
    let secured = EdDsaRdfc2022
        .sign_with(environment, document, &methods, KeySigner(key), options, ())
        .await
        .map_err(signing_error)?;
    serde_json::to_value(&secured).map_err(|e| DataIntegrityError::Signing(e.to_string()))
}

/// The canonical N-Quads (RDFC-1.0) of `document` (without its `proof`), expanded with the
/// bundled contexts, one quad per line in canonical order: what `eddsa-rdfc-2022` hashes as
/// the document (vc-di-eddsa §3.3.3).
pub async fn canonical_nquads(document: &Value) -> Result<String, DataIntegrityError> {
    let mut document = document.clone();
    if let Some(object) = document.as_object_mut() {
        object.remove("proof");
    }
    let document: DataIntegrityDocument = serde_json::from_value(document)
        .map_err(|e| DataIntegrityError::NotADocument(e.to_string()))?;
    let mut environment: LdEnvironment = LdEnvironment::default();
    let expanded = document
        .expand_with(&mut environment, &StaticLoader)
        .await
        .map_err(|e| DataIntegrityError::Canonicalization(e.to_string()))?;
    let lines = environment
        .canonical_form_of(&expanded)
        .map_err(|e| DataIntegrityError::Canonicalization(e.to_string()))?;
    Ok(lines.concat())
}

/// What [`issue`] would refuse before signing, checked without a document: the key type and
/// keyword claim names. Issuance calls it before it allocates a status index.
pub fn preflight(key: &IssuerKey, claims: &Claims) -> Result<(), DataIntegrityError> {
    check_key(key)?;
    refuse_keyword_names(&Value::Object(claims.as_map().clone()))
}

/// Whether `key` can make `eddsa-rdfc-2022` proofs (an Ed25519 key).
pub fn check_key(key: &IssuerKey) -> Result<(), DataIntegrityError> {
    match key.public() {
        credence_registry::keys::PublicKey::Ed25519(_) => Ok(()),
        other => Err(DataIntegrityError::KeyNotEd25519(other.type_name())),
    }
}

/// Refuses claim names JSON-LD would take for keywords, at any depth.
fn refuse_keyword_names(value: &Value) -> Result<(), DataIntegrityError> {
    match value {
        Value::Object(object) => {
            for (name, member) in object {
                if name.starts_with('@') {
                    return Err(DataIntegrityError::KeywordClaimName(name.clone()));
                }
                refuse_keyword_names(member)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(refuse_keyword_names),
        _ => Ok(()),
    }
}

/// The verification method a proof names, as the suite needs it: a Multikey (Controlled
/// Identifiers §2.2.2) with `kid` as its id and the `kid`'s DID as controller.
fn multikey(
    kid: &Kid,
    public: &credence_registry::keys::PublicKey,
) -> Result<Multikey, DataIntegrityError> {
    serde_json::from_value(json!({
        "type": "Multikey",
        "id": kid.as_str(),
        "controller": kid.did().as_str(),
        "publicKeyMultibase": public.to_multikey(),
    }))
    .map_err(|e| DataIntegrityError::Signing(format!("verification method {kid}: {e}")))
}

/// ssi's errors as ours: JSON-LD failures (an undefined term, a context not bundled) are the
/// document's fault; the rest are the signing's. ssi flattens its transformation errors into
/// text (`SignatureError::Other`), whose JSON-LD ones all name "JSON-LD".
fn signing_error(error: SignatureError) -> DataIntegrityError {
    let text = error.to_string();
    if text.contains("JSON-LD") {
        DataIntegrityError::Canonicalization(text)
    } else {
        DataIntegrityError::Signing(text)
    }
}

/// Parses what ssi keeps with its lexical form (`created`: an `xsd:dateTimeStamp` written as
/// given).
fn parse_lexical<T>(text: &str) -> Result<T, DataIntegrityError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| DataIntegrityError::Signing(format!("{text:?}: {e}")))
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Signs for ssi with an issuer key: ssi asks for a signer for the verification method, then
/// has it sign the hash it computed; the signature is `credence_registry::keys`' Ed25519.
#[derive(Clone, Copy)]
struct KeySigner<'a>(&'a IssuerKey);

impl Signer<Multikey> for KeySigner<'_> {
    type MessageSigner = Self;

    async fn for_method(
        &self,
        method: Cow<'_, Multikey>,
    ) -> Result<Option<Self::MessageSigner>, SignatureError> {
        // Only the method naming this key: anything else has no signer here.
        Ok((method.id.as_str() == self.0.kid().as_str()).then_some(*self))
    }
}

impl MessageSigner<ssi_crypto::algorithm::EdDSA> for KeySigner<'_> {
    async fn sign(
        self,
        _algorithm: ssi_crypto::algorithm::EdDSA,
        message: &[u8],
    ) -> Result<Vec<u8>, MessageSignatureError> {
        Ok(self.0.sign_raw(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies() {
        fn check(vct: &str, expected: Option<&str>) {
            assert_eq!(
                Vocabulary::for_type(vct)
                    .ok()
                    .as_ref()
                    .map(Vocabulary::as_str),
                expected,
                "{vct}"
            );
        }
        check(
            "https://agency.example/vct/licence",
            Some("https://agency.example/vct/licence#"),
        );
        check(
            "https://agency.example/vocab/",
            Some("https://agency.example/vocab/"),
        );
        check("urn:eudi:pid:de:1", Some("urn:eudi:pid:de:1#"));
        check("https://a.example/v#x", Some("https://a.example/v#x/"));
        check("not a uri", None);
        check("relative/path", None);
    }

    #[test]
    fn keyword_claim_names_are_refused_at_any_depth() {
        let check = |claims: Value, ok: bool| {
            assert_eq!(refuse_keyword_names(&claims).is_ok(), ok, "{claims}");
        };
        check(json!({"name": "A", "address": {"city": "B"}}), true);
        check(json!({"@id": "x"}), false);
        check(
            json!({"address": {"@context": {"city": "https://evil.example#"}}}),
            false,
        );
        check(json!({"list": [{"@type": "X"}]}), false);
    }
}
