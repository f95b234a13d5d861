//! The verifier's HTTP service (feature `server`): the W3C VC API verify routes, rendering the
//! pipeline's [`Report`](crate::report::Report). Handlers only extract (a strict JSON body
//! within [`MAX_BODY_BYTES`]), call [`crate::pipeline`], and render; every request error leaves
//! as an RFC 9457 problem (`application/problem+json`), every verification as a VC API
//! verification result.
//!
//! Routes, relative to where [`router`] is mounted (`/verifier` in `credence serve`):
//! `POST /credentials/verify`, `POST /presentations/verify` ([`vc_api`]); with [`open`], also
//! the OpenID4VP routes under `/requests` ([`openid4vp`], its requests kept by [`store`]).
//!
//! It must not hold verification logic (that is the library's), and it reads no environment
//! itself: [`VerifierConfig`] is a `clap::Args` the binary flattens in.

pub mod openid4vp;
pub mod store;
pub mod vc_api;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use credence_registry::client::RegistryClient;
use credence_registry::clock::Clock;
use credence_registry::error::{PROBLEM_BASE, Problem};
use credence_registry::json::JsonError;
use credence_registry::resolver::web::public_http_client;
use credence_registry::resolver::{CredenceSource, Resolver};
use serde::de::DeserializeOwned;

use crate::pipeline::{Context, VerifyError};

/// Largest request body read: the largest credential or presentation the library accepts
/// (`sd_jwt::MAX_PRESENTATION_BYTES`), plus room for the JSON around it.
pub const MAX_BODY_BYTES: usize = crate::sd_jwt::MAX_PRESENTATION_BYTES + 16 * 1024;

