//! The OpenID for Verifiable Credential Issuance 1.0 client, pre-authorized code flow: from an
//! offer (URI or QR text, by value §4.1.2 or by reference §4.1.3) to credentials checked and
//! stored. Steps: issuer metadata (§12.2.2, path insertion), authorization server metadata
//! (RFC 8414 §3.1), token request with the pre-authorized code and the user's `tx_code`
//! (§6.1), nonce (§7), key proof JWTs (§8.2.1.1, Appendix F.1) with a FRESH holder key per
//! credential (batch issuance §8.2 when the issuer advertises `batch_credential_issuance`:
//! N copies, N keys), credential response (§8.3). Each credential is checked with the verifier
//! library ([`crate::check::VerifierCheck`]) and stored with its key only if every credential
//! of the response passed: a refused credential leaves nothing behind.
//!
//! The network flow is async (reqwest); the wallet store it writes to stays synchronous and is
//! touched once, at the end. What it must not do: follow an `http://` URL or one at a loopback,
//! private or link-local address unless the caller set [`ClientOptions::allow_insecure`]
//! (loopback tests and demos; the policy is [`crate::http`]'s), or read the clock (`now` is a
//! parameter: proofs' `iat` and the check).
//!
//! Scope: one credential configuration per offer is redeemed (the first `dc+sd-jwt` one): the
//! issuer's access token is single use, and the wallet stores SD-JWT VCs only.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use credence_registry::keys::{KeyType, SecretKey};
use serde_json::{Value, json};
use url::Url;
use zeroize::Zeroizing;

use crate::check::VerifierCheck;
use crate::credentials::{CredentialId, SdJwtVc};
use crate::error::WalletError;
use crate::http::TargetRefused;
use crate::store::Wallet;

/// The URI scheme of a credential offer (§4.1).
pub const OFFER_SCHEME: &str = "openid-credential-offer";
/// The grant type of the pre-authorized code flow (§3.5).
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The `typ` of a key proof JWT (Appendix F.1).
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// The largest batch the wallet asks for, whatever the issuer allows.
pub const MAX_COPIES: usize = 10;
/// Largest response body read from an issuer.
const MAX_BODY: usize = 1 << 20;

/// Why receiving failed. Each says where, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum Oid4vciError {
    /// Not an `openid-credential-offer://` URI with exactly one of `credential_offer` and
    /// `credential_offer_uri`, or an offer whose JSON is not §4.1.1's shape.
    #[error("not a valid credential offer: {0}")]
    MalformedOffer(String),
    /// An `http://` (or otherwise not https) URL without `allow_insecure`.
    #[error("refusing the insecure URL {0}: an issuer must use https")]
    Insecure(String),
    /// A URL at a loopback, private or link-local address (SSRF: an offer or metadata may not
    /// make the wallet reach into the citizen's own network).
    #[error("refusing {0}")]
    PrivateAddress(String),
    /// The issuer could not be reached, or answered something that is not JSON.
    #[error("the issuer could not be reached at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The issuer answered with an OAuth error (a wrong tx_code is `invalid_grant`).
    #[error("the issuer refused at {step}: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        step: &'static str,
        error: String,
        description: Option<String>,
    },
    /// Metadata that does not describe this offer's issuer or configuration.
    #[error("the issuer's metadata is unusable: {0}")]
    Metadata(String),
    /// The offer needs a transaction code and none was given.
    #[error("the offer needs a transaction code (tx_code){}", .0.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    TxCodeRequired(Option<String>),
    /// The offer names no configuration this wallet can hold (it stores `dc+sd-jwt` only).
    #[error("the offer has no credential this wallet can hold: {0}")]
    Unsupported(String),
    /// A credential was refused by the check, could not be checked, or could not be stored.
    #[error(transparent)]
    Wallet(#[from] WalletError),
}

