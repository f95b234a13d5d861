//! Issuing a `dc+sd-jwt` with 8 selectively disclosable claims, EdDSA and ES256, in one run,
//! three ways side by side (issue 11 targets the durable rate at >= 0.5 of the bare one):
//!
//! * `bare_jwt`: signing the same credential as a plain JWT with every claim in the clear;
//! * `sd_jwt`: `sd_jwt::issue` alone (salts, digests, decoys, signature), no store;
//! * `service/1_task`: `IssuerService::issue` one at a time over a real SQLite store opened as
//!   production opens it (`store::open("sqlite://<file>")`: a file in a temp dir under the
//!   target dir, WAL, `synchronous = FULL`): the type read from the store, the claims checked
//!   against its schema, the tenant's sealed key opened, a status index allocated at random
//!   and the record of issuance committed durably, before the credential is returned;
//! * `service/16_tasks`: the same with 16 issuances in flight (what a server sees), as rate.
//!
//! The tenant is created through the service against a registry started in process (its DID
//! must be registered there); the credential type is written through the store with its
//! schema, as `register_type` would keep it, so issuance needs no registry.
//!
//! Run: `cargo bench -p credence-issuer --bench issue`

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone as _, Utc};
use credence_issuer::claims::{ClaimPath, Claims};
use credence_issuer::ids::{CredentialTypeId, Format, TenantId};
use credence_issuer::issue::{IssueRequest, SignAs};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::sd_jwt::{self, Decoys, SdJwtVcRequest, Vct};
use credence_issuer::secrets::MasterKey;
use credence_issuer::service::{IssuerService, ServiceOptions};
use credence_issuer::status::{StatusIndex, StatusListUri, TokenStatusReference};
use credence_issuer::store::{self, StoredTenant, StoredType};
use credence_issuer::tenants::NewTenant;
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::owner::OwnerKeys;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const DISCLOSABLE: [&str; 8] = [
    "/given_name",
    "/family_name",
    "/email",
    "/birthdate",
    "/address",
    "/address/street_address",
    "/address/locality",
    "/nationalities/1",
];

const VCT: &str = "https://registry.example/schemas/pid";

/// Issuances in flight in the concurrent variant.
const TASKS: u64 = 16;

fn claims() -> Value {
    json!({
        "given_name": "Erika",
        "family_name": "Mustermann",
        "email": "erika@example.com",
        "birthdate": "1963-08-12",
        "address": {"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"},
        "nationalities": ["DE", "FR"],
        "degree": {"type": "BachelorDegree", "gpa": 3.7},
    })
}

/// The JSON Schema the credential type keeps (what the registry would have served).
fn schema() -> Value {
    let string = json!({"type": "string", "minLength": 1});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "given_name": string, "family_name": string, "email": string,
            "birthdate": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "address": {"type": "object", "properties": {
                "street_address": string, "locality": string, "country": string}},
            "nationalities": {"type": "array", "items": {"type": "string"}},
            "degree": {"type": "object"}
        },
        "required": ["given_name", "family_name", "birthdate"]
    })
}

