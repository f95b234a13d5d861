//! JOSE as every JWT format of the verifier checks it (RFC 7515 JWS, RFC 7519 JWT): strict
//! decoding of a compact JWS, the header rules, the signature with a given key, NumericDate
//! claims and the time window. `sd_jwt` (the issuer JWT and the key-binding JWT) and `vc_jwt`
//! (VC-JOSE-COSE `vc+jwt`) both go through here, so the rules cannot drift apart:
//!
//! - the header and payload are strict JSON (`json::parse_strict`: duplicate members and deep
//!   nesting refused) and must be objects; base64url is strict (no padding, no stray bits);
//! - `crit` is refused (RFC 7515 §4.1.11: we understand no extension);
//! - `alg` is on an allowlist (EdDSA, ES256), each bound to one key type; `none`, MACs, RSA
//!   and ES256K are refused before any key is looked at;
//! - `typ` must be exactly the one the format requires;
//! - `jwk`, `jku`, `x5u` and `x5c` are never read: which key verifies is decided by the caller
//!   (the issuer's DID document as of issuance, the credential's `cnf`), never by the token.
//!
//! Pure: no IO, no clock. The cryptography is the base crate's for Ed25519
//! (`keys::PublicKey::verify_raw`, strict) and aws-lc-rs's for ES256 (see [`verify_es256`]);
//! the base crate's own `verify_jws` is not used because it also
//! refuses high-S ES256 signatures, which is right for DID operations and wrong for other
//! issuers' credentials (see [`verify_signature`]).

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use credence_registry::did::Did;
use credence_registry::json::parse_strict;
use credence_registry::keys::{PublicKey, SignatureError, decode_b64url};
use credence_registry::resolver::DidUrl;
use serde_json::Value;

use crate::report::Defect;

/// The JWS algorithms accepted, each bound to one key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 only (RFC 8037).
    EdDsa,
    /// P-256 with SHA-256 only (RFC 7518 §3.4).
    Es256,
}

impl Algorithm {
    fn parse(alg: Option<&str>, what: &'static str) -> Result<Self, Defect> {
        match alg {
            Some("EdDSA") => Ok(Self::EdDsa),
            Some("ES256") => Ok(Self::Es256),
            other => Err(Defect::AlgorithmNotAllowed {
                what,
                alg: other.unwrap_or("(none)").to_owned(),
            }),
        }
    }

    /// Whether `key` is the one key type this algorithm may be used with.
    pub fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (Self::EdDsa, PublicKey::Ed25519(_)) | (Self::Es256, PublicKey::P256(_))
        )
    }
}

/// A compact JWS, decoded but not verified.
#[derive(Debug, Clone)]
pub struct Jws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, what the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
    pub header: Value,
    pub payload: Value,
    pub alg: Algorithm,
}

impl<'a> Jws<'a> {
    /// Decodes `compact` strictly and checks its header: `crit` refused, `alg` allowlisted,
    /// `typ` equal to `expected_typ`. `what` names the JWT in messages.
    pub fn parse(
        compact: &'a str,
        what: &'static str,
        expected_typ: &'static str,
    ) -> Result<Self, Defect> {
        let malformed = |detail: String| Defect::Malformed(format!("{what}: {detail}"));
        let mut parts = compact.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("a compact JWS has three parts".into()));
        };
        let header =
            decode_json_object(header_b64).map_err(|e| malformed(format!("header: {e}")))?;
        // RFC 7515 §4.1.11: extensions named critical must be understood; we understand none.
        if header.get("crit").is_some() {
            return Err(Defect::CriticalHeader { what });
        }
        let alg = Algorithm::parse(header.get("alg").and_then(Value::as_str), what)?;
        let typ = header.get("typ").and_then(Value::as_str);
        if typ != Some(expected_typ) {
            return Err(Defect::WrongType {
                what,
                found: typ.map(str::to_owned),
                expected: expected_typ,
            });
        }
        let payload =
            decode_json_object(payload_b64).map_err(|e| malformed(format!("payload: {e}")))?;
        let signature =
            decode_b64url(signature_b64).map_err(|e| malformed(format!("signature: {e}")))?;
        let signing_input = &compact[..header_b64.len() + 1 + payload_b64.len()];
        Ok(Self {
            signing_input,
            signature,
            header,
            payload,
            alg,
        })
    }

    /// Verifies the signature with `key`, which must be of the type `alg` is bound to.
    pub fn verify(&self, key: &PublicKey) -> Result<(), String> {
        verify_signature(
            self.alg,
            key,
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }
}

