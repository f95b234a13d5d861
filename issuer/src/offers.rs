//! OpenID4VCI 1.0 pre-authorized code flow as the service runs it: offers (created through the
//! admin API, served by reference), the token endpoint, the nonce endpoint and the credential
//! endpoint, over the pure protocol logic of [`crate::oid4vci`] and the store. No axum, no SQL:
//! `http/oid4vci.rs` parses and calls these; tests call them too.
//!
//! The life of an offer: the tenant creates it with the claims to issue (validated against the
//! type's schema now, as issuance does); the wallet redeems its pre-authorized code (and the
//! transaction code, if any) for an access token, single use; it fetches a nonce, signs one
//! key proof per holder key with it, and asks for the credential: one record of issuance per
//! distinct key, through [`IssuerService::issue`]. Then the claims are deleted; an offer that
//! expires first loses them to the [`Sweeper`].
//!
//! Secrets are random and kept hashed (`secrets::BearerToken::hash`): the offer id (the
//! by-reference URL's capability), the access token and the nonce are 256-bit tokens. The
//! pre-authorized code is derived from the offer id ([`pre_authorized_code`]), so the offer
//! can be served by reference again without the code being stored: whoever may fetch the
//! offer may have its code anyway.
//!
//! Every consuming step is one conditional statement in the store (redeem a code, spend a
//! transaction-code attempt, use an access token, consume a nonce), so of two concurrent
//! requests exactly one wins. A credential request is checked completely (token, offer,
//! configuration, every proof, distinct keys, nonce still usable) before anything is consumed,
//! so a refused request consumes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::claims::Claims;
use crate::error::Error;
use crate::ids::{CredentialTypeId, Format, TenantId};
use crate::issue::{IssueRequest, jwk_thumbprint};
use crate::oid4vci::{
    self, CodeGrant, Configuration, CredentialOffer, OAuthError, OAuthErrorCode, OfferGrants,
    PreAuthorizedGrant, ProofExpectations, TxCodeHint,
};
use crate::secrets::BearerToken;
use crate::service::IssuerService;
use crate::store::{
    OfferState, StoreError, StoredAccessToken, StoredOffer, StoredTenant, StoredType,
};

/// How long an offer stays redeemable when the request names no `expires_in`: a day.
pub const DEFAULT_OFFER_SECONDS: u64 = 24 * 3600;
/// The longest an offer may stay redeemable (and keep its claims): thirty days.
pub const MAX_OFFER_SECONDS: u64 = 30 * 24 * 3600;
/// The shortest offer.
pub const MIN_OFFER_SECONDS: u64 = 60;
/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECONDS: i64 = 300;
/// Lifetime of a nonce.
pub const NONCE_SECONDS: i64 = 300;
/// How old a key proof's `iat` may be.
pub const PROOF_MAX_AGE_SECONDS: i64 = 300;
/// How far in the future a key proof's `iat` may be (clock skew).
pub const PROOF_LEEWAY_SECONDS: i64 = 30;
/// The most proofs (so credentials) one credential request may carry
/// (`batch_credential_issuance.batch_size` in the metadata).
pub const BATCH_SIZE: u32 = 10;
/// Transaction code lengths accepted.
pub const TX_CODE_LENGTHS: std::ops::RangeInclusive<u32> = 4..=12;
/// Longest transaction code description (§4.1.1: at most 300 characters).
pub const MAX_TX_CODE_DESCRIPTION: usize = 300;

/// A transaction code the offer should require.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxCodeRequest {
    /// Number of characters (4 to 12).
    pub length: u32,
    /// `numeric` (digits, the default) or `text` (upper-case letters and digits).
    #[serde(default)]
    pub input_mode: Option<String>,
    /// What the wallet shows next to the input ("the code we sent you by SMS").
    #[serde(default)]
    pub description: Option<String>,
}

