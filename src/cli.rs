//! Command-line interface. Parsing (clap) and printing live here; behaviour lives in the
//! library crates.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use credence_registry::client::{DEFAULT_REGISTRY_URL, RegistryClient};
use credence_registry::did::Did;
use credence_registry::error::Error;
use credence_registry::keys::KeyType;
use credence_registry::ops::ServiceSpec;
use credence_registry::owner::{CreateError, KeyDir, Rotated};
use credence_registry::resolver::{CredenceSource, Resolver, web::WebResolverConfig};
use credence_registry::wire::{AccreditationClaims, RevocationClaims, VersionSelector};
use credence_registry_server::config::ServeConfig;
use credence_registry_server::{serve, transparency};

#[derive(Debug, Parser)]
#[command(
    name = "credence",
    version,
    about = "Credence: DIDs, verifiable credentials and an auditable registry"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        env = "CREDENCE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where the all-in-one server mounts the issuer (and `credence issuer serve` too, so URLs
/// keep their shape whichever way it runs).
pub(crate) const ISSUER_PREFIX: &str = "/issuer";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service in one process on one port: the registry under /registry, the
    /// issuer under /issuer, the verifier under /verifier.
    Serve(Box<ServeAll>),
    /// Verify a credential or presentation step by step; exit 0 valid, 1 invalid, 2 could
    /// not check.
    Verify(crate::verifier_cli::VerifyArgs),
    /// The verifier service alone, and a relying party's OpenID4VP commands.
    Verifier {
        #[command(subcommand)]
        command: crate::verifier_cli::VerifierCommand,
    },
    /// The citizen's wallet: receive, list, present with consent, history, backup.
    Wallet {
        #[command(subcommand)]
        command: crate::wallet_cli::WalletCommand,
    },
    /// The issuer service alone, and the agency operator's commands.
    Issuer {
        #[command(subcommand)]
        command: crate::issuer_cli::IssuerCommand,
    },
    /// The registry service alone.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Mirror and re-verify a registry's whole log; exit 0 if clean, 1 on any discrepancy.
    Audit(AuditArgs),
    /// Run a checkpoint witness that cosigns logs' checkpoints only if they extend what it saw.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Accredit organisations for credential types, revoke accreditations, show them.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Read published status lists.
    Status {
        #[command(subcommand)]
        command: StatusCommand,
    },
    /// Publish and show credential schemas (JSON Schema + SD-JWT VC type metadata).
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Create, update, rotate, deactivate and resolve DIDs.
    Did {
        #[command(subcommand)]
        command: DidCommand,
    },
}

/// `credence serve`: the registry's and the issuer's settings.
#[derive(Debug, clap::Args)]
struct ServeAll {
    #[command(flatten)]
    registry: ServeConfig,
    #[command(flatten)]
    issuer: credence_issuer::config::IssuerConfig,
    #[command(flatten)]
    verifier: credence_verifier::server::VerifierConfig,
}

#[derive(Debug, clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    registry: RegistryArg,
    /// Directory for the pinned log key, the last audited checkpoint and mirrored entries;
    /// makes later audits incremental and able to catch rollbacks.
    #[arg(long, env = "CREDENCE_AUDIT_STATE")]
    state: Option<std::path::PathBuf>,
    /// The log's verifier key (<origin>+<id>+<base64>), if known out of band.
    #[arg(long, env = "CREDENCE_LOG_KEY", value_parser = verifier_key)]
    log_key: Option<String>,
    /// Skip comparing each DID's served operations with the log (faster on large logs).
    #[arg(long)]
    skip_served_check: bool,
    /// Verifier key of a witness whose cosignature counts (repeatable).
    #[arg(long = "witness-key", value_parser = verifier_key)]
    witness_keys: Vec<String>,
    /// How many of the --witness-key witnesses must have cosigned the checkpoint.
    #[arg(long, default_value_t = 0)]
    min_witnesses: usize,
    /// The registry's trust anchors (repeatable): when given, every accreditation, schema and
    /// status list in the log is also checked for authorization as the log stood then.
    #[arg(long = "trust-anchor")]
    trust_anchors: Vec<Did>,
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Sign (with the DID in --keys) and record an accreditation of SUBJECT; prints its id.
    Accredit {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        /// The organisation's DID.
        subject: String,
        /// A credential type (vct) it may issue (repeatable).
        #[arg(long = "type", required = true)]
        types: Vec<credence_registry::ids::CredentialType>,
        /// It may also accredit others for these types.
        #[arg(long)]
        may_accredit: bool,
        /// Start (RFC 3339); default now.
        #[arg(long)]
        from: Option<String>,
        /// End (RFC 3339).
        #[arg(long)]
        until: String,
    },
    /// Revoke an accreditation you made.
    Revoke {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        id: credence_registry::ids::AccreditationId,
    },
    /// Show a DID's accreditations, or with --type whether it may issue that type now (and
    /// the chain); with --log-key, every fact shown is proven from the log (read from what the
    /// accreditors signed) and the answer recomputed against the --trust-anchor DIDs given.
    Show {
        #[command(flatten)]
        registry: RegistryArg,
        did: String,
        #[arg(long = "type")]
        credential_type: Option<String>,
        /// A trust anchor the proven chain must end at (repeatable); with --log-key and
        /// --type, an answer whose chain ends elsewhere is "not allowed".
        #[arg(long = "trust-anchor")]
        anchors: Vec<Did>,
        #[command(flatten)]
        proof: LogProofArgs,
    },
}

