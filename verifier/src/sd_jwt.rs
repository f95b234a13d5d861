//! The verifier's half of SD-JWT (RFC 9901) and SD-JWT VC (draft-ietf-oauth-sd-jwt-vc):
//! strict parsing of a presentation, the issuer signature with a given key, Disclosure
//! processing, and the key-binding JWT. Pure: no IO, no clock (`now` is a parameter), no key
//! discovery — which key signed is the pipeline's business (`pipeline.rs` finds it in the
//! issuer's DID document as of issuance); here a key is given.
//!
//! The strictness, each rule a test:
//! - JOSE (shared with `vc_jwt` in `jose.rs`): headers are strict JSON (duplicate members
//!   refused, `json::parse_strict`); `crit` is refused (RFC 7515 §4.1.11); `alg` is on an
//!   allowlist (EdDSA, ES256) and must match the key's type; `typ` is checked per JWT (§3.2.1
//!   of the SD-JWT VC draft: `dc+sd-jwt`; RFC 9901 §4.3: `kb+jwt`). `jwk`, `jku`, `x5u` and `x5c` headers are never read: keys come from the
//!   issuer's DID document and the credential's `cnf`.
//! - Every Disclosure must be referenced exactly once (RFC 9901 §7.1 steps 4 and 5): an
//!   unreferenced or repeated Disclosure makes the whole presentation invalid. Some libraries
//!   silently drop them (see `testdata/sd-jwt/negative/README.md`); a verifier that does lets a
//!   holder add claims the issuer never signed to what a careless relying party reads.
//! - Disclosures may not name `_sd` or `...`, nor overwrite a claim; recursive Disclosures and
//!   array elements are followed, to a bounded depth.
//! - `_sd_alg` must be `sha-256` (the only one on our allowlist; absent means sha-256, §4.1.1).
//!
//! Why not a crate: `ssi-sd-jwt` 0.6 (`SdJwt::decode_reveal_verify`) and `sd-jwt-rs` both
//! resolve Disclosures by looking each digest up and ignore Disclosures nobody references, which
//! is exactly the flaw above; they also verify through JWK signers of their own, where we must
//! verify with the DID document's key under our strict rules (`keys::PublicKey::verify_raw`:
//! strict Ed25519, low-S P-256). The JSON walk is 120 lines; the cryptography stays in the
//! base crate.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use credence_registry::keys::{PublicKey, decode_b64url};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::jose::strict_json;
// The JOSE layer is shared with `vc_jwt` (`jose.rs`); re-exported here, where it was first.
pub use crate::jose::{Algorithm, Jws, check_times, numeric_date, verify_signature};
use crate::report::Defect;

/// The JWT `typ` of an SD-JWT VC (draft-ietf-oauth-sd-jwt-vc §3.2.1).
pub const SD_JWT_VC_TYPE: &str = "dc+sd-jwt";
/// The name SD-JWT VC used before draft 06. Refused (see [`Defect::LegacyType`]): it collided
/// with W3C's `application/vc+sd-jwt` (VCDM secured with SD-JWT), which is why the IETF renamed
/// it, and every Credence issuer writes `dc+sd-jwt`. Recognised only to say so clearly.
pub const LEGACY_SD_JWT_VC_TYPE: &str = "vc+sd-jwt";
/// The JWT `typ` of a key-binding JWT (RFC 9901 §4.3).
pub const KB_JWT_TYPE: &str = "kb+jwt";
/// Largest presentation accepted. The largest IETF example (a PID with 28 Disclosures) is
/// under 6 KiB; this leaves room for rich credentials while bounding the work an input causes.
pub const MAX_PRESENTATION_BYTES: usize = 128 * 1024;
/// Deepest chain of nested Disclosures followed.
const MAX_DISCLOSURE_DEPTH: usize = 32;

/// One Disclosure (RFC 9901 §4.2.1, §4.2.2): `[salt, name, value]` for an object member,
/// `[salt, value]` for an array element.
#[derive(Debug, Clone)]
pub struct Disclosure {
    /// base64url(SHA-256(the encoded Disclosure as sent)), §4.2.3.
    pub digest: String,
    /// The claim name; `None` for an array element.
    pub name: Option<String>,
    pub value: Value,
}

/// A parsed SD-JWT presentation: `<issuer JWT>~<D.1>~...~<D.N>~[<KB-JWT>]` (RFC 9901 §4).
#[derive(Debug, Clone)]
pub struct Presentation<'a> {
    pub issuer_jwt: Jws<'a>,
    pub disclosures: Vec<Disclosure>,
    /// The key-binding JWT, undecoded: its defects belong to the holder-binding step.
    pub key_binding: Option<&'a str>,
    /// The presentation up to and including the last `~`, which `sd_hash` covers (§4.3.1).
    pub sd_hash_input: &'a str,
}

