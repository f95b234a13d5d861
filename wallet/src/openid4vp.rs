//! The OpenID for Verifiable Presentations 1.0 client: from an `openid4vp://` URI (or the text
//! of a QR code) to a checked request, a consent view, and — only after consent — a response.
//!
//! Steps: parse the URI (§5.7: `client_id` and `request_uri`), fetch the request object by
//! reference (GET, §5.10), verify its signature against the `client_id` (§5.9.3, in
//! [`crate::client_id`]: `decentralized_identifier:did:key:`, or `x509_san_dns:` /
//! `x509_hash:` with a certificate chain to a verifier CA the app trusts), check its claims (`response_type` `vp_token`, `response_mode`
//! `direct_post` or `direct_post.jwt`, `nonce`, `state`, `response_uri`, `exp`), parse the DCQL
//! query (`credence_verifier::dcql`), match it against the wallet's credentials
//! ([`Wallet::match_request`]) and build the [`ConsentView`]. After consent
//! (`Wallet::present`), [`PresentationClient::send`] posts the presentation (§8.2) or a JWE of
//! it to the key in `client_metadata.jwks` (§8.3, `credence_verifier::jwe::encrypt`).
//!
//! Refused before anything is sent: an unsigned request object or one signed by a key not of
//! its `client_id`; a `response_uri` that is not https (unless
//! [`ClientOptions::allow_insecure`]), whose origin differs from the `request_uri`'s, or at a
//! non-public IP address (SSRF: the same rule as the resolver's
//! `check_public_target`); a malformed DCQL query; a query the wallet holds nothing for. Redirects
//! are never followed ([`http_client`]), so a verifier cannot bounce the wallet elsewhere.
//!
//! Several credentials (DCQL §6.4): without `credential_sets` every credential query is
//! answered; with them, for each required set the first option (the verifier's preference)
//! whose every query the wallet can answer; optional sets are left out (the wallet discloses
//! the least it may). Each answered query gets one credential (the copy this verifier saw
//! before, else an unused one, as `Wallet::pick_copy` chooses) and its own consent view; the
//! response's `vp_token` is keyed by query id, each an array of one presentation (§8.1).
//! `jwt_vc_json` queries are answered with a `vp+jwt` of a `vc+jwt` (whole: the view says so).
//! `purpose` is read from the request object's `purpose` member when a verifier sets one (a
//! Credence extension, not an OpenID4VP parameter).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use credence_verifier::dcql::{CredentialQuery, DcqlError, DcqlQuery, Segment};
use credence_verifier::jwe::{self, Enc};
use credence_verifier::openid4vp::ResponseMode;
use credence_verifier::x509::TrustAnchors;
use serde_json::{Map, Value, json};
use url::Url;

use crate::client_id::ClientAuthentication;
use crate::credentials::{ClaimPath, CredentialId, Envelope, StoredCredential};
use crate::error::WalletError;
use crate::history::VerifierAnswer;
use crate::present::{
    ClientId, ConsentView, Nonce, Presentation, PresentationRequest, RequestSignature,
    RequestedClaim, Verifier,
};
use crate::store::Wallet;

/// The URI scheme of an authorization request a wallet opens.
pub const REQUEST_SCHEME: &str = "openid4vp";
/// Largest request object or response read.
const MAX_BODY: usize = 1 << 20;

/// Why a request was refused, or a response could not be built. Nothing was sent in any case.
#[derive(Debug, thiserror::Error)]
pub enum Oid4vpError {
    /// Not an `openid4vp://` URI with a `client_id` and a `request_uri`.
    #[error("not a valid presentation request URI: {0}")]
    MalformedUri(String),
    /// A URL that is not https, without `allow_insecure`.
    #[error("refusing the insecure URL {0}: a verifier must use https")]
    Insecure(String),
    /// A URL at a loopback, private or link-local address (SSRF).
    #[error("refusing a URL at a non-public address: {0}")]
    PrivateAddress(String),
    /// The verifier could not be reached or answered an error status.
    #[error("the verifier could not be reached at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The request object is not a signed JWS (`alg` `none`, or not a JWS at all).
    #[error("the request object is not signed: {0}")]
    Unsigned(String),
    /// The request object's signature does not verify with the `client_id`'s key.
    #[error("the request object is not signed by its client_id: {0}")]
    WrongSignature(String),
    /// A client id this wallet cannot authenticate (`decentralized_identifier:did:key:`,
    /// `x509_san_dns:` and `x509_hash:` are the ones it can).
    #[error(
        "unsupported client_id {0:?}: decentralized_identifier:did:key:, x509_san_dns: and \
         x509_hash: are accepted"
    )]
    UnsupportedClientId(String),
    /// An X.509 client id whose certificate this wallet does not trust (no path to a trusted
    /// verifier CA, expired, or not the client id's certificate).
    #[error("the verifier is not trusted: {0}")]
    UntrustedVerifier(String),
    /// A request object whose claims break OpenID4VP.
    #[error("the request is invalid: {0}")]
    InvalidRequest(String),
    /// The `response_uri` is not at the origin the request came from.
    #[error("the response_uri {response_uri} is not at the request_uri's origin ({origin})")]
    ForeignResponseUri {
        response_uri: String,
        origin: String,
    },
    /// The DCQL query is malformed.
    #[error("the request's DCQL query is malformed: {0}")]
    MalformedDcql(#[from] DcqlError),
    /// The wallet holds no credential that answers the request.
    #[error("nothing in the wallet matches the request: {0}")]
    NothingMatches(String),
    /// A request the wallet cannot answer.
    #[error("unsupported request: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Wallet(#[from] WalletError),
}

