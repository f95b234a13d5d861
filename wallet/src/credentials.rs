//! Received credentials: SD-JWT VCs (`dc+sd-jwt`, draft-ietf-oauth-sd-jwt-vc over RFC 9901)
//! and VC-JOSE-COSE `vc+jwt`s (VCDM 2.0, bound to the holder through `credentialSubject.id`, a
//! did:key or did:jwk of the holder key): parsing the compact form into the claims the holder
//! can disclose, and storing, listing, showing and deleting credentials. A `vc+jwt` has no
//! selective disclosure: every claim is always disclosed ([`VcJwt`]).
//!
//! Parsing here is the holder's view (RFC 9901 §4, §7.1 steps 3-5 without the signature): it
//! decodes the issuer JWT's payload and every Disclosure, finds where each Disclosure's digest
//! sits (an `_sd` array, §4.2.4.1, or an array element `{"...": digest}`, §4.2.4.2), and lists
//! every claim with its path, whether it is selectively disclosable, and which Disclosures a
//! verifier needs to see it (its own and its parents', §6.3). It checks no signature and reads
//! no clock: whether a credential is genuine is the verifier library's answer, asked through
//! [`CredentialCheck`] before a credential is stored.
//!
//! Why not a crate: `ssi-sd-jwt` and `sd-jwt-payload` both reveal claims into one JSON object
//! and forget which Disclosure revealed what; the wallet needs exactly that mapping (to disclose
//! a nested claim with its parents and nothing else). Decoding is base64url, JSON and SHA-256,
//! all from crates; the tests check our presentations with `sd-jwt-payload`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use credence_registry::keys::{PublicKey, decode_b64url};
use credence_verifier::dcql::Format;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::crypto::random_id;
use crate::error::WalletError;
use crate::holder::HolderKeyId;
use crate::store::{RecordKind, Wallet};

/// Claims an SD-JWT VC sets as metadata, never disclosable claims of the subject
/// (draft-ietf-oauth-sd-jwt-vc §3.2.2.2): listed by the wallet as the credential's facts, not
/// as claims to choose.
const REGISTERED_CLAIMS: [&str; 8] = [
    "iss",
    "iat",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "status",
];

/// Why a compact SD-JWT VC was refused. Each names the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdJwtError {
    /// Not `<JWT>~<Disclosure>~...~` (RFC 9901 §4).
    #[error("not a compact SD-JWT: {0}")]
    NotCompact(&'static str),
    /// A received credential must not carry a key-binding JWT: the holder adds that.
    #[error("a credential as issued carries no key-binding JWT")]
    KeyBindingPresent,
    /// The issuer JWT's header or payload is not base64url JSON (an object).
    #[error("issuer JWT {part} is not base64url-encoded JSON object: {reason}")]
    InvalidJwt { part: &'static str, reason: String },
    /// A Disclosure that is not base64url of `[salt, name, value]` or `[salt, value]` (§4.2.1,
    /// §4.2.2).
    #[error("Disclosure {index} is malformed: {reason}")]
    InvalidDisclosure { index: usize, reason: String },
    /// The same Disclosure twice (§7.1 step 4).
    #[error("Disclosure {0} appears twice")]
    DuplicateDisclosure(usize),
    /// A digest found in two places (§7.1 step 3.2.2).
    #[error("a digest appears more than once in the payload (Disclosure {0})")]
    DuplicateDigest(usize),
    /// A Disclosure whose digest is nowhere in the payload (§7.1 step 5).
    #[error("Disclosure {0} is not referenced by the payload")]
    UnreferencedDisclosure(usize),
    /// An object-member Disclosure in an array, or an array-element Disclosure in `_sd`.
    #[error("Disclosure {0} has the wrong form for where its digest is")]
    WrongDisclosureForm(usize),
    /// A disclosed name that already exists in the object, or is `_sd` / `...` (§7.1 3.2.2).
    #[error("Disclosure {index} would set claim {name:?}, which is reserved or already present")]
    ClaimCollision { index: usize, name: String },
    /// `_sd` that is not an array of strings.
    #[error("an `_sd` member is not an array of digests")]
    MalformedSd,
    /// A digest algorithm other than SHA-256 (§4.1.1).
    #[error("unsupported _sd_alg {0:?}; only sha-256 is supported")]
    UnsupportedSdAlg(String),
    /// No `cnf.jwk`: a credential the holder cannot prove possession of (RFC 7800 §3.2).
    #[error("the credential has no usable cnf.jwk holder key: {0}")]
    NoHolderKey(String),
    /// A compact JWT that is not a VC-JOSE-COSE `vc+jwt` the wallet can hold.
    #[error("not a vc+jwt credential: {0}")]
    NotVcJwt(String),
}

/// A path to one claim, as an RFC 6901 JSON Pointer (`/address/locality`, `/nationalities/0`).
/// Array elements are named by their index in the issuer's array, concealed ones included.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Parses a JSON Pointer naming a claim (not the root).
    pub fn parse(pointer: &str) -> Option<Self> {
        let rest = pointer.strip_prefix('/')?;
        let segments: Vec<String> = rest
            .split('/')
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect();
        Some(Self(segments))
    }

    /// A path from its segments (unescaped names, or decimal indexes).
    pub fn from_segments<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Option<Self> {
        let segments: Vec<String> = segments.into_iter().map(Into::into).collect();
        (!segments.is_empty()).then_some(Self(segments))
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    fn root_child(name: &str) -> Self {
        Self(vec![name.to_owned()])
    }

    fn child(&self, name: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(name.to_owned());
        Self(segments)
    }

    /// Whether `self` is `other` or inside it.
    pub fn starts_with(&self, other: &ClaimPath) -> bool {
        self.0.starts_with(&other.0)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.0 {
            write!(f, "/{}", segment.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({self})")
    }
}

impl Serialize for ClaimPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClaimPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("not a JSON Pointer to a claim"))
    }
}

