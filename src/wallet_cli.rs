//! `credence wallet ...`: the citizen's wallet on the command line. Parsing, prompting and
//! printing only; every step is a `credence_wallet` library call (the same an app makes).
//!
//! The wallet file comes from `--wallet` / `CREDENCE_WALLET`, its passphrase from
//! `CREDENCE_WALLET_PASSPHRASE` or a prompt (never from an argument: arguments show in `ps`).
//! Refusals (a credential that does not verify, a request that is not signed by its client id,
//! nothing matching, a verifier's rejection, a declined consent) print one `refused:` line and
//! exit 1.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use credence_registry::client::{DEFAULT_REGISTRY_URL, RegistryClient, plain_http_client};
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_verifier::pipeline::Context;
use credence_wallet::check::VerifierCheck;
use credence_wallet::credentials::{ClaimPath, StoredCredential};
use credence_wallet::history::VerifierAnswer;
use credence_wallet::{KdfParams, Passphrase, Wallet, oid4vci, openid4vp};
use serde_json::{Value, json};

use crate::cli::{CommandError, print_json, refusals_exit_1};

/// The wallet file.
#[derive(Debug, clap::Args)]
pub(crate) struct WalletFile {
    /// The wallet file (SQLite, encrypted records).
    #[arg(long = "wallet", env = "CREDENCE_WALLET")]
    path: PathBuf,
}

