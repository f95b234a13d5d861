//! OpenID for Verifiable Credential Issuance 1.0 (final, 2025), the pre-authorized code flow, as
//! pure protocol logic: the credential offer and its URI (§4.1), the issuer and authorization
//! server metadata (§12.2, RFC 8414), the pre-authorized code grant with its transaction code
//! (§6.1, §3.5) and the key proof JWT (§8.2.1.1, Appendix F.1). No HTTP, no storage, no clock:
//! the service keeps codes and nonces in its store and passes `now`.
//!
//! Errors are the OAuth error codes the specification names (`invalid_grant`,
//! `invalid_proof`, `invalid_nonce`, ...), each with a description for the wallet's user.

use chrono::{DateTime, Duration, Utc};
use credence_registry::keys::PublicKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secrets::{BearerToken, TokenHash};

/// The grant type of the pre-authorized code flow (§3.5).
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The `typ` of a key proof JWT (Appendix F.1).
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// The URI scheme of a credential offer a wallet opens (§4.1).
pub const OFFER_SCHEME: &str = "openid-credential-offer://";

/// A transaction code the wallet's user types (§4.1.1 `tx_code`): sent out of band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxCodeHint {
    pub input_mode: String,
    pub length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The pre-authorized code grant of an offer (§4.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAuthorizedGrant {
    #[serde(rename = "pre-authorized_code")]
    pub pre_authorized_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_code: Option<TxCodeHint>,
}

/// A credential offer (§4.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialOffer {
    /// The credential issuer identifier (an https URL; ours: `<public url>/issuer/<tenant>`).
    pub credential_issuer: String,
    pub credential_configuration_ids: Vec<String>,
    pub grants: OfferGrants,
}

/// The grants an offer carries; only the pre-authorized code grant here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferGrants {
    #[serde(rename = "urn:ietf:params:oauth:grant-type:pre-authorized_code")]
    pub pre_authorized_code: PreAuthorizedGrant,
}

impl CredentialOffer {
    /// The offer by value: `openid-credential-offer://?credential_offer=<JSON, percent-encoded>`
    /// (§4.1.2).
    pub fn uri_by_value(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!(
            "{OFFER_SCHEME}?credential_offer={}",
            url::form_urlencoded::byte_serialize(json.as_bytes()).collect::<String>()
        )
    }

    /// The offer by reference: `openid-credential-offer://?credential_offer_uri=<https URL>`
    /// where the wallet fetches the same JSON (§4.1.3).
    pub fn uri_by_reference(offer_url: &str) -> String {
        format!(
            "{OFFER_SCHEME}?credential_offer_uri={}",
            url::form_urlencoded::byte_serialize(offer_url.as_bytes()).collect::<String>()
        )
    }
}

/// The OAuth error codes of the token and credential endpoints (RFC 6749 §5.2, §8.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidGrant,
    UnsupportedGrantType,
    InvalidToken,
    InvalidCredentialRequest,
    UnknownCredentialConfiguration,
    InvalidProof,
    InvalidNonce,
}

impl OAuthErrorCode {
    /// The HTTP status the specification gives each (400, or 401 for a bad access token).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidToken => 401,
            Self::InvalidRequest
            | Self::InvalidGrant
            | Self::UnsupportedGrantType
            | Self::InvalidCredentialRequest
            | Self::UnknownCredentialConfiguration
            | Self::InvalidProof
            | Self::InvalidNonce => 400,
        }
    }
}

/// An OAuth error body: `{"error": code, "error_description": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error:?}: {error_description}")]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    pub error_description: String,
}

impl OAuthError {
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
        }
    }
}

/// The stored state of one pre-authorized code: what the service keeps (hashes only, as for
/// API tokens: `secrets::BearerToken::hash`). The codes are random with at least 128 bits of
/// entropy, so a fast hash is enough; the transaction code is short, so its attempts are
/// limited instead ([`CodeGrant::redeem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub code_hash: TokenHash,
    pub tx_code_hash: Option<TokenHash>,
    pub expires_at: DateTime<Utc>,
    /// Wrong transaction codes still allowed; at zero the code is dead.
    pub attempts_left: u32,
    pub redeemed: bool,
}

