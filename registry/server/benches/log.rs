//! Transparency-log benchmarks (criterion); results, commands and machine in BENCHMARKS-log.md.
//!
//! * `log_append/<backend>/<N>_submitters`: durable appends (log leaves) per second through
//!   `Registry::submit`, N concurrent submitters, each DID distinct, genesis operations signed
//!   before the clock starts. The group committer batches whatever is waiting (with N
//!   closed-loop submitters a batch holds at most N). After each benchmark a `LOGBENCH` line
//!   gives the submit latency percentiles and the time of one `Transparency::publish` right
//!   after the run.
//! * `log_append_batch/<backend>/<B>`: one caller, `DidStore::append_batch` of B prepared
//!   appends: what one group commit of B leaves costs (its latency is criterion's time per leaf
//!   times B).
//! * `log_publish/<backend>`: `Transparency::publish` after 16 fresh leaves (the root from stored
//!   hashes, the signature, the checkpoint row).
//! * `log_proofs_1m/...`: `Transparency::inclusion` and `Transparency::consistency` for random
//!   index/size pairs on the 1,000,000-leaf SQLite log, in process on a current-thread runtime
//!   (compare with `scripts/log-load.sh`, the same over HTTP).
//! * `log_audit/...`: the CPU work `credence audit` does per entry: `MemoryTree::push` of
//!   1,000,000 entries, `Entry::parse`, `ops::replay` of 10-operation chains.
//!
//! ```text
//! cargo bench -p credence-registry --bench log                    # everything
//! cargo bench -p credence-registry --bench log -- 'log_append/'   # one group (a regex)
//! ```
//!
//! Environment:
//! * `CREDENCE_LOG_BENCH_DATABASE_URL`: PostgreSQL, default
//!   `postgres://postgres@127.0.0.1:5432/credence_bench_log`; `off` skips PostgreSQL. A database
//!   whose name starts with `credence_bench_` is dropped and re-created first (a fresh log); any
//!   other is used as it is. Skipped with a notice if unreachable.
//! * `CREDENCE_LOG_BENCH_PROOF_DB`: the 1,000,000-leaf SQLite log, default
//!   `target/bench-data/log-bench/proofs-1m.db` (a copy of `did-100000x10.db`, which
//!   `examples/seed.rs` writes; see BENCHMARKS-log.md). Opening it applies pending migrations;
//!   the benchmarks only read. Skipped if missing.
//!
//! SQLite writes go to a fresh file in a temporary directory under `target/bench-data` (a real
//! disk: `synchronous = FULL` fsyncs must cost what they cost). Under `cargo test --benches`
//! (criterion's test mode, each benchmark once) everything runs on tiny temporary stores and
//! PostgreSQL only if `CREDENCE_LOG_BENCH_DATABASE_URL` names it.

#[allow(dead_code)]
mod common;

