//! Issuing IETF SD-JWT VCs (`dc+sd-jwt`): draft-ietf-oauth-sd-jwt-vc on top of SD-JWT
//! (RFC 9901).
//!
//! This module owns the issuer's half of SD-JWT: which claims may be made selectively
//! disclosable, turning them into Disclosures and digests (with decoys), the SD-JWT VC
//! registered claims, and the compact `<JWT>~<Disclosure>~...~` serialization. It does not
//! verify, present, or add key-binding JWTs (the holder's and verifier's business), and it
//! reads no clock: `now` is a parameter.
//!
//! Why these crates:
//! - `ssi-sd-jwt` (spruceid's ssi family, already compiled into the workspace through
//!   `ssi-status`, so it costs no extra build time) encodes each Disclosure
//!   (`DecodedDisclosure::from_parts`) and hashes it (`SdAlg::Sha256`). Its own concealing
//!   walk (`SdJwtPayload::conceal`) does not fit: it adds no decoy digests (RFC 9901 §4.2.5)
//!   and appends digests to `_sd` in the order of the claim names (reversed), where §4.2.4.1
//!   asks the issuer to hide the original order. Because a Disclosure's bytes are fixed as
//!   soon as it is encoded, decoys and sorting have to happen inside the walk, before an
//!   object with an `_sd` array is itself concealed (recursive disclosures, §6.3), so the walk
//!   is ours (about 60 lines, below). Its signing goes through `ssi-jws`'s JWK signer, which we
//!   would have to feed our keys through another key representation; we sign with
//!   `credence_registry::keys` instead (ed25519-dalek, p256), like every other JWS here.
//! - `sd-jwt-rs` (openwallet-foundation-labs) was evaluated and is used nowhere: it signs
//!   through `jsonwebtoken` (ring, a second crypto stack to compile on two cores), cannot set
//!   `typ: dc+sd-jwt` without us building the header anyway, keeps issuer state in
//!   `serde_json` maps, and turns on `serde_json/preserve_order`. Cargo unifies features across
//!   the workspace, so even as a dev-dependency it changed `serde_json::Value` for every crate
//!   (clippy's `result_large_err` then fired all over the registry). The tests check our
//!   output with `jsonwebtoken` (signature) and iotaledger's `sd-jwt-payload` (Disclosures)
//!   instead, neither of which shares code with this module.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use credence_registry::keys::PublicKey;
use rand::seq::SliceRandom as _;
use rand::{CryptoRng, Rng as _, RngCore};
use serde_json::{Map, Value, json};
use ssi_sd_jwt::{DecodedDisclosure, DisclosureDescription, SdAlg};

use crate::claims::{ClaimPath, Claims, json_kind};
use crate::jws::IssuerKey;
use crate::status::TokenStatusReference;

/// The JWT `typ` of an SD-JWT VC (draft-ietf-oauth-sd-jwt-vc §3.2.1).
pub const JWT_TYPE: &str = "dc+sd-jwt";
/// Salt length: RFC 9901 §4.2.1 recommends 128 bits.
const SALT_BYTES: usize = 16;
/// Claims the SD-JWT VC payload sets from typed inputs and that must never be selectively
/// disclosable (draft-ietf-oauth-sd-jwt-vc §3.2.2.2: `iss`, `nbf`, `exp`, `cnf`, `vct`,
/// `vct#integrity`, `status`; `iat` too, by our choice: a verifier always needs the issuance
/// time to judge a credential's age). Callers cannot supply them as claims either.
pub const REGISTERED_CLAIMS: [&str; 8] = [
    "iss",
    "iat",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "status",
];
/// Names SD-JWT itself uses inside payloads (RFC 9901 §4.1, §4.2.4): a claim so named anywhere
/// would be mistaken for digests.
const SD_RESERVED_NAMES: [&str; 3] = ["_sd", "_sd_alg", "..."];

