//! The verifier's hot path (issue 12, "Performance"): an SD-JWT VC presentation with 8
//! selectively disclosable claims and a key-binding JWT, verified by the full pipeline with the
//! issuer document, status list, accreditation and schema served from the `Context`'s caches
//! (filled from a real registry on loopback before measuring), next to a minimal hand-written
//! verifier doing only the issuer signature, the Disclosures hashed and matched, and the KB-JWT
//! signature and claims, and next to the OpenWallet Foundation's `sd-jwt-rs` crate (0.7)
//! verifying the same presentation: issuer signature (by `jsonwebtoken`, which uses `ring`),
//! Disclosures hashed and unpacked, KB-JWT signature, `aud`, `nonce` and `sd_hash`. EdDSA
//! (Ed25519 issuer and holder) and ES256 (P-256 both).
//!
//! What `sd-jwt-rs` does not check, so its rate is an upper bound for the same work: the
//! issuer JWT's `typ`, a Disclosure no digest references (it ignores it instead of refusing it,
//! RFC 9901 §7.1), the KB-JWT's `iat` (no freshness window). It checks the issuer JWT's `exp`
//! against the system clock (`jsonwebtoken` has no `now` parameter): the credential here
//! expires on 2027-03-01. Before timing, each verifier is asserted to accept the presentation,
//! and `sd-jwt-rs` to refuse a tampered payload, a dropped Disclosure and a wrong nonce.
//!
//! `sd-jwt-rs` turns on `serde_json`'s `preserve_order` feature, which Cargo would unify into
//! every crate of a build that includes it (a dev-dependency would put it into `cargo test
//! --workspace`). So it is an optional dependency behind the feature `compare-sd-jwt-rs`,
//! used by this bench only; with it, the pipeline here runs on `IndexMap`-backed JSON objects
//! instead of the `BTreeMap`s of the `credence` binary.
//!
//! Run: `cargo bench -p credence-verifier --bench verify --features compare-sd-jwt-rs` (without
//! the feature: pipeline and minimal verifier only). The targets: a pipeline rate of at least
//! 0.9 of the minimal verifier's, and at least 1.2 times `sd-jwt-rs`'s.

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
    #[cfg(feature = "compare-sd-jwt-rs")]
    issuer_decoding_key: jsonwebtoken::DecodingKey,
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
        #[cfg(feature = "compare-sd-jwt-rs")]
        issuer_decoding_key: sd_jwt_rs_side::checked_key(&presentation, &issuer.signing.public()),
        presentation,
        issuer_key: issuer.signing.public(),
        _registry: registry,
    }
}

/// The OpenWallet Foundation's `sd-jwt-rs` on the same presentation (feature
/// `compare-sd-jwt-rs`).
#[cfg(feature = "compare-sd-jwt-rs")]
mod sd_jwt_rs_side {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use credence_registry::keys::PublicKey;
    use sd_jwt_rs::{SDJWTSerializationFormat, SDJWTVerifier};
    use serde_json::{Value, json};

    use super::{AUDIENCE, NONCE, decode};

    /// The issuer's public key as `jsonwebtoken` takes it, from its JWK's coordinates.
    fn decoding_key(key: &PublicKey) -> jsonwebtoken::DecodingKey {
        let jwk = key.to_jwk();
        let coordinate = |name: &str| jwk[name].as_str().expect("a JWK coordinate");
        match key {
            PublicKey::Ed25519(_) => jsonwebtoken::DecodingKey::from_ed_components(coordinate("x")),
            _ => jsonwebtoken::DecodingKey::from_ec_components(coordinate("x"), coordinate("y")),
        }
        .expect("a jsonwebtoken key")
    }

    /// `sd-jwt-rs`'s verifier on `presentation` (compact, with a KB-JWT for [`AUDIENCE`] and
    /// `nonce`): the disclosed claims, or its error.
    pub(super) fn verify(
        presentation: &str,
        issuer: &jsonwebtoken::DecodingKey,
        nonce: &str,
    ) -> Result<Value, sd_jwt_rs::error::Error> {
        let issuer = issuer.clone();
        SDJWTVerifier::new(
            presentation.to_owned(),
            Box::new(move |_, _| issuer.clone()),
            Some(AUDIENCE.to_owned()),
            Some(nonce.to_owned()),
            SDJWTSerializationFormat::Compact,
        )
        .map(|verifier| verifier.verified_claims)
    }

    /// `sd-jwt-rs` really verifies: it accepts the presentation with every claim disclosed, and
    /// refuses it with the issuer payload changed (signature), a Disclosure dropped (the KB-JWT's
    /// `sd_hash`) and another nonce expected.
    fn check(presentation: &str, issuer: &jsonwebtoken::DecodingKey) {
        let claims = verify(presentation, issuer, NONCE).expect("sd-jwt-rs accepts");
        assert_eq!(claims["address"]["locality"], "Berlin", "{claims}");
        assert_eq!(claims["nationalities"], json!(["DE", "FR"]), "{claims}");
        assert_eq!(claims["given_name"], "Erika", "{claims}");

        let (jwt, rest) = presentation.split_once('~').expect("an SD-JWT");
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let mut payload = decode(parts[1]).expect("a payload");
        payload["company"] = json!("Another GmbH");
        let forged_payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        parts[1] = &forged_payload;
        let forged = format!("{}~{rest}", parts.join("."));
        let refused = |input: &str, nonce: &str, expected: &str| {
            let error = verify(input, issuer, nonce)
                .expect_err(expected)
                .to_string();
            assert!(error.contains(expected), "{expected}: {error}");
        };
        refused(&forged, NONCE, "InvalidSignature");

        let (first_disclosure, after) = rest.split_once('~').expect("a Disclosure");
        assert!(!first_disclosure.is_empty());
        refused(&format!("{jwt}~{after}"), NONCE, "Invalid digest in KB-JWT");
        refused(presentation, "another-nonce", "Invalid nonce");
    }

    /// The issuer's key for `sd-jwt-rs`, once it has been shown to really verify `presentation`.
    pub(super) fn checked_key(presentation: &str, issuer: &PublicKey) -> jsonwebtoken::DecodingKey {
        let key = decoding_key(issuer);
        check(presentation, &key);
        key
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
        #[cfg(feature = "compare-sd-jwt-rs")]
        group.bench_function("sd-jwt-rs 0.7", |b| {
            b.iter(|| {
                sd_jwt_rs_side::verify(&setup.presentation, &setup.issuer_decoding_key, NONCE)
                    .expect("sd-jwt-rs accepts")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