/// Parses a presentation whose issuer JWT must have `typ` `expected_typ` (`dc+sd-jwt` for
/// SD-JWT VC): the shape, the issuer JWT's header, every Disclosure, `_sd_alg`. Nothing is
/// verified yet.
pub fn parse<'a>(text: &'a str, expected_typ: &'static str) -> Result<Presentation<'a>, Defect> {
    if text.len() > MAX_PRESENTATION_BYTES {
        return Err(Defect::TooLarge {
            size: text.len(),
            max: MAX_PRESENTATION_BYTES,
        });
    }
    // RFC 9901 §4: the SD-JWT part always ends with '~'; a KB-JWT, if any, follows it.
    let last_tilde = text.rfind('~').ok_or_else(|| {
        Defect::Malformed("an SD-JWT is <issuer JWT>~<Disclosures>~..., and this has no '~'".into())
    })?;
    let (sd_jwt, key_binding) = text.split_at(last_tilde + 1);
    let mut parts = sd_jwt[..last_tilde].split('~');
    let issuer_jwt = Jws::parse(
        parts.next().unwrap_or_default(),
        "the credential",
        expected_typ,
    )
    .map_err(|defect| match defect {
        Defect::WrongType {
            found: Some(found), ..
        } if expected_typ == SD_JWT_VC_TYPE && found == LEGACY_SD_JWT_VC_TYPE => Defect::LegacyType,
        other => other,
    })?;

    // RFC 9901 §4.1.1: `_sd_alg` absent means sha-256.
    match issuer_jwt.payload.get("_sd_alg") {
        None => {}
        Some(Value::String(alg)) if alg == "sha-256" => {}
        Some(other) => {
            return Err(Defect::UnsupportedSdAlg(
                other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned),
            ));
        }
    }

    let mut disclosures = Vec::new();
    let mut seen = HashSet::new();
    for (index, encoded) in parts.enumerate() {
        let disclosure = parse_disclosure(index, encoded)?;
        if !seen.insert(disclosure.digest.clone()) {
            return Err(Defect::DuplicateDisclosure { index });
        }
        disclosures.push(disclosure);
    }
    Ok(Presentation {
        issuer_jwt,
        disclosures,
        key_binding: (!key_binding.is_empty()).then_some(key_binding),
        sd_hash_input: sd_jwt,
    })
}

fn parse_disclosure(index: usize, encoded: &str) -> Result<Disclosure, Defect> {
    let bad = |detail: &str| Defect::MalformedDisclosure {
        index,
        detail: detail.to_owned(),
    };
    if encoded.is_empty() {
        return Err(bad("empty (two '~' in a row)"));
    }
    let bytes = decode_b64url(encoded).map_err(|e| bad(&e.to_string()))?;
    let value = strict_json(&bytes).map_err(|e| bad(&e))?;
    let Value::Array(mut items) = value else {
        return Err(bad("not a JSON array"));
    };
    if !items.first().is_some_and(Value::is_string) {
        return Err(bad("the salt must be a string"));
    }
    let (name, value) = match items.len() {
        2 => (None, items.pop().unwrap_or_default()),
        3 => {
            let value = items.pop().unwrap_or_default();
            let Some(Value::String(name)) = items.pop() else {
                return Err(bad("the claim name must be a string"));
            };
            // RFC 9901 §7.1 step 3.2.2.2.
            if name == "_sd" || name == "..." {
                return Err(Defect::ReservedClaimName { index, name });
            }
            (Some(name), value)
        }
        _ => return Err(bad("an array of 2 or 3 elements")),
    };
    Ok(Disclosure {
        digest: URL_SAFE_NO_PAD.encode(Sha256::digest(encoded.as_bytes())),
        name,
        value,
    })
}

/// The processed payload (RFC 9901 §7.1), and the JSON pointers of the objects in it from
/// which the holder may have withheld claims (they had digests no Disclosure matched: decoys or
/// undisclosed claims). A schema's `required` cannot be enforced there.
#[derive(Debug, Clone)]
pub struct Processed {
    pub claims: Value,
    pub withheld_at: Vec<String>,
}

