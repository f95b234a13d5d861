//! `credence verify` (check a credential or presentation here, step by step) and `credence
//! verifier ...` (the verifier service alone, and a relying party's commands over its API).
//! Parsing and printing only.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use credence_registry::client::{DEFAULT_REGISTRY_URL, RegistryClient, plain_http_client};
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_verifier::client::{DEFAULT_VERIFIER_URL, VerifierClient};
use credence_verifier::pipeline::{Context, Expectations, HolderBinding, Policy};
use credence_verifier::server::VerifierConfig;
use credence_verifier::{
    Verdict, verify_data_integrity, verify_data_integrity_presentation, verify_sd_jwt_vc,
    verify_vc_jwt,
};

use crate::cli::{CommandError, print_json, refusals_exit_1};

/// Where the all-in-one server mounts the verifier.
pub(crate) const VERIFIER_PREFIX: &str = "/verifier";

/// `credence verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The credential or presentation (a compact `dc+sd-jwt` or `vc+jwt`, or a JSON Data
    /// Integrity credential or presentation), or `-` for stdin.
    file: String,
    /// The registry the issuer's DID, accreditation, schema and status are checked at.
    #[arg(long, env = "CREDENCE_REGISTRY", default_value = DEFAULT_REGISTRY_URL, value_parser = crate::cli::http_url)]
    registry: String,
    /// Require a key-binding JWT for this nonce (with --audience): verify a presentation.
    #[arg(long, requires = "audience")]
    nonce: Option<String>,
    /// The audience (client id) the key-binding JWT must name.
    #[arg(long, requires = "nonce")]
    audience: Option<String>,
    /// Verify as of this time (RFC 3339) instead of now: an audit of what a verifier would have
    /// concluded then.
    #[arg(long)]
    at: Option<String>,
    /// Clock skew tolerated, in seconds.
    #[arg(long, default_value_t = 60)]
    leeway_seconds: u32,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum VerifierCommand {
    /// Run the verifier service alone (under /verifier).
    Serve(Box<VerifierServeArgs>),
    /// Create an OpenID4VP request with a DCQL query; prints the request, its
    /// `openid4vp://` URI for the wallet, and with --qr a QR code of it (on stderr).
    Request(RequestArgs),
    /// Show a request's result: its status, the disclosed claims, the per-step report.
    Result {
        #[command(flatten)]
        verifier: VerifierUrl,
        /// The request's id (from `credence verifier request`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifierServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CREDENCE_VERIFIER_LISTEN",
        default_value = "127.0.0.1:8082"
    )]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    tls: crate::cli::TlsArgs,
    #[command(flatten)]
    config: VerifierConfig,
}

/// Where the verifier is, and the relying party's API token.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifierUrl {
    /// The verifier service's base URL.
    #[arg(long = "verifier", env = "CREDENCE_VERIFIER", default_value = DEFAULT_VERIFIER_URL, value_parser = crate::cli::http_url)]
    url: String,
    /// The relying party's API token (the verifier's --verifier-api-token).
    #[arg(
        long,
        env = "CREDENCE_VERIFIER_API_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    token: String,
}

impl VerifierUrl {
    fn client(&self) -> Result<VerifierClient, CommandError> {
        Ok(VerifierClient::new(&self.url, Some(self.token.clone()))?)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct RequestArgs {
    #[command(flatten)]
    verifier: VerifierUrl,
    /// The DCQL query (JSON), or @FILE to read it.
    #[arg(long)]
    dcql: String,
    /// `direct_post` or `direct_post.jwt` (the response encrypted to the verifier).
    #[arg(long)]
    response_mode: Option<String>,
    /// Why the claims are asked for, shown to the citizen.
    #[arg(long)]
    purpose: Option<String>,
    /// Draw the request URI as a QR code on stderr.
    #[arg(long)]
    qr: bool,
}

/// `credence verify`: 0 valid, 1 invalid, 2 could not check; the report on stdout.
pub(crate) async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let input = if args.file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        text
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file))?
    };
    let input = input.trim();
    let now = match &args.at {
        Some(at) => chrono::DateTime::parse_from_rfc3339(at)
            .with_context(|| format!("--at {at:?} is not an RFC 3339 time"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let holder_binding = match (args.nonce, args.audience) {
        (Some(nonce), Some(audience)) => HolderBinding::Required {
            nonce,
            audience,
            max_age: chrono::Duration::minutes(5),
        },
        _ => HolderBinding::NotRequired,
    };
    let expectations = Expectations {
        now,
        leeway: chrono::Duration::seconds(args.leeway_seconds.into()),
        holder_binding,
        policy: Policy::default(),
    };
    let registry = RegistryClient::new(&args.registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plain = plain_http_client().map_err(|e| anyhow::anyhow!("{e}"))?;
    let context = Context::new(
        Resolver::new(CredenceSource::Remote(registry.clone()), Default::default()),
        Some(registry),
        plain,
    );
    // A JSON object is a Data Integrity document (a presentation if --nonce asks for holder
    // binding); SD-JWTs are told by their `~` separators; anything else is taken as a `vc+jwt`.
    let report = if input.starts_with('{') {
        if matches!(expectations.holder_binding, HolderBinding::Required { .. }) {
            verify_data_integrity_presentation(input.as_bytes(), &expectations, &context).await
        } else {
            verify_data_integrity(input.as_bytes(), &expectations, &context).await
        }
    } else if input.contains('~') {
        verify_sd_jwt_vc(input.as_bytes(), &expectations, &context).await
    } else {
        verify_vc_jwt(input.as_bytes(), &expectations, &context).await
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{report}");
    Ok(match report.verdict() {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Invalid => ExitCode::from(1),
        Verdict::CouldNotCheck => ExitCode::from(2),
    })
}

pub(crate) async fn command(command: VerifierCommand) -> anyhow::Result<ExitCode> {
    match command {
        VerifierCommand::Serve(args) => serve(*args).await,
        other => refusals_exit_1(action(other)).await,
    }
}

/// `credence verifier serve`: the verifier under `/verifier` on its own port.
async fn serve(args: VerifierServeArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let mut config = args.config;
    config
        .public_url
        .get_or_insert_with(|| format!("{}://{}{VERIFIER_PREFIX}", args.tls.scheme(), args.listen));
    let verifier = credence_verifier::server::open(&config).await?;
    tracing::info!(address = %args.listen, registry = config.registry_url(), "verifier listening");
    let router = axum::Router::new().nest(VERIFIER_PREFIX, verifier.router);
    crate::cli::serve_alone(listener, router, args.tls).await?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn action(command: VerifierCommand) -> Result<(), CommandError> {
    let shown = match command {
        VerifierCommand::Serve(_) => unreachable!("served by `command`"),
        VerifierCommand::Request(args) => {
            let dcql = crate::issuer_cli::json_argument(&args.dcql, "--dcql")?;
            let created = args
                .verifier
                .client()?
                .create_request(
                    &dcql,
                    args.response_mode.as_deref(),
                    args.purpose.as_deref(),
                )
                .await?;
            if args.qr {
                let uri = created["authorization_request_uri"]
                    .as_str()
                    .context("the verifier's answer has no authorization_request_uri")?;
                let drawn = credence_issuer::qr::terminal(uri).context("drawing the QR code")?;
                eprintln!("{drawn}");
            }
            created
        }
        VerifierCommand::Result { verifier, id } => verifier.client()?.result(&id).await?,
    };
    print_json(&shown);
    Ok(())
}