use std::cell::{Cell, OnceCell};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use credence_registry::did::Did;
use credence_registry::keys::KeyType;
use credence_registry::log::{self, CheckpointSigner, Entry, MemoryTree};
use credence_registry::ops::{self, DidState, OpHash, ServiceSpec, SignedOperation};
use credence_registry::owner::OwnerKeys;
use credence_registry_server::registry::Registry;
use credence_registry_server::store::{Append, DidStore, PostgresStore, SqliteStore, WriteLimits};
use credence_registry_server::transparency::Transparency;
use criterion::{BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;

use common::{Rng, bench_mode, current_thread_runtime};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/credence_bench_log";
/// Concurrent submitters of `log_append`.
const SUBMITTERS: [usize; 4] = [1, 16, 64, 256];
/// Batch sizes of `log_append_batch` (256 is the committer's `MAX_BATCH`).
const BATCH_SIZES: [usize; 4] = [1, 16, 64, 256];
/// Leaves appended (untimed) before each timed publish.
const LEAVES_PER_PUBLISH: usize = 16;
/// Random (index, size) or (from, to) pairs asked of the proof benchmarks.
const PROOF_SAMPLES: usize = 10_000;

/// `<workspace>/target/bench-data`, or `$CREDENCE_BENCH_DATA`.
fn bench_data_dir() -> PathBuf {
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

fn multi_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn no_limits() -> WriteLimits {
    WriteLimits {
        per_hour: u32::MAX,
        per_day: u32::MAX,
    }
}

fn checkpoint_signer() -> Arc<CheckpointSigner> {
    let (signer, _secret) = CheckpointSigner::generate("bench.credence.localhost/log")
        .expect("generate a checkpoint key");
    Arc::new(signer)
}

/// The `p`-th percentile (0..=100) of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// Operations: signed before the clock starts, every DID distinct (within a run and across runs).

/// Signs genesis operations for fresh DIDs. One rotation key serves them all (signing is what
/// costs, not key generation); the DIDs differ by their service endpoint, which carries a
/// per-run nonce and a counter.
struct Geneses {
    keys: OwnerKeys,
    nonce: u128,
    next: AtomicU64,
}

impl Geneses {
    fn new() -> Self {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            keys: OwnerKeys::generate(KeyType::Ed25519),
            nonce,
            next: AtomicU64::new(0),
        }
    }

    fn one(&self) -> SignedOperation {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.keys.genesis(vec![ServiceSpec {
            id: "site".to_owned(),
            kind: "LinkedDomains".to_owned(),
            service_endpoint: format!("https://r{}-{n}.bench.example/", self.nonce),
        }])
    }

    /// `count` operations, signed on every core.
    fn many(&self, count: usize) -> Vec<SignedOperation> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let per_thread = count.div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .step_by(per_thread)
                .map(|start| {
                    let n = per_thread.min(count - start);
                    scope.spawn(move || (0..n).map(|_| self.one()).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("signing thread"))
                .collect()
        })
    }

    /// `count` request bodies for `Registry::submit`.
    fn bodies(&self, count: usize) -> Vec<Vec<u8>> {
        self.many(count)
            .iter()
            .map(|op| serde_json::to_vec(op).expect("serialize"))
            .collect()
    }

    /// `count` appends ready for `DidStore::append_batch`.
    fn prepared(&self, count: usize) -> Vec<Prepared> {
        self.many(count).into_iter().map(Prepared::new).collect()
    }
}

/// What an `Append` borrows, owned.
struct Prepared {
    operation: SignedOperation,
    hash: OpHash,
    state: DidState,
    entry: Vec<u8>,
}

impl Prepared {
    fn new(operation: SignedOperation) -> Self {
        let state = ops::apply(None, &operation).expect("a valid genesis");
        let entry = log::did_operation_entry(&state.did, 0, &operation);
        Self {
            hash: operation.hash(),
            operation,
            state,
            entry,
        }
    }

    fn append(&self) -> Append<'_> {
        Append {
            did: &self.state.did,
            expected_head: None,
            operation: &self.operation,
            hash: &self.hash,
            new_state: &self.state,
            now: Utc::now(),
            limits: no_limits(),
            log_entry: &self.entry,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Write benchmarks: log_append, log_append_batch, log_publish.

/// One backend under write load.
struct WriteBackend {
    name: &'static str,
    store: Arc<dyn DidStore>,
    registry: Registry,
    transparency: Transparency,
}

impl WriteBackend {
    fn new(name: &'static str, store: Arc<dyn DidStore>) -> Self {
        Self {
            name,
            registry: Registry::new(store.clone(), no_limits()),
            transparency: Transparency::new(store.clone(), checkpoint_signer()),
            store,
        }
    }
}

fn postgres_url(bench: bool) -> Option<String> {
    let explicit = std::env::var("CREDENCE_LOG_BENCH_DATABASE_URL").ok();
    let url = if bench {
        explicit.unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
    } else {
        explicit?
    };
    (!url.is_empty() && url != "off").then_some(url)
}

/// Drops and re-creates the database `url` names if it is a `credence_bench_*` one, through the
/// server's `postgres` maintenance database.
async fn recreate_bench_database(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if !name.starts_with("credence_bench_")
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        eprintln!("note: {name:?} is not a credence_bench_* database; using it as it is");
        return Ok(());
    }
    let mut admin = parsed.clone();
    admin.set_path("/postgres");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(admin.as_str())
        .await
        .map_err(|e| e.to_string())?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(&statement)
            .execute(&pool)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    pool.close().await;
    Ok(())
}

/// The write backends measured: SQLite always, PostgreSQL when a URL is configured (if it
/// turns out unreachable, its benchmarks say so and measure nothing).
fn backend_names(bench: bool) -> Vec<&'static str> {
    let mut names = vec!["sqlite"];
    if postgres_url(bench).is_some() {
        names.push("postgres");
    }
    names
}