/// A request for a credential offer (the admin API's body).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// The credential type's id.
    #[serde(rename = "type")]
    pub type_id: String,
    /// The claims to issue (validated against the type's schema now).
    #[schema(value_type = Object)]
    pub claims: Value,
    /// Formats offered, each a credential configuration; all the type's OpenID4VCI formats
    /// when absent.
    #[serde(default)]
    pub formats: Option<Vec<String>>,
    /// Require a transaction code, generated and returned once.
    #[serde(default)]
    pub tx_code: Option<TxCodeRequest>,
    /// Seconds the offer can be redeemed (60 to 2,592,000; a day by default).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// A created offer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedOffer {
    /// The offer's id: a capability (whoever has it may fetch the offer and its code).
    pub offer_id: String,
    /// The credential offer (§4.1.1).
    #[schema(value_type = Object)]
    pub credential_offer: CredentialOffer,
    /// Where the wallet fetches the offer by reference.
    pub credential_offer_uri: String,
    /// `openid-credential-offer://?credential_offer=...` (by value).
    pub offer_uri: String,
    /// `openid-credential-offer://?credential_offer_uri=...` (by reference).
    pub offer_uri_by_reference: String,
    /// The transaction code to send the holder out of band; shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_code: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// A token request (§6.1), the parameters this issuer reads; others are ignored.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub pre_authorized_code: Option<String>,
    pub tx_code: Option<String>,
}

/// A token response (§6.2).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// A nonce response (§7.2).
#[derive(Debug, Clone, Serialize)]
pub struct NonceResponse {
    pub c_nonce: String,
}

/// A credential request (§8.2), the parameters this issuer reads; others are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CredentialRequest {
    #[serde(default)]
    pub credential_configuration_id: Option<String>,
    #[serde(default)]
    pub credential_identifier: Option<String>,
    #[serde(default)]
    pub proofs: Option<Value>,
    /// The single `proof` of drafts before 1.0, refused with a pointer to `proofs`.
    #[serde(default)]
    pub proof: Option<Value>,
    #[serde(default)]
    pub credential_response_encryption: Option<Value>,
}

/// One issued credential of a credential response.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedCredential {
    pub credential: String,
}

/// A credential response (§8.3).
#[derive(Debug, Clone, Serialize)]
pub struct CredentialResponse {
    pub credentials: Vec<IssuedCredential>,
}

/// Why a protocol request failed: an OAuth error the wallet gets as such, or a condition of
/// the service (no such tenant, the store failed) answered as a problem.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Service(#[from] Error),
}

impl From<StoreError> for ProtocolError {
    fn from(error: StoreError) -> Self {
        Self::Service(error.into())
    }
}

fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> ProtocolError {
    ProtocolError::OAuth(OAuthError::new(code, description))
}

fn invalid_token(why: &str) -> ProtocolError {
    oauth(
        OAuthErrorCode::InvalidToken,
        format!("the access token {why}"),
    )
}

/// The pre-authorized code of the offer `offer_id`: SHA-256 over a domain tag and the id,
/// base64url. One way: the stored code hash gives neither the code nor the offer id.
pub fn pre_authorized_code(offer_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"credence/oid4vci/pre-authorized_code\0");
    hasher.update(offer_id.as_bytes());
    data_encoding::BASE64URL_NOPAD.encode(&hasher.finalize())
}

/// The OpenID4VCI format identifier (§A) of one of our formats, if it is issued over
/// OpenID4VCI. Matched by name so a format added elsewhere is simply not offered here until
/// this says how.
fn protocol_format(format: Format) -> Option<&'static str> {
    match format.name() {
        "dc+sd-jwt" => Some("dc+sd-jwt"),
        "vc+jwt" => Some("jwt_vc_json"),
        _ => None,
    }
}

/// The credential configuration id of `format` of a type: `<type>.<format>` with `+` as `-`
/// (`business-licence.dc-sd-jwt`, `business-licence.vc-jwt`).
pub fn configuration_id(type_id: &CredentialTypeId, format: Format) -> String {
    format!("{type_id}.{}", format.name().replace('+', "-"))
}

