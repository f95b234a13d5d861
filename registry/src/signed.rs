//! Payloads signed by a DID: a compact JWS whose `kid` is a DID URL naming one of the DID's
//! verification methods. Verifying one means resolving the DID (through the shared
//! `Resolver`), finding that method, checking it is authorized for the purpose asked (e.g.
//! `assertionMethod`), and checking the signature strictly (`keys`).
//!
//! Used for everything a party publishes to the registry besides DID operations: schemas,
//! status lists and accreditations.
//!
//! A payload that says when it was signed (a status list's `iat`, an accreditation's
//! `validFrom`) is also checked against the signer's DID document *as it was then*
//! ([`check_authorized_at`]): the key must be authorized now (a key rotated out cannot sign
//! anything more) and must already have been authorized at that time (a key cannot vouch for a
//! time before it was added).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::did::Did;
use crate::error::Error;
use crate::keys::{PublicKey, SecretKey, decode_b64url};
use crate::resolver::Resolver;
use crate::wire::VersionSelector;

/// A verified payload and who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedByDid {
    pub did: Did,
    /// The full DID URL of the verification method that signed.
    pub kid: String,
    /// The key that verified the signature.
    pub key: PublicKey,
    /// The JWS protected header (`typ` tells a payload's format).
    pub header: Value,
    pub payload: Value,
}

/// How far in the future a signing time may lie (clock skew between signer and registry).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Verifies `compact` as signed by a key the signer's DID document lists under `purpose`
/// (a verification relationship such as `assertionMethod`), resolving the signer's current
/// document through `resolver`.
pub async fn verify(
    resolver: &Resolver,
    compact: &str,
    purpose: &str,
) -> Result<SignedByDid, Error> {
    let (did, _) = signer_of(compact)?;
    let resolution = resolver.resolve(&did, &VersionSelector::Latest).await?;
    if resolution.metadata.deactivated {
        return Err(Error::Forbidden(format!("{did} is deactivated")));
    }
    verify_against(compact, &resolution.document, purpose)
}

/// The DID and the `kid` (a DID URL) a compact JWS names as its signer. Nothing is verified:
/// this says whose document to check it against.
pub fn signer_of(compact: &str) -> Result<(Did, String), Error> {
    let bad = |detail: String| Error::BadSignature(detail);
    let header_b64 = compact.trim().split('.').next().unwrap_or_default();
    let header = crate::json::parse_strict(
        &decode_b64url(header_b64).map_err(|e| bad(format!("JWS header: {e}")))?,
    )
    .map_err(|e| bad(format!("JWS header: {e}")))?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("JWS header has no kid".into()))?
        .to_owned();
    let (did_text, _) = kid
        .split_once('#')
        .ok_or_else(|| bad(format!("kid {kid:?} must be a DID URL with a fragment")))?;
    Ok((Did::parse(did_text)?, kid))
}

/// Verifies `compact` against `document`, the signer's DID document as of the moment the check
/// is about (the caller chooses: now, or a past version): the `kid` must name a verification
/// method of that document listed under `purpose`, and the signature must verify strictly.
/// No IO: what is checked and what it is checked against are both parameters.
pub fn verify_against(
    compact: &str,
    document: &Value,
    purpose: &str,
) -> Result<SignedByDid, Error> {
    let bad = |detail: String| Error::BadSignature(detail);
    let compact = compact.trim();
    let mut parts = compact.split('.');
    let (Some(_), Some(payload_b64), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(
            "expected a compact JWS (header.payload.signature)".into()
        ));
    };
    let (did, kid) = signer_of(compact)?;
    if document.get("id").and_then(Value::as_str) != Some(did.as_str()) {
        return Err(Error::Forbidden(format!(
            "the document given is not {did}'s, which the JWS names as its signer"
        )));
    }
    let key = authorized_key(document, &did, &kid, purpose)?;
    let header = key
        .verify_jws(compact, None)
        .map_err(|e| bad(e.to_string()))?;
    let payload = crate::json::parse_strict(
        &decode_b64url(payload_b64).map_err(|e| bad(format!("JWS payload: {e}")))?,
    )?;
    Ok(SignedByDid {
        did,
        kid,
        key,
        header,
        payload,
    })
}

/// Checks that the key that made `signed` was already authorized for `purpose` at `at`, the
/// time the payload says it was signed, and that `at` is not in the future. [`verify`] has
/// checked it is authorized now. DIDs without history (did:key, did:jwk, did:web) have one
/// document, so only the time is checked for them.
pub async fn check_authorized_at(
    resolver: &Resolver,
    signed: &SignedByDid,
    purpose: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if at > now + MAX_CLOCK_SKEW {
        return Err(Error::Forbidden(format!(
            "the payload says it was signed at {at}, in the future: not yet valid"
        )));
    }
    if signed.did.method() != crate::ops::METHOD {
        return Ok(());
    }
    let then = match resolver
        .resolve(&signed.did, &VersionSelector::Time(at))
        .await
    {
        Ok(resolution) => resolution,
        Err(Error::VersionNotFound(_) | Error::NotFound(_)) => {
            return Err(Error::Forbidden(format!(
                "{} did not exist at {at}, when the payload says it was signed",
                signed.did
            )));
        }
        Err(other) => return Err(other),
    };
    match authorized_key(&then.document, &signed.did, &signed.kid, purpose) {
        Ok(key) if key == signed.key => Ok(()),
        _ => Err(Error::Forbidden(format!(
            "{} was not yet authorized for {purpose} at {at}, when the payload says it was \
             signed (the key was added to {} later)",
            signed.kid, signed.did
        ))),
    }
}

/// The public key of verification method `kid` if `document` lists it under `purpose`.
fn authorized_key(
    document: &Value,
    did: &Did,
    kid: &str,
    purpose: &str,
) -> Result<PublicKey, Error> {
    let fragment = kid.split_once('#').map_or("", |(_, fragment)| fragment);
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
    match (
        method.get("publicKeyMultibase").and_then(Value::as_str),
        method.get("publicKeyJwk"),
    ) {
        (Some(multibase), _) => Ok(PublicKey::from_multikey(multibase)?),
        (None, Some(jwk)) => Ok(PublicKey::from_jwk(jwk)?),
        (None, None) => Err(Error::Forbidden(format!("{kid} has no public key"))),
    }
}

/// Signs `payload` as a compact JWS with `key`, naming `kid` (a DID URL).
pub fn sign(payload: &Value, key: &SecretKey, kid: &str) -> String {
    sign_typed(payload, key, kid, None)
}

/// Like [`sign`], with a `typ` header (e.g. `statuslist+jwt`, `vc+jwt`).
pub fn sign_typed(payload: &Value, key: &SecretKey, kid: &str, typ: Option<&str>) -> String {
    let mut header = serde_json::json!({"kid": kid});
    if let Some(typ) = typ {
        header["typ"] = Value::String(typ.to_owned());
    }
    sign_with_header(payload, key, header)
}

/// A compact JWS of `payload` under the protected `header` (an object; its `alg` is set from
/// `key`), signed by `key`: for headers that name the key otherwise than by `kid` (`x5c`).
pub fn sign_with_header(payload: &Value, key: &SecretKey, mut header: Value) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    header["alg"] = Value::String(key.public().algorithm().name().to_owned());
    let signing_input = format!(
        "{}.{}",
        engine.encode(header.to_string()),
        engine.encode(payload.to_string())
    );
    let signature = key.sign_raw(signing_input.as_bytes());
    format!("{signing_input}.{}", engine.encode(signature))
}