/// One Disclosure as issued.
#[derive(Clone)]
struct Disclosure {
    /// The base64url text, exactly as received (digests are over these bytes, §4.2.3).
    encoded: String,
    /// `Some(name)` for an object member, `None` for an array element.
    name: Option<String>,
    value: Value,
}

/// One claim of a credential.
#[derive(Clone, PartialEq)]
pub struct Claim {
    pub path: ClaimPath,
    /// The value with every nested Disclosure revealed (what the holder sees).
    pub value: Value,
    /// Whether the claim has a Disclosure of its own (may be left out of a presentation).
    pub selectively_disclosable: bool,
    /// Its own Disclosure (index into the credential's Disclosures).
    disclosure: Option<usize>,
    /// The Disclosures of the claims it sits inside (§6.3): a verifier sees this claim only if
    /// all of them are presented too.
    parents: Vec<usize>,
}

impl Claim {
    /// Every Disclosure a verifier needs to see this claim.
    pub(crate) fn needs(&self) -> impl Iterator<Item = usize> + '_ {
        self.parents.iter().copied().chain(self.disclosure)
    }

    /// Whether a presentation with `disclosures` shows this claim.
    pub(crate) fn visible_with(&self, disclosures: &BTreeSet<usize>) -> bool {
        self.needs().all(|index| disclosures.contains(&index))
    }
}

impl fmt::Debug for Claim {
    /// Claim values are personal data: `Debug` prints the path only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("path", &self.path)
            .field("selectively_disclosable", &self.selectively_disclosable)
            .finish_non_exhaustive()
    }
}

/// A parsed SD-JWT VC as issued (no key binding).
#[derive(Clone)]
pub struct SdJwtVc {
    compact: String,
    issuer_jwt_len: usize,
    payload: Map<String, Value>,
    disclosures: Vec<Disclosure>,
    claims: Vec<Claim>,
}

impl fmt::Debug for SdJwtVc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJwtVc")
            .field("vct", &self.vct())
            .field("disclosures", &self.disclosures.len())
            .finish_non_exhaustive()
    }
}

