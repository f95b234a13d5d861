//! Data Integrity `eddsa-rdfc-2022` through `verify_data_integrity` and
//! `verify_data_integrity_presentation`: the W3C vc-di-eddsa vector checked by the pure module
//! step by step (`testdata/vc-di-eddsa/`, source in its README), credentials made by the issuer
//! crate's own `data_integrity::issue` (ssi underneath) passing every step, each defect a row
//! naming its step, the registry-backed steps against a real registry on loopback, and
//! presentations signed by ssi's own `eddsa-rdfc-2022` signer with the holder's key.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use credence_issuer::data_integrity::{self as issuer_di, Vocabulary};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use credence_verifier::data_integrity::{Canonicalizer, ProofPurpose, parse_secured};
use credence_verifier::{
    Context, Defect, Expectations, HolderBinding, Outcome, Report, Step, Verdict, VerifyError,
    verify_data_integrity, verify_data_integrity_presentation,
};
use serde_json::{Value, json};
use ssi_claims_core::{MessageSignatureError, SignatureEnvironment, SignatureError};
use ssi_data_integrity::suites::EdDsaRdfc2022;
use ssi_data_integrity::{CryptographicSuite as _, DataIntegrityDocument, ProofOptions};
use ssi_verification_methods::{MessageSigner, Multikey, ReferenceOrOwned, Signer};

use crate::support::{AUDIENCE, Issuer, NONCE, VCT, assert_failed, now, offline_context, t0};
use crate::vc_jwt::{World, credential_expectations, request};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/vc-di-eddsa");
const OTHER_VCT: &str = "https://credence.example/vct/e-invoice";
const V2: &str = "https://www.w3.org/ns/credentials/v2";

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}")).unwrap()
}

fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}

fn issuer_key(issuer: &Issuer) -> IssuerKey {
    IssuerKey::new(issuer.key.clone(), Kid::parse(&issuer.kid).unwrap())
}

fn vocabulary(vct: &str) -> Vocabulary {
    Vocabulary::for_type(vct).unwrap()
}

/// A business licence for a fresh holder, issued an hour before [`now`] by `issuer`, as the
/// issuer crate makes it.
async fn issued(issuer: &Issuer) -> Value {
    let at = now() - Duration::hours(1);
    issuer_di::issue(
        &issuer_key(issuer),
        &request(VCT, at, vec![]),
        &vocabulary(VCT),
        at,
    )
    .await
    .unwrap()
}

async fn check(context: &Context, credential: &[u8]) -> Report {
    verify_data_integrity(credential, &credential_expectations(), context)
        .await
        .expect("expectations are valid")
}

fn bytes(document: &Value) -> Vec<u8> {
    serde_json::to_vec(document).unwrap()
}

/// Steps a bare credential from a did:key issuer without status or a registry leaves unchecked.
const OFFLINE: [Step; 4] = [
    Step::Status,
    Step::Accreditation,
    Step::Schema,
    Step::HolderBinding,
];