/// Why an SD-JWT VC could not be issued. Each names a mistake in the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdJwtError {
    /// A registered claim was marked selectively disclosable.
    #[error("claim {0} cannot be selectively disclosable: a verifier always needs it")]
    RegisteredClaimNotDisclosable(ClaimPath),
    /// The claims set a registered claim, which this module sets from typed inputs.
    #[error(
        "claim {0:?} is set by the issuer (iss, iat, nbf, exp, cnf, vct, status), not by the claims"
    )]
    RegisteredClaimInClaims(String),
    /// A claim named `_sd`, `_sd_alg` or `...` somewhere in the claims.
    #[error("claim name {0:?} is reserved by SD-JWT (RFC 9901 §4.1, §4.2.4)")]
    ReservedClaimName(String),
    /// A selectively disclosable path that names no claim.
    #[error("no claim at {0}")]
    ClaimNotFound(ClaimPath),
    /// A path that goes through a value that is neither an object nor an array.
    #[error("claim path {path} goes through {kind}, which has no members")]
    NotAContainer { path: ClaimPath, kind: &'static str },
    /// The same path listed twice.
    #[error("claim path {0} is listed twice")]
    DuplicatePath(ClaimPath),
    /// `exp` not after `iat` and `nbf`: the credential would never be valid.
    #[error("the credential expires ({exp}) before it becomes valid ({start})")]
    ExpiresBeforeValid {
        start: DateTime<Utc>,
        exp: DateTime<Utc>,
    },
    /// Not a `vct` (a non-empty StringOrURI).
    #[error("invalid vct {0:?}: a non-empty string, a URI when it contains ':' (RFC 7519 §2)")]
    InvalidVct(String),
    /// The decoy policy asks for fewer decoys at most than at least.
    #[error("decoy range {min}..={max} is empty")]
    InvalidDecoyRange { min: u8, max: u8 },
}

/// The verifiable credential type of an SD-JWT VC (`vct`, draft-ietf-oauth-sd-jwt-vc
/// §3.2.2.1.1): a case-sensitive StringOrURI, in Credence the identifier of a schema published
/// in the registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Vct(String);

impl Vct {
    /// RFC 7519 §2 StringOrURI: any string, but a URI if it contains `:`. We also refuse
    /// empty values, whitespace and control characters, which no type identifier needs.
    pub fn parse(text: &str) -> Result<Self, SdJwtError> {
        let bad = || SdJwtError::InvalidVct(text.to_owned());
        if text.is_empty()
            || text.len() > 2048
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        if text.contains(':') && url::Url::parse(text).is_err() {
            return Err(bad());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Vct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Vct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vct({})", self.0)
    }
}

/// How many decoy digests go into each `_sd` array (RFC 9901 §4.2.5): a number drawn uniformly
/// from `min..=max` per array, so the count of digests does not reveal the count of claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoys {
    pub min: u8,
    pub max: u8,
}

impl Decoys {
    /// No decoys (for tests that count digests; not for production credentials).
    pub const NONE: Self = Self { min: 0, max: 0 };
}

impl Default for Decoys {
    /// One to five per `_sd` array.
    fn default() -> Self {
        Self { min: 1, max: 5 }
    }
}

/// What to issue, apart from the key and the time.
#[derive(Debug, Clone)]
pub struct SdJwtVcRequest {
    pub vct: Vct,
    /// The holder's public key, bound as `cnf.jwk` (RFC 7800 §3.2).
    pub holder: PublicKey,
    /// The credential's Token Status List entry, if its type has status.
    pub status: Option<TokenStatusReference>,
    /// Not valid before (`nbf`), if later than issuance.
    pub not_before: Option<DateTime<Utc>>,
    /// Expiry (`exp`).
    pub expires: Option<DateTime<Utc>>,
    /// The credential's own claims (no registered claim among them).
    pub claims: Claims,
    /// Claims to make selectively disclosable: top-level names, members of nested objects,
    /// array elements. A path and a path inside it give recursive Disclosures (RFC 9901 §6.3).
    pub disclosable: Vec<ClaimPath>,
    pub decoys: Decoys,
}

/// An issued SD-JWT VC: the issuer-signed JWT and every Disclosure.
#[derive(Clone, PartialEq, Eq)]
pub struct SdJwtVc {
    jwt: String,
    disclosures: Vec<String>,
}

impl SdJwtVc {
    /// The issuer-signed JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The encoded Disclosures (base64url of `[salt, name, value]` or `[salt, value]`).
    pub fn disclosures(&self) -> &[String] {
        &self.disclosures
    }

    /// The compact serialization without key binding: `<JWT>~<D.1>~...~<D.N>~` (RFC 9901 §4).
    pub fn to_compact(&self) -> String {
        let mut out = String::with_capacity(
            self.jwt.len() + self.disclosures.iter().map(|d| d.len() + 1).sum::<usize>() + 1,
        );
        out.push_str(&self.jwt);
        out.push('~');
        for disclosure in &self.disclosures {
            out.push_str(disclosure);
            out.push('~');
        }
        out
    }
}