struct WriteFixture {
    backends: Vec<WriteBackend>,
    _scratch: tempfile::TempDir,
}

fn write_fixture(runtime: &Runtime, bench: bool) -> WriteFixture {
    let data_dir = bench_data_dir();
    std::fs::create_dir_all(&data_dir).expect("create the bench data directory");
    let scratch = tempfile::tempdir_in(&data_dir).expect("tempdir");
    let url = format!(
        "sqlite://{}",
        scratch.path().join("log-append.db").display()
    );
    let sqlite = runtime
        .block_on(SqliteStore::connect(&url))
        .expect("open a fresh SQLite store");
    let mut backends = vec![WriteBackend::new("sqlite", Arc::new(sqlite))];
    if let Some(url) = postgres_url(bench) {
        let opened = runtime.block_on(async {
            recreate_bench_database(&url).await?;
            PostgresStore::connect(&url)
                .await
                .map_err(|e| e.to_string())
        });
        match opened {
            Ok(store) => backends.push(WriteBackend::new("postgres", Arc::new(store))),
            Err(error) => eprintln!("note: PostgreSQL at {url} unavailable ({error}); skipped"),
        }
    }
    WriteFixture {
        backends,
        _scratch: scratch,
    }
}

/// Submits `bodies` from `submitters` concurrent tasks (every one must be accepted); returns
/// each submit's latency.
async fn submit_all(registry: &Registry, bodies: Vec<Vec<u8>>, submitters: usize) -> Vec<Duration> {
    let mut queues: Vec<Vec<Vec<u8>>> = vec![Vec::new(); submitters];
    for (i, body) in bodies.into_iter().enumerate() {
        queues[i % submitters].push(body);
    }
    let tasks: Vec<_> = queues
        .into_iter()
        .filter(|queue| !queue.is_empty())
        .map(|queue| {
            let registry = registry.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(queue.len());
                for body in queue {
                    let started = Instant::now();
                    registry.submit(None, &body).await.expect("create accepted");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("submitter task"));
    }
    latencies
}

/// Times one publish; returns (time, checkpointed size).
fn time_publish(runtime: &Runtime, transparency: &Transparency) -> (Duration, u64) {
    runtime.block_on(async {
        let started = Instant::now();
        let size = transparency.publish().await.expect("publish");
        (started.elapsed(), size)
    })
}

fn append_benches<'f>(
    c: &mut Criterion,
    runtime: &Runtime,
    fixture: &dyn Fn() -> &'f WriteFixture,
    bench: bool,
) {
    let mut group = c.benchmark_group("log_append");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    let geneses = Geneses::new();
    let backend_names = backend_names(bench);
    for name in backend_names {
        for submitters in SUBMITTERS {
            if !bench && submitters > 16 {
                continue;
            }
            let latencies: Mutex<Vec<Duration>> = Mutex::default();
            let mut ran: Option<&WriteBackend> = None;
            group.bench_with_input(
                BenchmarkId::new(name, format!("{submitters}_submitters")),
                &submitters,
                |b, &submitters| {
                    let Some(backend) = fixture().backends.iter().find(|b| b.name == name) else {
                        eprintln!("note: no {name} backend; log_append/{name} measures nothing");
                        b.iter(|| ());
                        return;
                    };
                    ran = Some(backend);
                    b.to_async(runtime).iter_custom(|iters| {
                        let bodies = geneses.bodies(iters as usize);
                        let latencies = &latencies;
                        async move {
                            let started = Instant::now();
                            let measured = submit_all(&backend.registry, bodies, submitters).await;
                            let elapsed = started.elapsed();
                            latencies.lock().expect("latencies").extend(measured);
                            elapsed
                        }
                    });
                },
            );
            if let Some(backend) = ran {
                report_append(
                    runtime,
                    backend,
                    submitters,
                    latencies.into_inner().expect("latencies"),
                );
            }
        }
    }
    group.finish();
}