#[tokio::test]
async fn the_w3c_vector_verifies_step_by_step_with_its_key() {
    let signed = vector("signedDataInt.json");
    let pair: Value = serde_json::from_str(&vector("keyPair.json")).unwrap();
    let public = PublicKey::from_multikey(pair["publicKeyMultibase"].as_str().unwrap()).unwrap();
    let secured = parse_secured(signed.as_bytes(), ProofPurpose::AssertionMethod).unwrap();
    for canonicalizer in [Canonicalizer::new(), Canonicalizer::without_caches()] {
        // The document's and the proof configuration's canonical forms, line for line.
        assert_eq!(
            canonicalizer
                .canonical_nquads(&secured.unsecured)
                .await
                .unwrap(),
            lines(&vector("canonDocDataInt.txt"))
        );
        assert_eq!(
            canonicalizer
                .canonical_nquads(secured.proof.configuration())
                .await
                .unwrap(),
            lines(&vector("proofCanonDataInt.txt"))
        );
        let hash = canonicalizer.hash_data(&secured).await.unwrap();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, vector("combinedHashDataInt.txt").trim());
        canonicalizer.verify(&secured, &public).await.unwrap();
        // Twice: the second time from the caches.
        canonicalizer.verify(&secured, &public).await.unwrap();
    }

    let canonicalizer = Canonicalizer::new();
    let mut tampered: Value = serde_json::from_str(&signed).unwrap();
    tampered["credentialSubject"]["alumniOf"] = json!("The School of Forgeries");
    let secured = parse_secured(&bytes(&tampered), ProofPurpose::AssertionMethod).unwrap();
    assert!(matches!(
        canonicalizer.verify(&secured, &public).await,
        Err(Defect::BadSignature(_))
    ));
    let stranger = SecretKey::generate(KeyType::Ed25519).public();
    let secured = parse_secured(signed.as_bytes(), ProofPurpose::AssertionMethod).unwrap();
    assert!(matches!(
        canonicalizer.verify(&secured, &stranger).await,
        Err(Defect::BadSignature(_))
    ));
    // A P-256 key cannot have made an eddsa proof.
    let p256 = SecretKey::generate(KeyType::P256).public();
    assert!(matches!(
        canonicalizer.verify(&secured, &p256).await,
        Err(Defect::KeyNotAuthorized { .. })
    ));
    // The vector's issuer is a URL, not a DID: the pipeline refuses it at parse.
    let report = check(&offline_context(), signed.as_bytes()).await;
    assert_failed(
        &report,
        Step::Parse,
        |d| {
            matches!(
                d,
                Defect::BadClaim {
                    claim: "issuer",
                    ..
                }
            )
        },
        "URL issuer",
    );
}

#[tokio::test]
async fn credentials_the_issuer_makes_verify_offline() {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let credential = issued(&issuer).await;
    let context = offline_context();
    let report = check(&context, &bytes(&credential)).await;
    crate::support::assert_valid(&report, &OFFLINE, "did:key issuer");
    let claims = report.valid_claims().unwrap().as_value();
    assert_eq!(claims["credentialSubject"]["company"], "Example GmbH");
    assert!(
        claims.get("proof").is_none(),
        "the claims are the credential without its proof"
    );
    // Again, from the caches, and with the cached and uncached canonical forms the same.
    crate::support::assert_valid(
        &check(&context, &bytes(&credential)).await,
        &OFFLINE,
        "twice",
    );
    let secured = parse_secured(&bytes(&credential), ProofPurpose::AssertionMethod).unwrap();
    assert_eq!(
        Canonicalizer::new()
            .canonical_nquads(&secured.unsecured)
            .await
            .unwrap(),
        Canonicalizer::without_caches()
            .canonical_nquads(&secured.unsecured)
            .await
            .unwrap()
    );
    // did:jwk issuers too.
    let issuer = Issuer::did_jwk(KeyType::Ed25519);
    crate::support::assert_valid(
        &check(&context, &bytes(&issued(&issuer).await)).await,
        &OFFLINE,
        "did:jwk issuer",
    );

    // Holder binding asked of a bare credential.
    let mut expectations = credential_expectations();
    expectations.holder_binding = HolderBinding::Required {
        nonce: NONCE.into(),
        audience: AUDIENCE.into(),
        max_age: Duration::minutes(5),
    };
    let report = verify_data_integrity(&bytes(&credential), &expectations, &context)
        .await
        .unwrap();
    assert_failed(
        &report,
        Step::HolderBinding,
        |d| matches!(d, Defect::HolderProofMissing),
        "bare credential, binding required",
    );
}

/// One changed credential and where it must fail.
struct Row {
    case: &'static str,
    input: Vec<u8>,
    step: Step,
    defect: fn(&Defect) -> bool,
}

fn row(case: &'static str, input: Vec<u8>, step: Step, defect: fn(&Defect) -> bool) -> Row {
    Row {
        case,
        input,
        step,
        defect,
    }
}