/// How the verifier service runs. Every field is a flag with an environment variable, and has
/// an explicit clap id, since the binary flattens the registry's, the issuer's and this config
/// into one command.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifierConfig {
    /// Base URL of the registry the verifier resolves `did:credence` issuers at and asks
    /// about accreditations and schemas [default: `http://127.0.0.1:8080/registry`; in
    /// `credence serve`, this server's own].
    #[arg(
        id = "verifier_registry",
        long = "verifier-registry",
        env = "CREDENCE_VERIFIER_REGISTRY"
    )]
    pub registry_url: Option<String>,
    /// Clock skew tolerated on `iat`, `nbf`, `exp`, `validFrom`, `validUntil` and key-binding
    /// times, in seconds.
    #[arg(
        id = "verifier_leeway_seconds",
        long = "verifier-leeway-seconds",
        env = "CREDENCE_VERIFIER_LEEWAY_SECONDS",
        default_value_t = 60
    )]
    pub leeway_seconds: u32,
    /// Oldest key-binding JWT accepted in a presentation, in seconds.
    #[arg(
        id = "verifier_presentation_max_age_seconds",
        long = "verifier-presentation-max-age-seconds",
        env = "CREDENCE_VERIFIER_PRESENTATION_MAX_AGE_SECONDS",
        default_value_t = 300
    )]
    pub presentation_max_age_seconds: u32,
    /// Directory for the verifier's signing key (`verifier-key.jwk`) and its embedded
    /// database [default: `./credence-data/verifier`; in `credence serve`, `verifier/` in the
    /// registry's data dir].
    #[arg(
        id = "verifier_data_dir",
        long = "verifier-data-dir",
        env = "CREDENCE_VERIFIER_DATA_DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`; on PostgreSQL the tables live in the
    /// schema `credence_verifier`); an SQLite file in the data directory when absent.
    #[arg(
        id = "verifier_database_url",
        long = "verifier-database-url",
        env = "CREDENCE_VERIFIER_DATABASE_URL"
    )]
    pub database_url: Option<String>,
    /// The relying parties' API token for creating OpenID4VP requests and reading their
    /// results (prefer the file form). Without this or `--verifier-api-token-file`, a token is
    /// generated at first start into `api-token` in the data directory (mode 0600; its path,
    /// never the token, is logged) and read from there afterwards.
    #[arg(
        id = "verifier_api_token",
        long = "verifier-api-token",
        env = "CREDENCE_VERIFIER_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// File holding the relying parties' API token.
    #[arg(
        id = "verifier_api_token_file",
        long = "verifier-api-token-file",
        env = "CREDENCE_VERIFIER_API_TOKEN_FILE"
    )]
    pub api_token_file: Option<PathBuf>,
    /// The verifier's public base URL, where its routes are reachable by wallets (request
    /// objects and response URIs are built on it) [default:
    /// `http://127.0.0.1:8080/verifier`; in `credence serve`, `http://` + its address +
    /// `/verifier`].
    #[arg(
        id = "verifier_public_url",
        long = "verifier-public-url",
        env = "CREDENCE_VERIFIER_PUBLIC_URL"
    )]
    pub public_url: Option<String>,
    /// The relying party's name, shown by wallets next to what it asks for (a bank's name).
    #[arg(
        id = "verifier_name",
        long = "verifier-name",
        env = "CREDENCE_VERIFIER_NAME"
    )]
    pub name: Option<String>,
    /// PEM certificate chain (leaf first) for X.509 client ids (OpenID4VP 1.0 §5.9.3, the EU
    /// high-assurance profile): request objects are then signed with its leaf's key and carry
    /// it in `x5c`. Needs `--verifier-x509-key`.
    #[arg(
        id = "verifier_x509_chain",
        long = "verifier-x509-chain",
        env = "CREDENCE_VERIFIER_X509_CHAIN",
        requires = "verifier_x509_key"
    )]
    pub x509_chain: Option<PathBuf>,
    /// The leaf certificate's P-256 private key, PKCS#8 PEM (mode 0600).
    #[arg(
        id = "verifier_x509_key",
        long = "verifier-x509-key",
        env = "CREDENCE_VERIFIER_X509_KEY",
        requires = "verifier_x509_chain"
    )]
    pub x509_key: Option<PathBuf>,
    /// The X.509 client id: `x509_san_dns:<a DNS name of the leaf>` (default: its first one)
    /// or `x509_hash` (the leaf's SHA-256).
    #[arg(
        id = "verifier_x509_client_id",
        long = "verifier-x509-client-id",
        env = "CREDENCE_VERIFIER_X509_CLIENT_ID",
        requires = "verifier_x509_chain"
    )]
    pub x509_client_id: Option<String>,
    /// How long an OpenID4VP request can be answered, in seconds.
    #[arg(
        id = "verifier_request_ttl_seconds",
        long = "verifier-request-ttl-seconds",
        env = "CREDENCE_VERIFIER_REQUEST_TTL_SECONDS",
        default_value_t = 300
    )]
    pub request_ttl_seconds: u32,
    /// Fetch status lists from private, loopback and link-local addresses too (tests, closed
    /// networks). Off: a credential cannot make the verifier reach into its own network.
    #[arg(
        id = "verifier_allow_private_targets",
        long = "verifier-allow-private-targets",
        env = "CREDENCE_VERIFIER_ALLOW_PRIVATE_TARGETS"
    )]
    pub allow_private_targets: bool,
}

impl VerifierConfig {
    /// The registry: the configured one or `http://127.0.0.1:8080/registry`.
    pub fn registry_url(&self) -> &str {
        self.registry_url
            .as_deref()
            .unwrap_or(credence_registry::client::DEFAULT_REGISTRY_URL)
    }

    /// The data directory: the configured one or `./credence-data/verifier`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./credence-data/verifier"))
    }

    /// The public base URL: the configured one or `http://127.0.0.1:8080/verifier`.
    pub fn public_url(&self) -> &str {
        self.public_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8080/verifier")
    }
}

/// What the handlers share: the pipeline's context (resolver, registry client, caches), the
/// clock the verification time is read from, and the tolerances.
#[derive(Clone, Debug)]
pub struct VerifierState {
    pub context: Arc<Context>,
    pub clock: Clock,
    pub leeway: Duration,
    pub presentation_max_age: Duration,
}