fn report_append(
    runtime: &Runtime,
    backend: &WriteBackend,
    submitters: usize,
    mut latencies: Vec<Duration>,
) {
    let (publish, size) = time_publish(runtime, &backend.transparency);
    latencies.sort_unstable();
    println!(
        "LOGBENCH log_append/{}/{submitters}_submitters: {} submits (warm-up included); \
         submit latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms; \
         one publish after the run {:.2} ms (checkpoint size {size})",
        backend.name,
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        ms(publish),
    );
}

fn append_batch_benches<'f>(
    c: &mut Criterion,
    runtime: &Runtime,
    fixture: &dyn Fn() -> &'f WriteFixture,
    bench: bool,
) {
    let mut group = c.benchmark_group("log_append_batch");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    let geneses = Geneses::new();
    let backend_names = backend_names(bench);
    for name in backend_names {
        for batch in BATCH_SIZES {
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
                let Some(backend) = fixture().backends.iter().find(|b| b.name == name) else {
                    eprintln!("note: no {name} backend; log_append_batch/{name} measures nothing");
                    b.iter(|| ());
                    return;
                };
                let store = &backend.store;
                b.to_async(runtime).iter_custom(|iters| {
                    let prepared = geneses.prepared(iters as usize * batch);
                    async move {
                        let mut elapsed = Duration::ZERO;
                        for chunk in prepared.chunks(batch) {
                            let appends: Vec<Append<'_>> =
                                chunk.iter().map(Prepared::append).collect();
                            let started = Instant::now();
                            let results =
                                store.append_batch(&appends).await.expect("batch commits");
                            elapsed += started.elapsed();
                            assert!(results.iter().all(Result::is_ok), "every append accepted");
                        }
                        elapsed
                    }
                });
            });
        }
    }
    group.finish();
}

fn publish_benches<'f>(
    c: &mut Criterion,
    runtime: &Runtime,
    fixture: &dyn Fn() -> &'f WriteFixture,
    bench: bool,
) {
    let mut group = c.benchmark_group("log_publish");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let geneses = Geneses::new();
    let backend_names = backend_names(bench);
    for name in backend_names {
        group.bench_function(
            BenchmarkId::new(name, format!("after_{LEAVES_PER_PUBLISH}_leaves")),
            |b| {
                let Some(backend) = fixture().backends.iter().find(|b| b.name == name) else {
                    eprintln!("note: no {name} backend; log_publish/{name} measures nothing");
                    b.iter(|| ());
                    return;
                };
                let store = &backend.store;
                let transparency = &backend.transparency;
                b.to_async(runtime).iter_custom(|iters| {
                    let prepared = geneses.prepared(iters as usize * LEAVES_PER_PUBLISH);
                    async move {
                        let mut elapsed = Duration::ZERO;
                        for chunk in prepared.chunks(LEAVES_PER_PUBLISH) {
                            let appends: Vec<Append<'_>> =
                                chunk.iter().map(Prepared::append).collect();
                            store.append_batch(&appends).await.expect("batch commits");
                            let started = Instant::now();
                            black_box(transparency.publish().await.expect("publish"));
                            elapsed += started.elapsed();
                        }
                        elapsed
                    }
                });
            },
        );
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Read benchmarks: proofs from the 1M log; the audit's per-entry work.

struct ProofFixture {
    transparency: Transparency,
    store: Arc<dyn DidStore>,
    size: u64,
    _scratch: Option<tempfile::TempDir>,
}

fn proof_db(bench: bool) -> Option<PathBuf> {
    if !bench {
        return None;
    }
    let path = std::env::var_os("CREDENCE_LOG_BENCH_PROOF_DB").map_or_else(
        || bench_data_dir().join("log-bench/proofs-1m.db"),
        PathBuf::from,
    );
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "note: {} is missing (see BENCHMARKS-log.md); log_proofs_1m and log_audit use a small \
             temporary log",
            path.display()
        );
        None
    }
}