/// Where credentials are checked, and whether plain http is allowed.
#[derive(Debug, clap::Args)]
pub(crate) struct Network {
    /// The registry issuers' DIDs, accreditations, schemas and status lists are checked at.
    #[arg(long, env = "CREDENCE_REGISTRY", default_value = DEFAULT_REGISTRY_URL, value_parser = crate::cli::http_url)]
    registry: String,
    /// Accept http:// issuers and verifiers and loopback addresses (local demos and tests).
    #[arg(long)]
    allow_insecure: bool,
    /// PEM file of the CAs whose certificates authenticate verifiers with X.509 client ids
    /// (`x509_san_dns:`, `x509_hash:`); without it such verifiers are refused.
    #[arg(long, env = "CREDENCE_WALLET_VERIFIER_CAS")]
    verifier_cas: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WalletCommand {
    /// Create a new, empty wallet file.
    Init {
        #[command(flatten)]
        wallet: WalletFile,
    },
    /// Redeem a credential offer (openid-credential-offer://...), check and store the
    /// credential(s).
    Receive {
        #[command(flatten)]
        wallet: WalletFile,
        #[command(flatten)]
        network: Network,
        /// The offer URI, or the text of its QR code.
        offer: String,
        /// The transaction code sent out of band (prompted for when the offer needs one).
        #[arg(long)]
        tx_code: Option<String>,
        /// How many copies to ask for when the issuer offers batch issuance (one key each).
        #[arg(long, default_value_t = 3)]
        copies: usize,
    },
    /// List the credentials (type, issuer, claim names; no values).
    List {
        #[command(flatten)]
        wallet: WalletFile,
    },
    /// Show one credential with its claims.
    Show {
        #[command(flatten)]
        wallet: WalletFile,
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Answer a presentation request (openid4vp://...): shows who asks for what, asks, and
    /// presents only the chosen claims.
    Present {
        #[command(flatten)]
        wallet: WalletFile,
        #[command(flatten)]
        network: Network,
        /// The request URI, or the text of its QR code.
        request: String,
        /// Consent without asking (scripts).
        #[arg(long)]
        yes: bool,
        /// Disclose only these of the requested claims (JSON Pointers or top-level names,
        /// comma-separated, each optionally scoped to one credential query as `query:path`);
        /// the verifier's required ones must be among them.
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<String>>,
    },
    /// What was disclosed to whom, and what the verifier said.
    History {
        #[command(flatten)]
        wallet: WalletFile,
    },
    /// Write an encrypted backup (under the wallet's passphrase) to FILE.
    Backup {
        #[command(flatten)]
        wallet: WalletFile,
        file: PathBuf,
    },
    /// Restore a backup into the wallet (created if it does not exist).
    Restore {
        #[command(flatten)]
        wallet: WalletFile,
        file: PathBuf,
    },
    /// Delete a credential and its holder key (its history stays).
    Delete {
        #[command(flatten)]
        wallet: WalletFile,
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

pub(crate) async fn command(command: WalletCommand) -> anyhow::Result<ExitCode> {
    refusals_exit_1(action(command)).await
}

/// One `refused:` line, exit 1.
fn refuse(error: impl std::fmt::Display) -> CommandError {
    eprintln!("refused: {error}");
    CommandError::Reported
}

async fn action(command: WalletCommand) -> Result<(), CommandError> {
    let now = chrono::Utc::now();
    match command {
        WalletCommand::Init { wallet } => {
            let passphrase = passphrase(true)?;
            let created =
                Wallet::create(&wallet.path, &passphrase, KdfParams::PHONE).map_err(refuse)?;
            let kdf = created.kdf_params();
            print_json(&json!({
                "wallet": wallet.path.display().to_string(),
                "kdf": {"algorithm": "argon2id", "memoryKib": kdf.memory_kib,
                        "iterations": kdf.iterations, "parallelism": kdf.parallelism},
            }));
        }
        WalletCommand::Receive {
            wallet,
            network,
            offer,
            tx_code,
            copies,
        } => {
            let location = oid4vci::parse_offer_uri(&offer).map_err(refuse)?;
            let client = oid4vci::IssuanceClient::new(
                openid4vp::http_client().context("building the HTTP client")?,
                oid4vci::ClientOptions {
                    allow_insecure: network.allow_insecure,
                    copies,
                    ..Default::default()
                },
            );
            let offer = client.offer(&location).await.map_err(refuse)?;
            let tx_code = match (&offer.tx_code, tx_code) {
                (Some(hint), None) => Some(prompt_line(&format!(
                    "Transaction code{}: ",
                    hint.description
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ))?),
                (_, given) => given,
            };
            let mut wallet = open(&wallet.path)?;
            let check = VerifierCheck::new(check_context(&network)?);
            let received = client
                .receive(&mut wallet, &offer, tx_code.as_deref(), &check, now)
                .await
                .map_err(refuse)?;
            print_json(&json!({
                "credentialIssuer": received.credential_issuer,
                "configurationId": received.configuration_id,
                "vct": received.vct,
                "credentials": received.credentials,
            }));
        }
        WalletCommand::List { wallet } => {
            let wallet = open(&wallet.path)?;
            let listed: Vec<Value> = wallet
                .credentials()
                .map_err(refuse)?
                .iter()
                .map(|credential| {
                    json!({
                        "id": credential.id(),
                        "format": credential.format().as_str(),
                        "vct": credential.vct(),
                        "issuer": credential.issuer(),
                        "receivedAt": credential.received_at().to_rfc3339(),
                        "claims": credential.claims().iter().map(|c| c.path.to_string()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            print_json(&Value::Array(listed));
        }
        WalletCommand::Show { wallet, id } => {
            let wallet = open(&wallet.path)?;
            let credential = find(&wallet, &id)?;
            print_json(&json!({
                "id": credential.id(),
                "format": credential.format().as_str(),
                "vct": credential.vct(),
                "issuer": credential.issuer(),
                "receivedAt": credential.received_at().to_rfc3339(),
                "holderKey": credential.holder_key(),
                "claims": credential.claims().iter().map(|c| json!({
                    "path": c.path.to_string(),
                    "value": c.value,
                    "selectivelyDisclosable": c.selectively_disclosable,
                })).collect::<Vec<_>>(),
            }));
        }
        WalletCommand::Present {
            wallet,
            network,
            request,
            yes,
            only,
        } => present(&wallet.path, &network, &request, yes, only, now).await?,
        WalletCommand::History { wallet } => {
            let wallet = open(&wallet.path)?;
            let entries = wallet.history().map_err(refuse)?;
            let shown: Vec<Value> = entries
                .iter()
                .map(|entry| {
                    json!({
                        "id": entry.id.as_str(),
                        "at": entry.at.to_rfc3339(),
                        "clientId": entry.client_id.as_str(),
                        "verifierName": entry.verifier_name,
                        "credential": entry.credential,
                        "vct": entry.vct,
                        "claims": entry.claims.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "disclosed": entry.disclosed.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "answer": serde_json::to_value(&entry.answer).unwrap_or(Value::Null),
                    })
                })
                .collect();
            print_json(&Value::Array(shown));
        }
        WalletCommand::Backup { wallet, file } => {
            let passphrase = passphrase(false)?;
            let opened = Wallet::open(&wallet.path, &passphrase).map_err(refuse)?;
            opened.backup(&file, &passphrase).map_err(refuse)?;
            print_json(&json!({"backup": file.display().to_string()}));
        }
        WalletCommand::Restore { wallet, file } => {
            let passphrase = passphrase(!wallet.path.exists())?;
            let mut opened = if wallet.path.exists() {
                Wallet::open(&wallet.path, &passphrase).map_err(refuse)?
            } else {
                Wallet::create(&wallet.path, &passphrase, KdfParams::PHONE).map_err(refuse)?
            };
            let restored = opened.restore(&file, &passphrase).map_err(refuse)?;
            print_json(&json!({
                "holderKeys": restored.holder_keys,
                "credentials": restored.credentials,
                "history": restored.history,
            }));
        }
        WalletCommand::Delete { wallet, id } => {
            let mut wallet = open(&wallet.path)?;
            let credential = find(&wallet, &id)?;
            wallet.delete_credential(credential.id()).map_err(refuse)?;
            print_json(&json!({"deleted": id}));
        }
    }
    Ok(())
}

async fn present(
    path: &Path,
    network: &Network,
    request: &str,
    yes: bool,
    only: Option<Vec<String>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), CommandError> {
    let reference = openid4vp::parse_request_uri(request).map_err(refuse)?;
    let client = openid4vp::PresentationClient::new(
        openid4vp::http_client().context("building the HTTP client")?,
        openid4vp::ClientOptions {
            allow_insecure: network.allow_insecure,
            verifier_trust_anchors: match &network.verifier_cas {
                None => Default::default(),
                Some(file) => {
                    let pem = std::fs::read(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    credence_verifier::x509::TrustAnchors::from_pem(&pem)
                        .with_context(|| format!("{}: verifier CAs", file.display()))?
                }
            },
        },
    );
    let request = client.fetch(&reference, now).await.map_err(refuse)?;
    let mut wallet = open(path)?;
    let prepared = wallet.match_request(&request).map_err(refuse)?;

    // The consent view, for the person deciding (stderr: stdout carries the JSON result).
    let first = &prepared.answers[0].view;
    let verifier = first.verifier();
    eprintln!(
        "{} asks{} (request signature verified against {}).",
        verifier.display_name.as_deref().unwrap_or("A verifier"),
        first
            .purpose()
            .map(|p| format!(" for: {p}"))
            .unwrap_or_default(),
        verifier.client_id
    );
    if prepared.answers.len() > 1 {
        eprintln!(
            "It asks for {} credentials together.",
            prepared.answers.len()
        );
    }
    for answer in &prepared.answers {
        let view = &answer.view;
        eprintln!(
            "It would see, from your {} issued by {} (query {}):",
            view.vct().unwrap_or("credential"),
            view.issuer().unwrap_or("an unknown issuer"),
            answer.query_id
        );
        for item in view.requested() {
            eprintln!(
                "  {} = {}{}",
                item.path,
                item.value,
                if item.optional { " (optional)" } else { "" }
            );
        }
        if view.discloses_everything() {
            eprintln!(
                "  and the rest of this credential: it cannot be shown in part, so every claim \
                 below is disclosed:"
            );
            for path in view.always_disclosed() {
                eprintln!("    {path}");
            }
        } else if !view.always_disclosed().is_empty() {
            let always: Vec<String> = view
                .always_disclosed()
                .iter()
                .map(ToString::to_string)
                .collect();
            eprintln!(
                "  and, always shown with this credential: {}",
                always.join(", ")
            );
        }
    }

    let chosen = choose(&prepared, only.as_deref())?;
    let consents = prepared
        .answers
        .iter()
        .zip(chosen)
        .map(|(answer, chosen)| answer.view.consent(chosen).map_err(refuse))
        .collect::<Result<Vec<_>, _>>()?;
    if !yes {
        let answer = prompt_line("Disclose these claims? [y/N] ")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(refuse("declined: nothing was sent"));
        }
    }
    let mut presented = Vec::with_capacity(consents.len());
    let mut presentations = Vec::with_capacity(consents.len());
    for (answer, consent) in prepared.answers.iter().zip(&consents) {
        let credential = wallet
            .credential(answer.view.credential())
            .map_err(refuse)?;
        let disclosed: Vec<String> = consent
            .disclosed(&credential)
            .iter()
            .map(ToString::to_string)
            .collect();
        let (presentation, history_id) = wallet.present(consent, now).map_err(refuse)?;
        presented.push((answer, disclosed, history_id));
        presentations.push((answer.query_id.as_str(), presentation));
    }
    let pairs: Vec<(&str, &credence_wallet::present::Presentation)> = presentations
        .iter()
        .map(|(id, presentation)| (*id, presentation))
        .collect();
    let answer = client.send(&request, &pairs).await;
    for (_, _, history_id) in &presented {
        wallet
            .record_answer(history_id, answer.clone())
            .map_err(refuse)?;
    }
    print_json(&json!({
        "clientId": request.client_id.as_str(),
        "presented": presented
            .iter()
            .map(|(prepared, disclosed, history_id)| json!({
                "query": prepared.query_id,
                "credential": prepared.view.credential(),
                "history": history_id.as_str(),
                "disclosed": disclosed,
            }))
            .collect::<Vec<_>>(),
        "answer": serde_json::to_value(&answer).unwrap_or(Value::Null),
    }));
    match answer {
        VerifierAnswer::Accepted | VerifierAnswer::Pending => Ok(()),
        VerifierAnswer::Rejected { reason } => Err(refuse(format!(
            "the verifier rejected the presentation: {reason}"
        ))),
        VerifierAnswer::NotDelivered { reason } => Err(CommandError::Other(anyhow::anyhow!(
            "the presentation could not be delivered: {reason}"
        ))),
    }
}

/// The claims chosen for each answer. Without `--only`, every requested claim. With it, each
/// entry is `[query:]path` (a JSON Pointer or a top-level name): `query:` scopes it to the
/// credential answering that credential query; unscoped, it applies to every credential whose
/// view asks for that path. An entry no credential asks for, or naming an unknown query, is
/// refused (nothing is sent).
fn choose(
    prepared: &openid4vp::Prepared,
    only: Option<&[String]>,
) -> Result<Vec<Vec<ClaimPath>>, CommandError> {
    let Some(entries) = only else {
        return Ok(prepared
            .answers
            .iter()
            .map(|answer| {
                answer
                    .view
                    .requested()
                    .iter()
                    .map(|item| item.path.clone())
                    .collect()
            })
            .collect());
    };
    let mut chosen = vec![Vec::new(); prepared.answers.len()];
    for entry in entries {
        let (scope, name) = match entry.split_once(':') {
            Some((query, path)) if !query.starts_with('/') => (Some(query), path),
            _ => (None, entry.as_str()),
        };
        let pointer = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        let path = ClaimPath::parse(&pointer)
            .ok_or_else(|| refuse(format!("--only: {entry:?} is not a claim path")))?;
        if let Some(query) = scope {
            let index = prepared
                .answers
                .iter()
                .position(|answer| answer.query_id == query)
                .ok_or_else(|| {
                    refuse(format!(
                        "--only: {entry:?} names the query {query:?}, which this request does \
                         not answer"
                    ))
                })?;
            chosen[index].push(path);
            continue;
        }
        let mut used = false;
        for (index, answer) in prepared.answers.iter().enumerate() {
            if answer.view.requested().iter().any(|item| item.path == path) {
                chosen[index].push(path.clone());
                used = true;
            }
        }
        if !used {
            return Err(refuse(format!(
                "--only: no credential is asked for {entry:?}"
            )));
        }
    }
    Ok(chosen)
}

/// The verifier library's context for checking received credentials at `network.registry`.
fn check_context(network: &Network) -> Result<Context, CommandError> {
    let registry = RegistryClient::new(&network.registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plain = plain_http_client().map_err(|e| anyhow::anyhow!("{e}"))?;
    let context = Context::new(
        Resolver::new(CredenceSource::Remote(registry.clone()), Default::default()),
        Some(registry),
        plain.clone(),
    )
    .trusting_status_lists_under(&network.registry, plain);
    Ok(if network.allow_insecure {
        context
    } else {
        context.public_status_targets_only()
    })
}

fn open(path: &Path) -> Result<Wallet, CommandError> {
    let passphrase = passphrase(false)?;
    Wallet::open(path, &passphrase).map_err(refuse)
}

/// A credential by id.
fn find(wallet: &Wallet, id: &str) -> Result<StoredCredential, CommandError> {
    wallet
        .credentials()
        .map_err(refuse)?
        .into_iter()
        .find(|credential| credential.id().as_str() == id)
        .ok_or_else(|| refuse(format!("no credential {id}")))
}

/// The passphrase: `CREDENCE_WALLET_PASSPHRASE`, else a prompt (twice for a new wallet).
fn passphrase(new: bool) -> Result<Passphrase, CommandError> {
    if let Ok(text) = std::env::var("CREDENCE_WALLET_PASSPHRASE") {
        return Ok(Passphrase::new(text));
    }
    let first = prompt_secret("Wallet passphrase: ")?;
    if new {
        let again = prompt_secret("Again: ")?;
        if *first != *again {
            return Err(refuse("the passphrases differ"));
        }
    }
    Ok(Passphrase::new(first.to_string()))
}

/// Reads a line from stdin, without echo on a terminal (`stty`, so no extra dependency).
fn prompt_secret(prompt: &str) -> Result<zeroize::Zeroizing<String>, CommandError> {
    let terminal = std::io::stdin().is_terminal();
    let stty = |setting: &str| {
        if terminal {
            let _ = std::process::Command::new("stty")
                .arg(setting)
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    };
    stty("-echo");
    let line = prompt_line(prompt);
    stty("echo");
    if terminal {
        eprintln!();
    }
    line.map(zeroize::Zeroizing::new)
}

fn prompt_line(prompt: &str) -> Result<String, CommandError> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
