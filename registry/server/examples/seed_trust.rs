//! Seeds a registry with a trust chain and status lists for the trust benchmarks
//! (BENCHMARKS.md, "Trust registry and status lists").
//!
//! ```text
//! cargo run --release -p credence-registry --example seed_trust -- --dir target/bench-data/trust
//! ```
//!
//! Writes, in `--dir`: `registry.db` (SQLite), `log-signing.key` (the checkpoint key that goes
//! with it), `anchor.txt` (the root DID, for `credence serve --trust-anchor`),
//! `authorization-paths.txt` and `status-paths.txt` (request paths for the load script, one a
//! line). Everything goes through the registry's own HTTP routes (in process), as clients
//! would submit it:
//!
//! * a root trust anchor accredits a ministry for business licences (may accredit), the
//!   ministry accredits a provincial agency (may accredit), and the agency accredits
//!   `--districts` district offices: every district's authorization is a 3-level chain;
//! * each district publishes a 1-bit Token Status List of 131,072 entries with 0.5% of entries
//!   set at random (so the compressed list has the size of a real one, a few KiB).
//!
//! `benches/trust.rs` includes this file as a module to seed on first use.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use chrono::{Duration, Utc};
use credence_registry::keys::KeyType;
use credence_registry::owner::{OwnerKeys, SIGNING_FRAGMENT};
use credence_registry::{ops, signed, status};
use credence_registry_server::store::{self, DidStore, WriteLimits};
use credence_registry_server::{AppOptions, app, transparency};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub(crate) type SeedError = Box<dyn std::error::Error + Send + Sync>;

/// The credential type every district is accredited for.
pub(crate) const LICENCE: &str = "https://credence.example/vct/business-licence";

/// What was seeded.
pub(crate) struct TrustSeed {
    #[allow(dead_code)] // read by benches/trust.rs
    pub(crate) store: Arc<dyn DidStore>,
    pub(crate) anchor: String,
    pub(crate) districts: Vec<String>,
    /// Each district's status list key.
    pub(crate) list_keys: Vec<String>,
}

struct Party {
    keys: OwnerKeys,
    did: String,
}

impl Party {
    fn new() -> Self {
        let keys = OwnerKeys::generate(KeyType::Ed25519);
        let did = ops::did_for_genesis(&keys.genesis(Vec::new())).to_string();
        Self { keys, did }
    }
    fn sign(&self, payload: &Value, typ: Option<&str>) -> String {
        let kid = format!("{}#{SIGNING_FRAGMENT}", self.did);
        signed::sign_typed(payload, &self.keys.signing, &kid, typ)
    }
}

/// POSTs with the media type the endpoint takes: JSON for DID operations, `application/jose`
/// for signed submissions.
async fn post(router: &axum::Router, uri: &str, body: String) -> Result<Value, SeedError> {
    let content_type = if uri == "/dids" {
        "application/json"
    } else {
        "application/jose"
    };
    let request = Request::post(uri)
        .header("content-type", content_type)
        .body(Body::from(body))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: Value = serde_json::from_slice(&bytes)?;
    if !status.is_success() {
        return Err(format!("POST {uri}: {status} {value}").into());
    }
    Ok(value)
}

/// A small deterministic generator (xorshift64), so every seed sets the same entries.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Seeds `database_url` (which must be empty) and returns what it holds.
pub(crate) async fn seed(
    database_url: &str,
    log_key: &Path,
    districts: usize,
) -> Result<TrustSeed, SeedError> {
    let store = store::open(database_url).await?;
    let signer = transparency::load_or_create_signer(log_key, "credence.localhost/registry")?;
    let (root, ministry, agency) = (Party::new(), Party::new(), Party::new());
    let router = app(
        store.clone(),
        AppOptions {
            registry_prefix: "",
            limits: WriteLimits::default(),
            web: Default::default(),
            log_signer: Arc::new(signer),
            witnesses: Vec::new(),
            trust_anchors: vec![root.did.parse()?],
            clock: Default::default(),
            checkpoint_interval: std::time::Duration::from_secs(1),
        },
    );
    let offices: Vec<Party> = (0..districts).map(|_| Party::new()).collect();
    for party in [&root, &ministry, &agency].into_iter().chain(&offices) {
        let genesis = serde_json::to_string(&party.keys.genesis(Vec::new()))?;
        post(&router, "/dids", genesis).await?;
    }
    let accredit = |by: &Party, subject: &Party, may_accredit: bool, days: i64| {
        let now = Utc::now();
        by.sign(
            &json!({
                "type": "Accreditation",
                "subject": subject.did,
                "credentialTypes": [LICENCE],
                "mayAccredit": may_accredit,
                "validFrom": now.to_rfc3339(),
                "validUntil": (now + Duration::days(days)).to_rfc3339(),
            }),
            None,
        )
    };
    post(
        &router,
        "/accreditations",
        accredit(&root, &ministry, true, 3650),
    )
    .await?;
    post(
        &router,
        "/accreditations",
        accredit(&ministry, &agency, true, 3000),
    )
    .await?;
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut list_keys = Vec::with_capacity(districts);
    for office in &offices {
        post(
            &router,
            "/accreditations",
            accredit(&agency, office, false, 2000),
        )
        .await?;
        let revoked: Vec<u64> = (0..status::MIN_ENTRIES / 200)
            .map(|_| next(&mut rng) % status::MIN_ENTRIES)
            .collect();
        let list = status::one_bit_token_list(status::MIN_ENTRIES as usize, revoked)
            .map_err(|index| format!("entry {index} outside the list"))?;
        let uri = format!("https://registry.example/status-lists/{}/1", office.did);
        let list = office.sign(
            &json!({
                "iss": office.did,
                "sub": uri,
                "iat": Utc::now().timestamp(),
                "ttl": 600,
                "status_list": {"bits": 1, "lst": status::compress_token_list(&list)},
            }),
            Some("statuslist+jwt"),
        );
        let published = post(&router, "/status-lists", list).await?;
        list_keys.push(
            published["key"]
                .as_str()
                .ok_or("status list without key")?
                .to_owned(),
        );
    }
    Ok(TrustSeed {
        store,
        anchor: root.did,
        districts: offices.into_iter().map(|o| o.did).collect(),
        list_keys,
    })
}

/// The type parameter as it goes in a query string.
pub(crate) fn licence_query() -> String {
    LICENCE.replace(':', "%3A").replace('/', "%2F")
}

fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> Result<(), SeedError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.flush()?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), SeedError> {
    let mut dir = PathBuf::from("target/bench-data/trust");
    let mut districts = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--dir", Some(value)) => dir = value.into(),
            ("--districts", Some(value)) => districts = value.parse()?,
            _ => return Err("usage: seed_trust [--dir DIR] [--districts N]".into()),
        }
    }
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("registry.db");
    if db.exists() {
        eprintln!("{} exists; remove the directory to reseed", db.display());
        return Ok(());
    }
    let started = std::time::Instant::now();
    let seeded = seed(
        &format!("sqlite://{}", db.display()),
        &dir.join("log-signing.key"),
        districts,
    )
    .await?;
    std::fs::write(dir.join("anchor.txt"), format!("{}\n", seeded.anchor))?;
    let query = licence_query();
    write_lines(
        &dir.join("authorization-paths.txt"),
        seeded
            .districts
            .iter()
            .map(|did| format!("/registry/issuers/{did}/authorization?type={query}")),
    )?;
    write_lines(
        &dir.join("status-paths.txt"),
        seeded
            .list_keys
            .iter()
            .map(|key| format!("/registry/status-lists/{key}")),
    )?;
    eprintln!(
        "seeded {districts} districts in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}