/// How the client behaves.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Accept `http://` URLs and loopback/private addresses (tests and demos only).
    pub allow_insecure: bool,
    /// The CAs whose certificates authenticate `x509_san_dns:` / `x509_hash:` verifiers (a
    /// trust list the app provides). Empty: X.509 client ids are refused.
    pub verifier_trust_anchors: TrustAnchors,
}

/// The HTTP client the wallet's protocol clients use: rustls, no redirects, time limits.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .build()
}

/// What an `openid4vp://` URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestReference {
    pub client_id: String,
    pub request_uri: Url,
}

/// Parses an `openid4vp://?client_id=..&request_uri=..` URI or QR text.
pub fn parse_request_uri(text: &str) -> Result<RequestReference, Oid4vpError> {
    let bad = |why: String| Oid4vpError::MalformedUri(why);
    let url = Url::parse(text.trim()).map_err(|e| bad(format!("not a URI: {e}")))?;
    if url.scheme() != REQUEST_SCHEME {
        return Err(bad(format!(
            "the scheme is {:?}, not {REQUEST_SCHEME}",
            url.scheme()
        )));
    }
    let mut client_id = None;
    let mut request_uri = None;
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "client_id" => &mut client_id,
            "request_uri" => &mut request_uri,
            "request" => {
                return Err(bad(
                    "a request by value is not accepted (§5.7: by reference, signed)".into(),
                ));
            }
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad(format!("{name} appears twice")));
        }
    }
    let client_id = client_id.ok_or_else(|| bad("client_id is missing".into()))?;
    let request_uri = request_uri.ok_or_else(|| bad("request_uri is missing".into()))?;
    let request_uri =
        Url::parse(&request_uri).map_err(|e| bad(format!("request_uri is not a URL: {e}")))?;
    Ok(RequestReference {
        client_id,
        request_uri,
    })
}

/// A verified authorization request: who asks (authenticated by the request object's
/// signature), for what, and where the answer goes.
#[derive(Clone)]
pub struct VerifierRequest {
    pub client_id: ClientId,
    /// `client_metadata.client_name`, if any.
    pub display_name: Option<String>,
    pub purpose: Option<String>,
    nonce: Nonce,
    state: String,
    pub response_uri: Url,
    pub response_mode: ResponseMode,
    pub dcql_query: DcqlQuery,
    /// For `direct_post.jwt`: the verifier's key, its `kid`, and the content encryption.
    response_key: Option<(p256::PublicKey, Option<String>, Enc)>,
}

impl fmt::Debug for VerifierRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierRequest")
            .field("client_id", &self.client_id)
            .field("response_uri", &self.response_uri.as_str())
            .field("response_mode", &self.response_mode)
            .finish_non_exhaustive()
    }
}

/// One credential query answered: its id and the consent view of the credential chosen.
#[derive(Debug, Clone)]
pub struct PreparedAnswer {
    pub query_id: String,
    pub view: ConsentView,
}

/// A request matched against the wallet: every credential query to answer, in the query's
/// order, each with its consent view.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub answers: Vec<PreparedAnswer>,
}

/// The OpenID4VP client.
#[derive(Debug, Clone)]
pub struct PresentationClient {
    http: reqwest::Client,
    options: ClientOptions,
}

