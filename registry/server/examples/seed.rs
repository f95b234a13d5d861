//! Seeds a SQLite did:credence store for the benchmarks (BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p credence-registry --example seed -- --dids 100000 --ops-per-did 10
//! ```
//!
//! writes `target/bench-data/did-100000x10.db` (a SQLite database opened by
//! `credence serve --database-url sqlite://...` and by `benches/resolve.rs`) and
//! `target/bench-data/did-100000x10.dids.txt` (the DIDs, one a line, for the HTTP load script).
//! An existing, complete pair is reused unless `--force` is given.
//!
//! Every DID gets a genesis and `ops-per-did - 1` updates with real Ed25519 signatures, each
//! checked by `ops::apply`, and is written through the public `DidStore::append` with its
//! transparency-log entry, as `Registry::submit` would write it. To keep seeding affordable all
//! DIDs share one key pair (generated once); they differ by their service endpoints, so every
//! operation, hash and DID is distinct. Write limits are lifted while seeding.
//!
//! The database is built in a staging directory (`/dev/shm` when it exists, so the per-commit
//! fsyncs of `synchronous = FULL` cost nothing), then compacted with `VACUUM INTO` to the
//! destination. Measurements read the destination file, never the staging copy.
//!
//! `benches/resolve.rs` includes this file as a module to seed on first use, so the items are
//! `pub(crate)` and the command line lives in `main` only.

use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use credence_registry::keys::KeyType;
use credence_registry::log;
use credence_registry::ops::{self, DidState, OpHash, ServiceSpec, SignedOperation};
use credence_registry::owner::OwnerKeys;
use credence_registry_server::store::{Append, DidStore, SqliteStore, WriteLimits};
use sqlx::ConnectOptions as _;

pub(crate) type SeedError = Box<dyn Error + Send + Sync>;

/// What to seed and where.
#[derive(Clone, Debug)]
pub(crate) struct SeedConfig {
    /// Destination database file.
    pub(crate) db: PathBuf,
    pub(crate) dids: usize,
    /// Operations per DID, the genesis included (at least 1).
    pub(crate) ops_per_did: usize,
    /// Where to build the database before compacting it to `db`; `None` builds beside `db`.
    pub(crate) staging_dir: Option<PathBuf>,
    /// Print progress on stderr.
    pub(crate) progress: bool,
}

/// What seeding did.
#[derive(Clone, Debug)]
pub(crate) struct SeedReport {
    pub(crate) dids: usize,
    pub(crate) ops: usize,
    pub(crate) elapsed: Duration,
    pub(crate) bytes: u64,
}

/// `<workspace>/target/bench-data`, or `$CREDENCE_BENCH_DATA`.
pub(crate) fn bench_data_dir() -> PathBuf {
    std::env::var_os("CREDENCE_BENCH_DATA").map_or_else(
        || {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest
                .parent()
                .unwrap_or(manifest)
                .join("target/bench-data")
        },
        PathBuf::from,
    )
}

/// The conventional database path for a data set: `<bench-data>/did-<dids>x<ops>.db`.
pub(crate) fn default_db(dids: usize, ops_per_did: usize) -> PathBuf {
    bench_data_dir().join(format!("did-{dids}x{ops_per_did}.db"))
}

/// The DID list written beside a database: `did-100000x10.db` -> `did-100000x10.dids.txt`.
pub(crate) fn dids_file(db: &Path) -> PathBuf {
    db.with_extension("dids.txt")
}

/// A complete data set: the DID list is written last, after the database is in place.
pub(crate) fn is_seeded(db: &Path) -> bool {
    db.is_file() && dids_file(db).is_file()
}

/// `/dev/shm` when it is a directory (tmpfs on Linux), else `None`.
pub(crate) fn default_staging_dir() -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    shm.is_dir().then(|| shm.to_path_buf())
}

/// One DID's operations with the state after each, ready to append.
struct Chain {
    ops: Vec<(SignedOperation, OpHash, DidState)>,
}

/// Signs and validates the operations of DID number `index`.
fn build_chain(keys: &OwnerKeys, index: usize, ops_per_did: usize) -> Chain {
    let service = |version: usize| {
        vec![ServiceSpec {
            id: "site".to_owned(),
            kind: "LinkedDomains".to_owned(),
            service_endpoint: format!("https://did-{index}.bench.example/v{version}"),
        }]
    };
    let genesis = keys.genesis(service(0));
    let mut state = ops::apply(None, &genesis).expect("seed genesis is valid");
    let mut chain = Vec::with_capacity(ops_per_did);
    chain.push((genesis.clone(), genesis.hash(), state.clone()));
    for version in 1..ops_per_did {
        let update = keys.update(state.head.clone(), keys, service(version));
        state = ops::apply(Some(&state), &update).expect("seed update is valid");
        chain.push((update.clone(), update.hash(), state.clone()));
    }
    Chain { ops: chain }
}