#[derive(Debug, Subcommand)]
enum StatusCommand {
    /// Sign (with the DID in --keys) and publish a 1-bit Token Status List of 131,072 entries
    /// for URI with the given entries set; prints the list's URL. (The issuer service will do
    /// this for agencies; this command is for trying the registry out.)
    Publish {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        /// The list's URI (its identity across versions).
        #[arg(long)]
        uri: String,
        /// An entry to mark (revoked), repeatable.
        #[arg(long = "set")]
        set: Vec<u64>,
    },
    /// Fetch the status list at URL, verify its issuer's signature, print entry INDEX's status;
    /// with --log-key, also prove the version served is the one the registry logged.
    Show {
        #[command(flatten)]
        registry: RegistryArg,
        /// The list's URL (http or https), as `status publish` printed it.
        #[arg(value_parser = http_url)]
        url: String,
        #[arg(long)]
        index: u64,
        #[command(flatten)]
        proof: LogProofArgs,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Sign FILE ({"schema": ..., "typeMetadata": ...}) with the DID in --keys and publish it;
    /// prints the schema's content-addressed id.
    Publish {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        /// JSON file with "schema" (JSON Schema 2020-12) and "typeMetadata" (SD-JWT VC).
        file: std::path::PathBuf,
    },
    /// Print a published schema; with --log-key, proven from the log.
    Show {
        #[command(flatten)]
        registry: RegistryArg,
        id: String,
        #[command(flatten)]
        proof: LogProofArgs,
    },
}

#[derive(Debug, Subcommand)]
enum WitnessCommand {
    /// Serve POST /add-checkpoint (C2SP tlog-witness) and GET /key.
    Serve(WitnessArgs),
}

#[derive(Debug, clap::Args)]
struct WitnessArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CREDENCE_WITNESS_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: std::net::SocketAddr,
    /// The witness's signing key file (created on first start, mode 0600).
    #[arg(
        long,
        env = "CREDENCE_WITNESS_KEY_FILE",
        default_value = "./credence-witness/witness.key"
    )]
    key_file: std::path::PathBuf,
    /// Name of this witness in its cosignatures (created keys only).
    #[arg(
        long,
        env = "CREDENCE_WITNESS_NAME",
        default_value = "witness.localhost"
    )]
    name: String,
    /// Where the witness remembers what it cosigned.
    #[arg(
        long,
        env = "CREDENCE_WITNESS_STATE",
        default_value = "./credence-witness/state.json"
    )]
    state_file: std::path::PathBuf,
    /// Verifier key of a log to follow (`<origin>+<id>+<key>`, from GET /registry/log/key); repeatable.
    #[arg(long = "log", required = true, value_parser = verifier_key)]
    logs: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Serve the registry routes at the root path.
    Serve(ServeConfig),
}

#[derive(Debug, clap::Args)]
struct RegistryArg {
    /// Registry base URL.
    #[arg(long, env = "CREDENCE_REGISTRY", default_value = DEFAULT_REGISTRY_URL, value_parser = http_url)]
    registry: String,
}

