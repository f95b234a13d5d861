//! The OpenID4VP routes (feature `server`) for a relying party's backend and the wallets it
//! sends to us. Handlers extract, call [`crate::openid4vp`] / [`crate::dcql`] and the store,
//! and map the result; the protocol logic is the library's.
//!
//! Routes, relative to where the router is mounted (`/verifier` in `credence serve`):
//! - `POST /requests` (relying party, `Authorization: Bearer <api token>`): `{dcql_query,
//!   response_mode?, purpose?}` -> 201 `{id, request_uri, authorization_request_uri,
//!   expires_at}`.
//! - `GET /requests/{id}/object` (wallet): the signed request object,
//!   `application/oauth-authz-req+jwt`. Reads never write: the same request signs the same
//!   object.
//! - `POST /requests/{id}/response` (wallet): a form, `vp_token` and `state`, or `response`
//!   (a JWE) -> 200 `{}`, or 400 `{error, error_description}` (OAuth style). Any response
//!   to a pending request consumes it (single use), so the failure is recorded; a response to
//!   an answered request is refused and changes nothing.
//! - `GET /requests/{id}` (relying party): `{status, claims, report}`.
//!
//! The verifier's identity is its signing key (a private JWK file, 0600, in the data
//! directory) and its `did:key`: `client_id` is `decentralized_identifier:did:key:z..`, the
//! request object's `kid` that DID's key URL. A request's `direct_post.jwt` key is derived from
//! the signing key and the request id ([`VerifierIdentity::response_key`]), so no secret is
//! stored per request and every instance sharing the key file can decrypt.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use credence_registry::clock::Clock;
use credence_registry::error::{PROBLEM_BASE, Problem};
use credence_registry::keys::{KeyType, SecretKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::store::{RequestStatus, RequestStore, StoreError, StoredRequest};
use super::{JsonBody, MAX_BODY_BYTES, VerifierState};
use crate::dcql::{DcqlError, DcqlQuery};
use crate::jwe;
use crate::openid4vp::{
    self, AuthorizationRequest, Expected, ResponseBody, ResponseError, ResponseMode,
};
use crate::x509::{self, CertificateChain, X509ClientId};

/// The verifier's signing identity: a key and its `did:key`, and optionally an X.509
/// certificate whose client id ([`X509Identity`]) then replaces the DID's in requests.
pub struct VerifierIdentity {
    key: SecretKey,
    did: String,
    kid: String,
    x509: Option<X509Identity>,
}

impl std::fmt::Debug for VerifierIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifierIdentity({})", self.client_id())
    }
}

/// An X.509 identity (OpenID4VP 1.0 §5.9.3): the certificate chain, its leaf's private key
/// (P-256, so ES256 requests), and the client id chosen from it.
pub struct X509Identity {
    key: SecretKey,
    chain: CertificateChain,
    client_id: X509ClientId,
}