#[tokio::test]
async fn each_defect_fails_at_its_step() {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let credential = issued(&issuer).await;
    let edit = |change: &dyn Fn(&mut Value)| {
        let mut copy = credential.clone();
        change(&mut copy);
        bytes(&copy)
    };
    // Signed by another DID's key, naming it: a valid proof, by the wrong party.
    let other = Issuer::did_key(KeyType::Ed25519);
    let mut unsigned = credential.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    let by_other = issuer_di::sign(
        &issuer_key(&other),
        unsigned.clone(),
        now() - Duration::hours(1),
    )
    .await
    .unwrap();
    // Claims and contexts that only an unsigned document could carry: signed with ssi, they
    // would have been refused at issuance, so they are pasted onto a valid proof.
    let tampered_value = {
        let value = credential["proof"]["proofValue"].as_str().unwrap();
        let mut chars: Vec<char> = value.chars().collect();
        chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let rows = vec![
        row(
            "tampered claim",
            edit(&|c| c["credentialSubject"]["company"] = json!("Evil GmbH")),
            Step::Signature,
            |d| matches!(d, Defect::BadSignature(_)),
        ),
        row(
            "added claim",
            edit(&|c| c["credentialSubject"]["admin"] = json!(true)),
            Step::Signature,
            |d| matches!(d, Defect::BadSignature(_)),
        ),
        row(
            "tampered proofValue",
            edit(&|c| c["proof"]["proofValue"] = json!(tampered_value)),
            Step::Signature,
            |d| matches!(d, Defect::BadSignature(_)),
        ),
        row(
            "proofValue not base58btc",
            edit(&|c| c["proof"]["proofValue"] = json!("uAAAA")),
            Step::Parse,
            |d| matches!(d, Defect::BadSignature(why) if why.contains("base58btc")),
        ),
        row(
            "tampered created",
            edit(&|c| c["proof"]["created"] = json!("2026-03-01T10:00:00Z")),
            Step::Signature,
            |d| matches!(d, Defect::BadSignature(_)),
        ),
        row(
            "wrong cryptosuite",
            edit(&|c| c["proof"]["cryptosuite"] = json!("ecdsa-rdfc-2019")),
            Step::Parse,
            |d| matches!(d, Defect::UnsupportedCryptosuite { found } if found == "ecdsa-rdfc-2019"),
        ),
        row(
            "legacy proof type",
            edit(&|c| c["proof"]["type"] = json!("Ed25519Signature2020")),
            Step::Parse,
            |d| matches!(d, Defect::UnsupportedCryptosuite { found } if found.contains("Ed25519Signature2020")),
        ),
        row(
            "verificationMethod of another DID",
            bytes(&by_other),
            Step::Parse,
            |d| matches!(d, Defect::KidNotOfIssuer { .. }),
        ),
        row(
            "another DID's proof relabelled as the issuer's key",
            {
                let mut forged = by_other.clone();
                forged["proof"]["verificationMethod"] = json!(issuer.kid);
                bytes(&forged)
            },
            Step::Signature,
            |d| matches!(d, Defect::BadSignature(_)),
        ),
        row(
            "a key the issuer does not list",
            edit(&|c| c["proof"]["verificationMethod"] = json!(format!("{}#nope", issuer.did))),
            Step::Signature,
            |d| matches!(d, Defect::KeyNotAuthorized { .. }),
        ),
        row(
            "verificationMethod without a fragment",
            edit(&|c| c["proof"]["verificationMethod"] = json!(issuer.did)),
            Step::Parse,
            |d| matches!(d, Defect::BadProof(_)),
        ),
        row(
            "undefined term (no vocabulary, a claim no context defines)",
            edit(&|c| c["@context"] = json!([V2])),
            Step::Signature,
            |d| matches!(d, Defect::NotCanonicalizable(_)),
        ),
        row(
            "a context that is not bundled",
            edit(&|c| {
                c["@context"]
                    .as_array_mut()
                    .unwrap()
                    .insert(1, json!("https://contexts.example/licence/v1"));
            }),
            Step::Signature,
            |d| matches!(d, Defect::NotCanonicalizable(_)),
        ),
        row(
            "VCDM 1.1 context",
            edit(&|c| c["@context"][0] = json!("https://www.w3.org/2018/credentials/v1")),
            Step::Parse,
            |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "@context",
                        ..
                    }
                )
            },
        ),
        row(
            "proof for authentication",
            edit(&|c| c["proof"]["proofPurpose"] = json!("authentication")),
            Step::Parse,
            |d| matches!(d, Defect::BadProof(why) if why.contains("assertionMethod")),
        ),
        row(
            "proof set",
            edit(&|c| {
                let proof = c["proof"].clone();
                c["proof"] = json!([proof.clone(), proof]);
            }),
            Step::Parse,
            |d| matches!(d, Defect::BadProof(why) if why.contains("proof set")),
        ),
        row(
            "proof chain",
            edit(&|c| c["proof"]["previousProof"] = json!("urn:uuid:1")),
            Step::Parse,
            |d| matches!(d, Defect::BadProof(why) if why.contains("previousProof")),
        ),
        row("no proof", bytes(&unsigned), Step::Parse, |d| {
            matches!(d, Defect::BadProof(_))
        }),
        row(
            "issuer not a DID",
            edit(&|c| c["issuer"] = json!("https://agency.example")),
            Step::Parse,
            |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "issuer",
                        ..
                    }
                )
            },
        ),
        row(
            "no credentialSubject",
            edit(&|c| {
                c.as_object_mut().unwrap().remove("credentialSubject");
            }),
            Step::Parse,
            |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "credentialSubject",
                        ..
                    }
                )
            },
        ),
        row(
            "not JSON",
            b"eyJhbGciOiJFZERTQSJ9.e30.sig".to_vec(),
            Step::Parse,
            |d| matches!(d, Defect::Malformed(_)),
        ),
        row("a JSON array", b"[1, 2]".to_vec(), Step::Parse, |d| {
            matches!(d, Defect::Malformed(_))
        }),
        row(
            "duplicate member",
            {
                let text = String::from_utf8(bytes(&credential)).unwrap();
                text.replacen('{', "{\"issuer\":\"did:example:evil\",", 1)
                    .into_bytes()
            },
            Step::Parse,
            |d| matches!(d, Defect::Malformed(why) if why.contains("duplicate")),
        ),
        row(
            "deeply nested",
            String::from_utf8(bytes(&credential))
                .unwrap()
                .replacen(
                    "\"credentialSubject\":{",
                    &format!("\"credentialSubject\":{{\"deep\":{deep},"),
                    1,
                )
                .into_bytes(),
            Step::Parse,
            |d| matches!(d, Defect::Malformed(why) if why.contains("deeper")),
        ),
        row(
            "oversized",
            vec![b' '; credence_verifier::data_integrity::MAX_DOCUMENT_BYTES + 1],
            Step::Parse,
            |d| matches!(d, Defect::TooLarge { .. }),
        ),
    ];
    let context = offline_context();
    for Row {
        case,
        input,
        step,
        defect,
    } in rows
    {
        let report = check(&context, &input).await;
        assert_failed(&report, step, defect, case);
        if step <= Step::Signature {
            assert!(report.valid_claims().is_none(), "{case}");
        }
    }
}