/// How many wrong transaction codes a pre-authorized code survives.
pub const TX_CODE_ATTEMPTS: u32 = 3;

impl CodeGrant {
    /// A new grant for `code` (and `tx_code`, if the offer asks for one), valid for `ttl`.
    pub fn new(code: &str, tx_code: Option<&str>, now: DateTime<Utc>, ttl: Duration) -> Self {
        Self {
            code_hash: BearerToken::new(code).hash(),
            tx_code_hash: tx_code.map(|tx_code| BearerToken::new(tx_code).hash()),
            expires_at: now + ttl,
            attempts_left: TX_CODE_ATTEMPTS,
            redeemed: false,
        }
    }

    /// Redeems the grant at the token endpoint (§6.1): single use, before expiry, with the
    /// right transaction code when one was set. A wrong transaction code costs an attempt (the
    /// caller stores the returned state even on error); when none are left the code is dead.
    /// The same `invalid_grant` answers an expired, used or dead code, so a guesser learns
    /// nothing about which.
    pub fn redeem(&mut self, tx_code: Option<&str>, now: DateTime<Utc>) -> Result<(), OAuthError> {
        let dead = || {
            OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "the pre-authorized code is not valid (unknown, expired, already used or locked)",
            )
        };
        if self.redeemed || now >= self.expires_at || self.attempts_left == 0 {
            return Err(dead());
        }
        if self.tx_code_hash.is_none() && tx_code.is_some() {
            // §6.3: a transaction code the offer did not ask for is `invalid_request`.
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "this offer has no transaction code; send none",
            ));
        }
        if let Some(expected) = &self.tx_code_hash {
            let Some(given) = tx_code else {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    "this offer needs the transaction code (tx_code) sent to you separately",
                ));
            };
            if BearerToken::new(given).hash() != *expected {
                self.attempts_left -= 1;
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidGrant,
                    format!(
                        "wrong transaction code; {} attempt(s) left",
                        self.attempts_left
                    ),
                ));
            }
        }
        self.redeemed = true;
        Ok(())
    }
}

/// What a key proof must match: the credential issuer identifier (`aud`), the nonce this
/// issuer handed out (`c_nonce`), and the accepted age of `iat`.
#[derive(Debug, Clone)]
pub struct ProofExpectations<'a> {
    pub audience: &'a str,
    pub nonce: &'a str,
    pub now: DateTime<Utc>,
    /// How old `iat` may be.
    pub max_age: Duration,
    /// How far in the future `iat` may be (clock skew).
    pub leeway: Duration,
}

/// The holder key a verified proof demonstrated possession of: what the credential binds to
/// (`cnf.jwk`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenKey {
    pub key: PublicKey,
    pub jwk: Value,
}