/// Puts every Disclosure in place in `payload` (RFC 9901 §7.1 steps 3 to 5): each must be
/// referenced exactly once, from the right kind of place, without overwriting a claim; no
/// digest may appear twice; undisclosed array elements and `_sd`, `_sd_alg` are removed.
pub fn process(payload: &Value, disclosures: &[Disclosure]) -> Result<Processed, Defect> {
    let Value::Object(root) = payload else {
        return Err(Defect::MalformedSdData(
            "the payload is not an object".into(),
        ));
    };
    let mut walker = Walker {
        disclosures,
        by_digest: disclosures
            .iter()
            .enumerate()
            .map(|(i, d)| (d.digest.as_str(), i))
            .collect(),
        used: vec![false; disclosures.len()],
        seen: HashSet::new(),
        withheld_at: Vec::new(),
    };
    let mut claims = walker.object(root, String::new(), 0)?;
    claims.remove("_sd_alg");
    if let Some(index) = walker.used.iter().position(|used| !used) {
        return Err(Defect::UnreferencedDisclosure {
            index,
            claim: disclosures[index]
                .name
                .clone()
                .unwrap_or_else(|| "an array element".into()),
        });
    }
    Ok(Processed {
        claims: Value::Object(claims),
        withheld_at: walker.withheld_at,
    })
}

struct Walker<'d> {
    disclosures: &'d [Disclosure],
    by_digest: HashMap<&'d str, usize>,
    used: Vec<bool>,
    seen: HashSet<&'d str>,
    withheld_at: Vec<String>,
}

impl<'d> Walker<'d> {
    /// Records `digest` as met; a digest met twice is refused (§7.1 step 4). Returns the
    /// Disclosure it names, if the holder sent one.
    fn meet(&mut self, digest: &'d str) -> Result<Option<usize>, Defect> {
        if !self.seen.insert(digest) {
            return Err(Defect::DigestRepeated);
        }
        let found = self.by_digest.get(digest).copied();
        if let Some(index) = found {
            self.used[index] = true;
        }
        Ok(found)
    }

    fn value(&mut self, value: &'d Value, pointer: String, depth: usize) -> Result<Value, Defect> {
        if depth > MAX_DISCLOSURE_DEPTH {
            return Err(Defect::MalformedSdData(format!(
                "selectively disclosable claims nested deeper than {MAX_DISCLOSURE_DEPTH} levels"
            )));
        }
        match value {
            Value::Object(map) => Ok(Value::Object(self.object(map, pointer, depth)?)),
            Value::Array(items) => self.array(items, pointer, depth),
            other => Ok(other.clone()),
        }
    }

    fn object(
        &mut self,
        map: &'d Map<String, Value>,
        pointer: String,
        depth: usize,
    ) -> Result<Map<String, Value>, Defect> {
        let mut out = Map::new();
        for (name, member) in map {
            if name != "_sd" {
                let inner = self.value(member, child_pointer(&pointer, name), depth + 1)?;
                out.insert(name.clone(), inner);
            }
        }
        let Some(digests) = map.get("_sd") else {
            return Ok(out);
        };
        let digests = digests
            .as_array()
            .ok_or_else(|| Defect::MalformedSdData("_sd is not an array".into()))?;
        let mut withheld = false;
        for digest in digests {
            let digest = digest
                .as_str()
                .ok_or_else(|| Defect::MalformedSdData("_sd holds a non-string".into()))?;
            let Some(index) = self.meet(digest)? else {
                withheld = true;
                continue;
            };
            let disclosures = self.disclosures;
            let disclosure = &disclosures[index];
            let Some(name) = &disclosure.name else {
                return Err(Defect::DisclosureKindMismatch { index });
            };
            // §7.1 step 3.2.2.3: a Disclosure may not overwrite a claim.
            if out.contains_key(name) {
                return Err(Defect::DisclosureOverwritesClaim {
                    index,
                    name: name.clone(),
                });
            }
            let inner = self.value(&disclosure.value, child_pointer(&pointer, name), depth + 1)?;
            out.insert(name.clone(), inner);
        }
        if withheld {
            self.withheld_at.push(pointer);
        }
        Ok(out)
    }

    fn array(
        &mut self,
        items: &'d [Value],
        pointer: String,
        depth: usize,
    ) -> Result<Value, Defect> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            // §4.2.4.2: an element `{"...": digest}` stands for an array-element Disclosure.
            let placeholder = match item {
                Value::Object(map) if map.len() == 1 && map.contains_key("...") => Some(
                    map["..."]
                        .as_str()
                        .ok_or_else(|| Defect::MalformedSdData("\"...\" is not a string".into()))?,
                ),
                _ => None,
            };
            let position = child_pointer(&pointer, &out.len().to_string());
            match placeholder {
                None => out.push(self.value(item, position, depth + 1)?),
                Some(digest) => {
                    if let Some(index) = self.meet(digest)? {
                        let disclosures = self.disclosures;
                        let disclosure = &disclosures[index];
                        if disclosure.name.is_some() {
                            return Err(Defect::DisclosureKindMismatch { index });
                        }
                        out.push(self.value(&disclosure.value, position, depth + 1)?);
                    }
                }
            }
        }
        Ok(Value::Array(out))
    }
}