#[tokio::test]
async fn validity_window_and_policy() {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let credential = bytes(&issued(&issuer).await);
    let context = offline_context();
    let at = |now: DateTime<Utc>| Expectations {
        now,
        ..credential_expectations()
    };
    // validFrom is an hour before now(), validUntil a year after it.
    let report = verify_data_integrity(&credential, &at(now() + Duration::days(366)), &context)
        .await
        .unwrap();
    assert_failed(
        &report,
        Step::Validity,
        |d| matches!(d, Defect::Expired { .. }),
        "expired",
    );
    let report = verify_data_integrity(&credential, &at(now() - Duration::hours(2)), &context)
        .await
        .unwrap();
    assert_failed(
        &report,
        Step::Validity,
        |d| matches!(d, Defect::NotYetValid { .. }),
        "not yet valid",
    );
    // Within the leeway of validFrom.
    let report = verify_data_integrity(
        &credential,
        &at(now() - Duration::hours(1) - Duration::seconds(30)),
        &context,
    )
    .await
    .unwrap();
    assert_eq!(report.outcome(Step::Validity), &Outcome::Passed, "{report}");

    let mut expectations = credential_expectations();
    expectations.policy.accepted_types = vec![OTHER_VCT.to_owned()];
    let report = verify_data_integrity(&credential, &expectations, &context)
        .await
        .unwrap();
    assert_failed(
        &report,
        Step::Policy,
        |d| matches!(d, Defect::TypeNotAccepted { .. }),
        "type not accepted",
    );
}