/// Verifies a key proof JWT (§8.2.1.1, Appendix F.1): `typ` is `openid4vci-proof+jwt`; the key
/// is the header's `jwk` (a `kid` or `x5c` key is not accepted here), a public key only; `alg`
/// matches the key's type (EdDSA with Ed25519, ES256 with P-256: never `none` or a MAC);
/// the signature verifies strictly; `aud` is this issuer; `iat` is recent and not in the
/// future; `nonce` is the one this issuer handed out. A wrong or missing nonce is
/// `invalid_nonce` (the wallet then fetches a fresh one); anything else is `invalid_proof`.
pub fn verify_proof(jwt: &str, expected: &ProofExpectations<'_>) -> Result<ProvenKey, OAuthError> {
    let bad = |detail: String| OAuthError::new(OAuthErrorCode::InvalidProof, detail);
    let header_b64 = jwt.split('.').next().unwrap_or_default();
    let header_bytes = credence_registry::keys::decode_b64url(header_b64)
        .map_err(|e| bad(format!("proof header: {e}")))?;
    let header = credence_registry::json::parse_strict(&header_bytes)
        .map_err(|e| bad(format!("proof header: {e}")))?;
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYP) {
        return Err(bad(format!("proof typ must be {PROOF_TYP}")));
    }
    if header.get("kid").is_some() || header.get("x5c").is_some() {
        return Err(bad(
            "the proof must carry its key as a jwk header, not kid or x5c".into(),
        ));
    }
    let jwk = header
        .get("jwk")
        .ok_or_else(|| bad("the proof header has no jwk".into()))?
        .clone();
    if jwk.get("d").is_some() {
        return Err(bad("the proof's jwk holds a private key".into()));
    }
    let key = PublicKey::from_jwk(&jwk).map_err(|e| bad(format!("proof jwk: {e}")))?;
    // Strict verification: `alg` bound to the key type, `crit` refused, canonical base64url.
    key.verify_jws(jwt, None)
        .map_err(|e| bad(format!("proof signature: {e}")))?;
    let payload_b64 = jwt.split('.').nth(1).unwrap_or_default();
    let payload_bytes = credence_registry::keys::decode_b64url(payload_b64)
        .map_err(|e| bad(format!("proof payload: {e}")))?;
    let payload = credence_registry::json::parse_strict(&payload_bytes)
        .map_err(|e| bad(format!("proof payload: {e}")))?;
    let audience_ok = match payload.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(bad(format!(
            "proof aud must be this credential issuer ({})",
            expected.audience
        )));
    }
    let iat = payload
        .get("iat")
        .and_then(Value::as_i64)
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .ok_or_else(|| bad("proof iat (a number of seconds) is missing".into()))?;
    if iat > expected.now + expected.leeway {
        return Err(bad("proof iat is in the future".into()));
    }
    if iat < expected.now - expected.max_age {
        return Err(bad("proof is too old (iat); make a fresh one".into()));
    }
    match payload.get("nonce").and_then(Value::as_str) {
        Some(nonce) if nonce == expected.nonce => {}
        _ => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidNonce,
                "the proof's nonce is missing, stale or not this issuer's; fetch a new one from the nonce endpoint",
            ));
        }
    }
    Ok(ProvenKey { key, jwk })
}

/// The nonce a proof claims, read without checking anything, so the service can look it up
/// (and consume it atomically) before calling [`verify_proof`] with it.
pub fn claimed_nonce(jwt: &str) -> Option<String> {
    let payload_b64 = jwt.split('.').nth(1)?;
    let bytes = credence_registry::keys::decode_b64url(payload_b64).ok()?;
    let payload = credence_registry::json::parse_strict(&bytes).ok()?;
    payload.get("nonce")?.as_str().map(str::to_owned)
}

/// One credential configuration the issuer offers (§12.2.4), for its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub id: String,
    /// `dc+sd-jwt` or `jwt_vc_json` (our `vc+jwt`).
    pub format: String,
    /// The SD-JWT VC `vct`, or the W3C credential type.
    pub credential_type: String,
}

/// The credential issuer metadata (§12.2.4) for `credential_issuer`, whose endpoints sit under
/// it (`/token`, `/nonce`, `/credential`), offering `configurations`, with batch issuance of up
/// to `batch_size` copies.
pub fn issuer_metadata(
    credential_issuer: &str,
    configurations: &[Configuration],
    batch_size: u32,
) -> Value {
    let mut supported = serde_json::Map::new();
    for configuration in configurations {
        let mut entry = serde_json::json!({
            "format": configuration.format,
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["EdDSA", "ES256"],
            "proof_types_supported": {
                "jwt": {"proof_signing_alg_values_supported": ["EdDSA", "ES256"]}
            },
        });
        if configuration.format == "dc+sd-jwt" {
            entry["vct"] = Value::String(configuration.credential_type.clone());
        } else {
            entry["credential_definition"] = serde_json::json!({
                "type": ["VerifiableCredential", configuration.credential_type]
            });
        }
        supported.insert(configuration.id.clone(), entry);
    }
    serde_json::json!({
        "credential_issuer": credential_issuer,
        "credential_endpoint": format!("{credential_issuer}/credential"),
        "nonce_endpoint": format!("{credential_issuer}/nonce"),
        "batch_credential_issuance": {"batch_size": batch_size},
        "credential_configurations_supported": supported,
    })
}

/// The authorization server metadata (RFC 8414 §2) of the issuer acting as its own
/// authorization server for the pre-authorized code flow (§12.3).
pub fn authorization_server_metadata(credential_issuer: &str) -> Value {
    serde_json::json!({
        "issuer": credential_issuer,
        "token_endpoint": format!("{credential_issuer}/token"),
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "pre-authorized_grant_anonymous_access_supported": true,
    })
}
