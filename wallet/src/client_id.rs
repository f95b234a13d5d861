//! Who a verifier is: authenticating an OpenID4VP request object against its `client_id`
//! (OpenID4VP 1.0 §5.9.3), before anything in it is believed. Two prefixes are accepted:
//!
//! - `decentralized_identifier:did:key:...` — the key is the DID itself, so the request object
//!   must verify with it (and a `kid`, if present, must be a key of that DID);
//! - `x509_san_dns:<host>` and `x509_hash:<hash>` — the request object carries its certificate
//!   chain in `x5c`; the chain must lead to one of the verifier CAs this wallet trusts
//!   ([`credence_verifier::x509::TrustAnchors`], a trust list given by the app), the leaf must
//!   carry the client id, and the object must verify with the leaf's key
//!   ([`credence_verifier::x509::verify_request_object`]). For `x509_san_dns`, the response
//!   goes only to that host (§5.9.3: the wallet keeps no list of trusted client ids that would
//!   let a verifier choose another).
//!
//! Any other prefix is refused before anything is fetched. What this must not do: take a key
//! from the request object itself (no `jwk`, no `kid` lookup), trust a certificate for being
//! sent, or read the clock (`now` is a parameter).

use chrono::{DateTime, Utc};
use credence_registry::keys::PublicKey;
use credence_verifier::jose::Jws;
use credence_verifier::openid4vp::{DID_CLIENT_ID_PREFIX, REQUEST_OBJECT_TYPE};
use credence_verifier::x509::{self, TrustAnchors, X509ClientId, X509Error};
use serde_json::Value;
use url::Url;

use crate::openid4vp::Oid4vpError;

/// How a client id is authenticated, decided from its prefix alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// `decentralized_identifier:did:key:...`: the DID and its key.
    DidKey { did: String, key: PublicKey },
    /// `x509_san_dns:` or `x509_hash:`.
    X509(X509ClientId),
}

impl ClientAuthentication {
    /// The authentication `client_id` calls for; an unsupported or malformed one is refused.
    pub fn for_client_id(client_id: &str) -> Result<Self, Oid4vpError> {
        let unsupported = || Oid4vpError::UnsupportedClientId(client_id.to_owned());
        if let Some(parsed) = X509ClientId::parse(client_id) {
            return parsed.map(Self::X509).map_err(|_| unsupported());
        }
        let did = client_id
            .strip_prefix(DID_CLIENT_ID_PREFIX)
            .filter(|did| did.starts_with("did:key:"))
            .ok_or_else(unsupported)?;
        let key = PublicKey::from_did_key(did).map_err(|_| unsupported())?;
        Ok(Self::DidKey {
            did: did.to_owned(),
            key,
        })
    }

    /// Verifies `object`'s signature for this client id and its identity claims (RFC 9101
    /// §6.2: `client_id` equal to the URI's; `exp` not passed), returning the decoded JWS.
    pub fn verify<'a>(
        &self,
        object: &'a str,
        client_id: &str,
        anchors: &TrustAnchors,
        now: DateTime<Utc>,
    ) -> Result<Jws<'a>, Oid4vpError> {
        let jws = match self {
            Self::DidKey { did, key } => {
                let jws = Jws::parse(object, "the request object", REQUEST_OBJECT_TYPE)
                    // `alg: none` and missing signatures fail the algorithm allowlist.
                    .map_err(|defect| Oid4vpError::Unsigned(defect.to_string()))?;
                if let Some(kid) = jws.header.get("kid") {
                    let kid = kid.as_str().unwrap_or_default();
                    if kid.split('#').next() != Some(did.as_str()) {
                        return Err(Oid4vpError::WrongSignature(format!(
                            "the kid {kid:?} is not a key of {did}"
                        )));
                    }
                }
                jws.verify(key).map_err(Oid4vpError::WrongSignature)?;
                jws
            }
            Self::X509(id) => {
                x509::verify_request_object(object, REQUEST_OBJECT_TYPE, id, anchors, now).map_err(
                    |error| match error {
                        X509Error::BadSignature(why) => Oid4vpError::WrongSignature(why),
                        other => Oid4vpError::UntrustedVerifier(other.to_string()),
                    },
                )?
            }
        };
        let claims = &jws.payload;
        if claims.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(Oid4vpError::InvalidRequest(
                "the request object's client_id is not the one in the URI".into(),
            ));
        }
        if let Some(exp) = claims.get("exp") {
            let exp = exp
                .as_i64()
                .ok_or_else(|| Oid4vpError::InvalidRequest("exp is not a number".into()))?;
            if exp <= now.timestamp() {
                return Err(Oid4vpError::InvalidRequest(
                    "the request has expired".into(),
                ));
            }
        }
        Ok(jws)
    }

    /// §5.9.3 for `x509_san_dns`: the response goes to the certified host only.
    pub fn check_response_uri(&self, response_uri: &Url) -> Result<(), Oid4vpError> {
        match self {
            Self::X509(X509ClientId::SanDns(host)) if response_uri.host_str() != Some(host) => {
                Err(Oid4vpError::InvalidRequest(format!(
                    "the response_uri's host {} is not the certified {host}",
                    response_uri.host_str().unwrap_or("(none)")
                )))
            }
            _ => Ok(()),
        }
    }
}
