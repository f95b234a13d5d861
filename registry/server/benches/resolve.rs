//! Registry benchmarks (criterion); results and method in BENCHMARKS.md.
//!
//! * `resolve_100k`: `Registry::resolve` on a SQLite store holding 100,000 DIDs of 10
//!   operations each, on a single-threaded (current_thread) tokio runtime: the latest version of
//!   a random DID, the latest version of one DID over and over, and a random historical version
//!   (`VersionSelector::Id`) of a random DID. The store is seeded on first use by
//!   `examples/seed.rs` (a few minutes) and cached as `target/bench-data/did-100000x10.db`.
//! * `create`: create-DID operations accepted per second through `Registry::submit`, durable
//!   (SQLite in WAL mode with `synchronous = FULL` in a fresh file under `target/bench-data`, and
//!   PostgreSQL), with 1 and 16 concurrent submitters on a multi-threaded runtime. Genesis
//!   operations are signed before the clock starts; only fresh DIDs are inserted, so a shared
//!   PostgreSQL database needs no cleaning.
//!
//! ```text
//! cargo bench -p credence-registry --bench resolve                 # everything
//! cargo bench -p credence-registry --bench resolve -- resolve_100k # reads only
//! CREDENCE_BENCH_DATABASE_URL=off cargo bench ... -- create        # no PostgreSQL
//! ```
//!
//! PostgreSQL: `CREDENCE_BENCH_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! skipped with a notice if it cannot be reached. Under `cargo test --benches` (criterion's test
//! mode, each benchmark runs once) the data sets are tiny temporary stores, and PostgreSQL is used
//! only if `CREDENCE_BENCH_DATABASE_URL` or `CREDENCE_TEST_DATABASE_URL` names it.

#[allow(dead_code)]
mod common;
#[path = "../examples/seed.rs"]
#[allow(dead_code)]
mod seed;

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credence_registry::did::Did;
use credence_registry::keys::KeyType;
use credence_registry::owner::OwnerKeys;
use credence_registry::wire::VersionSelector;
use credence_registry_server::registry::Registry;
use credence_registry_server::store::{DidStore, PostgresStore, SqliteStore, WriteLimits};
use criterion::{BenchmarkId, Criterion, Throughput};

use common::{Rng, bench_mode, current_thread_runtime};

/// The data set of the read benchmarks.
const DIDS: usize = 100_000;
const OPS_PER_DID: usize = 10;
/// Historical versions sampled for the `version_id` benchmark.
const VERSION_SAMPLES: usize = 2_000;
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A seeded store and what to ask it.
struct ResolveFixture {
    registry: Registry,
    dids: Vec<Did>,
    /// (DID, one of its versions), drawn at random.
    versions: Vec<(Did, VersionSelector)>,
    _scratch: Option<tempfile::TempDir>,
}

async fn resolve_fixture(bench: bool) -> ResolveFixture {
    let (config, scratch) = if bench {
        let config = seed::SeedConfig {
            db: seed::default_db(DIDS, OPS_PER_DID),
            dids: DIDS,
            ops_per_did: OPS_PER_DID,
            staging_dir: seed::default_staging_dir(),
            progress: true,
        };
        (config, None)
    } else {
        let scratch = tempfile::tempdir().expect("tempdir");
        let config = seed::SeedConfig {
            db: scratch.path().join("small.db"),
            dids: 20,
            ops_per_did: OPS_PER_DID,
            staging_dir: None,
            progress: false,
        };
        (config, Some(scratch))
    };
    if bench && !seed::is_seeded(&config.db) {
        eprintln!(
            "seeding {} DIDs x {} operations into {} (once: later runs reuse it)",
            config.dids,
            config.ops_per_did,
            config.db.display()
        );
    }
    if let Some(report) = seed::ensure_seeded(&config).await.expect("seeding") {
        eprintln!(
            "seeded {} operations in {:.0} s",
            report.ops,
            report.elapsed.as_secs_f64()
        );
    }
    let dids: Vec<Did> = std::fs::read_to_string(seed::dids_file(&config.db))
        .expect("read the DID list")
        .lines()
        .map(|line| Did::parse(line).expect("a DID"))
        .collect();
    assert_eq!(
        dids.len(),
        config.dids,
        "DID list of {}",
        config.db.display()
    );
    // Start from a warm OS page cache, as a serving registry would be: read the file once.
    std::io::copy(
        &mut std::fs::File::open(&config.db).expect("open the database file"),
        &mut std::io::sink(),
    )
    .expect("read the database file");
    let store = SqliteStore::connect(&sqlite_url(&config.db))
        .await
        .expect("open the seeded store");
    let store: Arc<dyn DidStore> = Arc::new(store);
    let rng = Rng::new(0x5eed);
    let mut versions = Vec::with_capacity(VERSION_SAMPLES);
    for _ in 0..VERSION_SAMPLES {
        let did = rng.pick(&dids);
        let ops = store.ops(did).await.expect("read operations");
        assert_eq!(ops.len(), config.ops_per_did, "{did} has a full history");
        let hash = rng.pick(&ops).hash.as_str().to_owned();
        versions.push((did.clone(), VersionSelector::Id(hash)));
    }
    ResolveFixture {
        registry: Registry::new(store, WriteLimits::default()),
        dids,
        versions,
        _scratch: scratch,
    }
}