/// How the client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Accept `http://` URLs (loopback tests and demos only).
    pub allow_insecure: bool,
    /// The holder keys' type.
    pub key_type: KeyType,
    /// How many copies to ask for when the issuer offers batch issuance (capped by its
    /// `batch_size` and [`MAX_COPIES`]).
    pub copies: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            key_type: KeyType::P256,
            copies: 3,
        }
    }
}

/// Where the offer is: given whole, or at a URL to fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum OfferLocation {
    ByValue(Value),
    ByReference(Url),
}

/// The transaction code hint (§4.1.1 `tx_code`): the user types the code sent out of band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxCodeHint {
    pub input_mode: Option<String>,
    pub length: Option<u64>,
    pub description: Option<String>,
}

/// A credential offer (§4.1.1), parsed.
#[derive(Clone)]
pub struct Offer {
    pub credential_issuer: Url,
    pub configuration_ids: Vec<String>,
    pre_authorized_code: Zeroizing<String>,
    pub tx_code: Option<TxCodeHint>,
}

impl fmt::Debug for Offer {
    /// The pre-authorized code is a capability: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offer")
            .field("credential_issuer", &self.credential_issuer.as_str())
            .field("configuration_ids", &self.configuration_ids)
            .field("tx_code", &self.tx_code)
            .finish_non_exhaustive()
    }
}

/// Parses an offer URI, or the text of a QR code holding one (surrounding whitespace allowed).
pub fn parse_offer_uri(text: &str) -> Result<OfferLocation, Oid4vciError> {
    let bad = |why: &str| Oid4vciError::MalformedOffer(why.to_owned());
    let url = Url::parse(text.trim()).map_err(|e| bad(&format!("not a URI: {e}")))?;
    if url.scheme() != OFFER_SCHEME {
        return Err(bad(&format!(
            "the scheme is {:?}, not {OFFER_SCHEME}",
            url.scheme()
        )));
    }
    let mut by_value = None;
    let mut by_reference = None;
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "credential_offer" => &mut by_value,
            "credential_offer_uri" => &mut by_reference,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad(&format!("{name} appears twice")));
        }
    }
    match (by_value, by_reference) {
        (Some(json), None) => {
            let value: Value = serde_json::from_str(&json)
                .map_err(|e| bad(&format!("credential_offer is not JSON: {e}")))?;
            Ok(OfferLocation::ByValue(value))
        }
        (None, Some(uri)) => Url::parse(&uri)
            .map(OfferLocation::ByReference)
            .map_err(|e| bad(&format!("credential_offer_uri is not a URL: {e}"))),
        (Some(_), Some(_)) => Err(bad(
            "both credential_offer and credential_offer_uri (§4.1: exactly one)",
        )),
        (None, None) => Err(bad("neither credential_offer nor credential_offer_uri")),
    }
}

/// Parses the offer JSON (§4.1.1).
pub fn parse_offer(value: &Value) -> Result<Offer, Oid4vciError> {
    let bad = |why: String| Oid4vciError::MalformedOffer(why);
    let issuer = value
        .get("credential_issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("credential_issuer is missing".into()))?;
    let credential_issuer =
        Url::parse(issuer).map_err(|e| bad(format!("credential_issuer is not a URL: {e}")))?;
    let configuration_ids: Vec<String> = value
        .get("credential_configuration_ids")
        .and_then(Value::as_array)
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| bad("credential_configuration_ids must be a non-empty array".into()))?
        .iter()
        .map(|id| {
            id.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad("a credential_configuration_id is not a string".into()))
        })
        .collect::<Result<_, _>>()?;
    let grant = value
        .get("grants")
        .and_then(|grants| grants.get(PRE_AUTHORIZED_GRANT))
        .ok_or_else(|| bad("the offer has no pre-authorized code grant".into()))?;
    let code = grant
        .get("pre-authorized_code")
        .and_then(Value::as_str)
        .filter(|code| !code.is_empty())
        .ok_or_else(|| bad("pre-authorized_code is missing".into()))?;
    let tx_code = grant.get("tx_code").map(|hint| TxCodeHint {
        input_mode: hint
            .get("input_mode")
            .and_then(Value::as_str)
            .map(str::to_owned),
        length: hint.get("length").and_then(Value::as_u64),
        description: hint
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
    });
    Ok(Offer {
        credential_issuer,
        configuration_ids,
        pre_authorized_code: Zeroizing::new(code.to_owned()),
        tx_code,
    })
}