impl VerifierState {
    /// The state a service runs with: a resolver and registry client for `config`'s
    /// registry, the system clock.
    pub fn from_config(config: &VerifierConfig) -> Result<Self, credence_registry::error::Error> {
        let registry = RegistryClient::new(config.registry_url())?;
        // Status lists are fetched with the resolver's address policy: a credential names the
        // URL, so it must not reach the verifier's own network unless the operator allows it.
        let status_http = public_http_client(
            config.allow_private_targets,
            std::time::Duration::from_secs(15),
        )
        .map_err(credence_registry::error::Error::Internal)?;
        let mut context = Context::new(
            Resolver::new(CredenceSource::Remote(registry.clone()), Default::default()),
            Some(registry),
            status_http,
        )
        .trusting_status_lists_under(
            config.registry_url(),
            credence_registry::client::plain_http_client()?,
        );
        if !config.allow_private_targets {
            context = context.public_status_targets_only();
        }
        Ok(Self {
            context: Arc::new(context),
            clock: Clock::system(),
            leeway: Duration::seconds(config.leeway_seconds.into()),
            presentation_max_age: Duration::seconds(config.presentation_max_age_seconds.into()),
        })
    }
}

/// The verifier's routes, relative to wherever they are mounted.
pub fn router(state: VerifierState) -> Router {
    Router::new()
        .merge(vc_api::router())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Why a request could not be verified at all. Each is a problem with a stable `type`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The body is not sent as JSON.
    #[error("the request body must be application/json, not {received}")]
    UnsupportedMediaType { received: String },
    /// The body is not strict JSON (syntax, duplicate members, nesting).
    #[error("{0}")]
    MalformedJson(#[from] JsonError),
    /// The JSON does not have the shape the route takes (a missing or unknown member).
    #[error("{0}")]
    InvalidRequest(String),
    /// The credential or presentation is in a format this verifier does not take.
    #[error("{0}")]
    UnsupportedFormat(String),
    /// The options cannot be met by anything (an empty challenge or domain).
    #[error("{0}")]
    InvalidOptions(#[from] VerifyError),
}

impl ApiError {
    /// The status and the problem `type` suffix of each condition (no wildcard arm).
    fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BodyTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request body too large",
            ),
            Self::UnsupportedMediaType { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            Self::InvalidRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "Invalid request",
            ),
            Self::UnsupportedFormat(_) => (
                StatusCode::BAD_REQUEST,
                "unsupported-format",
                "Unsupported credential format",
            ),
            Self::InvalidOptions(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-options",
                "Invalid verification options",
            ),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, kind, title) = self.classify();
        Problem {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            did_resolution_metadata: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.classify();
        let mut response = (status, axum::Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// A JSON request body: `Content-Type: application/json` (or `+json`), at most
/// [`MAX_BODY_BYTES`], parsed with `json::parse_strict` (duplicate members and deep nesting
/// refused), then decoded into `T` (unknown members refused by `T`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let essence = content_type
            .as_deref()
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        let is_json = essence.as_deref().is_some_and(|e| {
            e == "application/json"
                || e.strip_prefix("application/")
                    .is_some_and(|subtype| subtype.ends_with("+json"))
        });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType {
                received: content_type.map_or_else(|| "(none)".to_owned(), |v| format!("{v:?}")),
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge {
                        limit: MAX_BODY_BYTES,
                    }
                } else {
                    ApiError::InvalidRequest(format!(
                        "the body could not be read: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        let value = credence_registry::json::parse_strict(&bytes)?;
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))
    }
}

/// A verifier service ready to serve: its whole router (VC API and OpenID4VP) and the store
/// it keeps OpenID4VP requests in.
#[derive(Debug)]
pub struct VerifierApp {
    pub router: Router,
    pub store: store::RequestStore,
    pub identity: Arc<openid4vp::VerifierIdentity>,
}

/// Why the verifier service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("verifier configuration: {0}")]
    Config(String),
    #[error("verifier identity: {0}")]
    Identity(#[from] openid4vp::IdentityError),
    #[error("verifier database: {0}")]
    Store(#[from] store::StoreError),
    #[error("verifier: {0}")]
    Registry(#[from] credence_registry::error::Error),
}

/// Opens the verifier service `config` describes: the signing key (loaded or generated in the
/// data directory), the store (migrated), the API token, and the router to mount (the binary
/// mounts it under `/verifier`).
pub async fn open(config: &VerifierConfig) -> Result<VerifierApp, OpenError> {
    open_with(config, VerifierState::from_config(config)?).await
}

/// [`open`] with the pipeline's state given (tests set the clock, and verify did:key issuers
/// without a registry); `config`'s registry and tolerances are then not used.
pub async fn open_with(
    config: &VerifierConfig,
    verifier: VerifierState,
) -> Result<VerifierApp, OpenError> {
    let mut identity =
        openid4vp::VerifierIdentity::load_or_generate(&config.data_dir().join("verifier-key.jwk"))?;
    if let (Some(chain), Some(key)) = (&config.x509_chain, &config.x509_key) {
        identity = identity.with_x509(openid4vp::X509Identity::load(
            chain,
            key,
            config.x509_client_id.as_deref(),
        )?);
    }
    let identity = Arc::new(identity);
    let database_url = match &config.database_url {
        Some(url) => url.clone(),
        None => {
            let data_dir = config.data_dir();
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| OpenError::Config(format!("{}: {e}", data_dir.display())))?;
            format!("sqlite://{}", data_dir.join("verifier.db").display())
        }
    };
    let store = store::RequestStore::open(&database_url).await?;
    let token = match (&config.api_token, &config.api_token_file) {
        (Some(_), Some(_)) => {
            return Err(OpenError::Config(
                "give the API token or its file, not both".into(),
            ));
        }
        (Some(token), None) => Some(zeroize::Zeroizing::new(token.trim().to_owned())),
        (None, Some(path)) => Some(zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| OpenError::Config(format!("{}: {e}", path.display())))?
                .trim()
                .to_owned(),
        )),
        (None, None) => Some(load_or_generate_api_token(
            &config.data_dir().join(GENERATED_API_TOKEN_FILE),
        )?),
    };
    if token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(OpenError::Config(
            "the API token must be at least 16 characters".into(),
        ));
    }
    let public_url = url::Url::parse(config.public_url())
        .map_err(|e| OpenError::Config(format!("--verifier-public-url: {e}")))?;
    let state = openid4vp::Openid4vpState {
        verifier: verifier.clone(),
        store: store.clone(),
        identity: identity.clone(),
        api_token_hash: token.as_deref().map(|t| openid4vp::token_hash(t)),
        public_url: public_url.as_str().trim_end_matches('/').to_owned(),
        request_ttl: Duration::seconds(config.request_ttl_seconds.into()),
        client_name: config.name.clone(),
    };
    let router = router(verifier).merge(openid4vp::router(state));
    Ok(VerifierApp {
        router,
        store,
        identity,
    })
}