/// A registry served on loopback over its own SQLite file, as the issuer's tests start one.
async fn start_registry(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("registry.db").display());
    let store = credence_registry_server::store::open(&url)
        .await
        .expect("registry store");
    let anchor = OwnerKeys::generate(KeyType::Ed25519);
    let anchor_did = credence_registry::ops::did_for_genesis(&anchor.genesis(Vec::new()));
    let log_key = include_str!("../../registry/server/testdata/log-signing.key");
    let app = credence_registry_server::app(
        store,
        credence_registry_server::AppOptions {
            registry_prefix: "/registry",
            limits: Default::default(),
            web: Default::default(),
            log_signer: Arc::new(
                credence_registry::log::CheckpointSigner::from_private_key(log_key)
                    .expect("test log key"),
            ),
            witnesses: Vec::new(),
            trust_anchors: vec![anchor_did],
            clock: Default::default(),
            checkpoint_interval: Duration::from_secs(1),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/registry")
}

/// An issuer service over a fresh SQLite file with one tenant of `key_type` and a type
/// `pid` (dc+sd-jwt, the 8 disclosable claims, revocation and suspension).
async fn service(
    dir: &std::path::Path,
    registry_url: &str,
    key_type: KeyType,
) -> (Arc<IssuerService>, StoredTenant) {
    let name = format!("issuer-{key_type:?}").to_ascii_lowercase();
    let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
    let store = store::open(&url).await.expect("issuer store");
    let mut options = ServiceOptions::new(registry_url);
    options.key_type = key_type;
    let master = MasterKey::generate();
    let service = Arc::new(
        IssuerService::new(store.clone(), master, options, Default::default()).expect("service"),
    );
    let id = TenantId::parse(&name).expect("tenant id");
    service
        .create_tenant(NewTenant {
            id: id.clone(),
            name: "Bench agency".into(),
        })
        .await
        .expect("tenant created");
    let tenant = store.tenant(&id).await.expect("read").expect("tenant");
    store
        .add_type(&StoredType {
            tenant: id,
            id: CredentialTypeId::parse("pid").expect("type id"),
            schema_id: "bench".into(),
            vct: VCT.into(),
            w3c_type: VCT.into(),
            schema: schema(),
            formats: vec![Format::DcSdJwt],
            disclosable: DISCLOSABLE.iter().map(|p| (*p).to_owned()).collect(),
            validity_seconds: 365 * 24 * 3600,
            revocation: true,
            suspension: true,
            created: Utc::now(),
        })
        .await
        .expect("type added");
    (service, tenant)
}

fn issue_request(holder: &Value) -> IssueRequest {
    IssueRequest {
        type_id: "pid".into(),
        formats: vec!["dc+sd-jwt".into()],
        claims: claims(),
        holder_jwk: holder.clone(),
        sign_as: SignAs::TenantDid,
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Under the target dir (the real disk), not /tmp, which may be a tmpfs.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&target).expect("target dir");
    let dir = tempfile::tempdir_in(&target).expect("tempdir");
    let registry_url = runtime.block_on(start_registry(dir.path()));
    let now = Utc.timestamp_opt(1_767_225_600, 0).single().expect("time");

    for (key_type, alg) in [(KeyType::Ed25519, "EdDSA"), (KeyType::P256, "ES256")] {
        let secret = SecretKey::generate(key_type);
        let did = Did::parse(&secret.public().to_did_key()).expect("did");
        let kid = Kid::parse(&format!("{did}#{}", secret.public().to_multikey())).expect("kid");
        let key = IssuerKey::for_issuer(secret, kid, &did).expect("key");
        let holder = SecretKey::generate(KeyType::P256).public();
        let holder_jwk = holder.to_jwk();
        let status = TokenStatusReference {
            idx: StatusIndex::new(4711),
            uri: StatusListUri::for_list("https://registry.example", &did, "l1").expect("uri"),
        };
        let request = SdJwtVcRequest {
            vct: Vct::parse(VCT).expect("vct"),
            holder: holder.clone(),
            status: Some(status.clone()),
            not_before: None,
            expires: Some(now + chrono::Duration::days(365)),
            claims: Claims::from_value(claims()).expect("object"),
            disclosable: DISCLOSABLE
                .iter()
                .map(|p| ClaimPath::parse(p).expect("path"))
                .collect(),
            decoys: Decoys::default(),
        };
        let (service, tenant) = runtime.block_on(service(dir.path(), &registry_url, key_type));
        // One issuance through the service first: it starts the tenant's status list.
        runtime
            .block_on(service.issue(&tenant, issue_request(&holder_jwk)))
            .expect("issued");

        let mut group = c.benchmark_group(format!("issue_dc_sd_jwt_8_disclosable/{alg}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("bare_jwt", |b| {
            b.iter(|| {
                let mut payload = json!({
                    "iss": did.as_str(),
                    "iat": now.timestamp(),
                    "exp": (now + chrono::Duration::days(365)).timestamp(),
                    "vct": VCT,
                    "cnf": {"jwk": holder_jwk},
                    "status": {"status_list": status},
                });
                payload
                    .as_object_mut()
                    .expect("object")
                    .extend(request.claims.as_map().clone());
                key.sign_jwt("dc+sd-jwt", &payload)
            })
        });
        group.bench_function("sd_jwt", |b| {
            b.iter(|| sd_jwt::issue(&key, &request, now).expect("issued"))
        });
        group.bench_function("service/1_task", |b| {
            b.iter(|| {
                runtime
                    .block_on(service.issue(&tenant, issue_request(&holder_jwk)))
                    .expect("issued")
            })
        });
        group.bench_function(format!("service/{TASKS}_tasks"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|task| {
                            let service = service.clone();
                            let tenant = tenant.clone();
                            let holder_jwk = holder_jwk.clone();
                            // Task t issues its share: iters split as evenly as possible.
                            let share = iters / TASKS + u64::from(task < iters % TASKS);
                            tokio::spawn(async move {
                                for _ in 0..share {
                                    service
                                        .issue(&tenant, issue_request(&holder_jwk))
                                        .await
                                        .expect("issued");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("task");
                    }
                    start.elapsed()
                })
            })
        });
        group.finish();
        let counts = runtime
            .block_on(service.store().row_counts())
            .expect("row counts");
        eprintln!(
            "{alg}: {} records, {} status entries, {} lists in the store after the run",
            counts.records, counts.entries, counts.lists
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    targets = bench
}
criterion_main!(benches);