/// Verifies a JWS signature: `alg` bound to the key type, then Ed25519 strictly (small-order
/// keys and non-canonical encodings refused, `keys::PublicKey::verify_raw`) or ECDSA P-256 as
/// RFC 7518 §3.4 and FIPS 186 define it.
///
/// One deliberate difference from the base crate: ES256 signatures with a high S are accepted
/// here. `keys` refuses them because a DID operation is identified by a hash covering its
/// signature, so a malleated twin would be a second valid operation; a credential or a
/// key-binding JWT is identified by nothing of the kind (the KB-JWT's `sd_hash` covers the
/// issuer signature as presented, so a malleated one is only a different presentation that
/// still needs the holder's key). Refusing them would reject about half of the ES256
/// credentials other issuers sign (every IETF example signed by the reference implementation
/// whose S happens to be high), so the low-S twin is verified instead, which is the same
/// equation.
pub fn verify_signature(
    alg: Algorithm,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    if !alg.fits(key) {
        return Err(format!(
            "algorithm {alg:?} cannot be used with a {} key",
            key.type_name()
        ));
    }
    if let PublicKey::P256(point) = key {
        return verify_es256(point, message, signature);
    }
    match key.verify_raw(message, signature) {
        Err(SignatureError::HighS) => {
            let twin = p256::ecdsa::Signature::from_slice(signature)
                .ok()
                .and_then(|signature| signature.normalize_s())
                .ok_or_else(|| "ES256 signature is malformed".to_owned())?;
            key.verify_raw(message, &twin.to_bytes())
                .map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// ES256 (RFC 7518 §3.4: r‖s, 64 bytes) with aws-lc-rs, the constant-time, FIPS-validated
/// implementation rustls already brings into every tree that does TLS, rather than the pure-Rust
/// `p256` the base crate signs with: the same verification equation, about four times faster
/// (BENCHMARKS.md, session 6), which is what an enterprise verifying ES256 presentations pays
/// per request. Both S values verify, as above; Wycheproof's P-256 vectors pin the behaviour
/// (`tests/it/wycheproof.rs`).
fn verify_es256(key: &p256::PublicKey, message: &[u8], signature: &[u8]) -> Result<(), String> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    if signature.len() != 64 {
        return Err("ES256 signature must be 64 bytes".into());
    }
    let point = key.to_encoded_point(false);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.as_bytes())
        .verify(message, signature)
        .map_err(|_| SignatureError::Invalid.to_string())
}

fn decode_json_object(b64: &str) -> Result<Value, String> {
    let bytes = decode_b64url(b64).map_err(|e| e.to_string())?;
    let value = strict_json(&bytes)?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    Ok(value)
}

/// Parses with `json::parse_strict` (duplicate members and excessive depth refused; numbers
/// read as numbers whatever serde_json's features).
pub(crate) fn strict_json(bytes: &[u8]) -> Result<Value, String> {
    parse_strict(bytes).map_err(|e| e.to_string())
}

/// A NumericDate claim (RFC 7519 §2), if present. Fractions are allowed and truncated.
pub fn numeric_date(payload: &Value, claim: &'static str) -> Result<Option<DateTime<Utc>>, Defect> {
    let Some(value) = payload.get(claim) else {
        return Ok(None);
    };
    let seconds = value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64));
    seconds
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .map(Some)
        .ok_or_else(|| Defect::BadClaim {
            claim,
            detail: "not a NumericDate (seconds since 1970)".into(),
        })
}

/// `iat`, `nbf` and `exp` against `now`, each with `leeway` for clock skew.
pub fn check_times(payload: &Value, now: DateTime<Utc>, leeway: Duration) -> Result<(), Defect> {
    if let Some(exp) = numeric_date(payload, "exp")? {
        if now >= exp + leeway {
            return Err(Defect::Expired { exp });
        }
    }
    if let Some(nbf) = numeric_date(payload, "nbf")? {
        if now + leeway < nbf {
            return Err(Defect::NotYetValid { nbf });
        }
    }
    if let Some(iat) = numeric_date(payload, "iat")? {
        if now + leeway < iat {
            return Err(Defect::IssuedInFuture { iat });
        }
    }
    Ok(())
}

/// The `kid` of an issuer-signed JWT as the absolute DID URL of one of `issuer`'s verification
/// methods: a DID URL of exactly that DID with a non-empty fragment, no path and no query.
/// Anything else (absent, another DID's key, a bare DID) is [`Defect::KidNotOfIssuer`].
pub fn issuer_kid(header: &Value, issuer: &Did) -> Result<String, Defect> {
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let not_of_issuer = || Defect::KidNotOfIssuer {
        kid: kid.to_owned(),
        issuer: issuer.to_string(),
    };
    let url = DidUrl::parse(kid).map_err(|_| not_of_issuer())?;
    if url.did() != issuer
        || !url.path().is_empty()
        || url.query().is_some()
        || url.fragment().is_none_or(str::is_empty)
    {
        return Err(not_of_issuer());
    }
    Ok(url.to_string())
}