impl X509Identity {
    /// Reads the PEM chain and the PKCS#8 PEM key (which must be private to its owner and be
    /// the leaf's), and chooses the client id: `x509_hash`, or `x509_san_dns:<name>` (the
    /// leaf's first DNS name when none is given).
    pub fn load(
        chain_path: &Path,
        key_path: &Path,
        client_id: Option<&str>,
    ) -> Result<Self, IdentityError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| IdentityError::Io { path, source }
        };
        let unusable = |path: &Path, why: String| {
            IdentityError::Certificate(format!("{}: {why}", path.display()))
        };
        let chain_pem = std::fs::read(chain_path).map_err(io(chain_path))?;
        let chain = CertificateChain::from_pem(&chain_pem)
            .map_err(|e| unusable(chain_path, e.to_string()))?;
        check_private(key_path)?;
        let key_pem = Zeroizing::new(std::fs::read_to_string(key_path).map_err(io(key_path))?);
        let secret = {
            use p256::pkcs8::DecodePrivateKey as _;
            p256::SecretKey::from_pkcs8_pem(&key_pem)
                .map_err(|_| IdentityError::NotAKey(key_path.display().to_string()))?
        };
        let key = SecretKey::P256(p256::ecdsa::SigningKey::from(secret));
        if chain
            .leaf_key()
            .map_err(|e| unusable(chain_path, e.to_string()))?
            != key.public()
        {
            return Err(unusable(
                key_path,
                "not the private key of the chain's first certificate".into(),
            ));
        }
        let client_id = match client_id {
            Some("x509_hash") => chain.hash_client_id(),
            Some(text) => {
                let name = text.strip_prefix(x509::SAN_DNS_PREFIX).unwrap_or(text);
                chain
                    .san_dns_client_id(name)
                    .map_err(|e| unusable(chain_path, e.to_string()))?
            }
            None => {
                let name = chain.leaf_dns_names().into_iter().next().ok_or_else(|| {
                    unusable(
                        chain_path,
                        "the leaf has no DNS name; use --verifier-x509-client-id x509_hash".into(),
                    )
                })?;
                chain
                    .san_dns_client_id(&name)
                    .map_err(|e| unusable(chain_path, e.to_string()))?
            }
        };
        Ok(Self {
            key,
            chain,
            client_id,
        })
    }
}

/// A key file readable or writable by others is refused, not used.
fn check_private(path: &Path) -> Result<(), IdentityError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|source| IdentityError::Io {
                path: path.display().to_string(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(IdentityError::Exposed(path.display().to_string()));
        }
    }
    let _ = path;
    Ok(())
}

/// Why the identity key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: not a private JWK")]
    NotAKey(String),
    #[error("{0}: readable or writable by others; chmod 600 it")]
    Exposed(String),
    #[error("X.509 identity: {0}")]
    Certificate(String),
}

impl VerifierIdentity {
    pub fn from_key(key: SecretKey) -> Self {
        let did = key.public().to_did_key();
        let kid = format!("{did}#{}", key.public().to_multikey());
        Self {
            key,
            did,
            kid,
            x509: None,
        }
    }

    /// Identifies the verifier by `x509`'s client id from now on (the did:key still derives
    /// the `direct_post.jwt` keys).
    pub fn with_x509(mut self, x509: X509Identity) -> Self {
        self.x509 = Some(x509);
        self
    }

    /// The signed request object for `request`: by the certificate's key with `x5c`, or by
    /// the did:key with its `kid`.
    pub fn sign(&self, request: &AuthorizationRequest) -> String {
        match &self.x509 {
            Some(x509) => request.sign_with_certificate(&x509.key, &x509.chain),
            None => request.sign(&self.key, &self.kid),
        }
    }

