//! Issuing a `dc+sd-jwt` with 8 selectively disclosable claims (salts, digests, decoys,
//! signature) against bare signing of the same credential as a plain JWT with every claim in
//! the clear, for EdDSA and ES256. Issue 11 targets the SD-JWT rate at >= 0.5 of the bare one
//! (the service's durable record and status allocation are not built yet, so not measured).
//!
//! Run: `cargo bench -p credence-issuer --bench issue -- --warm-up-time 1 --measurement-time 3`

use chrono::{TimeZone as _, Utc};
use credence_issuer::claims::{ClaimPath, Claims};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::sd_jwt::{self, Decoys, SdJwtVcRequest, Vct};
use credence_issuer::status::{StatusIndex, StatusListUri, TokenStatusReference};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use criterion::{Criterion, criterion_group, criterion_main};
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

fn bench(c: &mut Criterion) {
    let now = Utc.timestamp_opt(1_767_225_600, 0).single().expect("time");
    for (key_type, alg) in [(KeyType::Ed25519, "EdDSA"), (KeyType::P256, "ES256")] {
        let secret = SecretKey::generate(key_type);
        let did = Did::parse(&secret.public().to_did_key()).expect("did");
        let kid = Kid::parse(&format!("{did}#{}", secret.public().to_multikey())).expect("kid");
        let key = IssuerKey::for_issuer(secret, kid, &did).expect("key");
        let holder = SecretKey::generate(KeyType::P256).public();
        let status = TokenStatusReference {
            idx: StatusIndex::new(4711),
            uri: StatusListUri::for_list("https://registry.example", &did, "l1").expect("uri"),
        };
        let request = SdJwtVcRequest {
            vct: Vct::parse("https://registry.example/schemas/pid").expect("vct"),
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
        c.bench_function(&format!("issue dc+sd-jwt 8 disclosable {alg}"), |b| {
            b.iter(|| sd_jwt::issue(&key, &request, now).expect("issued"))
        });
        c.bench_function(&format!("bare JWT same claims {alg}"), |b| {
            b.iter(|| {
                let mut payload = json!({
                    "iss": did.as_str(),
                    "iat": now.timestamp(),
                    "exp": (now + chrono::Duration::days(365)).timestamp(),
                    "vct": "https://registry.example/schemas/pid",
                    "cnf": {"jwk": holder.to_jwk()},
                    "status": {"status_list": status},
                });
                payload
                    .as_object_mut()
                    .expect("object")
                    .extend(request.claims.as_map().clone());
                key.sign_jwt("dc+sd-jwt", &payload)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
