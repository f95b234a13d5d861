//! The verifier's hot path (issue 12, "Performance"): an SD-JWT VC presentation with 8
//! selectively disclosable claims and a key-binding JWT, verified by the full pipeline with the
//! issuer document, status list, accreditation and schema served from the `Context`'s caches
//! (filled from a real registry on loopback before measuring), next to a minimal hand-written
//! verifier doing only the issuer signature, the Disclosures hashed and matched, and the KB-JWT
//! signature and claims. EdDSA (Ed25519 issuer and holder) and ES256 (P-256 both).
//!
//! Run: `cargo bench -p credence-verifier --bench verify`. The target is a pipeline rate of at
//! least 0.9 of the minimal verifier's. Not yet here: `sd-jwt-rs` side by side (issue 12 asks
//! for it; see the report of the verifier-core branch).

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use credence_registry::owner::OwnerKeys;
use credence_registry::trust::AccreditationClaims;
use credence_registry::{ops, signed};
use credence_verifier::{Context, Expectations, Verdict, verify_sd_jwt_vc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/support.rs"]
mod support;

use support::{AUDIENCE, Issuer, Kb, NONCE, VCT, kid, now, present, standard, t0};

/// A registry with an accredited issuer of `key_type`, its schema and status list; a warm
/// context; an 8-Disclosure presentation with a KB-JWT; the issuer's public key.
struct Setup {
    context: Context,
    presentation: String,
    issuer_key: PublicKey,
    _registry: support::Registry,
}

async fn setup(key_type: KeyType) -> Setup {
    let anchor = OwnerKeys::generate(KeyType::Ed25519);
    let anchor_did = ops::did_for_genesis(&anchor.genesis(vec![]));
    let issuer = OwnerKeys::generate(key_type);
    let issuer_did = ops::did_for_genesis(&issuer.genesis(vec![]));
    let registry = support::start_registry(vec![anchor_did.clone()]).await;
    let client = &registry.client;
    client.create(&anchor.genesis(vec![])).await.unwrap();
    client.create(&issuer.genesis(vec![])).await.unwrap();
    let accreditation = AccreditationClaims::new(
        issuer_did.clone(),
        vec![VCT.parse().expect("a credential type")],
        false,
        t0() - Duration::days(1),
        t0() + Duration::days(365),
    );
    let sign = |payload: &Value| signed::sign(payload, &anchor.signing, &kid(&anchor_did));
    client
        .accredit(&sign(&serde_json::to_value(&accreditation).unwrap()))
        .await
        .unwrap();
    client
        .publish_schema(&sign(&json!({
            "schema": {"type": "object", "required": ["iss", "vct"],
                       "properties": {"given_name": {"type": "string"}, "company": {"type": "string"}}},
            "typeMetadata": {"vct": VCT},
        })))
        .await
        .unwrap();
    let uri = format!(
        "{}/registry/status-lists/{issuer_did}/list-1",
        registry.base
    );
    client
        .publish_status_list(&support::status_list(
            &issuer_did,
            &issuer.signing,
            &uri,
            t0(),
            &[(5, 1)],
        ))
        .await
        .unwrap();

    let holder = SecretKey::generate(key_type);
    let signer = Issuer {
        key: issuer.signing.clone(),
        did: issuer_did.to_string(),
        kid: kid(&issuer_did),
    };
    let mut credential = standard(&signer, &holder, t0() + Duration::minutes(1));
    credential.payload["status"] = json!({"status_list": {"idx": 0, "uri": uri}});
    assert_eq!(credential.disclosures.len(), 8);
    let presentation = present(
        &credential.sign(&issuer.signing),
        &credential.disclosures,
        Some(Kb::new(&holder)),
    );
    let context = support::context(&registry);
    let report = verify_sd_jwt_vc(presentation.as_bytes(), &expectations(), &context)
        .await
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Valid, "{report}");
    assert!(minimal(&presentation, &issuer.signing.public()));
    Setup {
        context,
        presentation,
        issuer_key: issuer.signing.public(),
        _registry: registry,
    }
}

