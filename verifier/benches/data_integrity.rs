//! Data Integrity `eddsa-rdfc-2022` verification (issue 12): ours
//! (`data_integrity::Canonicalizer::verify`, JSON-LD and RDFC-1.0 from ssi, with the processed
//! contexts and proof-configuration hashes cached) against ssi's own
//! `AnyDataIntegrity::verify` of the same credentials with the same key, both from the
//! credential's bytes. Target: ours at least 2x ssi's.
//!
//! A pool of 256 distinct credentials (distinct subjects and status indexes, so distinct
//! canonical documents) is cycled, so no cache keyed on a whole document could make the number.
//! Two pools: issued in one batch (one `created` second: the proof configuration is shared, as
//! in batch issuance) and issued one second apart (every proof configuration distinct: that
//! cache never hits). Phases are timed separately (the canonical form of a document, with and
//! without the context cache) to show where the time goes. Last, the whole pipeline
//! (`verify_data_integrity`) with the issuer's document, status lists, accreditation and
//! schema from the `Context`'s caches, filled from a real registry on loopback.
//!
//! Run: `cargo bench -p credence-verifier --bench data_integrity`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use credence_issuer::claims::Claims;
use credence_issuer::data_integrity::{Vocabulary, issue};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_registry::keys::KeyType;
use credence_verifier::data_integrity::{Canonicalizer, ProofPurpose, parse_secured};
use credence_verifier::{Verdict, verify_data_integrity};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use ssi_claims_core::VerificationParameters;
use ssi_verification_methods::{AnyMethod, VerificationMethod as _};

#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../tests/it/support.rs"]
mod support;
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../tests/it/vc_jwt.rs"]
mod vc_jwt;

use support::{Issuer, VCT, now, t0};

const POOL: usize = 256;