impl SdJwtVc {
    /// Parses `<issuer JWT>~<Disclosure>~...~` (RFC 9901 §4) and maps every Disclosure to its
    /// place in the payload.
    pub fn parse(compact: &str) -> Result<Self, SdJwtError> {
        let parts: Vec<&str> = compact.split('~').collect();
        let (Some((last, rest)), true) = (parts.split_last(), parts.len() >= 2) else {
            return Err(SdJwtError::NotCompact("no '~' after the issuer JWT"));
        };
        if !last.is_empty() {
            return Err(SdJwtError::KeyBindingPresent);
        }
        let (jwt, encoded_disclosures) = rest
            .split_first()
            .ok_or(SdJwtError::NotCompact("no issuer JWT"))?;
        let jwt_parts: Vec<&str> = jwt.split('.').collect();
        if jwt_parts.len() != 3 {
            return Err(SdJwtError::NotCompact("the issuer JWT has not three parts"));
        }
        decode_json_object(jwt_parts[0], "header")?;
        let payload = decode_json_object(jwt_parts[1], "payload")?;
        match payload.get("_sd_alg") {
            None => {}
            Some(Value::String(alg)) if alg == "sha-256" => {}
            Some(other) => return Err(SdJwtError::UnsupportedSdAlg(other.to_string())),
        }

        let mut disclosures = Vec::with_capacity(encoded_disclosures.len());
        let mut by_digest = HashMap::with_capacity(encoded_disclosures.len());
        for (index, encoded) in encoded_disclosures.iter().enumerate() {
            let disclosure = decode_disclosure(index, encoded)?;
            if by_digest.insert(digest(encoded), index).is_some() {
                return Err(SdJwtError::DuplicateDisclosure(index));
            }
            disclosures.push(disclosure);
        }

        let mut walker = Walker {
            disclosures: &disclosures,
            by_digest,
            used: vec![false; disclosures.len()],
            claims: Vec::new(),
        };
        walker.top_level(&payload)?;
        if let Some(index) = walker.used.iter().position(|used| !used) {
            return Err(SdJwtError::UnreferencedDisclosure(index));
        }
        let claims = walker.claims;
        Ok(Self {
            compact: compact.to_owned(),
            issuer_jwt_len: jwt.len(),
            payload,
            disclosures,
            claims,
        })
    }

    /// The compact form as issued.
    pub fn compact(&self) -> &str {
        &self.compact
    }

    /// The issuer-signed JWT.
    pub(crate) fn issuer_jwt(&self) -> &str {
        &self.compact[..self.issuer_jwt_len]
    }

    /// The encoded Disclosure at `index`.
    pub(crate) fn disclosure(&self, index: usize) -> &str {
        &self.disclosures[index].encoded
    }

    /// The credential type (`vct`).
    pub fn vct(&self) -> Option<&str> {
        self.payload.get("vct").and_then(Value::as_str)
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.payload.get("iss").and_then(Value::as_str)
    }

    /// The holder key the credential is bound to (`cnf.jwk`, RFC 7800 §3.2).
    pub fn holder_key(&self) -> Result<PublicKey, SdJwtError> {
        let jwk = self
            .payload
            .get("cnf")
            .and_then(|cnf| cnf.get("jwk"))
            .ok_or_else(|| SdJwtError::NoHolderKey("no cnf.jwk".into()))?;
        PublicKey::from_jwk(jwk).map_err(|e| SdJwtError::NoHolderKey(e.to_string()))
    }

    /// Every claim of the subject, parents before children (registered claims excluded).
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// The encoded Disclosure of the claim at `path` itself (`None` if the claim is not
    /// selectively disclosable or not there).
    pub fn disclosure_of(&self, path: &ClaimPath) -> Option<&str> {
        let index = self.claim(path)?.disclosure?;
        Some(self.disclosure(index))
    }

    /// The claim at `path`.
    pub fn claim(&self, path: &ClaimPath) -> Option<&Claim> {
        self.claims.iter().find(|claim| &claim.path == path)
    }
}

/// A parsed VC-JOSE-COSE `vc+jwt` as issued (VCDM 2.0, the credential is the JWT payload).
/// No selective disclosure: every claim is always disclosed. Parsed strictly by the verifier
/// library's `vc_jwt::parse` (header, VCDM shape); the signature is the credential check's.
#[derive(Clone)]
pub struct VcJwt {
    compact: String,
    payload: Map<String, Value>,
    /// The entries of `type` other than `VerifiableCredential`.
    types: Vec<String>,
    claims: Vec<Claim>,
}