/// Builds the data set `config` describes, replacing any existing one.
pub(crate) async fn seed(config: &SeedConfig) -> Result<SeedReport, SeedError> {
    if config.ops_per_did == 0 {
        return Err("ops-per-did must be at least 1".into());
    }
    let started = Instant::now();
    let parent = config
        .db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let _ = std::fs::remove_file(dids_file(&config.db));
    let staging_dir = config.staging_dir.clone().unwrap_or(parent.to_path_buf());
    let name = config.db.file_name().unwrap_or_default().to_string_lossy();
    let staging = staging_dir.join(format!("credence-seed-{}-{name}", std::process::id()));
    let result = build(config, &staging).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = staging.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    let dids = result?;
    // The DID list last: its presence marks a complete data set.
    let list = dids_file(&config.db);
    let partial = list.with_extension("txt.partial");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        for did in &dids {
            writeln!(out, "{did}")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&partial, &list)?;
    Ok(SeedReport {
        dids: dids.len(),
        ops: dids.len() * config.ops_per_did,
        elapsed: started.elapsed(),
        bytes: std::fs::metadata(&config.db)?.len(),
    })
}

/// Appends every chain to a fresh store at `staging`, then compacts it into `config.db`.
async fn build(config: &SeedConfig, staging: &Path) -> Result<Vec<String>, SeedError> {
    let url = format!("sqlite://{}", staging.display());
    let store = SqliteStore::connect(&url).await?;
    let keys = Arc::new(OwnerKeys::generate(KeyType::Ed25519));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<Chain>>(4 * threads);
    const BATCH: usize = 64;
    let mut producers = Vec::new();
    for thread in 0..threads {
        let (keys, sender) = (keys.clone(), sender.clone());
        let (dids, ops_per_did) = (config.dids, config.ops_per_did);
        producers.push(std::thread::spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for index in (thread..dids).step_by(threads) {
                batch.push(build_chain(&keys, index, ops_per_did));
                if batch.len() == BATCH
                    && sender
                        .blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .is_err()
                {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = sender.blocking_send(batch);
            }
        }));
    }
    drop(sender);
    let limits = WriteLimits {
        per_hour: u32::MAX,
        per_day: u32::MAX,
    };
    let mut dids = Vec::with_capacity(config.dids);
    let mut last_report = Instant::now();
    while let Some(batch) = receiver.recv().await {
        for chain in batch {
            let mut prev: Option<&OpHash> = None;
            for (position, (operation, hash, state)) in chain.ops.iter().enumerate() {
                let log_entry = log::did_operation_entry(&state.did, position as u64, operation);
                store
                    .append(Append {
                        did: &state.did,
                        expected_head: prev,
                        operation,
                        hash,
                        new_state: state,
                        now: Utc::now(),
                        limits,
                        log_entry: &log_entry,
                    })
                    .await?;
                prev = Some(hash);
            }
            dids.push(chain.ops[0].2.did.to_string());
        }
        if config.progress && last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!("seed: {} / {} DIDs appended", dids.len(), config.dids);
        }
    }
    for producer in producers {
        producer
            .join()
            .map_err(|_| "an operation-building thread panicked")?;
    }
    if dids.len() != config.dids {
        return Err(format!("built {} DIDs, expected {}", dids.len(), config.dids).into());
    }
    drop(store);
    if config.progress {
        eprintln!("seed: appended; compacting into {}", config.db.display());
    }
    // VACUUM INTO writes a compact copy holding everything committed, WAL included.
    let partial = config.db.with_extension("db.partial");
    let _ = std::fs::remove_file(&partial);
    let mut connection = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
        .connect()
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(partial.to_string_lossy().as_ref())
        .execute(&mut connection)
        .await?;
    drop(connection);
    for suffix in ["-wal", "-shm"] {
        let mut name = config.db.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    std::fs::rename(&partial, &config.db)?;
    Ok(dids)
}

/// Reuses a complete data set at `config.db` or seeds one.
pub(crate) async fn ensure_seeded(config: &SeedConfig) -> Result<Option<SeedReport>, SeedError> {
    if is_seeded(&config.db) {
        return Ok(None);
    }
    seed(config).await.map(Some)
}

/// Seed a SQLite did:credence store and a DID list for the benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Number of DIDs.
    #[arg(long, default_value_t = 100_000)]
    dids: usize,
    /// Operations per DID, the genesis included.
    #[arg(long, default_value_t = 10)]
    ops_per_did: usize,
    /// Database file to write [default: target/bench-data/did-<dids>x<ops>.db].
    #[arg(long)]
    db: Option<PathBuf>,
    /// Build in this directory, then compact to --db [default: /dev/shm if present].
    #[arg(long)]
    staging_dir: Option<PathBuf>,
    /// Build beside --db instead of in a staging directory.
    #[arg(long, conflicts_with = "staging_dir")]
    no_staging: bool,
    /// Reseed even if the data set exists.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = SeedConfig {
        db: args
            .db
            .unwrap_or_else(|| default_db(args.dids, args.ops_per_did)),
        dids: args.dids,
        ops_per_did: args.ops_per_did,
        staging_dir: if args.no_staging {
            None
        } else {
            args.staging_dir.or_else(default_staging_dir)
        },
        progress: true,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        if args.force {
            seed(&config).await.map(Some)
        } else {
            ensure_seeded(&config).await
        }
    });
    match outcome {
        Ok(Some(report)) => {
            eprintln!(
                "seeded {} DIDs / {} operations in {:.1} s ({:.0} ops/s); {} ({:.1} MiB), {}",
                report.dids,
                report.ops,
                report.elapsed.as_secs_f64(),
                report.ops as f64 / report.elapsed.as_secs_f64(),
                config.db.display(),
                report.bytes as f64 / (1024.0 * 1024.0),
                dids_file(&config.db).display(),
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!(
                "reusing {} and {} (pass --force to reseed)",
                config.db.display(),
                dids_file(&config.db).display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