fn resolve_benches(c: &mut Criterion, bench: bool) {
    let runtime = current_thread_runtime();
    let cell: OnceCell<ResolveFixture> = OnceCell::new();
    let fixture = || cell.get_or_init(|| runtime.block_on(resolve_fixture(bench)));
    let mut group = c.benchmark_group("resolve_100k");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(10));

    group.bench_function("latest/random_did", |b| {
        let fixture = fixture();
        let rng = Rng::new(1);
        b.to_async(&runtime).iter(|| {
            let did = rng.pick(&fixture.dids);
            async move {
                black_box(
                    fixture
                        .registry
                        .resolve(did, &VersionSelector::Latest)
                        .await
                        .expect("resolves"),
                )
            }
        });
    });
    group.bench_function("latest/same_did", |b| {
        let fixture = fixture();
        let did = &fixture.dids[0];
        b.to_async(&runtime).iter(|| async {
            black_box(
                fixture
                    .registry
                    .resolve(did, &VersionSelector::Latest)
                    .await
                    .expect("resolves"),
            )
        });
    });
    group.bench_function("version_id/random_did", |b| {
        let fixture = fixture();
        let rng = Rng::new(2);
        b.to_async(&runtime).iter(|| {
            let (did, version) = rng.pick(&fixture.versions);
            async move {
                black_box(
                    fixture
                        .registry
                        .resolve(did, version)
                        .await
                        .expect("resolves"),
                )
            }
        });
    });
    group.finish();
}

/// Signed genesis operations, as request bodies, for fresh DIDs (a new key pair each).
fn signed_geneses(count: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let genesis = OwnerKeys::generate(KeyType::Ed25519).genesis(Vec::new());
            serde_json::to_vec(&genesis).expect("serialize")
        })
        .collect()
}

/// Submits `bodies` from `submitters` concurrent tasks; every one must be accepted.
async fn submit_all(registry: &Registry, bodies: Vec<Vec<u8>>, submitters: usize) {
    let mut queues: Vec<Vec<Vec<u8>>> = vec![Vec::new(); submitters];
    for (i, body) in bodies.into_iter().enumerate() {
        queues[i % submitters].push(body);
    }
    let tasks: Vec<_> = queues
        .into_iter()
        .map(|queue| {
            let registry = registry.clone();
            tokio::spawn(async move {
                for body in queue {
                    registry.submit(None, &body).await.expect("create accepted");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("submitter task");
    }
}

fn postgres_url(bench: bool) -> Option<String> {
    let explicit = std::env::var("CREDENCE_BENCH_DATABASE_URL").ok();
    let url = if bench {
        explicit.unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
    } else {
        explicit.or_else(|| std::env::var("CREDENCE_TEST_DATABASE_URL").ok())?
    };
    (!url.is_empty() && url != "off").then_some(url)
}

fn create_benches(c: &mut Criterion, bench: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let limits = WriteLimits {
        per_hour: u32::MAX,
        per_day: u32::MAX,
    };
    // On the disk the seeded data lives on, not in a tmpfs /tmp: fsyncs must be real.
    let data_dir = seed::bench_data_dir();
    std::fs::create_dir_all(&data_dir).expect("create the bench data directory");
    let scratch = tempfile::tempdir_in(&data_dir).expect("tempdir");
    let mut backends: Vec<(&str, Registry)> = Vec::new();
    let sqlite = runtime
        .block_on(SqliteStore::connect(&sqlite_url(
            &scratch.path().join("create.db"),
        )))
        .expect("open a fresh SQLite store");
    backends.push(("sqlite", Registry::new(Arc::new(sqlite), limits)));
    if let Some(url) = postgres_url(bench) {
        match runtime.block_on(PostgresStore::connect(&url)) {
            Ok(store) => backends.push(("postgres", Registry::new(Arc::new(store), limits))),
            Err(error) => eprintln!("note: PostgreSQL at {url} unavailable ({error}); skipped"),
        }
    }

    let mut group = c.benchmark_group("create");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    for (backend, registry) in &backends {
        for submitters in [1_usize, 16] {
            group.bench_with_input(
                BenchmarkId::new(*backend, format!("{submitters}_submitters")),
                &submitters,
                |b, &submitters| {
                    b.to_async(&runtime).iter_custom(|iters| async move {
                        let bodies = signed_geneses(iters);
                        let started = Instant::now();
                        submit_all(registry, bodies, submitters).await;
                        started.elapsed()
                    });
                },
            );
        }
    }
    group.finish();
}

fn main() {
    let bench = bench_mode();
    let mut criterion = Criterion::default().configure_from_args();
    resolve_benches(&mut criterion, bench);
    create_benches(&mut criterion, bench);
    criterion.final_summary();
}
