//! Configuration of a registry process: the only place that reads the environment (through
//! clap's `env` attributes).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where and how to serve, and where to store.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "CREDENCE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite database (used when --database-url is not given).
    #[arg(long, env = "CREDENCE_DATA_DIR", default_value = "./credence-data")]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Overrides --data-dir.
    #[arg(long, env = "CREDENCE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// How long to wait for the database to accept a first connection before giving up with
    /// the cause, in milliseconds.
    #[arg(
        long,
        env = "CREDENCE_DATABASE_CONNECT_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub database_connect_timeout_ms: u64,
    /// Allow did:web resolution over plain http and to loopback/private addresses. For local
    /// development only: it lets any client make this server fetch internal URLs.
    #[arg(long, env = "CREDENCE_DID_WEB_ALLOW_PRIVATE", default_value_t = false)]
    pub did_web_allow_private: bool,
    /// File holding the log's checkpoint signing key (created on first start). Instances that
    /// share a database must share it.
    #[arg(long, env = "CREDENCE_LOG_KEY_FILE")]
    pub log_key_file: Option<PathBuf>,
    /// Origin line of the log's checkpoints: a name for this log, e.g. registry.city.example/log.
    #[arg(
        long,
        env = "CREDENCE_LOG_ORIGIN",
        default_value = "credence.localhost/registry"
    )]
    pub log_origin: String,
    /// How often to publish a signed checkpoint when the log grew, in milliseconds.
    #[arg(long, env = "CREDENCE_CHECKPOINT_INTERVAL_MS", default_value_t = 1000)]
    pub checkpoint_interval_ms: u64,
    /// A witness to ask for cosignatures when publishing checkpoints, as URL=KEY (its base URL,
    /// https unless on a loopback address, and its verifier key from GET <url>/key); repeatable.
    #[arg(long = "witness", env = "CREDENCE_WITNESSES", value_delimiter = ',')]
    pub witnesses: Vec<crate::transparency::WitnessEndpoint>,
    /// A DID trusted to publish schemas (repeatable, or comma-separated).
    #[arg(
        long = "trust-anchor",
        env = "CREDENCE_TRUST_ANCHORS",
        value_delimiter = ','
    )]
    pub trust_anchors: Vec<credence_registry::did::Did>,
    /// Most operations one DID may submit per hour.
    #[arg(long, env = "CREDENCE_OPS_PER_HOUR", default_value_t = 10)]
    pub ops_per_hour: u32,
    /// Most operations one DID may submit per day.
    #[arg(long, env = "CREDENCE_OPS_PER_DAY", default_value_t = 30)]
    pub ops_per_day: u32,
    /// Most writes (any request but GET, HEAD, OPTIONS) one client address may make per minute;
    /// 0 for no limit. Behind a reverse proxy all clients share the proxy's address.
    #[arg(
        long,
        env = "CREDENCE_WRITES_PER_CLIENT_PER_MINUTE",
        default_value_t = 600
    )]
    pub writes_per_client_per_minute: u32,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "CREDENCE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CREDENCE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Most writes the process accepts per minute from everyone; 0 for no limit.
    #[arg(long, env = "CREDENCE_WRITES_PER_MINUTE", default_value_t = 60_000)]
    pub writes_per_minute: u32,
}

impl ServeConfig {
    /// The TLS configuration, when --tls-cert and --tls-key are given.
    pub fn tls(&self) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, crate::TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls_config(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// `https` when TLS is configured, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// How the server treats connections and writes.
    pub fn serve_options(&self) -> crate::ServeOptions {
        crate::ServeOptions {
            throttle: crate::http::throttle::Throttle {
                per_client_per_minute: self.writes_per_client_per_minute,
                global_per_minute: self.writes_per_minute,
            },
            ..crate::ServeOptions::default()
        }
    }

    /// The checkpoint signing key file: the explicit one or `log-signing.key` in the data
    /// directory.
    pub fn log_key_file(&self) -> PathBuf {
        self.log_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("log-signing.key"))
    }

    /// The database URL to open: the explicit one, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("credence.db").display()),
        }
    }
}