#[derive(Debug, clap::Args)]
struct KeysArg {
    /// Directory holding the DID's keys (created by `did create`, files mode 0600).
    #[arg(long)]
    keys: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
enum DidCommand {
    /// Make a rotation key and a signing key in --keys, register a new did:credence, print it.
    Create {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        #[arg(long, value_enum, default_value = "ed25519")]
        key_type: KeyType,
        /// Service endpoint as ID=TYPE=URL (repeatable), e.g. site=LinkedDomains=https://agency.example
        #[arg(long = "service", value_parser = parse_service)]
        services: Vec<ServiceSpec>,
    },
    /// Replace the DID's services (keys unchanged).
    Update {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        /// Service endpoint as ID=TYPE=URL (repeatable); none clears the services.
        #[arg(long = "service", value_parser = parse_service)]
        services: Vec<ServiceSpec>,
    },
    /// Replace both keys with fresh ones; the old rotation key signs the change. Old keys move
    /// to <keys>/retired/<version>/.
    Rotate {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
        #[arg(long, value_enum, default_value = "ed25519")]
        key_type: KeyType,
    },
    /// Deactivate the DID for good.
    Deactivate {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        keys: KeysArg,
    },
    /// Resolve any supported DID (did:credence through the registry; did:key, did:jwk locally;
    /// did:web over HTTPS) and print the DID Resolution result.
    Resolve {
        did: String,
        #[command(flatten)]
        registry: RegistryArg,
        /// Resolve the version created by this operation hash.
        #[arg(long)]
        version_id: Option<String>,
        /// Resolve the version current at this RFC 3339 time.
        #[arg(long, conflicts_with = "version_id")]
        version_time: Option<String>,
        #[command(flatten)]
        proof: LogProofArgs,
    },
}

/// Demanding log proofs: with `--log-key`, what is shown must be proven to be in the registry's
/// log under a checkpoint signed by that key (and cosigned by enough witnesses), and consistent
/// with every checkpoint an earlier run accepted for that log (`--log-state`).
#[derive(Debug, clap::Args)]
struct LogProofArgs {
    /// The registry log's verifier key (<origin>+<id>+<base64>, from GET /registry/log/key);
    /// when given, what is shown is proven to be in the log, or the command fails.
    #[arg(long, env = "CREDENCE_LOG_KEY", value_parser = verifier_key)]
    log_key: Option<String>,
    /// Verifier key of a witness whose cosignature counts (repeatable).
    #[arg(long = "witness-key", value_parser = verifier_key)]
    witness_keys: Vec<String>,
    /// How many of the --witness-key witnesses must have cosigned.
    #[arg(long, default_value_t = 0)]
    min_witnesses: usize,
    /// Where the last checkpoint accepted for each log is kept between runs, so no later run
    /// accepts a fork or a rollback of it (default: ~/.credence/log-state).
    #[arg(long, env = "CREDENCE_LOG_STATE")]
    log_state: Option<std::path::PathBuf>,
}

impl LogProofArgs {
    fn watcher(
        self,
    ) -> Result<Option<std::sync::Arc<credence_registry::client::LogWatcher>>, CommandError> {
        let Some(key) = self.log_key else {
            return Ok(None);
        };
        // The user's home is the one place read outside clap: a default state directory.
        let state = self
            .log_state
            .or_else(|| std::env::home_dir().map(|home| home.join(".credence/log-state")));
        let watcher = match state {
            Some(dir) => credence_registry::client::LogWatcher::persistent(
                &key,
                self.witness_keys,
                self.min_witnesses,
                &dir,
            )?,
            None => {
                eprintln!(
                    "note: no home directory and no --log-state: checkpoints are not remembered \
                     between runs"
                );
                credence_registry::client::LogWatcher::new(
                    &key,
                    self.witness_keys,
                    self.min_witnesses,
                )
            }
        };
        Ok(Some(std::sync::Arc::new(watcher)))
    }
}

/// A signed-note verifier key argument (`--log-key`, `--witness-key`, `--log`): a malformed one
/// is a usage error (exit 2), like any other bad argument.
fn verifier_key(text: &str) -> Result<String, String> {
    credence_registry::client::check_verifier_key(text)
}

/// An http(s) URL argument.
pub(crate) fn http_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(text.to_owned()),
        Ok(url) => Err(format!("not an http(s) URL (scheme {:?})", url.scheme())),
        Err(error) => Err(format!("not a URL ({error})")),
    }
}

fn parse_service(text: &str) -> Result<ServiceSpec, String> {
    let mut parts = text.splitn(3, '=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(kind), Some(endpoint)) if !id.is_empty() && !kind.is_empty() => {
            Ok(ServiceSpec {
                id: id.to_owned(),
                kind: kind.to_owned(),
                service_endpoint: endpoint.to_owned(),
            })
        }
        _ => Err("expected ID=TYPE=URL".to_owned()),
    }
}