impl fmt::Debug for VcJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VcJwt")
            .field("types", &self.types)
            .finish_non_exhaustive()
    }
}

impl VcJwt {
    /// Parses a compact `vc+jwt` and lists its claims (every member of the credential, parents
    /// before children, as JSON Pointers from the credential's root: DCQL paths for
    /// `jwt_vc_json` start there, OpenID4VP 1.0 B.1.2).
    pub fn parse(compact: &str) -> Result<Self, SdJwtError> {
        let compact = compact.trim();
        let parsed = credence_verifier::vc_jwt::parse(compact)
            .map_err(|defect| SdJwtError::NotVcJwt(defect.to_string()))?;
        let Value::Object(payload) = parsed.credential().clone() else {
            return Err(SdJwtError::NotVcJwt("the payload is not an object".into()));
        };
        let mut claims = Vec::new();
        for (name, value) in &payload {
            list_claims(ClaimPath::root_child(name), value, &mut claims);
        }
        Ok(Self {
            compact: compact.to_owned(),
            types: parsed.types,
            payload,
            claims,
        })
    }

    /// The compact form as issued.
    pub fn compact(&self) -> &str {
        &self.compact
    }

    /// The credential (the JWT payload).
    pub fn credential(&self) -> Value {
        Value::Object(self.payload.clone())
    }

    /// Every entry of `type` (the base `VerifiableCredential` included), as DCQL
    /// `type_values` match them.
    pub fn all_types(&self) -> Vec<String> {
        let mut all = vec![credence_verifier::vc_jwt::BASE_TYPE.to_owned()];
        all.extend(self.types.iter().cloned());
        all
    }

    /// The type the wallet files it under: the registry type (the last URI of `type`, as the
    /// verifier asks the registry about), else the last type.
    pub fn vct(&self) -> Option<&str> {
        credence_verifier::vc_jwt::registry_type(&self.types)
            .or_else(|| self.types.last().map(String::as_str))
    }

    /// The issuer (`issuer`, or its `id`).
    pub fn issuer(&self) -> Option<&str> {
        match self.payload.get("issuer") {
            Some(Value::String(id)) => Some(id),
            Some(Value::Object(object)) => object.get("id").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The holder's DID: the one `credentialSubject`'s `id`.
    pub fn subject_id(&self) -> Result<&str, SdJwtError> {
        let subject = match self.payload.get("credentialSubject") {
            Some(Value::Array(subjects)) if subjects.len() == 1 => &subjects[0],
            Some(Value::Object(_)) => &self.payload["credentialSubject"],
            _ => {
                return Err(SdJwtError::NoHolderKey(
                    "the credential names no single subject".into(),
                ));
            }
        };
        subject.get("id").and_then(Value::as_str).ok_or_else(|| {
            SdJwtError::NoHolderKey("the credential subject has no id (a holder DID)".into())
        })
    }

    /// The holder key: the key of the subject's did:key or did:jwk.
    pub fn holder_key(&self) -> Result<PublicKey, SdJwtError> {
        let id = self.subject_id()?;
        let did = credence_registry::did::Did::parse(id)
            .map_err(|e| SdJwtError::NoHolderKey(format!("credentialSubject.id: {e}")))?;
        credence_verifier::vp_jwt::did_public_key(&did).map_err(SdJwtError::NoHolderKey)
    }

    /// Every claim, parents before children (all always disclosed).
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }
}

/// Lists `value` at `path` and everything inside it, each always disclosed.
fn list_claims(path: ClaimPath, value: &Value, out: &mut Vec<Claim>) {
    out.push(Claim {
        path: path.clone(),
        value: value.clone(),
        selectively_disclosable: false,
        disclosure: None,
        parents: Vec::new(),
    });
    match value {
        Value::Object(members) => {
            for (name, child) in members {
                list_claims(path.child(name), child, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                list_claims(path.child(&index.to_string()), child, out);
            }
        }
        _ => {}
    }
}

fn decode_json_object(part: &str, name: &'static str) -> Result<Map<String, Value>, SdJwtError> {
    let bad = |reason: String| SdJwtError::InvalidJwt { part: name, reason };
    let bytes = decode_b64url(part).map_err(|e| bad(e.to_string()))?;
    match serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))? {
        Value::Object(map) => Ok(map),
        _ => Err(bad("not an object".into())),
    }
}

