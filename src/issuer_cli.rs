//! `credence issuer ...`: the issuer service alone, and the agency operator's commands over its
//! admin API (`credence_issuer::client`). Parsing and printing only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use credence_issuer::client::{DEFAULT_ISSUER_URL, IssuerClient, StatusAction};
use credence_issuer::config::IssuerConfig;
use serde_json::{Value, json};

use crate::cli::{CommandError, print_json, refusals_exit_1};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum IssuerCommand {
    /// Run the issuer service alone (under /issuer), against a registry elsewhere.
    Serve(IssuerServeArgs),
    /// Create and show tenants (agencies).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Register and list a tenant's credential types.
    Type {
        #[command(subcommand)]
        command: TypeCommand,
    },
    /// Issue a credential; prints it in every format asked.
    Issue(IssueArgs),
    /// Create an OpenID4VCI credential offer a wallet redeems; prints the offer and its URIs
    /// (and the transaction code to send the holder another way).
    Offer(OfferArgs),
    /// List what a tenant issued (records, never claims), or show one record with its status.
    Credentials {
        #[command(flatten)]
        tenant: TenantArgs,
        /// One credential's id (`urn:uuid:...`); all when absent.
        id: Option<String>,
    },
    /// Revoke a credential (every envelope of it): its status becomes invalid for good.
    Revoke(StatusArgs),
    /// Suspend a credential until it is reinstated.
    Suspend(StatusArgs),
    /// Reinstate a suspended credential.
    Reinstate(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct IssuerServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CREDENCE_ISSUER_LISTEN", default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    tls: crate::cli::TlsArgs,
    #[command(flatten)]
    config: IssuerConfig,
}

/// Where the issuer is.
#[derive(Debug, clap::Args)]
pub(crate) struct IssuerUrl {
    /// The issuer service's base URL.
    #[arg(long = "issuer", env = "CREDENCE_ISSUER", default_value = DEFAULT_ISSUER_URL, value_parser = crate::cli::http_url)]
    url: String,
}

/// A tenant's commands: where, which tenant, and its token.
#[derive(Debug, clap::Args)]
pub(crate) struct TenantArgs {
    #[command(flatten)]
    issuer: IssuerUrl,
    /// The tenant's id.
    #[arg(long, env = "CREDENCE_TENANT")]
    tenant: String,
    /// The tenant's API token (prefer the environment: arguments show in process listings).
    #[arg(
        long,
        env = "CREDENCE_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    token: String,
}

impl TenantArgs {
    fn client(&self) -> Result<IssuerClient, CommandError> {
        Ok(IssuerClient::new(
            &self.issuer.url,
            Some(self.token.clone()),
        )?)
    }
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant: its keys, its DID registered at the issuer's registry, its API token.
    /// Prints `{"tenant", "did", "token"}`; the token is shown this once.
    Create {
        #[command(flatten)]
        issuer: IssuerUrl,
        /// The operator's admin token.
        #[arg(
            long,
            env = "CREDENCE_ADMIN_TOKEN",
            hide_env_values = true,
            allow_hyphen_values = true
        )]
        admin_token: String,
        /// The tenant's id in URLs (a-z, 0-9, -).
        id: String,
        /// Display name (the agency's name).
        #[arg(long)]
        name: String,
    },
    /// Show the tenant (its DID, its key ids).
    Show {
        #[command(flatten)]
        tenant: TenantArgs,
    },
    /// Rotate the tenant's keys (a DID update); prints `{"did", "kid", "versionId"}`.
    Rotate {
        #[command(flatten)]
        tenant: TenantArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TypeCommand {
    /// Register a credential type against a schema published in the registry.
    Add {
        #[command(flatten)]
        tenant: TenantArgs,
        /// The type's id within the tenant (a-z, 0-9, -).
        id: String,
        /// The registry schema's id (from `credence schema publish`).
        #[arg(long)]
        schema: String,
        /// Formats offered (comma separated): dc+sd-jwt, vc+jwt.
        #[arg(long, value_delimiter = ',', default_value = "dc+sd-jwt")]
        formats: Vec<String>,
        /// JSON Pointers of the claims a holder may disclose selectively (comma separated).
        #[arg(long, value_delimiter = ',')]
        disclosable: Vec<String>,
        /// How long credentials are valid, in days.
        #[arg(long, default_value_t = 365)]
        validity_days: u64,
        /// Status purposes (comma separated): revocation, suspension.
        #[arg(long, value_delimiter = ',', default_value = "revocation")]
        status: Vec<String>,
        /// The W3C `type` of vc+jwt credentials (the schema's vct when absent).
        #[arg(long)]
        w3c_type: Option<String>,
    },
    /// List the tenant's credential types.
    List {
        #[command(flatten)]
        tenant: TenantArgs,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct IssueArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// The credential type's id.
    #[arg(long = "type")]
    type_id: String,
    /// The claims: a JSON object, or @FILE to read one.
    #[arg(long)]
    claims: String,
    /// The holder's public key as a JWK (JSON, or @FILE): the credential is bound to it.
    #[arg(long)]
    holder_jwk: String,
    /// Formats to issue the same claims in (comma separated): one record, one status entry.
    #[arg(long, value_delimiter = ',', default_value = "dc+sd-jwt")]
    formats: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct OfferArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// The credential type's id.
    #[arg(long = "type")]
    type_id: String,
    /// The claims: a JSON object, or @FILE to read one.
    #[arg(long)]
    claims: String,
    /// Formats offered (comma separated); all the type's formats when absent.
    #[arg(long, value_delimiter = ',')]
    formats: Vec<String>,
    /// Require a transaction code of this many digits, printed once for you to send the
    /// holder out of band (SMS, letter).
    #[arg(long)]
    tx_code_length: Option<u32>,
    /// What the wallet shows next to the transaction code input.
    #[arg(long, requires = "tx_code_length")]
    tx_code_description: Option<String>,
    /// How long the offer can be redeemed, in seconds.
    #[arg(long)]
    expires_in: Option<u64>,
    /// Also draw the offer URI (by reference) as a QR code on stderr.
    #[arg(long)]
    qr: bool,
    /// Write the offer URI (by reference) as a QR code PNG to this file.
    #[arg(long)]
    png: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// The credential's id (`urn:uuid:...`, printed by `credence issuer issue`).
    id: String,
}

pub(crate) async fn command(command: IssuerCommand) -> anyhow::Result<ExitCode> {
    match command {
        IssuerCommand::Serve(args) => serve(args).await,
        other => refusals_exit_1(action(other)).await,
    }
}

/// `credence issuer serve`: the issuer under `/issuer` on its own port, with the same
/// connection handling as the registry (header timeout, graceful drain) and no write
/// throttle (every write is authenticated by a token).
async fn serve(args: IssuerServeArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let mut config = args.config;
    config
        .public_url
        .get_or_insert_with(|| format!("{}://{}", args.tls.scheme(), args.listen));
    let issuer = credence_issuer::Application::open(&config, crate::cli::ISSUER_PREFIX).await?;
    tracing::info!(address = %args.listen, registry = config.registry_url(), "issuer listening");
    let router = axum::Router::new()
        .nest(crate::cli::ISSUER_PREFIX, issuer.router.clone())
        .merge(credence_issuer::well_known_router(
            issuer.state.clone(),
            crate::cli::ISSUER_PREFIX,
        ));
    crate::cli::serve_alone(listener, router, args.tls).await?;
    issuer.shutdown().await.context("status list republisher")?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn action(command: IssuerCommand) -> Result<(), CommandError> {
    let shown = match command {
        IssuerCommand::Serve(_) => unreachable!("served by `command`"),
        IssuerCommand::Tenant {
            command:
                TenantCommand::Create {
                    issuer,
                    admin_token,
                    id,
                    name,
                },
        } => {
            IssuerClient::new(&issuer.url, Some(admin_token))?
                .create_tenant(&id, &name)
                .await?
        }
        IssuerCommand::Tenant {
            command: TenantCommand::Show { tenant },
        } => tenant.client()?.tenant(&tenant.tenant).await?,
        IssuerCommand::Tenant {
            command: TenantCommand::Rotate { tenant },
        } => tenant.client()?.rotate_keys(&tenant.tenant).await?,
        IssuerCommand::Type {
            command:
                TypeCommand::Add {
                    tenant,
                    id,
                    schema,
                    formats,
                    disclosable,
                    validity_days,
                    status,
                    w3c_type,
                },
        } => {
            let validity_seconds = validity_days.checked_mul(86_400).ok_or_else(|| {
                CommandError::Other(anyhow::anyhow!(
                    "--validity-days {validity_days} is too long"
                ))
            })?;
            let mut request = json!({
                "id": id,
                "schemaId": schema,
                "formats": formats,
                "disclosable": disclosable,
                "validitySeconds": validity_seconds,
                "statusPurposes": status,
            });
            if let Some(w3c_type) = w3c_type {
                request["w3cType"] = json!(w3c_type);
            }
            tenant.client()?.add_type(&tenant.tenant, &request).await?
        }
        IssuerCommand::Type {
            command: TypeCommand::List { tenant },
        } => tenant.client()?.types(&tenant.tenant).await?,
        IssuerCommand::Issue(args) => {
            let request = json!({
                "type": args.type_id,
                "formats": args.formats,
                "claims": json_argument(&args.claims, "--claims")?,
                "holderJwk": json_argument(&args.holder_jwk, "--holder-jwk")?,
            });
            args.tenant
                .client()?
                .issue(&args.tenant.tenant, &request)
                .await?
        }
        IssuerCommand::Offer(args) => offer(args).await?,
        IssuerCommand::Credentials { tenant, id } => {
            let client = tenant.client()?;
            match id {
                Some(id) => client.credential(&tenant.tenant, &id).await?,
                None => client.credentials(&tenant.tenant).await?,
            }
        }
        IssuerCommand::Revoke(args) => set_status(args, StatusAction::Revoke).await?,
        IssuerCommand::Suspend(args) => set_status(args, StatusAction::Suspend).await?,
        IssuerCommand::Reinstate(args) => set_status(args, StatusAction::Reinstate).await?,
    };
    print_json(&shown);
    Ok(())
}

/// Creates an offer; draws or writes its by-reference URI as a QR code when asked (the short
/// form: an offer by value with its claims may not fit in a code a phone reads easily).
async fn offer(args: OfferArgs) -> Result<Value, CommandError> {
    let mut request = json!({
        "type": args.type_id,
        "claims": json_argument(&args.claims, "--claims")?,
    });
    if !args.formats.is_empty() {
        request["formats"] = json!(args.formats);
    }
    if let Some(length) = args.tx_code_length {
        request["tx_code"] = json!({"length": length});
        if let Some(description) = args.tx_code_description {
            request["tx_code"]["description"] = json!(description);
        }
    }
    if let Some(expires_in) = args.expires_in {
        request["expires_in"] = json!(expires_in);
    }
    let created = args
        .tenant
        .client()?
        .create_offer(&args.tenant.tenant, &request)
        .await?;
    let uri = created["offer_uri_by_reference"]
        .as_str()
        .context("the issuer's answer has no offer_uri_by_reference")?;
    if args.qr {
        let drawn = credence_issuer::qr::terminal(uri).context("drawing the QR code")?;
        eprintln!("{drawn}");
    }
    if let Some(path) = &args.png {
        let image = credence_issuer::qr::png(uri, 8).context("drawing the QR code")?;
        std::fs::write(path, image).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(created)
}

async fn set_status(args: StatusArgs, action: StatusAction) -> Result<Value, CommandError> {
    Ok(args
        .tenant
        .client()?
        .set_status(&args.tenant.tenant, &args.id, action)
        .await?)
}

/// A JSON argument given inline or as `@FILE`.
pub(crate) fn json_argument(text: &str, option: &str) -> Result<Value, CommandError> {
    let (source, content) = match text.strip_prefix('@') {
        Some(path) => {
            let path = PathBuf::from(path);
            let content = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {option} file {}", path.display()))?;
            (path.display().to_string(), content)
        }
        None => (option.to_owned(), text.to_owned()),
    };
    serde_json::from_str(&content)
        .with_context(|| format!("{source} is not JSON"))
        .map_err(CommandError::Other)
}
