//! Payloads signed by a DID: a compact JWS whose `kid` is a DID URL naming one of the DID's
//! verification methods. Verifying one means resolving the DID (through the shared
//! `Resolver`), finding that method, checking it is authorized for the purpose asked (e.g.
//! `assertionMethod`), and checking the signature strictly (`keys`).
//!
//! Used for everything a party publishes to the registry besides DID operations: schemas now,
//! status lists and accreditations next.

use serde_json::Value;

use crate::did::Did;
use crate::error::Error;
use crate::keys::{PublicKey, SecretKey, decode_b64url};
use crate::registry::VersionSelector;
use crate::resolver::Resolver;

/// A verified payload and who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedByDid {
    pub did: Did,
    /// The full DID URL of the verification method that signed.
    pub kid: String,
    pub payload: Value,
}

/// Verifies `compact` as signed by a key the signer's DID document lists under `purpose`
/// (a verification relationship such as `assertionMethod`).
pub async fn verify(
    resolver: &Resolver,
    compact: &str,
    purpose: &str,
) -> Result<SignedByDid, Error> {
    let bad = |detail: String| Error::BadSignature(detail);
    let mut parts = compact.trim().split('.');
    let (Some(header_b64), Some(payload_b64), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(
            "expected a compact JWS (header.payload.signature)".into()
        ));
    };
    let header = crate::json::parse_strict(
        &decode_b64url(header_b64).map_err(|e| bad(format!("JWS header: {e}")))?,
    )
    .map_err(|e| bad(format!("JWS header: {e}")))?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("JWS header has no kid".into()))?
        .to_owned();
    let (did_text, fragment) = kid
        .split_once('#')
        .ok_or_else(|| bad(format!("kid {kid:?} must be a DID URL with a fragment")))?;
    let did = Did::parse(did_text)?;
    let resolution = match resolver.resolve(&did, &VersionSelector::Latest).await {
        Ok(resolution) => resolution,
        Err(Error::Deactivated(_)) => {
            return Err(Error::Forbidden(format!("{did} is deactivated")));
        }
        Err(other) => return Err(other),
    };
    let document = &resolution.document;
    let matches = |id: &str| id == kid || id == format!("#{fragment}");
    let authorized = document
        .get(purpose)
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r.as_str().is_some_and(matches)));
    if !authorized {
        return Err(Error::Forbidden(format!(
            "{kid} is not listed under {purpose} in {did}'s DID document"
        )));
    }
    let method = document
        .get("verificationMethod")
        .and_then(Value::as_array)
        .and_then(|methods| {
            methods
                .iter()
                .find(|m| m.get("id").and_then(Value::as_str).is_some_and(matches))
        })
        .ok_or_else(|| Error::Forbidden(format!("{kid} is not a verification method of {did}")))?;
    let key = match (
        method.get("publicKeyMultibase").and_then(Value::as_str),
        method.get("publicKeyJwk"),
    ) {
        (Some(multibase), _) => PublicKey::from_multikey(multibase)?,
        (None, Some(jwk)) => PublicKey::from_jwk(jwk)?,
        (None, None) => return Err(Error::Forbidden(format!("{kid} has no public key"))),
    };
    key.verify_jws(compact.trim(), None)
        .map_err(|e| bad(e.to_string()))?;
    let payload = crate::json::parse_strict(
        &decode_b64url(payload_b64).map_err(|e| bad(format!("JWS payload: {e}")))?,
    )?;
    Ok(SignedByDid { did, kid, payload })
}

/// Signs `payload` as a compact JWS with `key`, naming `kid` (a DID URL).
pub fn sign(payload: &Value, key: &SecretKey, kid: &str) -> String {
    sign_typed(payload, key, kid, None)
}

/// Like [`sign`], with a `typ` header (e.g. `statuslist+jwt`, `vc+jwt`).
pub fn sign_typed(payload: &Value, key: &SecretKey, kid: &str, typ: Option<&str>) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header = serde_json::json!({"alg": key.public().algorithm().name(), "kid": kid});
    if let Some(typ) = typ {
        header["typ"] = Value::String(typ.to_owned());
    }
    let signing_input = format!(
        "{}.{}",
        engine.encode(header.to_string()),
        engine.encode(payload.to_string())
    );
    let signature = key.sign_raw(signing_input.as_bytes());
    format!("{signing_input}.{}", engine.encode(signature))
}