fn decode_disclosure(index: usize, encoded: &str) -> Result<Disclosure, SdJwtError> {
    let bad = |reason: String| SdJwtError::InvalidDisclosure { index, reason };
    if encoded.is_empty() {
        return Err(bad("empty".into()));
    }
    let bytes = decode_b64url(encoded).map_err(|e| bad(e.to_string()))?;
    let Value::Array(mut items) = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?
    else {
        return Err(bad("not a JSON array".into()));
    };
    if !items.first().is_some_and(Value::is_string) {
        return Err(bad("the salt is not a string".into()));
    }
    match items.len() {
        2 => Ok(Disclosure {
            encoded: encoded.to_owned(),
            name: None,
            value: items.remove(1),
        }),
        3 => {
            let value = items.remove(2);
            let Value::String(name) = items.remove(1) else {
                return Err(bad("the claim name is not a string".into()));
            };
            Ok(Disclosure {
                encoded: encoded.to_owned(),
                name: Some(name),
                value,
            })
        }
        n => Err(bad(format!("{n} elements, expected 2 or 3"))),
    }
}

/// base64url(SHA-256(ASCII(disclosure))) (RFC 9901 §4.2.3).
pub(crate) fn digest(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

/// Walks the payload, recording each claim with the Disclosures it needs.
struct Walker<'a> {
    disclosures: &'a [Disclosure],
    by_digest: HashMap<String, usize>,
    used: Vec<bool>,
    claims: Vec<Claim>,
}

impl Walker<'_> {
    fn top_level(&mut self, payload: &Map<String, Value>) -> Result<(), SdJwtError> {
        let subject: Map<String, Value> = payload
            .iter()
            .filter(|(name, _)| !REGISTERED_CLAIMS.contains(&name.as_str()) && *name != "_sd_alg")
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        self.object(&subject, None, &[])?;
        Ok(())
    }

    /// Records the claims of an object at `path` (`None`: the payload) and returns the object
    /// with its Disclosures revealed.
    fn object(
        &mut self,
        members: &Map<String, Value>,
        path: Option<&ClaimPath>,
        parents: &[usize],
    ) -> Result<Value, SdJwtError> {
        let child_path =
            |name: &str| path.map_or_else(|| ClaimPath::root_child(name), |p| p.child(name));
        let mut revealed = Map::new();
        for (name, value) in members {
            if name == "_sd" {
                continue;
            }
            let claim_value = self.claim(child_path(name), value, None, parents)?;
            revealed.insert(name.clone(), claim_value);
        }
        if let Some(digests) = members.get("_sd") {
            let digests = digests.as_array().ok_or(SdJwtError::MalformedSd)?;
            for digest in digests {
                let digest = digest.as_str().ok_or(SdJwtError::MalformedSd)?;
                // A digest with no Disclosure is a decoy or a claim the holder never received.
                let Some(index) = self.take(digest)? else {
                    continue;
                };
                let disclosure = &self.disclosures[index];
                let name = disclosure
                    .name
                    .clone()
                    .ok_or(SdJwtError::WrongDisclosureForm(index))?;
                if name == "_sd"
                    || name == "..."
                    || members.contains_key(&name)
                    || revealed.contains_key(&name)
                {
                    return Err(SdJwtError::ClaimCollision { index, name });
                }
                let value = disclosure.value.clone();
                let claim_value = self.claim(child_path(&name), &value, Some(index), parents)?;
                revealed.insert(name, claim_value);
            }
        }
        Ok(Value::Object(revealed))
    }

    /// Records one claim (and what is inside it) and returns its revealed value.
    fn claim(
        &mut self,
        path: ClaimPath,
        value: &Value,
        disclosure: Option<usize>,
        parents: &[usize],
    ) -> Result<Value, SdJwtError> {
        let slot = self.claims.len();
        self.claims.push(Claim {
            path: path.clone(),
            value: Value::Null,
            selectively_disclosable: disclosure.is_some(),
            disclosure,
            parents: parents.to_vec(),
        });
        let mut inner_parents = parents.to_vec();
        inner_parents.extend(disclosure);
        let revealed = match value {
            Value::Object(members) => self.object(members, Some(&path), &inner_parents)?,
            Value::Array(items) => self.array(items, &path, &inner_parents)?,
            other => other.clone(),
        };
        self.claims[slot].value = revealed.clone();
        Ok(revealed)
    }

    fn array(
        &mut self,
        items: &[Value],
        path: &ClaimPath,
        parents: &[usize],
    ) -> Result<Value, SdJwtError> {
        let mut revealed = Vec::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            let element_path = path.child(&position.to_string());
            match concealed_element(item) {
                Some(digest) => {
                    let Some(index) = self.take(digest)? else {
                        continue;
                    };
                    let disclosure = &self.disclosures[index];
                    if disclosure.name.is_some() {
                        return Err(SdJwtError::WrongDisclosureForm(index));
                    }
                    let value = disclosure.value.clone();
                    revealed.push(self.claim(element_path, &value, Some(index), parents)?);
                }
                None => revealed.push(self.claim(element_path, item, None, parents)?),
            }
        }
        Ok(Value::Array(revealed))
    }

    /// The Disclosure with this digest, marked used; a digest seen twice is an error.
    fn take(&mut self, digest: &str) -> Result<Option<usize>, SdJwtError> {
        let Some(&index) = self.by_digest.get(digest) else {
            return Ok(None);
        };
        if std::mem::replace(&mut self.used[index], true) {
            return Err(SdJwtError::DuplicateDigest(index));
        }
        Ok(Some(index))
    }
}