/// A Data Integrity credential from the registry world's issuer, issued at `at`, with status
/// `index`.
async fn world_credential(
    world: &World,
    secret: &SecretKey,
    vct: &str,
    at: DateTime<Utc>,
    index: Option<u32>,
) -> Vec<u8> {
    let entries = index.map(|i| world.entries(i)).unwrap_or_default();
    bytes(
        &issuer_di::issue(
            &world.key(secret),
            &request(vct, at, entries),
            &vocabulary(vct),
            at,
        )
        .await
        .unwrap(),
    )
}

#[tokio::test]
async fn status_accreditation_schema_and_rotation_against_a_registry() {
    let world = World::start().await;
    let context = crate::support::context(&world.registry);
    let signing = world.issuer.signing.clone();
    let iat = t0() + Duration::minutes(1);

    let valid = world_credential(&world, &signing, VCT, iat, Some(1)).await;
    crate::support::assert_valid(
        &check(&context, &valid).await,
        &[Step::HolderBinding],
        "valid, every step",
    );
    assert_failed(
        &check(
            &context,
            &world_credential(&world, &signing, VCT, iat, Some(2)).await,
        )
        .await,
        Step::Status,
        |d| matches!(d, Defect::Revoked { index: 2, uri } if uri.ends_with(".revocation")),
        "revoked",
    );
    assert_failed(
        &check(
            &context,
            &world_credential(&world, &signing, VCT, iat, Some(3)).await,
        )
        .await,
        Step::Status,
        |d| matches!(d, Defect::Suspended { index: 3, uri } if uri.ends_with(".suspension")),
        "suspended",
    );
    assert_failed(
        &check(
            &context,
            &world_credential(&world, &signing, OTHER_VCT, iat, Some(1)).await,
        )
        .await,
        Step::Accreditation,
        |d| matches!(d, Defect::NotAccredited { vct, .. } if vct == OTHER_VCT),
        "other type",
    );
    // Schema over the subject's claims.
    let mut bad = request(VCT, iat, world.entries(1));
    bad.subject = credence_issuer::claims::Claims::from_value(json!({"company": 42})).unwrap();
    let document = issuer_di::issue(&world.key(&signing), &bad, &vocabulary(VCT), iat)
        .await
        .unwrap();
    let report = check(&context, &bytes(&document)).await;
    assert_failed(
        &report,
        Step::Schema,
        |d| matches!(d, Defect::SchemaViolation { problems, .. } if problems[0].contains("/company")),
        "schema",
    );

    // Rotation at t1: the issuer is resolved as of proof.created.
    let t1 = t0() + Duration::minutes(30);
    world.registry.time.set(t1);
    let rotated = credence_registry::owner::OwnerKeys::generate(KeyType::Ed25519);
    world
        .registry
        .client
        .submit(
            &world.did,
            &world.issuer.update(world.genesis.hash(), &rotated, vec![]),
        )
        .await
        .unwrap();
    let fresh = crate::support::context(&world.registry);
    let after = t1 + Duration::minutes(1);
    crate::support::assert_valid(
        &check(
            &fresh,
            &world_credential(&world, &signing, VCT, iat, None).await,
        )
        .await,
        &[Step::Status, Step::HolderBinding],
        "old key, signed before the rotation",
    );
    assert_failed(
        &check(
            &fresh,
            &world_credential(&world, &signing, VCT, after, None).await,
        )
        .await,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "old key after the rotation",
    );
    assert_failed(
        &check(
            &fresh,
            &world_credential(&world, &rotated.signing, VCT, iat, None).await,
        )
        .await,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "new key backdated",
    );
}

// ---- presentations ----

/// Signs for ssi with a test key (the wallet holds such a key; the wallet crate does not make
/// Data Integrity presentations yet, so ssi's own signer stands in for it).
#[derive(Clone, Copy)]
struct TestSigner<'a> {
    key: &'a SecretKey,
    method: &'a str,
}

impl Signer<Multikey> for TestSigner<'_> {
    type MessageSigner = Self;

    async fn for_method(
        &self,
        method: Cow<'_, Multikey>,
    ) -> Result<Option<Self::MessageSigner>, SignatureError> {
        Ok((method.id.as_str() == self.method).then_some(*self))
    }
}