    /// Loads the key at `path`, or generates an Ed25519 key and writes it there (mode 0600,
    /// a new file, never through a symlink).
    pub fn load_or_generate(path: &Path) -> Result<Self, IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                check_private(path)?;
                let key = SecretKey::from_private_jwk(text.trim())
                    .map_err(|_| IdentityError::NotAKey(path.display().to_string()))?;
                Ok(Self::from_key(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate(KeyType::Ed25519);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                std::io::Write::write_all(&mut file, key.to_private_jwk().as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                Ok(Self::from_key(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn did(&self) -> &str {
        &self.did
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `decentralized_identifier:<did>`, or the X.509 client id when one is configured
    /// (OpenID4VP 1.0 §5.9.3).
    pub fn client_id(&self) -> String {
        match &self.x509 {
            Some(x509) => x509.client_id.as_client_id(),
            None => openid4vp::did_client_id(&self.did),
        }
    }

    /// The P-256 key a `direct_post.jwt` response to `request_id` is encrypted to: SHA-256
    /// over a domain label, the signing key and the id, as a scalar (a counter is added in the
    /// negligible case that a digest is not a valid scalar).
    pub fn response_key(&self, request_id: &str) -> p256::SecretKey {
        let secret = self.key.to_private_jwk();
        for counter in 0u32.. {
            let mut hasher = Sha256::new();
            hasher.update(b"credence-verifier/openid4vp-response-key/v1\0");
            hasher.update((secret.len() as u64).to_be_bytes());
            hasher.update(secret.as_bytes());
            hasher.update(request_id.as_bytes());
            hasher.update(counter.to_be_bytes());
            let digest = Zeroizing::new(<[u8; 32]>::from(hasher.finalize()));
            if let Ok(key) = p256::SecretKey::from_slice(&digest[..]) {
                return key;
            }
        }
        unreachable!("a valid scalar is found within a few tries")
    }

    fn response_jwk(&self, request_id: &str) -> Value {
        let mut jwk = jwe::public_jwk(&self.response_key(request_id).public_key());
        jwk["kid"] = Value::String(request_id.to_owned());
        jwk["use"] = Value::String("enc".into());
        jwk["alg"] = Value::String("ECDH-ES".into());
        jwk
    }
}

/// What the OpenID4VP routes share.
#[derive(Clone, Debug)]
pub struct Openid4vpState {
    pub verifier: VerifierState,
    pub store: RequestStore,
    pub identity: Arc<VerifierIdentity>,
    /// SHA-256 of the relying party API token; `None`: the request API is closed.
    pub api_token_hash: Option<[u8; 32]>,
    /// This service's public base URL (where the router is mounted), no trailing slash.
    pub public_url: String,
    pub request_ttl: Duration,
    /// The relying party's display name in request objects (`--verifier-name`).
    pub client_name: Option<String>,
}

impl Openid4vpState {
    fn clock(&self) -> &Clock {
        &self.verifier.clock
    }
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The routes, relative to wherever they are mounted.
pub fn router(state: Openid4vpState) -> Router {
    Router::new()
        .route("/requests", post(create_request))
        .route("/requests/{id}", get(request_result))
        .route("/requests/{id}/object", get(request_object))
        .route("/requests/{id}/response", post(response))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Why a relying party request was refused (RFC 9457 problems).
#[derive(Debug, thiserror::Error)]
pub enum RequestApiError {
    /// No or a wrong `Authorization: Bearer` API token.
    #[error("a valid verifier API token is required (Authorization: Bearer)")]
    Unauthorized,
    /// The body is not what the route takes.
    #[error(transparent)]
    Body(#[from] super::ApiError),
    /// The DCQL query is malformed or asks for what this verifier cannot check.
    #[error("{0}")]
    InvalidQuery(#[from] DcqlError),
    /// No such request.
    #[error("no request {0:?}")]
    NotFound(String),
    /// The database failed; the cause is logged, not returned.
    #[error("the verifier's database is unavailable")]
    Internal,
}

impl From<StoreError> for RequestApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "verifier store");
        RequestApiError::Internal
    }
}

impl IntoResponse for RequestApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = match &self {
            RequestApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
            }
            RequestApiError::Body(inner) => return inner_response(inner),
            RequestApiError::InvalidQuery(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-dcql-query",
                "Invalid DCQL query",
            ),
            RequestApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "request-not-found",
                "No such request",
            ),
            RequestApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        };
        let problem = Problem {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            did_resolution_metadata: None,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn inner_response(error: &super::ApiError) -> Response {
    // `ApiError` is not Clone; render through its problem.
    let problem = error.problem();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, axum::Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn authorize(state: &Openid4vpState, headers: &HeaderMap) -> Result<(), RequestApiError> {
    let expected = state.api_token_hash.ok_or(RequestApiError::Unauthorized)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(RequestApiError::Unauthorized)?;
    // Hashes compared, not tokens: a timing difference reveals bits of a hash.
    if token_hash(presented.trim()) != expected {
        return Err(RequestApiError::Unauthorized);
    }
    Ok(())
}

/// `POST /requests`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    dcql_query: Value,
    response_mode: Option<String>,
    purpose: Option<String>,
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn create_request(
    State(state): State<Openid4vpState>,
    headers: HeaderMap,
    body: Result<JsonBody<CreateRequest>, super::ApiError>,
) -> Result<Response, RequestApiError> {
    authorize(&state, &headers)?;
    let JsonBody(body) = body?;
    let query = DcqlQuery::from_value(&body.dcql_query)?;
    let mode = match body.response_mode.as_deref() {
        None => ResponseMode::DirectPost,
        Some(text) => ResponseMode::parse(text).ok_or_else(|| {
            super::ApiError::InvalidRequest(format!(
                "response_mode {text:?}: direct_post or direct_post.jwt"
            ))
        })?,
    };
    if body.purpose.as_ref().is_some_and(|p| p.len() > 1024) {
        return Err(super::ApiError::InvalidRequest("purpose: at most 1024 bytes".into()).into());
    }
    let now = state.clock().now();
    let stored = StoredRequest {
        id: openid4vp::random_token(),
        nonce: openid4vp::random_token(),
        state: openid4vp::random_token(),
        response_mode: mode.as_str().to_owned(),
        dcql_query: query.to_value().to_string(),
        purpose: body.purpose,
        created: now,
        expires: now + state.request_ttl,
        status: RequestStatus::Pending,
        result: None,
    };
    state.store.insert(&stored).await?;
    let request_uri = format!("{}/requests/{}/object", state.public_url, stored.id);
    let body = json!({
        "id": stored.id,
        "request_uri": request_uri,
        "authorization_request_uri":
            openid4vp::authorization_request_uri(&state.identity.client_id(), &request_uri),
        "expires_at": stamp(stored.expires),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn authorization_request(
    state: &Openid4vpState,
    stored: &StoredRequest,
) -> Result<(AuthorizationRequest, ResponseMode), RequestApiError> {
    let corrupt = |what: &str| {
        tracing::error!(id = %stored.id, what, "stored request is corrupt");
        RequestApiError::Internal
    };
    let mode = ResponseMode::parse(&stored.response_mode).ok_or_else(|| corrupt("mode"))?;
    let query_value = serde_json::from_str(&stored.dcql_query).map_err(|_| corrupt("query"))?;
    let dcql_query = DcqlQuery::from_value(&query_value).map_err(|_| corrupt("query"))?;
    Ok((
        AuthorizationRequest {
            client_id: state.identity.client_id(),
            response_uri: format!("{}/requests/{}/response", state.public_url, stored.id),
            response_mode: mode,
            nonce: stored.nonce.clone(),
            state: stored.state.clone(),
            dcql_query,
            response_key: (mode == ResponseMode::DirectPostJwt)
                .then(|| state.identity.response_jwk(&stored.id)),
            issued_at: stored.created,
            expires_at: stored.expires,
            client_name: state.client_name.clone(),
            purpose: stored.purpose.clone(),
        },
        mode,
    ))
}

/// `GET /requests/{id}/object`.
async fn request_object(
    State(state): State<Openid4vpState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, RequestApiError> {
    let stored = state
        .store
        .get(&id)
        .await?
        .ok_or_else(|| RequestApiError::NotFound(id.clone()))?;
    let (request, _) = authorization_request(&state, &stored)?;
    let jwt = state.identity.sign(&request);
    let mut response = jwt.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/oauth-authz-req+jwt"),
    );
    Ok(response)
}

/// `GET /requests/{id}`.
async fn request_result(
    State(state): State<Openid4vpState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, RequestApiError> {
    authorize(&state, &headers)?;
    let stored = state
        .store
        .get(&id)
        .await?
        .ok_or_else(|| RequestApiError::NotFound(id.clone()))?;
    let mut body = match &stored.result {
        Some(result) => serde_json::from_str(result).map_err(|_| RequestApiError::Internal)?,
        None => json!({}),
    };
    body["id"] = Value::String(stored.id.clone());
    body["status"] = Value::String(stored.status.as_str().to_owned());
    body["expires_at"] = Value::String(stamp(stored.expires));
    if let Some(purpose) = &stored.purpose {
        body["purpose"] = Value::String(purpose.clone());
    }
    Ok(axum::Json(body).into_response())
}

/// An OAuth-style error answer to a wallet (OpenID4VP §8.2: the response endpoint's errors).
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "verifier store");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the verifier's database is unavailable".into(),
        }
    }
}

fn bad_request(description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description: description.into(),
    }
}

fn refusal(error: &ResponseError) -> OAuthError {
    OAuthError {
        status: if matches!(error, ResponseError::CouldNotCheck { .. }) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        },
        error: error.error_code(),
        description: error.to_string(),
    }
}

/// `POST /requests/{id}/response`.
async fn response(
    State(state): State<Openid4vpState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(bad_request(
            "the response must be sent as application/x-www-form-urlencoded",
        ));
    }
    let Some(stored) = state.store.get(&id).await? else {
        return Err(bad_request(format!("no request {id:?}")));
    };
    let now = state.clock().now();
    if stored.status != RequestStatus::Pending {
        return Err(bad_request("this request was already answered"));
    }
    if stored.expires <= now {
        let result = json!({"error": {"error": "invalid_request", "error_description": "the response arrived after the request expired"}});
        state.store.expire(&id, now, &result.to_string()).await?;
        return Err(bad_request("the request has expired"));
    }
    // Single use: whatever the response says, only one gets past here.
    if !state.store.consume(&id, now).await? {
        return Err(bad_request(
            "this request was already answered or has expired",
        ));
    }
    let outcome = verify(&state, &stored, &body, now).await;
    match outcome {
        Ok(result) => {
            state
                .store
                .finish(&id, RequestStatus::Verified, &result.to_string())
                .await?;
            Ok(axum::Json(json!({})).into_response())
        }
        Err((error, reports)) => {
            let answer = refusal(&error);
            let result = json!({
                "error": {"error": answer.error, "error_description": answer.description},
                "report": reports,
            });
            state
                .store
                .finish(&id, RequestStatus::Failed, &result.to_string())
                .await?;
            Err(answer)
        }
    }
}

type Refusal = (ResponseError, Value);

async fn verify(
    state: &Openid4vpState,
    stored: &StoredRequest,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Value, Refusal> {
    let no_reports = |error| (error, json!({}));
    let (request, mode) = authorization_request(state, stored)
        .map_err(|_| no_reports(ResponseError::Malformed("the request is unusable".into())))?;
    let params = match (
        openid4vp::parse_response_form(body).map_err(no_reports)?,
        mode,
    ) {
        (ResponseBody::Plain(params), ResponseMode::DirectPost) => params,
        (ResponseBody::Encrypted(jwe), ResponseMode::DirectPostJwt) => {
            openid4vp::decrypt_response(&jwe, &state.identity.response_key(&stored.id))
                .map_err(no_reports)?
        }
        (_, mode) => {
            return Err(no_reports(ResponseError::Malformed(format!(
                "this request asked for response_mode {}",
                mode.as_str()
            ))));
        }
    };
    let client_id = state.identity.client_id();
    let expected = Expected {
        client_id: &client_id,
        nonce: &stored.nonce,
        state: &stored.state,
        query: &request.dcql_query,
        now,
        leeway: state.verifier.leeway,
        presentation_max_age: state.verifier.presentation_max_age,
    };
    match openid4vp::verify_response(&params, &expected, &state.verifier.context).await {
        Ok(Ok(verified)) => Ok(json!({"claims": verified.claims, "report": verified.reports})),
        Ok(Err(refused)) => Err((refused.error, json!(refused.reports))),
        Err(error) => Err(no_reports(ResponseError::Malformed(error.to_string()))),
    }
}