async fn proof_fixture(bench: bool) -> ProofFixture {
    let (url, scratch) = match proof_db(bench) {
        Some(path) => (format!("sqlite://{}", path.display()), None),
        None => {
            let scratch = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", scratch.path().join("proofs.db").display());
            (url, Some(scratch))
        }
    };
    let store: Arc<dyn DidStore> =
        Arc::new(SqliteStore::connect(&url).await.expect("open the log"));
    if scratch.is_some() {
        let prepared = Geneses::new().prepared(1_000);
        for chunk in prepared.chunks(256) {
            let appends: Vec<Append<'_>> = chunk.iter().map(Prepared::append).collect();
            store
                .append_batch(&appends)
                .await
                .expect("seed the small log");
        }
    }
    let size = store.log_size().await.expect("log size");
    assert!(size > 1, "the proof log holds entries");
    ProofFixture {
        transparency: Transparency::new(store.clone(), checkpoint_signer()),
        store,
        size,
        _scratch: scratch,
    }
}

fn proof_benches<'f>(c: &mut Criterion, fixture: &dyn Fn() -> &'f ProofFixture, runtime: &Runtime) {
    let mut group = c.benchmark_group("log_proofs_1m");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));

    // (index, size) pairs: against the whole log, and against random earlier sizes.
    let pairs = |seed: u64, whole: bool| {
        let fixture = fixture();
        let rng = Rng::new(seed);
        (0..PROOF_SAMPLES)
            .map(|_| {
                let size = if whole {
                    fixture.size
                } else {
                    1 + rng.below(fixture.size)
                };
                (rng.below(size), size)
            })
            .collect::<Vec<_>>()
    };
    for (name, seed, whole) in [
        ("inclusion/random_index/size_whole_log", 1, true),
        ("inclusion/random_index/random_size", 2, false),
    ] {
        group.bench_function(name, |b| {
            let fixture = fixture();
            let pairs = pairs(seed, whole);
            let next = Cell::new(0_usize);
            b.to_async(runtime).iter(|| {
                let (index, size) = pairs[next.get() % pairs.len()];
                next.set(next.get() + 1);
                async move {
                    black_box(
                        fixture
                            .transparency
                            .inclusion(index, size)
                            .await
                            .expect("inclusion proof"),
                    )
                }
            });
        });
    }
    for (name, seed, whole) in [
        ("consistency/random_from/to_whole_log", 3, true),
        ("consistency/random_from/random_to", 4, false),
    ] {
        group.bench_function(name, |b| {
            let fixture = fixture();
            // (from - 1, to): from is at least 1.
            let pairs = pairs(seed, whole);
            let next = Cell::new(0_usize);
            b.to_async(runtime).iter(|| {
                let (from, to) = pairs[next.get() % pairs.len()];
                next.set(next.get() + 1);
                async move {
                    black_box(
                        fixture
                            .transparency
                            .consistency(from + 1, to)
                            .await
                            .expect("consistency proof"),
                    )
                }
            });
        });
    }
    group.finish();
}