impl fmt::Debug for SdJwtVc {
    /// Disclosures carry personal data in the clear: only their number is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJwtVc")
            .field("disclosures", &self.disclosures.len())
            .finish_non_exhaustive()
    }
}

/// Issues an SD-JWT VC signed by `key` (EdDSA or ES256, `kid` in the header, `iss` the key's
/// DID), issued at `now`, with salts and decoys from the thread's CSPRNG.
pub fn issue(
    key: &IssuerKey,
    request: &SdJwtVcRequest,
    now: DateTime<Utc>,
) -> Result<SdJwtVc, SdJwtError> {
    issue_with(key, request, now, &mut rand::thread_rng())
}

/// [`issue`] with salts, decoys and Disclosure order drawn from `rng`.
pub fn issue_with(
    key: &IssuerKey,
    request: &SdJwtVcRequest,
    now: DateTime<Utc>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<SdJwtVc, SdJwtError> {
    let decoys = request.decoys;
    if decoys.min > decoys.max {
        return Err(SdJwtError::InvalidDecoyRange {
            min: decoys.min,
            max: decoys.max,
        });
    }
    let start = request.not_before.map_or(now, |nbf| nbf.max(now));
    if let Some(exp) = request.expires {
        if exp <= start {
            return Err(SdJwtError::ExpiresBeforeValid { start, exp });
        }
    }
    for name in request.claims.as_map().keys() {
        if REGISTERED_CLAIMS.contains(&name.as_str()) {
            return Err(SdJwtError::RegisteredClaimInClaims(name.clone()));
        }
    }
    check_reserved_names(request.claims.as_map())?;

    let mut paths: Vec<&ClaimPath> = request.disclosable.iter().collect();
    paths.sort_unstable();
    if let Some(pair) = paths.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(SdJwtError::DuplicatePath(pair[0].clone()));
    }
    if let Some(path) = paths
        .iter()
        .find(|path| REGISTERED_CLAIMS.contains(&path.top_level_name()))
    {
        return Err(SdJwtError::RegisteredClaimNotDisclosable((*path).clone()));
    }

    // Deepest and last first: in descending order every path comes before any path that is a
    // prefix of it, so a claim inside a concealed object is concealed before its parent (its
    // digest then travels inside the parent's Disclosure, §6.3), and replacing an array
    // element by `{"...": digest}` never shifts the indexes still to come.
    let mut claims = Value::Object(request.claims.as_map().clone());
    let mut disclosures = Vec::with_capacity(paths.len());
    for path in paths.into_iter().rev() {
        disclosures.push(conceal(&mut claims, path, decoys, rng)?);
    }
    finish_sd_arrays(&mut claims, decoys, rng);
    // The holder receives the Disclosures in no meaningful order either.
    disclosures.shuffle(rng);

    let Value::Object(concealed) = claims else {
        unreachable!("the claims were an object and concealing keeps the root")
    };
    let mut payload = Map::new();
    payload.insert("iss".into(), json!(key.issuer().as_str()));
    payload.insert("iat".into(), json!(now.timestamp()));
    if let Some(nbf) = request.not_before {
        payload.insert("nbf".into(), json!(nbf.timestamp()));
    }
    if let Some(exp) = request.expires {
        payload.insert("exp".into(), json!(exp.timestamp()));
    }
    payload.insert("vct".into(), json!(request.vct.as_str()));
    payload.insert("cnf".into(), json!({ "jwk": request.holder.to_jwk() }));
    if let Some(status) = &request.status {
        // Token Status List §6.1: `status: {status_list: {idx, uri}}`.
        payload.insert("status".into(), json!({ "status_list": status }));
    }
    // RFC 9901 §4.1.1: the hash algorithm of the digests.
    payload.insert("_sd_alg".into(), json!(SdAlg::Sha256.to_str()));
    payload.extend(concealed);

    Ok(SdJwtVc {
        jwt: key.sign_jwt(JWT_TYPE, &Value::Object(payload)),
        disclosures,
    })
}

fn check_reserved_names(map: &Map<String, Value>) -> Result<(), SdJwtError> {
    for (name, value) in map {
        if SD_RESERVED_NAMES.contains(&name.as_str()) {
            return Err(SdJwtError::ReservedClaimName(name.clone()));
        }
        check_reserved_in(value)?;
    }
    Ok(())
}