/// `{"...": digest}` (RFC 9901 §4.2.4.2).
fn concealed_element(item: &Value) -> Option<&str> {
    match item {
        Value::Object(members) if members.len() == 1 => members.get("...")?.as_str(),
        _ => None,
    }
}

/// The id of a stored credential (random).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialId(String);

impl CredentialId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({})", self.0)
    }
}

/// What the verifier library says about a received credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckVerdict {
    Valid,
    /// Refused, with the step that failed and why (for the user).
    Invalid {
        step: String,
        reason: String,
    },
}

/// Why a credential could not be checked at all (the issuer's DID did not resolve, the status
/// list could not be fetched): not a verdict, and the credential is not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the credential could not be checked: {0}")]
pub struct CheckUnavailable(pub String);

/// The check every received credential passes before it is stored (issue 13: signature,
/// issuer, status, schema). `crate::check::Checked` answers it with the verifier library's
/// report; tests use a double.
pub trait CredentialCheck {
    fn check(
        &self,
        credential: &SdJwtVc,
        now: DateTime<Utc>,
    ) -> Result<CheckVerdict, CheckUnavailable>;

    /// The same for a `vc+jwt`. A check that does not implement it cannot vouch for one, so
    /// nothing is stored on its word.
    fn check_vc_jwt(
        &self,
        credential: &VcJwt,
        now: DateTime<Utc>,
    ) -> Result<CheckVerdict, CheckUnavailable> {
        let _ = (credential, now);
        Err(CheckUnavailable(
            "this check cannot check vc+jwt credentials".into(),
        ))
    }
}

/// A credential's envelope, as stored.
#[derive(Clone, Debug)]
pub enum Envelope {
    /// `dc+sd-jwt`: claims chosen one by one.
    SdJwt(SdJwtVc),
    /// `vc+jwt`: the whole credential is always disclosed.
    VcJwt(VcJwt),
}

impl Envelope {
    /// `<JWT>~...~` is an SD-JWT; a bare compact JWT a `vc+jwt`.
    pub fn parse(compact: &str) -> Result<Self, SdJwtError> {
        if compact.contains('~') {
            SdJwtVc::parse(compact).map(Self::SdJwt)
        } else {
            VcJwt::parse(compact).map(Self::VcJwt)
        }
    }

    pub fn compact(&self) -> &str {
        match self {
            Self::SdJwt(sd_jwt) => sd_jwt.compact(),
            Self::VcJwt(vc_jwt) => vc_jwt.compact(),
        }
    }

    /// The DCQL format it answers.
    pub fn format(&self) -> Format {
        match self {
            Self::SdJwt(_) => Format::SdJwtVc,
            Self::VcJwt(_) => Format::VcJwt,
        }
    }

