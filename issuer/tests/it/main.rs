//! Integration tests of credence-issuer, one binary: each module tests one feature through the
//! public API, and checks what we produce with an implementation we did not write
//! (`jsonwebtoken` for signatures, `sd-jwt-payload` for SD-JWT processing, the registry's own
//! status-list parser for lists). The service's tests (`service`, `store`) run on every
//! backend (`support::backends`) against a real registry on loopback.

mod data_integrity;
mod oid4vci;
mod oid4vci_http;
mod rotation;
mod sd_jwt;
mod service;
mod status;
mod store;
mod support;
mod vc_api;
mod vc_jwt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone as _, Utc};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use serde_json::Value;

/// A fresh issuer key whose DID is its own did:key, `kid` = `<did>#<multikey>`.
pub(crate) fn issuer_key(key_type: KeyType) -> IssuerKey {
    let secret = SecretKey::generate(key_type);
    let public = secret.public();
    let did = Did::parse(&public.to_did_key()).expect("did:key");
    let kid = Kid::parse(&format!("{did}#{}", public.to_multikey())).expect("kid");
    IssuerKey::for_issuer(secret, kid, &did).expect("kid of the issuer")
}

/// Issuance time used throughout (2026-01-01T00:00:00Z).
pub(crate) fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600, 0).single().expect("time")
}

/// `(header, payload)` of a compact JWS, decoded without checking anything.
pub(crate) fn decode_jwt(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut next = || {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts.next().expect("JWS part"))
            .expect("base64url");
        serde_json::from_slice::<Value>(&bytes).expect("JSON")
    };
    let header = next();
    let payload = next();
    (header, payload)
}

/// The `jsonwebtoken` verification key for a public key, built from its JWK.
pub(crate) fn decoding_key(
    public: &credence_registry::keys::PublicKey,
) -> jsonwebtoken::DecodingKey {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(public.to_jwk()).expect("JWK");
    jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key")
}