impl MessageSigner<ssi_crypto::algorithm::EdDSA> for TestSigner<'_> {
    async fn sign(
        self,
        _algorithm: ssi_crypto::algorithm::EdDSA,
        message: &[u8],
    ) -> Result<Vec<u8>, MessageSignatureError> {
        Ok(self.key.sign_raw(message))
    }
}

/// What a presentation's proof says.
struct Vp<'a> {
    key: &'a SecretKey,
    /// The DID whose key signs (did:key of `key` unless changed).
    holder: String,
    challenge: Option<&'a str>,
    domain: Option<&'a str>,
    created: DateTime<Utc>,
}

impl<'a> Vp<'a> {
    fn new(key: &'a SecretKey) -> Self {
        Self {
            key,
            holder: key.public().to_did_key(),
            challenge: Some(NONCE),
            domain: Some(AUDIENCE),
            created: now() - Duration::seconds(10),
        }
    }
}

/// A presentation of `credential` signed with ssi's `eddsa-rdfc-2022` for `authentication`.
async fn present(credential: &Value, vp: &Vp<'_>) -> Vec<u8> {
    let document = json!({
        "@context": [V2],
        "type": ["VerifiablePresentation"],
        "holder": vp.holder,
        "verifiableCredential": [credential],
    });
    let method_id = format!("{}#{}", vp.holder, vp.key.public().to_multikey());
    let method: Multikey = serde_json::from_value(json!({
        "type": "Multikey",
        "id": method_id,
        "controller": vp.holder,
        "publicKeyMultibase": vp.key.public().to_multikey(),
    }))
    .unwrap();
    let mut methods = HashMap::new();
    methods.insert(method.id.clone(), method.clone());
    let created = vp
        .created
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .parse()
        .unwrap();
    let mut options = ProofOptions::new(
        created,
        ReferenceOrOwned::Reference(method.id.clone()),
        ssi_verification_methods::ProofPurpose::Authentication,
        (),
    );
    options.challenge = vp.challenge.map(str::to_owned);
    options.domains = vp.domain.map(str::to_owned).into_iter().collect();
    let document: DataIntegrityDocument = serde_json::from_value(document).unwrap();
    let secured = EdDsaRdfc2022
        .sign_with(
            SignatureEnvironment {
                json_ld_loader: ssi_json_ld::StaticLoader,
                eip712_loader: (),
            },
            document,
            &methods,
            TestSigner {
                key: vp.key,
                method: &method_id,
            },
            options,
            (),
        )
        .await
        .unwrap();
    serde_json::to_vec(&secured).unwrap()
}

/// A credential issued to `holder`'s did:key.
async fn issued_to(issuer: &Issuer, holder: &SecretKey) -> Value {
    let at = now() - Duration::hours(1);
    let mut request = request(VCT, at, vec![]);
    request.holder = Some(Did::parse(&holder.public().to_did_key()).unwrap());
    issuer_di::issue(&issuer_key(issuer), &request, &vocabulary(VCT), at)
        .await
        .unwrap()
}

async fn check_presentation(context: &Context, presentation: &[u8]) -> Report {
    verify_data_integrity_presentation(presentation, &crate::support::expectations(), context)
        .await
        .expect("expectations are valid")
}