    fn holder_key(&self) -> Result<PublicKey, SdJwtError> {
        match self {
            Self::SdJwt(sd_jwt) => sd_jwt.holder_key(),
            Self::VcJwt(vc_jwt) => vc_jwt.holder_key(),
        }
    }
}

/// A credential in the wallet.
#[derive(Clone)]
pub struct StoredCredential {
    id: CredentialId,
    holder_key: HolderKeyId,
    received_at: DateTime<Utc>,
    envelope: Envelope,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("id", &self.id)
            .field("envelope", &self.envelope)
            .finish_non_exhaustive()
    }
}

impl StoredCredential {
    pub fn id(&self) -> &CredentialId {
        &self.id
    }

    pub fn holder_key(&self) -> &HolderKeyId {
        &self.holder_key
    }

    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }

    /// Its type: the `vct`, or a `vc+jwt`'s registry type ([`VcJwt::vct`]).
    pub fn vct(&self) -> Option<&str> {
        match &self.envelope {
            Envelope::SdJwt(sd_jwt) => sd_jwt.vct(),
            Envelope::VcJwt(vc_jwt) => vc_jwt.vct(),
        }
    }

    pub fn issuer(&self) -> Option<&str> {
        match &self.envelope {
            Envelope::SdJwt(sd_jwt) => sd_jwt.issuer(),
            Envelope::VcJwt(vc_jwt) => vc_jwt.issuer(),
        }
    }

    pub fn claims(&self) -> &[Claim] {
        match &self.envelope {
            Envelope::SdJwt(sd_jwt) => sd_jwt.claims(),
            Envelope::VcJwt(vc_jwt) => vc_jwt.claims(),
        }
    }

    /// The claim at `path`.
    pub fn claim(&self, path: &ClaimPath) -> Option<&Claim> {
        self.claims().iter().find(|claim| &claim.path == path)
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The DCQL format it answers (`dc+sd-jwt` or `jwt_vc_json`).
    pub fn format(&self) -> Format {
        self.envelope.format()
    }

    /// The SD-JWT VC, if it is one.
    pub fn sd_jwt(&self) -> Option<&SdJwtVc> {
        match &self.envelope {
            Envelope::SdJwt(sd_jwt) => Some(sd_jwt),
            Envelope::VcJwt(_) => None,
        }
    }

    /// The `vc+jwt`, if it is one.
    pub fn vc_jwt(&self) -> Option<&VcJwt> {
        match &self.envelope {
            Envelope::VcJwt(vc_jwt) => Some(vc_jwt),
            Envelope::SdJwt(_) => None,
        }
    }
}

/// The sealed form of a credential record.
#[derive(Serialize, Deserialize)]
struct CredentialRecord {
    compact: String,
    holder_key: HolderKeyId,
    received_at: i64,
}