/// `POOL` distinct credentials by `key`, the `i`th signed at `created(i)`, status index `i`.
async fn pool(
    key: &IssuerKey,
    created: impl Fn(usize) -> DateTime<Utc>,
    entries: impl Fn(u32) -> Vec<credence_issuer::status::BitstringStatusEntry>,
) -> Vec<Vec<u8>> {
    let vocabulary = Vocabulary::for_type(VCT).unwrap();
    let mut out = Vec::with_capacity(POOL);
    for i in 0..POOL {
        let at = created(i);
        let mut request = vc_jwt::request(VCT, at, entries(u32::try_from(i).unwrap()));
        request.subject = Claims::from_value(json!({
            "company": format!("Company {i} GmbH"),
            "licence": format!("B-{i:05}"),
        }))
        .unwrap();
        let credential = issue(key, &request, &vocabulary, at).await.unwrap();
        out.push(serde_json::to_vec(&credential).unwrap());
    }
    out
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let key = IssuerKey::new(issuer.key.clone(), Kid::parse(&issuer.kid).unwrap());
    let public = issuer.key.public();
    let start = now() - Duration::hours(1);
    let batch = runtime.block_on(pool(&key, |_| start, |_| Vec::new()));
    let spread = runtime.block_on(pool(
        &key,
        |i| start - Duration::seconds(i64::try_from(i).unwrap()),
        |_| Vec::new(),
    ));
    // ssi's verifier: the key as a Multikey under the verification method id, contexts from
    // ssi's static loader.
    let method: AnyMethod = serde_json::from_value(json!({
        "type": "Multikey",
        "id": issuer.kid,
        "controller": issuer.did,
        "publicKeyMultibase": public.to_multikey(),
    }))
    .unwrap();
    let mut methods = HashMap::new();
    methods.insert(method.id().to_owned(), method);
    let parameters = VerificationParameters {
        resolver: methods,
        json_ld_loader: ssi_json_ld::StaticLoader,
        eip712_types_loader: (),
        date_time: Some(now()),
    };

    for (name, credentials) in [
        ("one batch (shared proof configuration)", &batch),
        ("one second apart (distinct proof configurations)", &spread),
    ] {
        // Both verifiers agree on every credential before anything is timed.
        let canonicalizer = Canonicalizer::new();
        for credential in credentials.iter() {
            let secured = parse_secured(credential, ProofPurpose::AssertionMethod).unwrap();
            runtime
                .block_on(canonicalizer.verify(&secured, &public))
                .unwrap();
            let document: ssi_data_integrity::AnyDataIntegrity =
                serde_json::from_slice(credential).unwrap();
            assert!(
                runtime
                    .block_on(document.verify(&parameters))
                    .unwrap()
                    .is_ok()
            );
        }
        let mut group = c.benchmark_group(format!("eddsa-rdfc-2022 credential, {name}"));
        group.throughput(Throughput::Elements(1));
        let mut next = 0usize;
        let mut cycle = || {
            next = (next + 1) % POOL;
            &credentials[next]
        };
        group.bench_function(
            "ours: parse + Canonicalizer::verify (cached contexts)",
            |b| {
                b.to_async(&runtime).iter(|| {
                    let credential = cycle();
                    let canonicalizer = &canonicalizer;
                    let public = &public;
                    async move {
                        let secured =
                            parse_secured(credential, ProofPurpose::AssertionMethod).unwrap();
                        canonicalizer.verify(&secured, public).await.unwrap();
                    }
                })
            },
        );
        let uncached = Canonicalizer::without_caches();
        let mut cycle = || {
            next = (next + 1) % POOL;
            &credentials[next]
        };
        group.bench_function("ours without caches", |b| {
            b.to_async(&runtime).iter(|| {
                let credential = cycle();
                let uncached = &uncached;
                let public = &public;
                async move {
                    let secured = parse_secured(credential, ProofPurpose::AssertionMethod).unwrap();
                    uncached.verify(&secured, public).await.unwrap();
                }
            })
        });
        let mut cycle = || {
            next = (next + 1) % POOL;
            &credentials[next]
        };
        group.bench_function("ssi: AnyDataIntegrity::verify", |b| {
            b.to_async(&runtime).iter(|| {
                let credential = cycle();
                let parameters = &parameters;
                async move {
                    let document: ssi_data_integrity::AnyDataIntegrity =
                        serde_json::from_slice(credential).unwrap();
                    assert!(document.verify(parameters).await.unwrap().is_ok());
                }
            })
        });
        group.finish();
    }

    // Phases: the document's canonical form, with and without the processed-context cache.
    let documents: Vec<Value> = batch
        .iter()
        .map(|c| {
            parse_secured(c, ProofPurpose::AssertionMethod)
                .unwrap()
                .unsecured
        })
        .collect();
    let mut group = c.benchmark_group("eddsa-rdfc-2022 phases");
    group.throughput(Throughput::Elements(1));
    for (name, canonicalizer) in [
        ("canonical document (cached contexts)", Canonicalizer::new()),
        (
            "canonical document (no cache)",
            Canonicalizer::without_caches(),
        ),
    ] {
        let mut next = 0usize;
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                next = (next + 1) % POOL;
                let document = &documents[next];
                let canonicalizer = &canonicalizer;
                async move {
                    canonicalizer.canonical_nquads(document).await.unwrap();
                }
            })
        });
    }
    let mut next = 0usize;
    group.bench_function("parse_secured (strict JSON, shape)", |b| {
        b.iter(|| {
            next = (next + 1) % POOL;
            parse_secured(&batch[next], ProofPurpose::AssertionMethod).unwrap()
        })
    });
    group.finish();

    // The pipeline, registry answers cached: a did:credence issuer, W3C status lists,
    // accreditation and schema, every credential distinct.
    let world = runtime.block_on(vc_jwt::World::start());
    let context = support::context(&world.registry);
    let iat = t0() + Duration::minutes(1);
    let world_key = world.key(&world.issuer.signing);
    let credentials = runtime.block_on(pool(&world_key, |_| iat, |i| world.entries(i % 2)));
    let expectations = vc_jwt::credential_expectations();
    for credential in &credentials {
        let report = runtime
            .block_on(verify_data_integrity(credential, &expectations, &context))
            .unwrap();
        assert_eq!(report.verdict(), Verdict::Valid, "{report}");
    }
    let mut group = c.benchmark_group("eddsa-rdfc-2022 pipeline");
    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    group.bench_function(
        "verify_data_integrity (cached issuer, status, accreditation, schema)",
        |b| {
            b.to_async(&runtime).iter(|| {
                next = (next + 1) % POOL;
                let credential = &credentials[next];
                let (expectations, context) = (&expectations, &context);
                async move {
                    let report = verify_data_integrity(credential, expectations, context)
                        .await
                        .unwrap();
                    assert_eq!(report.verdict(), Verdict::Valid);
                }
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