impl PresentationClient {
    pub fn new(http: reqwest::Client, options: ClientOptions) -> Self {
        Self { http, options }
    }

    /// Fetches the request object `reference` names and verifies it as of `now`.
    pub async fn fetch(
        &self,
        reference: &RequestReference,
        now: DateTime<Utc>,
    ) -> Result<VerifierRequest, Oid4vpError> {
        // Authenticate-able client ids only, before anything is fetched.
        let authentication = ClientAuthentication::for_client_id(&reference.client_id)?;
        self.allowed(&reference.request_uri)?;
        let object = self.get(&reference.request_uri).await?;
        let jws = authentication.verify(
            object.trim(),
            &reference.client_id,
            &self.options.verifier_trust_anchors,
            now,
        )?;
        let claims = &jws.payload;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let invalid = |why: String| Oid4vpError::InvalidRequest(why);
        if text("response_type") != Some("vp_token") {
            return Err(invalid("response_type must be vp_token".into()));
        }
        let response_mode = text("response_mode")
            .and_then(ResponseMode::parse)
            .ok_or_else(|| {
                invalid("response_mode must be direct_post or direct_post.jwt".into())
            })?;
        let nonce = Nonce::parse(text("nonce").unwrap_or_default())
            .map_err(|_| invalid("the nonce is missing or not a token".into()))?;
        let state = text("state")
            .ok_or_else(|| invalid("state is missing".into()))?
            .to_owned();
        let response_uri = Url::parse(
            text("response_uri").ok_or_else(|| invalid("response_uri is missing".into()))?,
        )
        .map_err(|e| invalid(format!("response_uri: {e}")))?;
        self.allowed(&response_uri)?;
        authentication.check_response_uri(&response_uri)?;
        if response_uri.origin() != reference.request_uri.origin() {
            return Err(Oid4vpError::ForeignResponseUri {
                response_uri: response_uri.to_string(),
                origin: reference.request_uri.origin().ascii_serialization(),
            });
        }
        let dcql_query = DcqlQuery::from_value(
            claims
                .get("dcql_query")
                .ok_or_else(|| invalid("dcql_query is missing".into()))?,
        )?;
        let metadata = claims.get("client_metadata");
        let display_name = metadata
            .and_then(|m| m.get("client_name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let response_key = match response_mode {
            ResponseMode::DirectPost => None,
            ResponseMode::DirectPostJwt => Some(response_key(metadata)?),
        };
        Ok(VerifierRequest {
            client_id: ClientId::parse(&reference.client_id).map_err(|e| invalid(e.to_string()))?,
            display_name,
            purpose: text("purpose").map(str::to_owned),
            nonce,
            state,
            response_uri,
            response_mode,
            dcql_query,
            response_key,
        })
    }

    /// Sends `presentations`, each the answer to its credential query id, as one response to
    /// `request` (`vp_token` keyed by query id, §8.1), and says what the verifier answered.
    /// Never fails: an undeliverable response is an answer too.
    pub async fn send(
        &self,
        request: &VerifierRequest,
        presentations: &[(&str, &Presentation)],
    ) -> VerifierAnswer {
        let mut vp_token = Map::new();
        for (query_id, presentation) in presentations {
            let entry = vp_token
                .entry((*query_id).to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(answers) = entry {
                answers.push(Value::String(presentation.compact().to_owned()));
            }
        }
        let vp_token = Value::Object(vp_token);
        let form: Vec<(&str, String)> = match &request.response_key {
            None => vec![
                ("vp_token", vp_token.to_string()),
                ("state", request.state.clone()),
            ],
            Some((key, kid, enc)) => {
                let plaintext = json!({"vp_token": vp_token, "state": request.state});
                vec![(
                    "response",
                    jwe::encrypt(plaintext.to_string().as_bytes(), key, kid.as_deref(), *enc),
                )]
            }
        };
        let response = match self
            .http
            .post(request.response_uri.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::oid4vci::form_body(
                form.iter().map(|(name, value)| (*name, value.as_str())),
            ))
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                return VerifierAnswer::NotDelivered {
                    reason: credence_registry::client::causes(&e),
                };
            }
        };
        let status = response.status();
        let body: Option<Value> = response
            .bytes()
            .await
            .ok()
            .filter(|b| b.len() <= MAX_BODY)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if status.is_success() {
            return VerifierAnswer::Accepted;
        }
        let field = |name: &str| {
            body.as_ref()
                .and_then(|b| b.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let reason = match (field("error"), field("error_description")) {
            (Some(error), Some(description)) => format!("{error}: {description}"),
            (Some(error), None) => error,
            _ => format!("HTTP {status}"),
        };
        if status.is_client_error() {
            VerifierAnswer::Rejected { reason }
        } else {
            VerifierAnswer::NotDelivered { reason }
        }
    }

    fn allowed(&self, url: &Url) -> Result<(), Oid4vpError> {
        match url.scheme() {
            "https" => {}
            "http" if self.options.allow_insecure => {}
            _ => return Err(Oid4vpError::Insecure(url.to_string())),
        }
        credence_registry::resolver::web::check_public_target(
            url.as_str(),
            self.options.allow_insecure,
        )
        .map_err(Oid4vpError::PrivateAddress)
    }

    async fn get(&self, url: &Url) -> Result<String, Oid4vpError> {
        let unreachable = |reason: String| Oid4vpError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/oauth-authz-req+jwt")
            .send()
            .await
            .map_err(|e| unreachable(credence_registry::client::causes(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {status}")));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(credence_registry::client::causes(&e)))?;
        if bytes.len() > MAX_BODY {
            return Err(unreachable("the request object is too large".into()));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| unreachable("not UTF-8 text".into()))
    }
}

/// The `direct_post.jwt` recipient key: the first P-256 key in `client_metadata.jwks`, and the
/// first content encryption of ours the verifier lists (A128GCM when it lists none).
fn response_key(
    metadata: Option<&Value>,
) -> Result<(p256::PublicKey, Option<String>, Enc), Oid4vpError> {
    let invalid = |why: String| Oid4vpError::InvalidRequest(why);
    let keys = metadata
        .and_then(|m| m.get("jwks"))
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("direct_post.jwt without client_metadata.jwks".into()))?;
    let (key, jwk) = keys
        .iter()
        .find_map(|jwk| jwe::public_from_jwk(jwk).ok().map(|key| (key, jwk)))
        .ok_or_else(|| invalid("client_metadata.jwks has no P-256 key".into()))?;
    let enc = match metadata
        .and_then(|m| m.get("encrypted_response_enc_values_supported"))
        .and_then(Value::as_array)
    {
        None => Enc::A128Gcm,
        Some(values) => values
            .iter()
            .filter_map(Value::as_str)
            .find_map(Enc::parse)
            .ok_or_else(|| invalid("no content encryption this wallet supports".into()))?,
    };
    Ok((
        key,
        jwk.get("kid").and_then(Value::as_str).map(str::to_owned),
        enc,
    ))
}

impl Wallet {
    /// Matches `request`'s DCQL query against the wallet's credentials and builds a consent
    /// view for each credential query to answer (see the module doc for which), each for the
    /// copy to show this verifier. Nothing is written.
    pub fn match_request(&self, request: &VerifierRequest) -> Result<Prepared, Oid4vpError> {
        let query = &request.dcql_query;
        let credentials = self.credentials()?;
        // Every credential each query could be answered with, and the claims it would disclose.
        let mut candidates: BTreeMap<&str, Vec<(&StoredCredential, Vec<RequestedClaim>)>> =
            BTreeMap::new();
        for credential_query in &query.credentials {
            let found = candidates.entry(credential_query.id.as_str()).or_default();
            for credential in &credentials {
                if let Some(claims) = answer_with(credential_query, credential)? {
                    found.push((credential, claims));
                }
            }
        }
        let answerable = |id: &String| candidates.get(id.as_str()).is_some_and(|c| !c.is_empty());
        let ids: Vec<&String> = match &query.credential_sets {
            // §6.4.2: every credential query.
            None => {
                if let Some(missing) = query.credentials.iter().find(|c| !answerable(&c.id)) {
                    return Err(Oid4vpError::NothingMatches(format!(
                        "no credential answers the credential query {}",
                        missing.id
                    )));
                }
                query.credentials.iter().map(|c| &c.id).collect()
            }
            // §6.4.2: one option of every required set, the first the wallet can meet.
            Some(sets) => {
                let mut ids: Vec<&String> = Vec::new();
                for set in sets.iter().filter(|set| set.required) {
                    let option = set
                        .options
                        .iter()
                        .find(|option| option.iter().all(answerable))
                        .ok_or_else(|| {
                            Oid4vpError::NothingMatches(format!(
                                "no credential answers any option of the required credential set {}",
                                set.options
                                    .iter()
                                    .map(|option| option.join(" + "))
                                    .collect::<Vec<_>>()
                                    .join(" or ")
                            ))
                        })?;
                    for id in option {
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                }
                if ids.is_empty() {
                    return Err(Oid4vpError::NothingMatches(
                        "the request requires no credential".into(),
                    ));
                }
                ids
            }
        };
        let mut answers: Vec<PreparedAnswer> = Vec::with_capacity(ids.len());
        for id in ids {
            let found = &candidates[id.as_str()];
            let (credential, claims) = self.choose_copy(found, &request.client_id, &answers)?;
            let presentation_request = PresentationRequest {
                verifier: Verifier {
                    client_id: request.client_id.clone(),
                    display_name: request.display_name.clone(),
                    request_signature: RequestSignature::Verified,
                },
                purpose: request.purpose.clone(),
                nonce: request.nonce.clone(),
                vct: credential.vct().unwrap_or_default().to_owned(),
                claims: claims.clone(),
            };
            let view =
                ConsentView::new(presentation_request, credential).map_err(WalletError::from)?;
            answers.push(PreparedAnswer {
                query_id: id.clone(),
                view,
            });
        }
        Ok(Prepared { answers })
    }

    /// Of the credentials that can answer one query, the copy to show `client_id` (the rule of
    /// `Wallet::pick_copy`: one it saw before, else one nobody saw, else the least shown),
    /// preferring one no earlier answer of this response uses.
    fn choose_copy<'c>(
        &self,
        found: &'c [(&'c StoredCredential, Vec<RequestedClaim>)],
        client_id: &ClientId,
        earlier: &[PreparedAnswer],
    ) -> Result<&'c (&'c StoredCredential, Vec<RequestedClaim>), Oid4vpError> {
        let mut shown: BTreeMap<CredentialId, usize> = BTreeMap::new();
        let mut seen_by_this_verifier = Vec::new();
        let mut vcts: Vec<&str> = found.iter().filter_map(|(c, _)| c.vct()).collect();
        vcts.sort_unstable();
        vcts.dedup();
        for vct in vcts {
            for copy in self.copies_for(vct)? {
                if copy.shown_to.contains(client_id) {
                    seen_by_this_verifier.push(copy.credential.clone());
                }
                shown.insert(copy.credential, copy.shown_to.len());
            }
        }
        let unused_here = |(credential, _): &&(&StoredCredential, Vec<RequestedClaim>)| {
            !earlier
                .iter()
                .any(|answer| answer.view.credential() == credential.id())
        };
        let pool: Vec<&(&StoredCredential, Vec<RequestedClaim>)> =
            match found.iter().filter(unused_here).collect::<Vec<_>>() {
                fresh if !fresh.is_empty() => fresh,
                _ => found.iter().collect(),
            };
        pool.iter()
            .find(|(credential, _)| seen_by_this_verifier.contains(credential.id()))
            .or_else(|| {
                pool.iter()
                    .min_by_key(|(credential, _)| shown.get(credential.id()).copied().unwrap_or(0))
            })
            .copied()
            .ok_or_else(|| Oid4vpError::NothingMatches("no credential answers the request".into()))
    }
}

/// Whether `credential` answers `query` (format, type, claims), and if so the claims it would
/// disclose (§6.4.1), none optional.
fn answer_with(
    query: &CredentialQuery,
    credential: &StoredCredential,
) -> Result<Option<Vec<RequestedClaim>>, Oid4vpError> {
    let (types, claims) = match credential.envelope() {
        Envelope::SdJwt(sd_jwt) => {
            let Some(vct) = sd_jwt.vct() else {
                return Ok(None);
            };
            let claims = Value::Object(
                sd_jwt
                    .claims()
                    .iter()
                    .filter(|claim| claim.path.segments().len() == 1)
                    .map(|claim| (claim.path.segments()[0].clone(), claim.value.clone()))
                    .collect::<Map<String, Value>>(),
            );
            (vec![vct.to_owned()], claims)
        }
        Envelope::VcJwt(vc_jwt) => (vc_jwt.all_types(), vc_jwt.credential()),
    };
    let Some(paths) = query.match_credential(credential.format(), &types, &claims) else {
        return Ok(None);
    };
    paths
        .iter()
        .map(|path| {
            let segments = path.iter().map(|segment| match segment {
                Segment::Name(name) => name.clone(),
                Segment::Index(index) => index.to_string(),
            });
            ClaimPath::from_segments(segments)
                .map(|path| RequestedClaim {
                    path,
                    optional: false,
                })
                .ok_or_else(|| Oid4vpError::InvalidRequest("an empty claims path".into()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