impl Wallet {
    /// Stores a credential received for `holder_key` (an SD-JWT VC, or a `vc+jwt` whose
    /// subject is that key's did:key or did:jwk), after `check` accepted it and after making
    /// sure it is bound to that key. Returns its id.
    pub fn store_credential(
        &mut self,
        compact: &str,
        holder_key: &HolderKeyId,
        check: &dyn CredentialCheck,
        now: DateTime<Utc>,
    ) -> Result<CredentialId, WalletError> {
        let envelope = Envelope::parse(compact)?;
        accept(check, &envelope, now)?;
        if envelope.holder_key()? != self.holder_key(holder_key)?.public {
            return Err(WalletError::HolderKeyMismatch(holder_key.clone()));
        }
        if self
            .credentials()?
            .iter()
            .any(|credential| credential.holder_key() == holder_key)
        {
            return Err(WalletError::HolderKeyInUse(holder_key.clone()));
        }
        let record = CredentialRecord {
            compact: compact.to_owned(),
            holder_key: holder_key.clone(),
            received_at: now.timestamp(),
        };
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&record).map_err(|e| {
            WalletError::CorruptRecord {
                kind: RecordKind::Credential.name(),
                reason: e.to_string(),
            }
        })?);
        let id = CredentialId(random_id());
        self.write(|writer| writer.insert(RecordKind::Credential, id.as_str(), &bytes))?;
        Ok(id)
    }

    /// Stores a credential received for a holder key generated for it (`secret`), the key and
    /// the credential in one transaction, after `check` accepted the credential and after
    /// making sure it is bound to that key. A refused credential leaves no key behind either.
    /// Returns the credential's id.
    pub fn store_received(
        &mut self,
        compact: &str,
        secret: &credence_registry::keys::SecretKey,
        check: &dyn CredentialCheck,
        now: DateTime<Utc>,
    ) -> Result<CredentialId, WalletError> {
        let envelope = Envelope::parse(compact)?;
        accept(check, &envelope, now)?;
        if envelope.holder_key()? != secret.public() {
            return Err(WalletError::CredentialRefused(
                "the credential is bound to another key than the one the wallet proved".into(),
            ));
        }
        let holder_key = HolderKeyId::new_random();
        let record = CredentialRecord {
            compact: compact.to_owned(),
            holder_key: holder_key.clone(),
            received_at: now.timestamp(),
        };
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&record).map_err(|e| {
            WalletError::CorruptRecord {
                kind: RecordKind::Credential.name(),
                reason: e.to_string(),
            }
        })?);
        let id = CredentialId(random_id());
        self.write(|writer| {
            writer.insert(
                RecordKind::HolderKey,
                holder_key.as_str(),
                secret.to_private_jwk().as_bytes(),
            )?;
            writer.insert(RecordKind::Credential, id.as_str(), &bytes)
        })?;
        Ok(id)
    }

    /// Every credential in the wallet.
    pub fn credentials(&self) -> Result<Vec<StoredCredential>, WalletError> {
        self.read_all(RecordKind::Credential)?
            .into_iter()
            .map(|(id, plain)| decode_credential(CredentialId(id), &plain))
            .collect()
    }

    /// One credential.
    pub fn credential(&self, id: &CredentialId) -> Result<StoredCredential, WalletError> {
        let plain = self
            .read(RecordKind::Credential, id.as_str())?
            .ok_or_else(|| WalletError::UnknownCredential(id.clone()))?;
        decode_credential(id.clone(), &plain)
    }

    /// Deletes a credential and its holder key (a key binds one copy, so it has no use left).
    /// The history of what it disclosed stays.
    pub fn delete_credential(&mut self, id: &CredentialId) -> Result<(), WalletError> {
        let credential = self.credential(id)?;
        self.write(|writer| {
            writer.delete(RecordKind::Credential, id.as_str())?;
            writer.delete(RecordKind::HolderKey, credential.holder_key().as_str())?;
            Ok(())
        })
    }
}

/// Asks `check` about `envelope`: a refusal names the step and why; "could not check" is its
/// own error (nothing is known, so nothing is stored).
fn accept(
    check: &dyn CredentialCheck,
    envelope: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), WalletError> {
    let verdict = match envelope {
        Envelope::SdJwt(sd_jwt) => check.check(sd_jwt, now),
        Envelope::VcJwt(vc_jwt) => check.check_vc_jwt(vc_jwt, now),
    };
    match verdict {
        Ok(CheckVerdict::Valid) => Ok(()),
        Ok(CheckVerdict::Invalid { step, reason }) => {
            Err(WalletError::CredentialRefused(format!("{step}: {reason}")))
        }
        Err(unavailable) => Err(WalletError::CheckUnavailable(unavailable.0)),
    }
}

fn decode_credential(id: CredentialId, plain: &[u8]) -> Result<StoredCredential, WalletError> {
    let corrupt = |reason: String| WalletError::CorruptRecord {
        kind: RecordKind::Credential.name(),
        reason,
    };
    let record: CredentialRecord =
        serde_json::from_slice(plain).map_err(|e| corrupt(e.to_string()))?;
    let envelope = Envelope::parse(&record.compact).map_err(|e| corrupt(e.to_string()))?;
    let received_at = DateTime::from_timestamp(record.received_at, 0)
        .ok_or_else(|| corrupt("time out of range".into()))?;
    Ok(StoredCredential {
        id,
        holder_key: record.holder_key,
        received_at,
        envelope,
    })
}