/// RFC 6901 JSON pointer of member `name` under `parent`.
fn child_pointer(parent: &str, name: &str) -> String {
    let mut pointer = String::with_capacity(parent.len() + name.len() + 1);
    pointer.push_str(parent);
    pointer.push('/');
    for c in name.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
    pointer
}

/// The holder's key from `cnf.jwk` (RFC 7800 §3.2), Ed25519 or P-256. Other confirmation
/// methods (`kid`, `jku`) are not supported: they would make us fetch or look up a key.
pub fn holder_key(payload: &Value) -> Result<PublicKey, Defect> {
    let cnf = payload
        .get("cnf")
        .ok_or_else(|| Defect::NoHolderKey("the credential has no cnf claim".into()))?;
    let jwk = cnf.get("jwk").ok_or_else(|| {
        Defect::NoHolderKey("cnf has no jwk (other methods are not supported)".into())
    })?;
    let key = PublicKey::from_jwk(jwk).map_err(|e| Defect::NoHolderKey(e.to_string()))?;
    match key {
        PublicKey::Ed25519(_) | PublicKey::P256(_) => Ok(key),
        PublicKey::Secp256k1(_) => Err(Defect::NoHolderKey(
            "a secp256k1 key; only Ed25519 and P-256 holder keys are accepted".into(),
        )),
    }
}

/// What the key-binding JWT must say: this verifier's nonce and client id, and a recent time.
#[derive(Debug, Clone, Copy)]
pub struct KeyBindingExpectations<'e> {
    pub nonce: &'e str,
    pub audience: &'e str,
    pub now: DateTime<Utc>,
    /// Oldest accepted `iat`, back from `now`.
    pub max_age: Duration,
    /// Clock skew allowed on either side.
    pub leeway: Duration,
}

/// `sd_hash` of a presentation (RFC 9901 §4.3.1): base64url(SHA-256(ASCII of the issuer JWT,
/// `~`, each Disclosure and its `~`)), the hash `_sd_alg` names (sha-256 is the only one).
pub fn sd_hash(sd_hash_input: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(sd_hash_input.as_bytes()))
}

/// Checks the key-binding JWT (RFC 9901 §7.3 step 5): `typ` `kb+jwt`, signed by `holder`,
/// `nonce` and `aud` equal to the expected ones, `iat` within the window, `sd_hash` over the
/// exact presentation.
pub fn check_key_binding(
    presentation: &Presentation<'_>,
    holder: &PublicKey,
    expected: &KeyBindingExpectations<'_>,
) -> Result<(), Defect> {
    let compact = presentation.key_binding.ok_or(Defect::KeyBindingMissing)?;
    let jws =
        Jws::parse(compact, "the key-binding JWT", KB_JWT_TYPE).map_err(|defect| match defect {
            Defect::Malformed(detail) => Defect::KeyBindingMalformed(detail),
            other => other,
        })?;
    jws.verify(holder).map_err(Defect::KeyBindingSignature)?;
    let claims = &jws.payload;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // Compared in constant time is unnecessary: the nonce is public once sent to the wallet.
    match text("nonce") {
        Some(nonce) if nonce == expected.nonce => {}
        Some(_) => return Err(Defect::NonceMismatch),
        None => return Err(Defect::KeyBindingMalformed("it has no nonce".into())),
    }
    // A single string: OpenID4VP sets `aud` to the client id; an array is not accepted.
    match text("aud") {
        Some(audience) if audience == expected.audience => {}
        found => {
            return Err(Defect::AudienceMismatch {
                found: found.map_or_else(
                    || claims.get("aud").map_or("(none)".into(), Value::to_string),
                    str::to_owned,
                ),
                expected: expected.audience.to_owned(),
            });
        }
    }
    let iat = numeric_date(claims, "iat")
        .map_err(|defect| Defect::KeyBindingMalformed(defect.to_string()))?
        .ok_or_else(|| Defect::KeyBindingMalformed("it has no iat".into()))?;
    if iat > expected.now + expected.leeway
        || iat < expected.now - expected.max_age - expected.leeway
    {
        return Err(Defect::KeyBindingStale {
            iat,
            now: expected.now,
        });
    }
    if text("sd_hash") != Some(sd_hash(presentation.sd_hash_input).as_str()) {
        return Err(Defect::SdHashMismatch);
    }
    Ok(())
}