/// Real entries from the head of the log (whole DID chains, as `examples/seed.rs` appends them).
fn sample_entries(runtime: &Runtime, fixture: &ProofFixture) -> Vec<Vec<u8>> {
    let count = fixture.size.min(4_096);
    runtime
        .block_on(fixture.store.entries(0, count))
        .expect("read entries")
}

fn audit_benches<'f>(
    c: &mut Criterion,
    fixture: &dyn Fn() -> &'f ProofFixture,
    runtime: &Runtime,
    bench: bool,
) {
    let mut group = c.benchmark_group("log_audit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let entries: OnceCell<Vec<Vec<u8>>> = OnceCell::new();
    let entries = || entries.get_or_init(|| sample_entries(runtime, fixture()));

    let leaves: u64 = if bench { 1_000_000 } else { 1_000 };
    group.throughput(Throughput::Elements(leaves));
    group.bench_function(format!("memory_tree_push/{leaves}"), |b| {
        let entries = entries();
        b.iter(|| {
            let mut tree = MemoryTree::new();
            for i in 0..leaves as usize {
                tree.push(&entries[i % entries.len()]).expect("push");
            }
            black_box(tree.root_at(leaves).expect("root"))
        });
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("entry_parse", |b| {
        let entries = entries();
        let next = Cell::new(0_usize);
        b.iter(|| {
            let entry = &entries[next.get() % entries.len()];
            next.set(next.get() + 1);
            black_box(Entry::parse(entry).expect("an entry"))
        });
    });

    group.bench_function("ops_replay/per_operation", |b| {
        // Whole chains from the sampled entries, in log order.
        let mut chains: BTreeMap<Did, Vec<(u64, SignedOperation)>> = BTreeMap::new();
        for entry in entries() {
            // Only DID operations have chains (the seeded log holds nothing else).
            #[allow(unreachable_patterns)]
            match Entry::parse(entry).expect("an entry") {
                Entry::DidOperation {
                    did,
                    position,
                    operation,
                } => chains.entry(did).or_default().push((position, operation)),
                _ => continue,
            }
        }
        let chains: Vec<Vec<SignedOperation>> = chains
            .into_values()
            .filter(|chain| chain.first().is_some_and(|(position, _)| *position == 0))
            .map(|chain| chain.into_iter().map(|(_, op)| op).collect())
            .collect();
        // Each iteration replays one whole chain; divide by its length for per-operation time.
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0_u64;
            let mut next = 0;
            while done < iters {
                let chain = &chains[next % chains.len()];
                next += 1;
                let started = Instant::now();
                black_box(ops::replay(chain).expect("a valid chain"));
                elapsed += started.elapsed();
                done += chain.len() as u64;
            }
            // Scale to exactly `iters` operations.
            elapsed.mul_f64(iters as f64 / done as f64)
        });
    });
    group.finish();
}

fn main() {
    let bench = bench_mode();
    let mut criterion = Criterion::default().configure_from_args();

    // Fixtures are made on first use, so a filtered run sets up only what it measures.
    let multi = multi_thread_runtime();
    let write_cell: OnceCell<WriteFixture> = OnceCell::new();
    let write = || write_cell.get_or_init(|| write_fixture(&multi, bench));
    append_benches(&mut criterion, &multi, &write, bench);
    append_batch_benches(&mut criterion, &multi, &write, bench);
    publish_benches(&mut criterion, &multi, &write, bench);

    let single = current_thread_runtime();
    let proof_cell: OnceCell<ProofFixture> = OnceCell::new();
    let proofs = || proof_cell.get_or_init(|| single.block_on(proof_fixture(bench)));
    proof_benches(&mut criterion, &proofs, &single);
    audit_benches(&mut criterion, &proofs, &single, bench);

    criterion.final_summary();
}