/// Parses the command line, runs the command, maps the outcome to an exit code.
pub(crate) fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal: log files and collectors get plain text.
    let colours = matches!(format, LogFormat::Text) && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(config) => serve_all(*config).await,
        Command::Issuer { command } => crate::issuer_cli::command(command).await,
        Command::Verify(args) => crate::verifier_cli::verify(args).await,
        Command::Verifier { command } => crate::verifier_cli::command(command).await,
        Command::Wallet { command } => crate::wallet_cli::command(command).await,
        Command::Registry {
            command: RegistryCommand::Serve(config),
        } => run_server(config, "").await,
        Command::Did { command } => did_command(command).await,
        Command::Schema { command } => refusals_exit_1(schema_action(command)).await,
        Command::Trust { command } => refusals_exit_1(trust_action(command)).await,
        Command::Status { command } => refusals_exit_1(status_action(command)).await,
        Command::Audit(args) => audit_command(args).await,
        Command::Witness {
            command: WitnessCommand::Serve(args),
        } => witness_command(args).await,
    }
}

async fn run_server(
    config: ServeConfig,
    registry_prefix: &'static str,
) -> anyhow::Result<ExitCode> {
    credence_registry_server::run(config, registry_prefix, shutdown_signal())
        .await
        .map_err(registry_start_error)?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

/// `credence serve`: the registry, the issuer and the verifier on one port. The issuer and the
/// verifier talk to this registry over loopback HTTP (as they would to a remote one) unless
/// told of another, and keep their data in the registry's PostgreSQL database (each in its own
/// schema) when the registry has one and they were given no database of their own.
async fn serve_all(config: ServeAll) -> anyhow::Result<ExitCode> {
    let ServeAll {
        registry,
        issuer: mut issuer_config,
        verifier: mut verifier_config,
    } = config;
    let prepared = credence_registry_server::prepare(&registry, "/registry")
        .await
        .map_err(registry_start_error)?;
    // With TLS, these loopback defaults only work if the certificate names the address:
    // deployments set --registry and --public-url to the names on their certificate.
    let scheme = registry.scheme();
    let mut own = prepared.listener.local_addr()?;
    if own.ip().is_unspecified() {
        own.set_ip(match own {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    issuer_config
        .registry_url
        .get_or_insert_with(|| format!("{scheme}://{own}/registry"));
    issuer_config
        .public_url
        .get_or_insert_with(|| format!("{scheme}://{own}"));
    issuer_config
        .data_dir
        .get_or_insert_with(|| registry.data_dir.join("issuer"));
    verifier_config
        .registry_url
        .get_or_insert_with(|| format!("{scheme}://{own}/registry"));
    verifier_config
        .public_url
        .get_or_insert_with(|| format!("{scheme}://{own}{}", crate::verifier_cli::VERIFIER_PREFIX));
    verifier_config
        .data_dir
        .get_or_insert_with(|| registry.data_dir.join("verifier"));
    let shared_postgres = registry
        .database_url
        .clone()
        .filter(|url| url.starts_with("postgres"));
    if issuer_config.database_url.is_none() {
        issuer_config.database_url = shared_postgres.clone();
    }
    if verifier_config.database_url.is_none() {
        verifier_config.database_url = shared_postgres;
    }
    let issuer = credence_issuer::Application::open(&issuer_config, ISSUER_PREFIX).await?;
    let verifier = credence_verifier::server::open(&verifier_config).await?;
    let router = prepared
        .application
        .router
        .clone()
        .nest(ISSUER_PREFIX, issuer.router.clone())
        .nest(crate::verifier_cli::VERIFIER_PREFIX, verifier.router)
        .merge(credence_issuer::well_known_router(
            issuer.state.clone(),
            ISSUER_PREFIX,
        ));
    credence_registry_server::serve_with(
        prepared.listener,
        router,
        shutdown_signal(),
        prepared.serve_options,
    )
    .await
    .context("serving")?;
    issuer.shutdown().await.context("status list republisher")?;
    prepared
        .application
        .shutdown()
        .await
        .context("checkpoint publisher")?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

/// `--tls-cert` / `--tls-key` of a service served alone (`credence issuer serve`, `credence
/// verifier serve`).
#[derive(Debug, clap::Args)]
pub(crate) struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "CREDENCE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CREDENCE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// `https` when a certificate is configured, else `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Serves a service that authenticates its writers by token alone on `listener` until SIGINT
/// or SIGTERM, with the registry's connection handling (header timeout, drain): no write
/// throttle, HTTPS when a certificate and key are given.
pub(crate) async fn serve_alone(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: TlsArgs,
) -> anyhow::Result<()> {
    let tls = match (tls.tls_cert, tls.tls_key) {
        (Some(cert), Some(key)) => Some(credence_registry_server::tls_config(&cert, &key)?),
        _ => None,
    };
    let options = credence_registry_server::ServeOptions {
        throttle: credence_registry_server::http::throttle::Throttle {
            per_client_per_minute: 0,
            global_per_minute: 0,
        },
        tls,
        ..Default::default()
    };
    credence_registry_server::serve_with(listener, router, shutdown_signal(), options)
        .await
        .context("serving")
}

fn registry_start_error(error: credence_registry_server::ServeError) -> anyhow::Error {
    match error {
        // An operator reads this, so internal causes are shown, unlike in problem bodies.
        credence_registry_server::ServeError::Start(inner) => server_side(inner),
        other => anyhow::Error::new(other),
    }
}

/// A library error met while starting a server, with its cause (an operator reads this, so
/// `Internal` causes are shown, unlike in problem bodies).
fn server_side(error: Error) -> anyhow::Error {
    match error {
        Error::Internal(cause) => anyhow::anyhow!(cause),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}

/// Runs a `did` command. A refusal by the registry prints its problem and exits 1.
async fn did_command(command: DidCommand) -> anyhow::Result<ExitCode> {
    refusals_exit_1(did_action(command)).await
}

/// Runs a client command: a refusal prints its problem and exits 1.
pub(crate) async fn refusals_exit_1(
    action: impl std::future::Future<Output = Result<(), CommandError>>,
) -> anyhow::Result<ExitCode> {
    match action.await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(CommandError::Refused(error)) => {
            eprintln!("{}", error_line(&error));
            Ok(ExitCode::from(1))
        }
        Err(CommandError::Other(error)) => Err(error),
        Err(CommandError::Reported) => Ok(ExitCode::from(1)),
    }
}

/// One line for an error, in the style README's "Errors" section documents:
/// `refused: <title>: <detail>` when the request was judged and turned down (by the registry
/// or by the CLI's own checks: a bad DID, a bad signature, not found); `error: <detail>` when
/// no verdict could be had (registry unreachable or failing, a log proof that does not verify,
/// a method this client cannot resolve). No HTTP status is shown: a client-side failure has
/// none, and a made-up one misleads.
fn error_line(error: &Error) -> String {
    let problem = error.problem();
    if problem.status >= 500 {
        let detail = match error {
            Error::Internal(cause) => cause.clone(),
            _ => problem.detail,
        };
        format!("error: {detail}")
    } else {
        format!("refused: {}: {}", problem.title, problem.detail)
    }
}

#[derive(Debug)]
pub(crate) enum CommandError {
    Refused(Error),
    Other(anyhow::Error),
    /// Already printed; exit 1.
    Reported,
}

impl From<Error> for CommandError {
    fn from(error: Error) -> Self {
        Self::Refused(error)
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        Self::Other(error)
    }
}

impl From<credence_registry::owner::ActionError> for CommandError {
    fn from(error: credence_registry::owner::ActionError) -> Self {
        match error {
            credence_registry::owner::ActionError::Registry(error) => Self::Refused(error),
            credence_registry::owner::ActionError::Keys(error) => Self::Other(error.into()),
        }
    }
}

impl From<credence_registry::owner::OwnerError> for CommandError {
    fn from(error: credence_registry::owner::OwnerError) -> Self {
        Self::Other(error.into())
    }
}

async fn did_action(command: DidCommand) -> Result<(), CommandError> {
    match command {
        DidCommand::Create {
            registry,
            keys,
            key_type,
            services,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            match credence_registry::owner::create(&client, &dir, key_type, services).await {
                Ok(created) => {
                    if created.resumed {
                        eprintln!(
                            "note: finished the creation begun earlier in {} (its keys and services)",
                            dir.path().display()
                        );
                    }
                    print_line(created.did.as_str());
                }
                Err(CreateError::Keys(error)) => return Err(error.into()),
                Err(error @ CreateError::WrongDid { .. }) => {
                    return Err(Error::LogVerification(error.to_string()).into());
                }
                Err(CreateError::Refused { error, kept: false }) => return Err(error.into()),
                Err(CreateError::Refused { error, kept: true }) => {
                    eprintln!("{}", error_line(&error));
                    eprintln!(
                        "the keys and the signed creation stay in {}: an earlier run may have registered it elsewhere; remove that directory to start afresh",
                        dir.path().display()
                    );
                    return Err(CommandError::Reported);
                }
                Err(CreateError::Unfinished(error)) => {
                    eprintln!("{}", error_line(&error));
                    eprintln!(
                        "the keys and the signed creation are kept in {}; run the same command again to finish it",
                        dir.path().display()
                    );
                    return Err(CommandError::Reported);
                }
            }
        }
        DidCommand::Update {
            registry,
            keys,
            services,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            let (did, owner) = (dir.did()?, dir.load_keys()?);
            let head = client.owner_state(&did).await?.head;
            let resolution = client
                .submit(&did, &owner.update(head, &owner, services))
                .await?;
            print_json(&credence_registry_server::http::resolution_body(
                &resolution,
            ));
        }
        DidCommand::Rotate {
            registry,
            keys,
            key_type,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            match credence_registry::owner::rotate(&client, &dir, key_type).await? {
                Rotated::Submitted(resolution) => print_json(
                    &credence_registry_server::http::resolution_body(&resolution),
                ),
                Rotated::FinishedInterrupted => {
                    eprintln!(
                        "finished an interrupted rotation; run `did rotate` again to rotate once more"
                    );
                    let did = dir.did()?;
                    let shown = client.resolve(&did, &VersionSelector::Latest).await?;
                    print_json(&credence_registry_server::http::resolution_body(&shown));
                }
            }
        }
        DidCommand::Deactivate { registry, keys } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            let (did, owner) = (dir.did()?, dir.load_keys()?);
            let head = client.owner_state(&did).await?.head;
            let resolution = client.submit(&did, &owner.deactivate(head)).await?;
            print_json(&credence_registry_server::http::resolution_body(
                &resolution,
            ));
        }
        DidCommand::Resolve {
            did,
            registry,
            version_id,
            version_time,
            proof,
        } => {
            let did = Did::parse(&did).map_err(Error::from)?;
            let version = VersionSelector::from_options(version_id, version_time.as_deref())?;
            let client = RegistryClient::new(&registry.registry)?;
            let source = match proof.watcher()? {
                Some(watcher) => CredenceSource::VerifiedRemote(client, watcher),
                None => CredenceSource::Remote(client),
            };
            let resolver = Resolver::new(source, WebResolverConfig::default());
            let resolution = resolver.resolve(&did, &version).await?;
            print_json(&credence_registry_server::http::resolution_body(
                &resolution,
            ));
        }
    }
    Ok(())
}

/// Prints JSON to stdout. A closed pipe (`credence ... | head`) is not an error worth a panic.
pub(crate) fn print_json(value: &serde_json::Value) {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn print_line(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

async fn audit_command(args: AuditArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let client = RegistryClient::new(&args.registry.registry).map_err(server_side)?;
    let options = credence_registry::audit::AuditOptions {
        state_dir: args.state,
        log_key: args.log_key,
        check_served_dids: !args.skip_served_check,
        witness_keys: args.witness_keys,
        min_witnesses: args.min_witnesses,
        trust_anchors: (!args.trust_anchors.is_empty()).then_some(args.trust_anchors),
    };
    let interactive = std::io::stderr().is_terminal();
    let progress = |done: u64, total: u64| {
        if interactive {
            eprint!("\rverified {done}/{total} entries");
        }
    };
    let report = match credence_registry::audit::audit(&client, &options, &progress).await {
        Ok(report) => report,
        Err(Error::Internal(cause)) => anyhow::bail!("audit could not run: {cause}"),
        Err(error) => anyhow::bail!("audit could not run: {}", error.problem().detail),
    };
    if interactive {
        eprintln!();
    }
    let mut out = String::new();
    out.push_str(&format!("log:                {}\n", report.origin));
    out.push_str(&format!("checkpoint size:    {}\n", report.checkpoint_size));
    if let Some(previous) = report.previous_size {
        out.push_str(&format!("previous audit:     size {previous}\n"));
    }
    out.push_str(&format!(
        "entries verified:   {} ({} from the local mirror)\n",
        report.entries_verified, report.entries_mirrored_from_cache
    ));
    out.push_str(&format!("DIDs compared:      {}\n", report.dids_checked));
    out.push_str(&format!("schemas in the log: {}\n", report.schemas_seen));
    if report.key_pinned_now {
        out.push_str("note: no key was given or pinned; trusted the key the registry announced\n");
    }
    if report.is_clean() {
        out.push_str("result:             CLEAN\n");
    } else {
        out.push_str(&format!(
            "result:             {} DISCREPANCIES\n",
            report.discrepancies.len()
        ));
        for finding in &report.discrepancies {
            out.push_str(&format!("  - {} [{}]\n", finding.what, finding.location));
        }
    }
    print_text(&out);
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_text(text: &str) {
    use std::io::Write as _;
    let _ = write!(std::io::stdout().lock(), "{text}");
}

async fn witness_command(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    let signer =
        transparency::load_or_create_signer(&args.key_file, &args.name).map_err(server_side)?;
    let secret = zeroize::Zeroizing::new(
        std::fs::read_to_string(&args.key_file).context("reading the witness key")?,
    );
    if let Some(parent) = args.state_file.parent() {
        std::fs::create_dir_all(parent).context("creating the witness state directory")?;
    }
    let witness =
        credence_registry::witness::Witness::open(&secret, &args.logs, args.state_file.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(key = signer.verifier_key(), "witness key");
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "witness listening");
    serve(
        listener,
        credence_registry_server::http::witness::router(std::sync::Arc::new(witness)),
        shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn schema_action(command: SchemaCommand) -> Result<(), CommandError> {
    match command {
        SchemaCommand::Publish {
            registry,
            keys,
            file,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            let (did, owner) = (dir.did()?, dir.load_keys()?);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let payload: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let kid = format!("{did}#{}", credence_registry::owner::SIGNING_FRAGMENT);
            let jws = credence_registry::signed::sign(&payload, &owner.signing, &kid);
            let published = client.publish_schema(&jws).await?;
            print_line(&published.id);
        }
        SchemaCommand::Show {
            registry,
            id,
            proof,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let served = client.schema(&id).await?;
            match proof.watcher()? {
                None => print_json(&serde_json::json!(served)),
                // Proven: the content and id from the publisher's signed submission.
                Some(watcher) => {
                    let proven = client.prove_schema(&served, &watcher).await?;
                    print_json(&serde_json::json!(proven));
                }
            }
        }
    }
    Ok(())
}

fn parse_time(text: &str, option: &str) -> Result<chrono::DateTime<chrono::Utc>, CommandError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            CommandError::Other(anyhow::anyhow!(
                "{option} {text:?} is not an RFC 3339 time: {e}"
            ))
        })
}

async fn trust_action(command: TrustCommand) -> Result<(), CommandError> {
    match command {
        TrustCommand::Accredit {
            registry,
            keys,
            subject,
            types,
            may_accredit,
            from,
            until,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            let (did, owner) = (dir.did()?, dir.load_keys()?);
            let subject = Did::parse(&subject).map_err(Error::from)?;
            let from = match from {
                Some(text) => parse_time(&text, "--from")?,
                None => chrono::Utc::now(),
            };
            let claims = serde_json::to_value(AccreditationClaims::new(
                subject,
                types,
                may_accredit,
                from,
                parse_time(&until, "--until")?,
            ))
            .map_err(anyhow::Error::from)?;
            let kid = format!("{did}#{}", credence_registry::owner::SIGNING_FRAGMENT);
            let recorded = client
                .accredit(&credence_registry::signed::sign(
                    &claims,
                    &owner.signing,
                    &kid,
                ))
                .await?;
            print_line(&recorded.id);
        }
        TrustCommand::Revoke { registry, keys, id } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            let (did, owner) = (dir.did()?, dir.load_keys()?);
            let claims =
                serde_json::to_value(RevocationClaims::new(&id)).map_err(anyhow::Error::from)?;
            let kid = format!("{did}#{}", credence_registry::owner::SIGNING_FRAGMENT);
            let revoked = client
                .revoke_accreditation(
                    &id,
                    &credence_registry::signed::sign(&claims, &owner.signing, &kid),
                )
                .await?;
            print_json(&serde_json::json!(revoked));
        }
        TrustCommand::Show {
            registry,
            did,
            credential_type,
            anchors,
            proof,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let did = Did::parse(&did).map_err(Error::from)?;
            let watcher = proof.watcher()?;
            if let Some(credential_type) = &credential_type {
                let answer = client.authorization(&did, credential_type).await?;
                match &watcher {
                    None => print_json(&serde_json::json!(answer)),
                    Some(watcher) => {
                        let proven = client
                            .prove_authorization(&answer, &anchors, watcher)
                            .await?;
                        print_json(&serde_json::json!(proven));
                    }
                }
            } else {
                let answer = client.accreditations(&did).await?;
                let Some(watcher) = &watcher else {
                    print_json(&serde_json::json!(answer));
                    return Ok(());
                };
                let mut proven = Vec::with_capacity(answer.accreditations.len());
                for view in &answer.accreditations {
                    proven.push(client.prove_accreditation(view, watcher).await?);
                }
                print_json(&serde_json::json!({"did": did, "accreditations": proven}));
            }
        }
    }
    Ok(())
}

async fn status_action(command: StatusCommand) -> Result<(), CommandError> {
    let (registry, url, index, proof) = match command {
        StatusCommand::Show {
            registry,
            url,
            index,
            proof,
        } => (registry, url, index, proof),
        StatusCommand::Publish {
            registry,
            keys,
            uri,
            set,
        } => {
            let client = RegistryClient::new(&registry.registry)?;
            let dir = KeyDir::new(keys.keys);
            let (did, owner) = (dir.did()?, dir.load_keys()?);
            let list = credence_registry::status::one_bit_token_list(
                credence_registry::status::MIN_ENTRIES as usize,
                set,
            )
            .map_err(|index| {
                CommandError::Other(anyhow::anyhow!("--set {index} is outside the list"))
            })?;
            let payload = credence_registry::status::token_status_list_payload(
                &did,
                &uri,
                chrono::Utc::now(),
                credence_registry::status::DEFAULT_TTL_SECONDS,
                &list,
            );
            let kid = format!("{did}#{}", credence_registry::owner::SIGNING_FRAGMENT);
            let jws = credence_registry::signed::sign_typed(
                &payload,
                &owner.signing,
                &kid,
                Some("statuslist+jwt"),
            );
            let published = client.publish_status_list(&jws).await?;
            print_line(&format!(
                "{}/status-lists/{}",
                registry.registry.trim_end_matches('/'),
                published.key
            ));
            return Ok(());
        }
    };
    let fetched = credence_registry::client::fetch_status_list(
        &credence_registry::client::plain_http_client()?,
        &url,
    )
    .await?;
    let (response, log_index) = (fetched.jws, fetched.log_index);
    let client = RegistryClient::new(&registry.registry)?;
    let watcher = proof.watcher()?;
    let claims = match &watcher {
        // Proven: logged where the registry says, signed by the issuer's key as the log had it.
        Some(watcher) => {
            let log_index = log_index.ok_or_else(|| {
                Error::LogVerification(format!("{url} did not say where the list is logged"))
            })?;
            client
                .prove_status_list(&response, log_index, watcher)
                .await?
        }
        // The registry's word for the issuer's keys.
        None => {
            let resolver = Resolver::new(
                CredenceSource::Remote(client.clone()),
                WebResolverConfig::default(),
            );
            credence_registry::status::verify_list(&resolver, &response)
                .await?
                .1
        }
    };
    let status = claims.list.status(index).ok_or_else(|| {
        CommandError::Other(anyhow::anyhow!(
            "index {index} is outside the list ({} entries)",
            claims.list.len()
        ))
    })?;
    let mut shown = serde_json::json!({
        "list": claims.uri,
        "issuer": claims.issuer,
        "issued": claims.issued,
        "entries": claims.list.len(),
        "bitsPerEntry": claims.list.bits(),
        "index": index,
        "status": status,
    });
    if watcher.is_some() {
        shown["logProof"] = serde_json::json!({"index": log_index});
    }
    print_json(&shown);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every subcommand's arguments are consistent (unique ids and flags once the services'
    /// settings are flattened into `credence serve`); clap checks this only when a command is
    /// parsed, so a clash would otherwise surface as a panic at start-up.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// Random ids (base64url) may start with `-` or `--`: they are still ids, not options.
    #[test]
    fn ids_starting_with_hyphens_are_ids() {
        use clap::Parser as _;
        for id in ["--uo2yRC1uXuQwu1rfq4tQ", "-x7"] {
            let parsed =
                super::Cli::try_parse_from(["credence", "verifier", "result", "--token", "t", id]);
            assert!(parsed.is_ok(), "{id}: {parsed:?}");
            let parsed =
                super::Cli::try_parse_from(["credence", "wallet", "show", "--wallet", "w.db", id]);
            assert!(parsed.is_ok(), "{id}: {parsed:?}");
        }
        // Tokens are random base64url too (seen in CI: a tenant token `-8Cb...` was refused as
        // an unknown argument).
        for token in ["-8CbITZsT2tLsf6sd79jqYq5nR49EmLSNtCXsmy7Om4", "--x"] {
            for args in [
                &[
                    "credence", "issuer", "type", "list", "--tenant", "t", "--token", token,
                ][..],
                &[
                    "credence",
                    "issuer",
                    "tenant",
                    "create",
                    "--admin-token",
                    token,
                    "x",
                    "--name",
                    "X",
                ],
                &["credence", "verifier", "result", "--token", token, "r1"],
            ] {
                let parsed = super::Cli::try_parse_from(args);
                assert!(parsed.is_ok(), "{args:?}: {parsed:?}");
            }
        }
    }
}