/// The configurations a tenant's types offer over OpenID4VCI, with their type and format.
fn configurations(types: &[StoredType]) -> Vec<(Configuration, CredentialTypeId, Format)> {
    let mut all = Vec::new();
    for credential_type in types {
        for format in &credential_type.formats {
            let Some(protocol) = protocol_format(*format) else {
                continue;
            };
            let credential_type_name = if *format == Format::DcSdJwt {
                credential_type.vct.clone()
            } else {
                credential_type.w3c_type.clone()
            };
            all.push((
                Configuration {
                    id: configuration_id(&credential_type.id, *format),
                    format: protocol.to_owned(),
                    credential_type: credential_type_name,
                },
                credential_type.id.clone(),
                *format,
            ));
        }
    }
    all
}

/// A random transaction code of `length` characters for `input_mode`.
fn generate_tx_code(length: u32, input_mode: &str) -> String {
    const DIGITS: &[u8] = b"0123456789";
    const TEXT: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let alphabet = if input_mode == "text" { TEXT } else { DIGITS };
    let mut rng = rand::thread_rng();
    (0..length)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

fn check_tx_code(request: &TxCodeRequest) -> Result<TxCodeHint, Error> {
    if !TX_CODE_LENGTHS.contains(&request.length) {
        return Err(Error::InvalidRequest(format!(
            "tx_code.length must be {} to {}",
            TX_CODE_LENGTHS.start(),
            TX_CODE_LENGTHS.end()
        )));
    }
    let input_mode = request.input_mode.as_deref().unwrap_or("numeric");
    if input_mode != "numeric" && input_mode != "text" {
        return Err(Error::InvalidRequest(format!(
            "tx_code.input_mode {input_mode:?}: use numeric or text"
        )));
    }
    if let Some(description) = &request.description {
        if description.chars().count() > MAX_TX_CODE_DESCRIPTION
            || description.chars().any(char::is_control)
        {
            return Err(Error::InvalidRequest(format!(
                "tx_code.description must be at most {MAX_TX_CODE_DESCRIPTION} characters without control characters"
            )));
        }
    }
    Ok(TxCodeHint {
        input_mode: input_mode.to_owned(),
        length: request.length,
        description: request.description.clone(),
    })
}

/// The formats an offer asks for: each offered by the type and issued over OpenID4VCI; all
/// such formats of the type when none are named.
fn offer_formats(
    credential_type: &StoredType,
    requested: Option<&[String]>,
) -> Result<Vec<Format>, Error> {
    let capable: Vec<Format> = credential_type
        .formats
        .iter()
        .copied()
        .filter(|format| protocol_format(*format).is_some())
        .collect();
    let not_offered = |name: &str| Error::FormatNotOffered {
        type_id: credential_type.id.to_string(),
        format: name.to_owned(),
        offered: capable
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let Some(requested) = requested else {
        if capable.is_empty() {
            return Err(not_offered("(any OpenID4VCI format)"));
        }
        return Ok(capable);
    };
    let mut formats = Vec::new();
    for name in requested {
        let format = Format::parse(name).map_err(|_| not_offered(name))?;
        if !capable.contains(&format) {
            return Err(not_offered(name));
        }
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err(Error::InvalidRequest(
            "formats, when given, names at least one format".into(),
        ));
    }
    Ok(formats)
}

/// The proof JWTs of a credential request's `proofs` (§8.2: exactly one proof type, `jwt`, with
/// a non-empty array), at most [`BATCH_SIZE`].
fn proof_jwts(request: &CredentialRequest) -> Result<Vec<String>, ProtocolError> {
    let Some(proofs) = &request.proofs else {
        let hint = if request.proof.is_some() {
            " (the single `proof` of drafts is not accepted: send `proofs: {\"jwt\": [..]}`)"
        } else {
            ""
        };
        return Err(oauth(
            OAuthErrorCode::InvalidProof,
            format!("the request has no proofs{hint}"),
        ));
    };
    let object = proofs
        .as_object()
        .filter(|object| object.len() == 1)
        .ok_or_else(|| {
            oauth(
                OAuthErrorCode::InvalidProof,
                "proofs must be an object with one proof type",
            )
        })?;
    let jwts = object.get("jwt").and_then(Value::as_array).ok_or_else(|| {
        oauth(
            OAuthErrorCode::InvalidProof,
            "proofs must hold a jwt array (the only proof type supported)",
        )
    })?;
    if jwts.is_empty() {
        return Err(oauth(OAuthErrorCode::InvalidProof, "proofs.jwt is empty"));
    }
    if jwts.len() > BATCH_SIZE as usize {
        return Err(oauth(
            OAuthErrorCode::InvalidCredentialRequest,
            format!("at most {BATCH_SIZE} proofs per request (batch_size)"),
        ));
    }
    jwts.iter()
        .map(|jwt| {
            jwt.as_str().map(str::to_owned).ok_or_else(|| {
                oauth(
                    OAuthErrorCode::InvalidProof,
                    "each proofs.jwt entry is a compact JWT string",
                )
            })
        })
        .collect()
}

impl IssuerService {
    /// The credential issuer identifier of `tenant`: `<public url><prefix>/<tenant>`.
    pub fn credential_issuer(&self, tenant: &TenantId) -> String {
        format!(
            "{}{}/{tenant}",
            self.options.public_url.trim_end_matches('/'),
            self.options.prefix.trim_end_matches('/')
        )
    }

    async fn public_tenant(&self, tenant: &str) -> Result<StoredTenant, Error> {
        let id = TenantId::parse(tenant).map_err(|_| Error::TenantNotFound(tenant.to_owned()))?;
        self.store
            .tenant(&id)
            .await?
            .ok_or_else(|| Error::TenantNotFound(tenant.to_owned()))
    }

    /// Creates an offer of `request.type_id` for `tenant`, its claims checked against the
    /// type's schema as issuance checks them.
    pub async fn create_offer(
        &self,
        tenant: &StoredTenant,
        request: OfferRequest,
    ) -> Result<CreatedOffer, Error> {
        let type_id = CredentialTypeId::parse(&request.type_id)?;
        let credential_type = self
            .store
            .credential_type(&tenant.id, &type_id)
            .await?
            .ok_or_else(|| Error::TypeNotFound(type_id.to_string()))?;
        let formats = offer_formats(&credential_type, request.formats.as_deref())?;
        if let Some((path, reason)) =
            crate::issue::schema_violation(&credential_type.schema, &request.claims)?
        {
            return Err(Error::SchemaViolation { path, reason });
        }
        Claims::from_value(request.claims.clone()).map_err(|e| Error::SchemaViolation {
            path: "/".into(),
            reason: e.to_string(),
        })?;
        let seconds = request.expires_in.unwrap_or(DEFAULT_OFFER_SECONDS);
        if !(MIN_OFFER_SECONDS..=MAX_OFFER_SECONDS).contains(&seconds) {
            return Err(Error::InvalidRequest(format!(
                "expires_in must be {MIN_OFFER_SECONDS} to {MAX_OFFER_SECONDS} seconds"
            )));
        }
        let hint = request.tx_code.as_ref().map(check_tx_code).transpose()?;
        let tx_code = hint
            .as_ref()
            .map(|hint| generate_tx_code(hint.length, &hint.input_mode));

        let now = self.clock.now();
        let ttl = Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
        let offer_id = BearerToken::generate();
        let code = pre_authorized_code(offer_id.expose());
        let grant = CodeGrant::new(&code, tx_code.as_deref(), now, ttl);
        let stored = StoredOffer {
            id_hash: offer_id.hash(),
            tenant: tenant.id.clone(),
            type_id: type_id.clone(),
            formats: formats.clone(),
            claims: Some(request.claims),
            tx_code: hint.clone(),
            grant,
            state: OfferState::Offered,
            created: now,
        };
        self.store.create_offer(&stored).await?;
        // Expired offers lose their claims now, too, not only on the sweeper's tick.
        self.store.sweep_oid4vci(now).await?;

        let issuer = self.credential_issuer(&tenant.id);
        let credential_offer = CredentialOffer {
            credential_issuer: issuer.clone(),
            credential_configuration_ids: formats
                .iter()
                .map(|format| configuration_id(&type_id, *format))
                .collect(),
            grants: OfferGrants {
                pre_authorized_code: PreAuthorizedGrant {
                    pre_authorized_code: code,
                    tx_code: hint,
                },
            },
        };
        let credential_offer_uri = format!("{issuer}/offers/{}", offer_id.expose());
        tracing::info!(tenant = %tenant.id, credential_type = %type_id, "credential offer created");
        Ok(CreatedOffer {
            offer_id: offer_id.expose().to_owned(),
            offer_uri: credential_offer.uri_by_value(),
            offer_uri_by_reference: CredentialOffer::uri_by_reference(&credential_offer_uri),
            credential_offer,
            credential_offer_uri,
            tx_code,
            expires_at: stored.grant.expires_at,
        })
    }

    /// The credential offer `offer_id` of `tenant`, by reference (§4.1.3), while its code can
    /// still be redeemed; `TenantNotFound` / `RouteNotFound` otherwise (a read: nothing
    /// changes).
    pub async fn credential_offer(
        &self,
        tenant: &str,
        offer_id: &str,
    ) -> Result<CredentialOffer, Error> {
        let tenant = self.public_tenant(tenant).await?;
        let gone = || Error::RouteNotFound("no open credential offer has this id".into());
        let offer = self
            .store
            .offer(&tenant.id, &BearerToken::new(offer_id).hash())
            .await?
            .ok_or_else(gone)?;
        if offer.state != OfferState::Offered || self.clock.now() >= offer.grant.expires_at {
            return Err(gone());
        }
        Ok(CredentialOffer {
            credential_issuer: self.credential_issuer(&tenant.id),
            credential_configuration_ids: offer
                .formats
                .iter()
                .map(|format| configuration_id(&offer.type_id, *format))
                .collect(),
            grants: OfferGrants {
                pre_authorized_code: PreAuthorizedGrant {
                    pre_authorized_code: pre_authorized_code(offer_id),
                    tx_code: offer.tx_code,
                },
            },
        })
    }

    /// The credential issuer metadata of `tenant` (§12.2): one configuration per type and
    /// OpenID4VCI format.
    pub async fn issuer_metadata(&self, tenant: &str) -> Result<Value, Error> {
        let tenant = self.public_tenant(tenant).await?;
        let types = self.store.credential_types(&tenant.id).await?;
        let configurations: Vec<Configuration> = configurations(&types)
            .into_iter()
            .map(|(configuration, _, _)| configuration)
            .collect();
        Ok(oid4vci::issuer_metadata(
            &self.credential_issuer(&tenant.id),
            &configurations,
            BATCH_SIZE,
        ))
    }

    /// The authorization server metadata of `tenant` (RFC 8414), the issuer being its own
    /// authorization server.
    pub async fn authorization_server_metadata(&self, tenant: &str) -> Result<Value, Error> {
        let tenant = self.public_tenant(tenant).await?;
        Ok(oid4vci::authorization_server_metadata(
            &self.credential_issuer(&tenant.id),
        ))
    }

    /// The token endpoint (§6): a pre-authorized code (and transaction code) for an access
    /// token. A wrong transaction code costs an attempt; the code dies with the last one.
    pub async fn token(
        &self,
        tenant: &str,
        request: TokenRequest,
    ) -> Result<TokenResponse, ProtocolError> {
        match request.grant_type.as_deref() {
            Some(oid4vci::PRE_AUTHORIZED_GRANT) => {}
            Some(other) => {
                return Err(oauth(
                    OAuthErrorCode::UnsupportedGrantType,
                    format!(
                        "grant_type {other:?} is not supported; use {}",
                        oid4vci::PRE_AUTHORIZED_GRANT
                    ),
                ));
            }
            None => {
                return Err(oauth(
                    OAuthErrorCode::InvalidRequest,
                    "grant_type is missing",
                ));
            }
        }
        let code = request
            .pre_authorized_code
            .as_deref()
            .filter(|code| !code.is_empty())
            .ok_or_else(|| {
                oauth(
                    OAuthErrorCode::InvalidRequest,
                    "pre-authorized_code is missing",
                )
            })?;
        let unknown = || {
            oauth(
                OAuthErrorCode::InvalidGrant,
                "the pre-authorized code is not valid (unknown, expired, already used or locked)",
            )
        };
        let Ok(tenant) = TenantId::parse(tenant) else {
            return Err(unknown());
        };
        let code_hash = BearerToken::new(code).hash();
        let Some(mut offer) = self.store.offer_by_code(&tenant, &code_hash).await? else {
            return Err(unknown());
        };
        let now = self.clock.now();
        let attempts_before = offer.grant.attempts_left;
        if let Err(error) = offer.grant.redeem(request.tx_code.as_deref(), now) {
            if offer.grant.attempts_left < attempts_before {
                self.store.spend_tx_code_attempt(&code_hash).await?;
            }
            return Err(error.into());
        }
        let access_token = BearerToken::generate();
        let token = StoredAccessToken {
            token_hash: access_token.hash(),
            offer_hash: offer.id_hash,
            tenant: tenant.clone(),
            expires_at: now + Duration::seconds(ACCESS_TOKEN_SECONDS),
            used: false,
        };
        if !self.store.redeem_offer(&code_hash, now, &token).await? {
            // Another request redeemed it (or spent the last attempt) meanwhile.
            return Err(unknown());
        }
        Ok(TokenResponse {
            access_token: access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_SECONDS,
        })
    }

    /// The nonce endpoint (§7): a fresh single-use `c_nonce` for key proofs.
    pub async fn nonce(&self, tenant: &str) -> Result<NonceResponse, ProtocolError> {
        let tenant = self.public_tenant(tenant).await?;
        let nonce = BearerToken::generate();
        let expires = self.clock.now() + Duration::seconds(NONCE_SECONDS);
        self.store
            .create_nonce(&tenant.id, &nonce.hash(), expires)
            .await?;
        Ok(NonceResponse {
            c_nonce: nonce.expose().to_owned(),
        })
    }

    /// The credential endpoint (§8): checks the access token, the configuration and every key
    /// proof, then issues one credential per proof (each bound to its own key) from the
    /// offer's claims, and deletes the claims. Nothing is consumed until everything checked.
    pub async fn credential(
        &self,
        tenant: &str,
        access_token: Option<&BearerToken>,
        request: CredentialRequest,
    ) -> Result<CredentialResponse, ProtocolError> {
        let now = self.clock.now();
        let access_token = access_token.ok_or_else(|| invalid_token("is missing"))?;
        let (tenant, offer) = self.authorized_offer(tenant, access_token, now).await?;
        let claims = offer
            .claims
            .clone()
            .ok_or_else(|| invalid_token("was already used"))?;
        let format = self.requested_format(&tenant, &offer, &request).await?;
        let jwts = proof_jwts(&request)?;
        let (nonce_hash, keys) = self.verify_proofs(&tenant, &jwts, now).await?;

        // Everything checked: consume the nonce, then the token (each a conditional write).
        if !self
            .store
            .consume_nonce(&tenant.id, &nonce_hash, now)
            .await?
        {
            return Err(oauth(
                OAuthErrorCode::InvalidNonce,
                "the proofs' nonce was used meanwhile; fetch a new one",
            ));
        }
        if !self
            .store
            .use_access_token(&access_token.hash(), now)
            .await?
        {
            return Err(invalid_token("was already used"));
        }
        // One record per key, through the issuance path every credential takes. A failure
        // here (a store or signing failure, not the wallet's) leaves the claims to the sweeper.
        let mut credentials = Vec::with_capacity(keys.len());
        for proven in keys {
            let issued = self
                .issue(
                    &tenant,
                    IssueRequest {
                        type_id: offer.type_id.to_string(),
                        formats: vec![format.name().to_owned()],
                        claims: claims.clone(),
                        holder_jwk: proven.jwk,
                        sign_as: Default::default(),
                    },
                )
                .await?;
            let credential = issued
                .credentials
                .get(format.name())
                .cloned()
                .ok_or_else(|| Error::Internal(format!("issuance gave no {format} envelope")))?;
            credentials.push(IssuedCredential { credential });
        }
        self.store.finish_offer(&offer.id_hash).await?;
        tracing::info!(tenant = %tenant.id, credential_type = %offer.type_id,
            count = credentials.len(), "credentials issued over OpenID4VCI");
        Ok(CredentialResponse { credentials })
    }

    /// The tenant and the redeemed offer `access_token` was given for, if it is this tenant's,
    /// unused and unexpired (a read).
    async fn authorized_offer(
        &self,
        tenant: &str,
        access_token: &BearerToken,
        now: DateTime<Utc>,
    ) -> Result<(StoredTenant, StoredOffer), ProtocolError> {
        let tenant = TenantId::parse(tenant).map_err(|_| invalid_token("is not valid here"))?;
        let token = self
            .store
            .access_token(&access_token.hash())
            .await?
            .filter(|token| token.tenant == tenant)
            .ok_or_else(|| invalid_token("is not valid here"))?;
        if token.used {
            return Err(invalid_token("was already used"));
        }
        if now >= token.expires_at {
            return Err(invalid_token("has expired"));
        }
        let tenant = self
            .store
            .tenant(&tenant)
            .await?
            .ok_or_else(|| invalid_token("is not valid here"))?;
        let offer = self
            .store
            .offer(&tenant.id, &token.offer_hash)
            .await?
            .filter(|offer| offer.state == OfferState::Redeemed)
            .ok_or_else(|| invalid_token("was already used"))?;
        Ok((tenant, offer))
    }

    /// The format of the configuration the request names: one of the offer's; otherwise
    /// `unknown_credential_configuration` if the issuer has no such configuration, and
    /// `invalid_credential_request` if the token was not granted for it.
    async fn requested_format(
        &self,
        tenant: &StoredTenant,
        offer: &StoredOffer,
        request: &CredentialRequest,
    ) -> Result<Format, ProtocolError> {
        if request.credential_identifier.is_some() {
            return Err(oauth(
                OAuthErrorCode::InvalidCredentialRequest,
                "credential_identifier is not issued here; send credential_configuration_id",
            ));
        }
        if request.credential_response_encryption.is_some() {
            return Err(oauth(
                OAuthErrorCode::InvalidCredentialRequest,
                "credential response encryption is not supported by this issuer",
            ));
        }
        let requested = request
            .credential_configuration_id
            .as_deref()
            .ok_or_else(|| {
                oauth(
                    OAuthErrorCode::InvalidCredentialRequest,
                    "credential_configuration_id is missing",
                )
            })?;
        if let Some(format) = offer
            .formats
            .iter()
            .copied()
            .find(|format| configuration_id(&offer.type_id, *format) == requested)
        {
            return Ok(format);
        }
        let types = self.store.credential_types(&tenant.id).await?;
        let known = configurations(&types)
            .iter()
            .any(|(configuration, _, _)| configuration.id == requested);
        Err(if known {
            oauth(
                OAuthErrorCode::InvalidCredentialRequest,
                format!("this access token was not granted for {requested:?}"),
            )
        } else {
            oauth(
                OAuthErrorCode::UnknownCredentialConfiguration,
                format!("this issuer has no credential configuration {requested:?}"),
            )
        })
    }

    /// Verifies every proof (§8.2.1.1): one nonce for the request, handed out by this tenant
    /// and still usable; each proof valid for this issuer now; each key distinct. Returns the
    /// nonce's hash (to consume) and the proven keys, in order. A read.
    async fn verify_proofs(
        &self,
        tenant: &StoredTenant,
        jwts: &[String],
        now: DateTime<Utc>,
    ) -> Result<(crate::secrets::TokenHash, Vec<oid4vci::ProvenKey>), ProtocolError> {
        let nonces: BTreeSet<Option<String>> =
            jwts.iter().map(|jwt| oid4vci::claimed_nonce(jwt)).collect();
        let nonce = match nonces.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(nonce)] => nonce.clone(),
            [None] => String::new(),
            _ => {
                return Err(oauth(
                    OAuthErrorCode::InvalidNonce,
                    "all proofs of a request carry the same c_nonce",
                ));
            }
        };
        let nonce_hash = BearerToken::new(&nonce).hash();
        let usable = !nonce.is_empty()
            && self
                .store
                .nonce_usable(&tenant.id, &nonce_hash, now)
                .await?;
        // A nonce that is not ours (or no longer usable) is expected as "", which no proof
        // carries, so each proof is still checked for everything else first and a defect of
        // the proof itself is reported as such.
        let audience = self.credential_issuer(&tenant.id);
        let expectations = ProofExpectations {
            audience: &audience,
            nonce: if usable { nonce.as_str() } else { "" },
            now,
            max_age: Duration::seconds(PROOF_MAX_AGE_SECONDS),
            leeway: Duration::seconds(PROOF_LEEWAY_SECONDS),
        };
        let mut keys = Vec::with_capacity(jwts.len());
        let mut thumbprints = BTreeSet::new();
        for (position, jwt) in jwts.iter().enumerate() {
            let proven = oid4vci::verify_proof(jwt, &expectations).map_err(|mut error| {
                error.error_description = format!("proof {position}: {}", error.error_description);
                error
            })?;
            if !thumbprints.insert(jwk_thumbprint(&proven.key)) {
                return Err(oauth(
                    OAuthErrorCode::InvalidProof,
                    format!(
                        "proof {position} repeats a key: each proof of a batch names its own key"
                    ),
                ));
            }
            keys.push(proven);
        }
        Ok((nonce_hash, keys))
    }

    /// Deletes what expired: nonces, access tokens, and the claims of offers never issued.
    pub async fn sweep_offers(&self) -> Result<crate::store::Swept, Error> {
        Ok(self.store.sweep_oid4vci(self.clock.now()).await?)
    }
}

/// The background task that deletes expired OpenID4VCI state every
/// `ServiceOptions::sweep_interval` (started by `Application::start`, stopped by its
/// `shutdown`).
#[derive(Debug)]
pub struct Sweeper {
    handle: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Sweeper {
    /// Starts the task (inside a Tokio runtime).
    pub fn start(service: Arc<IssuerService>) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(service.options.sweep_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A dropped sender without a stop (detached) means: run as long as the runtime.
            let mut detached = false;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if let Err(error) = service.sweep_offers().await {
                            tracing::warn!(%error, "sweeping expired OpenID4VCI state failed");
                        }
                    }
                    changed = stopped.changed(), if !detached => {
                        if changed.is_err() {
                            detached = true;
                        } else if *stopped.borrow() {
                            return;
                        }
                    }
                }
            }
        });
        Self { handle, stop }
    }

    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop.send(true);
        self.handle.await
    }

    /// Lets the task run as long as the runtime.
    pub fn detach(self) {
        drop(self.stop);
    }
}