/// Where, in the data directory, the API token generated when none is configured is kept.
pub const GENERATED_API_TOKEN_FILE: &str = "api-token";

/// The API token kept at `path`, generated there at first start when none is configured, the
/// way the issuer keeps its admin token: 256 random bits as unpadded base64url in a new file
/// readable by its owner only (mode 0600), fsynced before use. Its path is logged, never the
/// token. A kept file that others can read is refused rather than trusted, as the signing
/// key's is.
fn load_or_generate_api_token(path: &Path) -> Result<zeroize::Zeroizing<String>, OpenError> {
    use base64::Engine as _;
    use rand_core::RngCore as _;
    let io = |e: std::io::Error| OpenError::Config(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(OpenError::Config(format!(
                        "{}: the API token file is readable by others (mode {:o}); chmod 600 it",
                        path.display(),
                        mode & 0o777
                    )));
                }
            }
            Ok(zeroize::Zeroizing::new(text.trim().to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
            rand_core::OsRng.fill_bytes(bytes.as_mut());
            let token = zeroize::Zeroizing::new(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
            );
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            std::io::Write::write_all(&mut file, token.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io)?;
            tracing::info!(
                path = %path.display(),
                "no verifier API token configured: generated one; read it from this file"
            );
            Ok(token)
        }
        Err(e) => Err(io(e)),
    }
}
