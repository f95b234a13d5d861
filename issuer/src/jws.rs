//! The issuer's signing key and compact JWS signing for the JWTs this crate issues
//! (`dc+sd-jwt`, `vc+jwt`, `statuslist+jwt`).
//!
//! It owns [`IssuerKey`] (a secret key, the DID it speaks for and the DID URL that names it) and
//! [`Kid`]. The signature itself comes from `credence_registry::keys::SecretKey::sign_raw`
//! (ed25519-dalek for EdDSA, RustCrypto `p256` for ES256, low-S); this module only assembles
//! the RFC 7515 §7.1 compact serialization around it, so no cryptography is written here.
//! It must not read the clock or choose claims: callers hand it a finished payload.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credence_registry::did::Did;
use credence_registry::keys::{JwsAlgorithm, PublicKey, SecretKey};
use serde::Serialize;
use serde_json::{Value, json};

/// Why a key identifier or an issuer key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyIdError {
    /// A `kid` must be a DID URL with a fragment (`did:...#key-1`) so that a verifier can
    /// dereference it in the issuer's DID document.
    #[error("kid {0:?} is not a DID URL with a fragment (did:<method>:<id>#<fragment>)")]
    NotADidUrl(String),
    /// The `kid` names a key of another DID than the one the credential names as issuer; a
    /// verifier would look for the key in the wrong DID document.
    #[error("kid {kid:?} is a key of {kid_did}, not of the issuer {issuer}")]
    KidOfAnotherDid {
        kid: String,
        kid_did: String,
        issuer: String,
    },
}

/// A JWS `kid` (RFC 7515 §4.1.4) that is a DID URL naming a verification method:
/// `<DID>#<fragment>`, without path or query.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Kid {
    text: String,
    did: Did,
}

impl Kid {
    /// Parses `did:<method>:<id>#<fragment>`.
    pub fn parse(text: &str) -> Result<Self, KeyIdError> {
        let bad = || KeyIdError::NotADidUrl(text.to_owned());
        let (did, fragment) = text.split_once('#').ok_or_else(bad)?;
        // DID Core §3.2: fragment = *( pchar / "/" / "?" ); we refuse what could not be a
        // verification method id in a JSON document we would later match byte for byte.
        if fragment.is_empty()
            || fragment
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'#')
            || did.contains(['/', '?'])
        {
            return Err(bad());
        }
        let did = Did::parse(did).map_err(|_| bad())?;
        Ok(Self {
            text: text.to_owned(),
            did,
        })
    }

    /// The DID whose document lists this key.
    pub fn did(&self) -> &Did {
        &self.did
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", self.text)
    }
}

impl From<Kid> for String {
    fn from(kid: Kid) -> Self {
        kid.text
    }
}

/// A signing key of an issuer: the secret, the DID it signs for, and the `kid` (a DID URL of
/// that DID) a verifier resolves to find the public key. `Debug` never prints the secret
/// (`SecretKey`'s own `Debug` redacts it).
#[derive(Debug, Clone)]
pub struct IssuerKey {
    secret: SecretKey,
    kid: Kid,
}

impl IssuerKey {
    /// Pairs a secret key with the DID URL naming it.
    pub fn new(secret: SecretKey, kid: Kid) -> Self {
        Self { secret, kid }
    }

    /// Checks that `kid` belongs to `issuer` before pairing: every credential names its issuer
    /// and its `kid` separately, and they must agree.
    pub fn for_issuer(secret: SecretKey, kid: Kid, issuer: &Did) -> Result<Self, KeyIdError> {
        if kid.did() != issuer {
            return Err(KeyIdError::KidOfAnotherDid {
                kid: kid.to_string(),
                kid_did: kid.did().to_string(),
                issuer: issuer.to_string(),
            });
        }
        Ok(Self::new(secret, kid))
    }

    /// The issuer DID (the DID part of the `kid`).
    pub fn issuer(&self) -> &Did {
        self.kid.did()
    }

    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    pub fn public(&self) -> PublicKey {
        self.secret.public()
    }

    /// `EdDSA` for Ed25519 keys, `ES256` for P-256 keys (RFC 8037 §3.1, RFC 7518 §3.4).
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.public().algorithm()
    }

    /// The raw signature over `message` (what a Data Integrity proof's `proofValue` encodes);
    /// the secret stays inside `credence_registry::keys`.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        self.secret.sign_raw(message)
    }

    /// A compact JWS (RFC 7515 §7.1) of the JSON `payload` with the protected header
    /// `{"alg", "kid", "typ"}`.
    pub fn sign_jwt(&self, typ: &str, payload: &Value) -> String {
        let header = json!({
            "alg": self.algorithm().name(),
            "kid": self.kid.as_str(),
            "typ": typ,
        });
        // RFC 7515 §5.1: the signing input is BASE64URL(header) '.' BASE64URL(payload).
        let mut compact = URL_SAFE_NO_PAD.encode(header.to_string());
        compact.push('.');
        compact.push_str(&URL_SAFE_NO_PAD.encode(payload.to_string()));
        let signature = self.secret.sign_raw(compact.as_bytes());
        compact.push('.');
        compact.push_str(&URL_SAFE_NO_PAD.encode(signature));
        compact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_parsing() {
        fn check(input: &str, ok: bool) {
            assert_eq!(Kid::parse(input).is_ok(), ok, "{input}");
        }
        check(
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6Mk",
            true,
        );
        check("did:credence:abc#key-1", true);
        check("did:credence:abc", false);
        check("did:credence:abc#", false);
        check("did:credence:abc#a#b", false);
        check("did:credence:abc#a b", false);
        check("did:web:example.com/path#key", false);
        check("did:web:example.com?q=1#key", false);
        check("https://example.com#key", false);
        check("#key-1", false);
    }
}