#[tokio::test]
async fn presentations_bind_the_holder_to_the_request() {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let credential = issued_to(&issuer, &holder).await;
    let context = offline_context();

    let report = check_presentation(&context, &present(&credential, &Vp::new(&holder)).await).await;
    crate::support::assert_valid(
        &report,
        &[Step::Status, Step::Accreditation, Step::Schema],
        "a fresh presentation by the subject",
    );
    assert_eq!(
        report.valid_claims().unwrap().as_value()["credentialSubject"]["company"],
        "Example GmbH"
    );

    let stranger = SecretKey::generate(KeyType::Ed25519);
    let stale = now() - Duration::minutes(10);
    let future = now() + Duration::minutes(10);
    type Case<'a> = (&'static str, Vp<'a>, fn(&Defect) -> bool);
    let cases: Vec<Case<'_>> = vec![
        (
            "wrong challenge",
            Vp {
                challenge: Some("another-nonce"),
                ..Vp::new(&holder)
            },
            |d| matches!(d, Defect::ChallengeMismatch),
        ),
        (
            "no challenge",
            Vp {
                challenge: None,
                ..Vp::new(&holder)
            },
            |d| matches!(d, Defect::ChallengeMismatch),
        ),
        (
            "wrong domain",
            Vp {
                domain: Some("https://evil.example"),
                ..Vp::new(&holder)
            },
            |d| matches!(d, Defect::DomainMismatch { found, .. } if found == "https://evil.example"),
        ),
        (
            "stale created",
            Vp {
                created: stale,
                ..Vp::new(&holder)
            },
            |d| matches!(d, Defect::PresentationStale { .. }),
        ),
        (
            "created in the future",
            Vp {
                created: future,
                ..Vp::new(&holder)
            },
            |d| matches!(d, Defect::PresentationStale { .. }),
        ),
        (
            "signed by a key that is not the subject's",
            Vp::new(&stranger),
            |d| matches!(d, Defect::HolderNotSubject { .. }),
        ),
    ];
    for (case, vp, defect) in cases {
        let report = check_presentation(&context, &present(&credential, &vp).await).await;
        assert_failed(&report, Step::HolderBinding, defect, case);
    }

    // The subject's DID claimed, another key signing: the signature does not verify.
    let forged = Vp {
        holder: holder.public().to_did_key(),
        ..Vp::new(&stranger)
    };
    let mut presentation: Value =
        serde_json::from_slice(&present(&credential, &forged).await).unwrap();
    let real_method = format!(
        "{}#{}",
        holder.public().to_did_key(),
        holder.public().to_multikey()
    );
    presentation["proof"]["verificationMethod"] = json!(real_method);
    let report = check_presentation(&context, &bytes(&presentation)).await;
    assert_failed(
        &report,
        Step::HolderBinding,
        |d| matches!(d, Defect::PresentationSignature(_)),
        "the subject's key named, another key signed",
    );

    // A tampered presentation: the credential inside swapped after the holder signed.
    let mut presentation: Value =
        serde_json::from_slice(&present(&credential, &Vp::new(&holder)).await).unwrap();
    // Another valid credential of the same holder (from another issuer).
    let other = issued_to(&Issuer::did_key(KeyType::Ed25519), &holder).await;
    assert_ne!(other, credential);
    presentation["verifiableCredential"][0] = other;
    let report = check_presentation(&context, &bytes(&presentation)).await;
    assert_failed(
        &report,
        Step::HolderBinding,
        |d| matches!(d, Defect::PresentationSignature(_)),
        "credential swapped under the holder's proof",
    );

    // The credential inside is checked as on its own: a tampered one fails its signature.
    let mut tampered = credential.clone();
    tampered["credentialSubject"]["company"] = json!("Evil GmbH");
    let report = check_presentation(&context, &present(&tampered, &Vp::new(&holder)).await).await;
    assert_failed(
        &report,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "tampered credential inside",
    );

    // Shape: two credentials, a presentation whose holder is not its signer, a bare
    // credential where a presentation is expected.
    let mut two: Value =
        serde_json::from_slice(&present(&credential, &Vp::new(&holder)).await).unwrap();
    two["verifiableCredential"] = json!([credential, credential]);
    assert_failed(
        &check_presentation(&context, &bytes(&two)).await,
        Step::Parse,
        |d| {
            matches!(
                d,
                Defect::BadClaim {
                    claim: "verifiableCredential",
                    ..
                }
            )
        },
        "two credentials",
    );
    let mut other_holder: Value =
        serde_json::from_slice(&present(&credential, &Vp::new(&holder)).await).unwrap();
    other_holder["holder"] = json!(stranger.public().to_did_key());
    assert_failed(
        &check_presentation(&context, &bytes(&other_holder)).await,
        Step::Parse,
        |d| {
            matches!(
                d,
                Defect::BadClaim {
                    claim: "holder",
                    ..
                }
            )
        },
        "holder is not the signer",
    );
    assert_failed(
        &check_presentation(&context, &bytes(&credential)).await,
        Step::Parse,
        |d| matches!(d, Defect::BadClaim { claim: "type", .. }),
        "a credential, not a presentation",
    );

    // A presentation is verified against a request, always.
    let error = verify_data_integrity_presentation(
        &present(&credential, &Vp::new(&holder)).await,
        &credential_expectations(),
        &context,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, VerifyError::InvalidExpectations(_)));
    assert_eq!(
        check_presentation(&context, b"{").await.verdict(),
        Verdict::Invalid
    );
}