fn expectations() -> Expectations {
    Expectations::presentation(now(), NONCE, AUDIENCE)
}

fn decode(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Every digest the issuer-signed data or a Disclosure's value references.
fn collect_digests<'a>(value: &'a Value, into: &mut HashSet<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(digests)) = map.get("_sd") {
                into.extend(digests.iter().filter_map(Value::as_str));
            }
            if let Some(Value::String(digest)) = map.get("...") {
                into.insert(digest);
            }
            map.values().for_each(|v| collect_digests(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_digests(v, into)),
        _ => {}
    }
}

/// The minimal verifier: issuer signature with a known key, Disclosures hashed and matched,
/// KB-JWT signature by `cnf.jwk` and its nonce, aud, iat and sd_hash. Nothing else.
fn minimal(presentation: &str, issuer: &PublicKey) -> bool {
    let Some((sd_jwt, kb)) = presentation.rsplit_once('~') else {
        return false;
    };
    let sd_jwt_with_tilde = &presentation[..sd_jwt.len() + 1];
    let mut parts = sd_jwt.split('~');
    let jwt = parts.next().unwrap_or_default();
    let jws = |compact: &str| -> Option<(Value, Value, String, Vec<u8>)> {
        let (input, signature) = compact.rsplit_once('.')?;
        let (header, payload) = input.split_once('.')?;
        Some((
            decode(header)?,
            decode(payload)?,
            input.to_owned(),
            URL_SAFE_NO_PAD.decode(signature).ok()?,
        ))
    };
    let Some((header, payload, input, signature)) = jws(jwt) else {
        return false;
    };
    if header["typ"] != "dc+sd-jwt" || issuer.verify_raw(input.as_bytes(), &signature).is_err() {
        return false;
    }
    let disclosures: Vec<(String, Value)> = parts
        .map(|d| {
            (
                URL_SAFE_NO_PAD.encode(Sha256::digest(d.as_bytes())),
                decode(d).unwrap_or_default(),
            )
        })
        .collect();
    let mut digests = HashSet::new();
    collect_digests(&payload, &mut digests);
    for (_, value) in &disclosures {
        collect_digests(value, &mut digests);
    }
    if !disclosures
        .iter()
        .all(|(digest, _)| digests.contains(digest.as_str()))
    {
        return false;
    }
    let Ok(holder) = PublicKey::from_jwk(&payload["cnf"]["jwk"]) else {
        return false;
    };
    let Some((kb_header, kb_payload, kb_input, kb_signature)) = jws(kb) else {
        return false;
    };
    let iat = kb_payload["iat"].as_i64().unwrap_or_default();
    kb_header["typ"] == "kb+jwt"
        && holder
            .verify_raw(kb_input.as_bytes(), &kb_signature)
            .is_ok()
        && kb_payload["nonce"] == NONCE
        && kb_payload["aud"] == AUDIENCE
        && (now().timestamp() - 300..=now().timestamp() + 60).contains(&iat)
        && kb_payload["sd_hash"]
            == URL_SAFE_NO_PAD.encode(Sha256::digest(sd_jwt_with_tilde.as_bytes()))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (name, key_type) in [("EdDSA", KeyType::Ed25519), ("ES256", KeyType::P256)] {
        let setup = runtime.block_on(setup(key_type));
        let expectations = expectations();
        let mut group = c.benchmark_group(format!("sd-jwt-vc 8 disclosures + KB, {name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("pipeline (cached status, accreditation, schema)", |b| {
            b.to_async(&runtime).iter(|| async {
                let report =
                    verify_sd_jwt_vc(setup.presentation.as_bytes(), &expectations, &setup.context)
                        .await
                        .unwrap();
                assert_eq!(report.verdict(), Verdict::Valid);
            })
        });
        group.bench_function("minimal hand-written verifier", |b| {
            b.iter(|| assert!(minimal(&setup.presentation, &setup.issuer_key)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
