//! Trust registry and status list benchmarks (criterion); results and method in BENCHMARKS.md.
//!
//! The data set is seeded through the registry's HTTP routes by `examples/seed_trust.rs` into a
//! temporary SQLite store: 1,000 district offices, each accredited through a 3-level chain
//! (agency -> ministry -> root anchor) and each with a 131,072-entry status list. Then, on a
//! single-threaded runtime, for a random district or list each time:
//!
//! * `authorization_3_level/cached`: `TrustRegistry::authorization`, the query behind
//!   `GET /issuers/{did}/authorization` (chains walked over the in-memory accreditation cache);
//! * `authorization_3_level/store`: the same decision read from the store each time
//!   (`check_authorized_now`, what writes use): the uncached baseline;
//! * `status_list_latest/cached`: `StatusLists::get`, behind `GET /status-lists/{key}`;
//! * `status_list_latest/store`: `DidStore::status_list`, the uncached baseline.
//!
//! ```text
//! cargo bench -p credence-registry --bench trust
//! ```
//!
//! Under `cargo test --benches` each runs once on five districts.

#[allow(dead_code)]
mod common;
#[path = "../examples/seed_trust.rs"]
#[allow(dead_code)]
mod seed_trust;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use credence_registry::did::Did;
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_registry_server::registry::Registry;
use credence_registry_server::status::StatusLists;
use credence_registry_server::store::WriteLimits;
use credence_registry_server::trust::TrustRegistry;
use criterion::{Criterion, Throughput};

use common::{Rng, bench_mode, current_thread_runtime};

const DISTRICTS: usize = 1_000;

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
}

fn main() {
    let bench = bench_mode();
    let runtime = current_thread_runtime();
    let scratch = tempfile::tempdir().expect("tempdir");
    let districts = if bench { DISTRICTS } else { 5 };
    let seeded = runtime
        .block_on(seed_trust::seed(
            &format!("sqlite://{}", scratch.path().join("trust.db").display()),
            &scratch.path().join("log-signing.key"),
            districts,
        ))
        .expect("seeding");
    let store = seeded.store.clone();
    let registry = Arc::new(Registry::new(store.clone(), WriteLimits::default()));
    let resolver = Arc::new(Resolver::new(
        CredenceSource::Local(registry),
        Default::default(),
    ));
    let anchor: Did = seeded.anchor.parse().expect("anchor DID");
    let trust = TrustRegistry::new(store.clone(), resolver.clone(), vec![anchor]);
    let lists = StatusLists::new(store.clone(), resolver, Arc::new(trust.clone()));
    let dids: Vec<Did> = seeded
        .districts
        .iter()
        .map(|d| d.parse().expect("DID"))
        .collect();

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("authorization_3_level");
    configure(&mut group);
    group.bench_function("cached", |b| {
        let rng = Rng::new(7);
        let licence: credence_registry::ids::CredentialType = seed_trust::LICENCE.parse().unwrap();
        b.to_async(&runtime).iter(|| {
            let did = rng.pick(&dids);
            let (trust, licence) = (&trust, &licence);
            async move {
                let answer = trust
                    .authorization(did, licence, Utc::now())
                    .await
                    .expect("query");
                assert!(answer.allowed && answer.chain.len() == 3, "{answer:?}");
                black_box(answer)
            }
        });
    });
    group.bench_function("store", |b| {
        let rng = Rng::new(7);
        b.to_async(&runtime).iter(|| {
            let did = rng.pick(&dids);
            let trust = &trust;
            async move {
                let answer = trust
                    .check_authorized_now(did, seed_trust::LICENCE)
                    .await
                    .expect("query");
                assert!(answer.is_ok(), "{answer:?}");
                black_box(answer)
            }
        });
    });
    group.finish();

    let mut group = criterion.benchmark_group("status_list_latest");
    configure(&mut group);
    group.bench_function("cached", |b| {
        let rng = Rng::new(11);
        b.to_async(&runtime).iter(|| {
            let key = rng.pick(&seeded.list_keys);
            let lists = &lists;
            async move { black_box(lists.get(key, None).await.expect("list")) }
        });
    });
    group.bench_function("store", |b| {
        let rng = Rng::new(11);
        b.to_async(&runtime).iter(|| {
            let key = rng.pick(&seeded.list_keys);
            let store = &store;
            async move {
                black_box(
                    store
                        .status_list(key, None)
                        .await
                        .expect("read")
                        .expect("list"),
                )
            }
        });
    });
    group.finish();
    criterion.final_summary();
}