/// The W3C VC API routes (feature `server`) take Data Integrity documents as objects.
#[cfg(feature = "server")]
mod routes {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use credence_registry::clock::Clock;
    use credence_verifier::server::{VerifierState, router};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    fn state(context: Context) -> VerifierState {
        let (clock, _time) = Clock::manual(now());
        VerifierState {
            context: Arc::new(context),
            clock,
            leeway: Duration::seconds(60),
            presentation_max_age: Duration::minutes(5),
        }
    }

    async fn post(state: &VerifierState, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = router(state.clone())
            .oneshot(
                Request::post(path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn failed_steps(body: &Value) -> Vec<&str> {
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["step"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn credentials_verify_takes_data_integrity_objects() {
        let world = World::start().await;
        let state = state(crate::support::context(&world.registry));
        let signing = world.issuer.signing.clone();
        let iat = t0() + Duration::minutes(1);
        let valid: Value =
            serde_json::from_slice(&world_credential(&world, &signing, VCT, iat, Some(1)).await)
                .unwrap();
        let (status, body) = post(
            &state,
            "/credentials/verify",
            &json!({"verifiableCredential": valid, "options": {}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["verified"], true);
        assert_eq!(body["errors"], json!([]));
        assert_eq!(body["checks"].as_array().unwrap().len(), 8, "{body}");

        let revoked: Value =
            serde_json::from_slice(&world_credential(&world, &signing, VCT, iat, Some(2)).await)
                .unwrap();
        let (status, body) = post(
            &state,
            "/credentials/verify",
            &json!({"verifiableCredential": revoked}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(failed_steps(&body), ["status"], "{body}");

        // Invalid, with the same body shape: a tampered claim 422, a wrong cryptosuite 400.
        let mut tampered = valid.clone();
        tampered["credentialSubject"]["company"] = json!("Evil GmbH");
        let (status, body) = post(
            &state,
            "/credentials/verify",
            &json!({"verifiableCredential": tampered}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["verified"], false);
        assert_eq!(failed_steps(&body), ["signature"], "{body}");
        let mut other_suite = valid.clone();
        other_suite["proof"]["cryptosuite"] = json!("bbs-2023");
        let (status, body) = post(
            &state,
            "/credentials/verify",
            &json!({"verifiableCredential": other_suite}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(failed_steps(&body), ["parse"], "{body}");
        assert!(
            body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("unsupported cryptosuite bbs-2023"),
            "{body}"
        );
        // JWT credentials still go their way.
        let jwt = world.issue(&signing, VCT, iat, Some(1));
        let (status, body) = post(
            &state,
            "/credentials/verify",
            &json!({"verifiableCredential": jwt}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn presentations_verify_takes_data_integrity_presentations() {
        let issuer = Issuer::did_key(KeyType::Ed25519);
        let holder = SecretKey::generate(KeyType::Ed25519);
        let credential = issued_to(&issuer, &holder).await;
        let state = state(offline_context());
        let presentation: Value =
            serde_json::from_slice(&present(&credential, &Vp::new(&holder)).await).unwrap();
        let request = |challenge: &str| {
            json!({
                "verifiablePresentation": presentation,
                "options": {"challenge": challenge, "domain": AUDIENCE},
            })
        };
        let (status, body) = post(&state, "/presentations/verify", &request(NONCE)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["verified"], true);
        let (status, body) = post(&state, "/presentations/verify", &request("other")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(failed_steps(&body), ["holder-binding"], "{body}");
        assert!(
            body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("challenge"),
            "{body}"
        );
        // A bare credential where a presentation is expected: 400 at parse.
        let (status, body) = post(
            &state,
            "/presentations/verify",
            &json!({
                "verifiablePresentation": credential,
                "options": {"challenge": NONCE, "domain": AUDIENCE},
            }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(failed_steps(&body), ["parse"], "{body}");
    }
}