/// The OpenID4VCI client: an HTTP client and its options.
#[derive(Debug, Clone)]
pub struct IssuanceClient {
    http: reqwest::Client,
    options: ClientOptions,
}

/// What was received and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub credential_issuer: String,
    pub configuration_id: String,
    pub vct: Option<String>,
    /// One id per copy (each bound to its own key).
    pub credentials: Vec<CredentialId>,
}

impl IssuanceClient {
    pub fn new(http: reqwest::Client, options: ClientOptions) -> Self {
        Self { http, options }
    }

    /// Resolves an offer location into the offer (fetching it when given by reference).
    pub async fn offer(&self, location: &OfferLocation) -> Result<Offer, Oid4vciError> {
        let value = match location {
            OfferLocation::ByValue(value) => value.clone(),
            OfferLocation::ByReference(url) => self.get_json(url, "the offer").await?,
        };
        let offer = parse_offer(&value)?;
        self.secure(&offer.credential_issuer)?;
        Ok(offer)
    }

    /// Redeems `offer` (with the user's `tx_code` if it asks for one), checks every credential
    /// with `check` as of `now` and stores them with their keys.
    pub async fn receive(
        &self,
        wallet: &mut Wallet,
        offer: &Offer,
        tx_code: Option<&str>,
        check: &VerifierCheck,
        now: DateTime<Utc>,
    ) -> Result<Received, Oid4vciError> {
        if let (Some(hint), None) = (&offer.tx_code, tx_code) {
            return Err(Oid4vciError::TxCodeRequired(hint.description.clone()));
        }
        let issuer_id = offer.credential_issuer.as_str().trim_end_matches('/');
        let metadata = self
            .get_json(
                &well_known(&offer.credential_issuer, "openid-credential-issuer")?,
                "the issuer metadata",
            )
            .await?;
        if metadata
            .get("credential_issuer")
            .and_then(Value::as_str)
            .map(|id| id.trim_end_matches('/'))
            != Some(issuer_id)
        {
            return Err(Oid4vciError::Metadata(
                "its credential_issuer is not the offer's (§12.2.2)".into(),
            ));
        }
        // The authorization server: the first one listed, else the issuer itself (§12.2.4).
        let authorization_server = match metadata
            .get("authorization_servers")
            .and_then(Value::as_array)
            .and_then(|servers| servers.first())
            .and_then(Value::as_str)
        {
            Some(server) => Url::parse(server)
                .map_err(|e| Oid4vciError::Metadata(format!("authorization_servers: {e}")))?,
            None => offer.credential_issuer.clone(),
        };
        self.secure(&authorization_server)?;
        let as_metadata = self
            .get_json(
                &well_known(&authorization_server, "oauth-authorization-server")?,
                "the authorization server metadata",
            )
            .await?;
        let token_endpoint = self.endpoint(&as_metadata, "token_endpoint")?;
        let credential_endpoint = self.endpoint(&metadata, "credential_endpoint")?;
        let nonce_endpoint = self.endpoint(&metadata, "nonce_endpoint")?;

        let (configuration_id, configuration) = offer
            .configuration_ids
            .iter()
            .find_map(|id| {
                let configuration = metadata
                    .get("credential_configurations_supported")?
                    .get(id)?;
                (configuration.get("format").and_then(Value::as_str) == Some("dc+sd-jwt"))
                    .then_some((id.clone(), configuration.clone()))
            })
            .ok_or_else(|| {
                Oid4vciError::Unsupported(format!(
                    "none of {:?} is a dc+sd-jwt configuration in the issuer's metadata",
                    offer.configuration_ids
                ))
            })?;
        let batch = metadata
            .get("batch_credential_issuance")
            .and_then(|b| b.get("batch_size"))
            .and_then(Value::as_u64)
            .map_or(1, |size| usize::try_from(size).unwrap_or(1));
        let copies = self.options.copies.clamp(1, MAX_COPIES).min(batch.max(1));

        // Token (§6.1).
        let mut form = vec![
            ("grant_type", PRE_AUTHORIZED_GRANT.to_owned()),
            ("pre-authorized_code", offer.pre_authorized_code.to_string()),
        ];
        if let Some(tx_code) = tx_code {
            form.push(("tx_code", tx_code.to_owned()));
        }
        let token = self
            .post("token", &token_endpoint, Body::Form(&form), None)
            .await?;
        let access_token = Zeroizing::new(
            token
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Oid4vciError::Metadata("the token response has no access_token".into())
                })?
                .to_owned(),
        );

        // Nonce (§7), proofs with fresh keys (§8.2.1.1).
        let nonce = self
            .post("nonce", &nonce_endpoint, Body::Empty, None)
            .await?;
        let c_nonce = nonce
            .get("c_nonce")
            .and_then(Value::as_str)
            .ok_or_else(|| Oid4vciError::Metadata("the nonce response has no c_nonce".into()))?
            .to_owned();
        let keys: Vec<SecretKey> = (0..copies)
            .map(|_| SecretKey::generate(self.options.key_type))
            .collect();
        let proofs: Vec<String> = keys
            .iter()
            .map(|key| proof_jwt(key, issuer_id, &c_nonce, now))
            .collect();
        let request = json!({
            "credential_configuration_id": configuration_id,
            "proofs": {"jwt": proofs},
        });
        let response = self
            .post(
                "credential",
                &credential_endpoint,
                Body::Json(&request),
                Some(&access_token),
            )
            .await?;
        let issued: Vec<String> = response
            .get("credentials")
            .and_then(Value::as_array)
            .filter(|list| !list.is_empty())
            .ok_or_else(|| {
                Oid4vciError::Metadata(
                    "the credential response has no credentials (deferred issuance is not supported)"
                        .into(),
                )
            })?
            .iter()
            .map(|entry| {
                entry
                    .get("credential")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Oid4vciError::Metadata("a credential entry is not a string".into())
                    })
            })
            .collect::<Result<_, _>>()?;

        // Every credential checked, and matched to the key it was asked for, before any is
        // stored.
        let mut accepted = Vec::with_capacity(issued.len());
        let mut unused: Vec<&SecretKey> = keys.iter().collect();
        for compact in &issued {
            let sd_jwt = SdJwtVc::parse(compact).map_err(WalletError::from)?;
            let bound = sd_jwt.holder_key().map_err(WalletError::from)?;
            let position = unused
                .iter()
                .position(|key| key.public() == bound)
                .ok_or_else(|| {
                    WalletError::CredentialRefused(
                        "the credential is bound to a key this wallet did not prove".into(),
                    )
                })?;
            let key = unused.swap_remove(position);
            let checked = check.check(&sd_jwt, now).await;
            // Refusals and "could not check" surface here, before anything is written.
            crate::credentials::CredentialCheck::check(&checked, &sd_jwt, now)
                .map_err(|e| WalletError::CheckUnavailable(e.0))
                .and_then(|verdict| match verdict {
                    crate::credentials::CheckVerdict::Valid => Ok(()),
                    crate::credentials::CheckVerdict::Invalid { step, reason } => {
                        Err(WalletError::CredentialRefused(format!("{step}: {reason}")))
                    }
                })?;
            accepted.push((compact, key, checked));
        }
        let mut ids = Vec::with_capacity(accepted.len());
        for (compact, key, checked) in accepted {
            ids.push(wallet.store_received(compact, key, &checked, now)?);
        }
        Ok(Received {
            credential_issuer: issuer_id.to_owned(),
            configuration_id,
            vct: configuration
                .get("vct")
                .and_then(Value::as_str)
                .map(str::to_owned),
            credentials: ids,
        })
    }

    fn secure(&self, url: &Url) -> Result<(), Oid4vciError> {
        crate::http::check_target(url, self.options.allow_insecure).map_err(|refused| match refused
        {
            TargetRefused::Insecure => Oid4vciError::Insecure(url.to_string()),
            TargetRefused::PrivateAddress(reason) => Oid4vciError::PrivateAddress(reason),
        })
    }

    fn endpoint(&self, metadata: &Value, name: &str) -> Result<Url, Oid4vciError> {
        let text = metadata
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| Oid4vciError::Metadata(format!("{name} is missing")))?;
        let url = Url::parse(text).map_err(|e| Oid4vciError::Metadata(format!("{name}: {e}")))?;
        self.secure(&url)?;
        Ok(url)
    }

    async fn get_json(&self, url: &Url, what: &str) -> Result<Value, Oid4vciError> {
        self.secure(url)?;
        let unreachable = |reason: String| Oid4vciError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(credence_registry::client::causes(&e)))?;
        let status = response.status();
        let bytes = read_capped(response).await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(unreachable(format!("{what}: HTTP {status}")));
        }
        serde_json::from_slice(&bytes).map_err(|e| unreachable(format!("{what} is not JSON: {e}")))
    }

    async fn post(
        &self,
        step: &'static str,
        url: &Url,
        body: Body<'_>,
        bearer: Option<&str>,
    ) -> Result<Value, Oid4vciError> {
        self.secure(url)?;
        let unreachable = |reason: String| Oid4vciError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let mut request = self.http.post(url.clone());
        request = match body {
            Body::Form(pairs) => request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(
                    pairs.iter().map(|(name, value)| (*name, value.as_str())),
                )),
            Body::Json(value) => request.json(value),
            Body::Empty => request,
        };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(credence_registry::client::causes(&e)))?;
        let status = response.status();
        let bytes = read_capped(response).await.map_err(unreachable)?;
        let value: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return value.ok_or_else(|| unreachable(format!("the {step} response is not JSON")));
        }
        // An OAuth error body (RFC 6749 §5.2, §8.3.1.2), or whatever the issuer said.
        match value
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
        {
            Some(error) => Err(Oid4vciError::Refused {
                step,
                error: error.to_owned(),
                description: value
                    .as_ref()
                    .and_then(|v| v.get("error_description"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            None => Err(Oid4vciError::Refused {
                step,
                error: format!("HTTP {status}"),
                description: value
                    .as_ref()
                    .and_then(|v| v.get("detail"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
        }
    }
}

enum Body<'a> {
    Form(&'a [(&'a str, String)]),
    Json(&'a Value),
    Empty,
}

/// An `application/x-www-form-urlencoded` body (reqwest's `form` needs a feature the workspace
/// does not enable).
pub(crate) fn form_body<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| credence_registry::client::causes(&e))?;
    if bytes.len() > MAX_BODY {
        return Err(format!("the answer is larger than {MAX_BODY} bytes"));
    }
    Ok(bytes.to_vec())
}

/// `https://host/.well-known/<name><path>` (RFC 8414 §3.1 path insertion, OpenID4VCI §12.2.2).
fn well_known(issuer: &Url, name: &str) -> Result<Url, Oid4vciError> {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/.well-known/{name}{path}"));
    Ok(url)
}

/// A key proof JWT (§8.2.1.1, Appendix F.1): `typ` `openid4vci-proof+jwt`, the public key as
/// `jwk`, `aud` the credential issuer, `iat`, and the issuer's `nonce`.
pub fn proof_jwt(key: &SecretKey, audience: &str, nonce: &str, now: DateTime<Utc>) -> String {
    let public = key.public();
    let header = json!({
        "typ": PROOF_TYP,
        "alg": public.algorithm().name(),
        "jwk": public.to_jwk(),
    });
    let payload = json!({"aud": audience, "iat": now.timestamp(), "nonce": nonce});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = key.sign_raw(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
