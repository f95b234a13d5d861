//! The issuer service's configuration: the only place that reads the environment (through
//! clap's `env`). Every field is a documented flag with an environment variable. Secrets
//! (`CREDENCE_MASTER_KEY`, `CREDENCE_ADMIN_TOKEN`) are [`SecretText`], which never prints.

use std::path::PathBuf;

use crate::secrets::{SecretSource, SecretText};

/// How an issuer service runs.
#[derive(Debug, Clone, clap::Args)]
pub struct IssuerConfig {
    /// Directory for the embedded database and generated secrets [default:
    /// `./credence-data/issuer`; in `credence serve`, `issuer/` in the registry's data dir].
    #[arg(
        id = "issuer_data_dir",
        long = "issuer-data-dir",
        env = "CREDENCE_ISSUER_DATA_DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`); an SQLite file in the data
    /// directory when absent.
    #[arg(
        id = "issuer_database_url",
        long = "issuer-database-url",
        env = "CREDENCE_ISSUER_DATABASE_URL"
    )]
    pub database_url: Option<String>,
    /// Base URL of the registry where tenants' DIDs are registered and their status lists
    /// published [default: `http://127.0.0.1:8080/registry`; all-in-one: this server's own].
    #[arg(long = "registry", env = "CREDENCE_REGISTRY")]
    pub registry_url: Option<String>,
    /// File holding the master key (32 bytes, unpadded base64url) that seals tenants' keys.
    #[arg(long, env = "CREDENCE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// The master key itself (prefer a file: environments leak into process listings).
    #[arg(
        long = "master-key",
        env = "CREDENCE_MASTER_KEY",
        hide_env_values = true
    )]
    pub master_key: Option<SecretText>,
    /// File holding the operator's admin token (creates tenants).
    #[arg(long, env = "CREDENCE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// The admin token itself (at least 32 characters).
    #[arg(
        long = "admin-token",
        env = "CREDENCE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<SecretText>,
    /// The server's public base URL, as wallets reach it (`https://agency.example`): OpenID4VCI
    /// issuer identifiers, metadata and offer URLs are `<public url>/issuer/<tenant>/...`
    /// [default: `http://` and the address the server listens on].
    #[arg(long = "public-url", env = "CREDENCE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How long verifiers may cache a published status list, in seconds.
    #[arg(long, env = "CREDENCE_STATUS_TTL_SECONDS", default_value_t = 300)]
    pub status_ttl_seconds: u64,
}

/// The registry an issuer uses when none is configured.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:8080/registry";

/// The public URL when none is configured and the caller set none (a library user).
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

impl IssuerConfig {
    /// The data directory: the configured one or `./credence-data/issuer`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./credence-data/issuer"))
    }

    /// The public base URL: the configured one or [`DEFAULT_PUBLIC_URL`].
    pub fn public_url(&self) -> &str {
        self.public_url.as_deref().unwrap_or(DEFAULT_PUBLIC_URL)
    }

    /// The registry's base URL: the configured one or [`DEFAULT_REGISTRY_URL`].
    pub fn registry_url(&self) -> &str {
        self.registry_url.as_deref().unwrap_or(DEFAULT_REGISTRY_URL)
    }

    /// The database URL: the configured one, or `issuer.db` in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("issuer.db").display()))
    }

    pub fn master_key_source(&self) -> SecretSource {
        SecretSource {
            file: self.master_key_file.clone(),
            value: self.master_key.clone(),
            generated: self.data_dir().join("master-key"),
        }
    }

    pub fn admin_token_source(&self) -> SecretSource {
        SecretSource {
            file: self.admin_token_file.clone(),
            value: self.admin_token.clone(),
            generated: self.data_dir().join("admin-token"),
        }
    }
}