fn check_reserved_in(value: &Value) -> Result<(), SdJwtError> {
    match value {
        Value::Object(map) => check_reserved_names(map),
        Value::Array(items) => items.iter().try_for_each(check_reserved_in),
        _ => Ok(()),
    }
}

/// Replaces the claim at `path` by its digest and returns its encoded Disclosure: an object
/// member moves into the parent's `_sd` array (RFC 9901 §4.2.1, §4.2.4.1), an array element
/// becomes `{"...": digest}` in place (§4.2.2, §4.2.4.2).
fn conceal(
    root: &mut Value,
    path: &ClaimPath,
    decoys: Decoys,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<String, SdJwtError> {
    let (last, parents) = path
        .segments()
        .split_last()
        .unwrap_or_else(|| unreachable!("a ClaimPath has at least one segment"));
    let mut parent = root;
    for segment in parents {
        parent = child(parent, segment, path)?;
    }
    let salt = {
        let mut bytes = [0u8; SALT_BYTES];
        rng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    };
    match parent {
        Value::Object(members) => {
            let mut value = members
                .remove(last)
                .ok_or_else(|| SdJwtError::ClaimNotFound(path.clone()))?;
            finish_sd_arrays(&mut value, decoys, rng);
            let disclosure = DecodedDisclosure::from_parts(
                salt,
                DisclosureDescription::ObjectEntry {
                    key: last.clone(),
                    value,
                },
            );
            let digest = SdAlg::Sha256.hash(disclosure.encoded.as_str());
            match members
                .entry("_sd")
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(digests) => digests.push(Value::String(digest)),
                _ => unreachable!("claims hold no `_sd` member (checked), only ours"),
            }
            Ok(disclosure.encoded.as_str().to_owned())
        }
        Value::Array(items) => {
            let slot = last
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| SdJwtError::ClaimNotFound(path.clone()))?;
            if is_concealed_element(slot) {
                return Err(SdJwtError::DuplicatePath(path.clone()));
            }
            let mut value = slot.take();
            finish_sd_arrays(&mut value, decoys, rng);
            let disclosure =
                DecodedDisclosure::from_parts(salt, DisclosureDescription::ArrayItem(value));
            let digest = SdAlg::Sha256.hash(disclosure.encoded.as_str());
            *slot = json!({ "...": digest });
            Ok(disclosure.encoded.as_str().to_owned())
        }
        other => Err(SdJwtError::NotAContainer {
            path: path.clone(),
            kind: json_kind(other),
        }),
    }
}

fn child<'a>(
    parent: &'a mut Value,
    segment: &str,
    path: &ClaimPath,
) -> Result<&'a mut Value, SdJwtError> {
    let found = match parent {
        Value::Object(members) => members.get_mut(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        other => {
            return Err(SdJwtError::NotAContainer {
                path: path.clone(),
                kind: json_kind(other),
            });
        }
    };
    found.ok_or_else(|| SdJwtError::ClaimNotFound(path.clone()))
}

fn is_concealed_element(value: &Value) -> bool {
    matches!(value, Value::Object(members) if members.len() == 1 && members.contains_key("..."))
}

/// Adds decoys to every `_sd` array in `value` and sorts it (RFC 9901 §4.2.5, §4.2.4.1).
/// Called once on each value about to be sealed into a Disclosure and once on the payload,
/// so every `_sd` array is finished exactly once.
fn finish_sd_arrays(value: &mut Value, decoys: Decoys, rng: &mut (impl RngCore + CryptoRng)) {
    match value {
        Value::Object(members) => {
            if let Some(Value::Array(digests)) = members.get_mut("_sd") {
                let count = rng.gen_range(decoys.min..=decoys.max);
                for _ in 0..count {
                    // §4.2.5: the digest of a random value, indistinguishable from a real one.
                    let mut random = [0u8; 32];
                    rng.fill_bytes(&mut random);
                    digests.push(Value::String(SdAlg::Sha256.hash(random)));
                }
                digests.sort_unstable_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            for (name, member) in members.iter_mut() {
                if name != "_sd" {
                    finish_sd_arrays(member, decoys, rng);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                finish_sd_arrays(item, decoys, rng);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vct_values() {
        fn check(input: &str, ok: bool) {
            assert_eq!(Vct::parse(input).is_ok(), ok, "{input:?}");
        }
        check("https://credentials.example.com/identity_credential", true);
        check("urn:eudi:pid:de:1", true);
        check("RealEstateCertificate", true);
        check("", false);
        check("with space", false);
        check("1:not a uri", false);
    }
}
