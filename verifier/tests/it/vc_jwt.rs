//! VC-JOSE-COSE `vc+jwt` credentials through `verify_vc_jwt`: credentials made by the issuer
//! crate's own `vc_jwt::issue` (what Credence issues), each strictness rule a failing row naming
//! its step, Wycheproof-style malformed signatures, and the registry-backed steps against a
//! real registry on loopback: W3C Bitstring status lists (revoked, suspended, could not check),
//! accreditation and schema for the credential's type, and the issuer resolved as of issuance
//! across a key rotation.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use credence_issuer::claims::Claims;
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::status::{
    BitstringStatusEntry, IssuerStatusList, Status, StatusIndex, StatusListUri, StatusPurpose, Ttl,
};
use credence_issuer::vc_jwt::{CredentialType, VcJwtRequest, issue};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::owner::OwnerKeys;
use credence_registry::trust::AccreditationClaims;
use credence_registry::{ops, signed, status};
use credence_verifier::{
    Context, Defect, Expectations, HolderBinding, Outcome, Policy, Report, Step, Verdict,
    verify_vc_jwt,
};
use serde_json::{Value, json};

use crate::support::{
    Issuer, VCT, assert_failed, b64, context, kid, now, offline_context, sign, sign_raw,
    start_registry, t0,
};

const OTHER_VCT: &str = "https://credence.example/vct/e-invoice";

/// A bare credential: no holder binding, no policy, 60 s leeway.
pub(crate) fn credential_expectations() -> Expectations {
    Expectations {
        now: now(),
        leeway: Duration::seconds(60),
        holder_binding: HolderBinding::NotRequired,
        policy: Policy::default(),
    }
}

pub(crate) async fn check(context: &Context, credential: &[u8]) -> Report {
    verify_vc_jwt(credential, &credential_expectations(), context)
        .await
        .expect("expectations are valid")
}

fn issuer_key(issuer: &Issuer) -> IssuerKey {
    IssuerKey::new(issuer.key.clone(), Kid::parse(&issuer.kid).unwrap())
}

/// What the issuer crate issues: a business licence for `holder`, valid from `from` for a
/// year, with `status` entries.
pub(crate) fn request(
    credential_type: &str,
    from: DateTime<Utc>,
    status: Vec<BitstringStatusEntry>,
) -> VcJwtRequest {
    let holder = SecretKey::generate(KeyType::Ed25519);
    VcJwtRequest {
        id: None,
        credential_type: CredentialType::parse(credential_type).unwrap(),
        holder: Some(Did::parse(&holder.public().to_did_key()).unwrap()),
        subject: Claims::from_value(json!({"company": "Example GmbH", "licence": "B-1234"}))
            .unwrap(),
        valid_from: Some(from),
        valid_until: Some(from + Duration::days(365)),
        status,
    }
}

/// The header and payload the issuer crate signs, for rows that change one thing and re-sign.
fn parts(issuer: &Issuer) -> (Value, Value) {
    let jwt = issue(
        &issuer_key(issuer),
        &request(VCT, now() - Duration::hours(1), vec![]),
        now(),
    )
    .unwrap();
    let mut split = jwt.split('.');
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&credence_registry::keys::decode_b64url(part).unwrap()).unwrap()
    };
    (decode(split.next().unwrap()), decode(split.next().unwrap()))
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Steps a bare credential from a did:key issuer without status or a registry leaves unchecked.
const OFFLINE: [Step; 4] = [
    Step::Status,
    Step::Accreditation,
    Step::Schema,
    Step::HolderBinding,
];

#[track_caller]
fn assert_valid(report: &Report, not_checked: &[Step], case: &str) {
    crate::support::assert_valid(report, not_checked, case);
}

#[tokio::test]
async fn credentials_the_issuer_makes_verify_for_each_key_type() {
    let context = offline_context();
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let issuer = Issuer::did_key(key_type);
        let jwt = issue(
            &issuer_key(&issuer),
            &request(VCT, now() - Duration::hours(1), vec![]),
            now() - Duration::hours(1),
        )
        .unwrap();
        let report = check(&context, jwt.as_bytes()).await;
        assert_valid(&report, &OFFLINE, key_type.name());
        let claims = report.valid_claims().unwrap().as_value();
        assert_eq!(claims["credentialSubject"]["company"], "Example GmbH");
        assert_eq!(claims["issuer"], issuer.did.as_str());
    }
}

/// One changed credential: its header and payload as signed, and the failing step.
struct Row {
    name: &'static str,
    credential: Vec<u8>,
    step: Step,
    defect: fn(&Defect) -> bool,
}

fn rows(issuer: &Issuer) -> Vec<Row> {
    let (header, payload) = parts(issuer);
    let key = &issuer.key;
    let with = |change: &dyn Fn(&mut Value, &mut Value)| {
        let (mut header, mut payload) = (header.clone(), payload.clone());
        change(&mut header, &mut payload);
        sign(&header, &payload, key).into_bytes()
    };
    let attacker = SecretKey::generate(KeyType::Ed25519);
    let other = Issuer::did_key(KeyType::Ed25519);
    let good = sign(&header, &payload, key);
    let (input, _) = good.rsplit_once('.').unwrap();
    let flipped = {
        let mut signature =
            credence_registry::keys::decode_b64url(good.rsplit('.').next().unwrap()).unwrap();
        signature[5] ^= 1;
        format!("{input}.{}", b64(signature))
    };
    // Ed25519 group order L, little-endian: an S of L or more is non-canonical (RFC 8032
    // §5.1.7), which Wycheproof's "s >= L" cases test.
    const ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let s_not_reduced = {
        let mut signature =
            credence_registry::keys::decode_b64url(good.rsplit('.').next().unwrap()).unwrap();
        signature[32..].copy_from_slice(&ORDER);
        format!("{input}.{}", b64(signature))
    };
    let header_text = header.to_string();
    let payload_text = payload.to_string();
    vec![
        Row {
            name: "typ JWT (VC-JWT 1.1 style)",
            credential: with(&|h, _| h["typ"] = json!("JWT")),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::WrongType {
                        expected: "vc+jwt",
                        ..
                    }
                )
            },
        },
        Row {
            name: "no typ",
            credential: with(&|h, _| {
                h.as_object_mut().unwrap().remove("typ");
            }),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::WrongType { found: None, .. }),
        },
        Row {
            name: "cty other than vc",
            credential: with(&|h, _| h["cty"] = json!("json")),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::WrongContentType { found, .. } if found == "json"),
        },
        Row {
            name: "alg none",
            credential: {
                let mut h = header.clone();
                h["alg"] = json!("none");
                format!("{}.{}.", b64(h.to_string()), b64(payload.to_string())).into_bytes()
            },
            step: Step::Parse,
            defect: |d| matches!(d, Defect::AlgorithmNotAllowed { alg, .. } if alg == "none"),
        },
        Row {
            name: "alg HS256",
            credential: with(&|h, _| h["alg"] = json!("HS256")),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::AlgorithmNotAllowed { alg, .. } if alg == "HS256"),
        },
        Row {
            name: "alg ES256 with the issuer's Ed25519 key",
            credential: with(&|h, _| h["alg"] = json!("ES256")),
            step: Step::Signature,
            defect: |d| matches!(d, Defect::BadSignature(why) if why.contains("cannot be used")),
        },
        Row {
            name: "unknown crit",
            credential: with(&|h, _| h["crit"] = json!(["exp"])),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::CriticalHeader { .. }),
        },
        Row {
            name: "duplicate header member",
            credential: sign_raw(
                &header_text.replacen('{', r#"{"typ":"JWT","#, 1),
                &payload_text,
                key,
            )
            .into_bytes(),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::Malformed(why) if why.contains("duplicate")),
        },
        Row {
            name: "duplicate claim member",
            credential: sign_raw(
                &header_text,
                &payload_text.replacen('{', r#"{"issuer":"did:example:evil","#, 1),
                key,
            )
            .into_bytes(),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::Malformed(why) if why.contains("duplicate")),
        },
        Row {
            name: "jwk header with the signer's key (never trusted)",
            credential: {
                let mut h = header.clone();
                h["jwk"] = attacker.public().to_jwk();
                sign(&h, &payload, &attacker).into_bytes()
            },
            step: Step::Signature,
            defect: |d| matches!(d, Defect::BadSignature(_)),
        },
        Row {
            name: "kid of another DID",
            credential: with(&|h, _| h["kid"] = json!(other.kid)),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::KidNotOfIssuer { .. }),
        },
        Row {
            name: "no kid",
            credential: with(&|h, _| {
                h.as_object_mut().unwrap().remove("kid");
            }),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::KidNotOfIssuer { .. }),
        },
        Row {
            name: "first @context not VCDM 2.0",
            credential: with(&|_, p| {
                p["@context"] = json!(["https://www.w3.org/ns/credentials/examples/v2"])
            }),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "@context",
                        ..
                    }
                )
            },
        },
        Row {
            name: "VCDM 1.1 context",
            credential: with(&|_, p| {
                p["@context"] = json!(["https://www.w3.org/2018/credentials/v1"])
            }),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::BadClaim { claim: "@context", detail } if detail.contains("1.1")),
        },
        Row {
            name: "type without VerifiableCredential",
            credential: with(&|_, p| p["type"] = json!([VCT])),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::BadClaim { claim: "type", .. }),
        },
        Row {
            name: "issuer not a DID",
            credential: with(&|_, p| p["issuer"] = json!("https://issuer.example")),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "issuer",
                        ..
                    }
                )
            },
        },
        Row {
            name: "iss another party than issuer",
            credential: with(&|_, p| p["iss"] = json!(other.did)),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::IssuerMismatch { .. }),
        },
        Row {
            name: "no credentialSubject",
            credential: with(&|_, p| {
                p.as_object_mut().unwrap().remove("credentialSubject");
            }),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "credentialSubject",
                        ..
                    }
                )
            },
        },
        Row {
            name: "neither iat nor validFrom",
            credential: with(&|_, p| {
                p.as_object_mut().unwrap().remove("validFrom");
            }),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "validFrom",
                        ..
                    }
                )
            },
        },
        Row {
            name: "validFrom without a time zone",
            credential: with(&|_, p| p["validFrom"] = json!("2026-03-01T10:00:00")),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "validFrom",
                        ..
                    }
                )
            },
        },
        Row {
            name: "validUntil passed",
            credential: with(&|_, p| p["validUntil"] = json!(stamp(now() - Duration::minutes(2)))),
            step: Step::Validity,
            defect: |d| matches!(d, Defect::Expired { .. }),
        },
        Row {
            name: "validFrom in the future",
            credential: with(&|_, p| {
                p["iat"] = json!((now() - Duration::hours(1)).timestamp());
                p["validFrom"] = json!(stamp(now() + Duration::minutes(2)));
            }),
            step: Step::Validity,
            defect: |d| matches!(d, Defect::NotYetValid { .. }),
        },
        Row {
            name: "exp passed",
            credential: with(&|_, p| p["exp"] = json!((now() - Duration::minutes(2)).timestamp())),
            step: Step::Validity,
            defect: |d| matches!(d, Defect::Expired { .. }),
        },
        Row {
            name: "nbf in the future",
            credential: with(&|_, p| p["nbf"] = json!((now() + Duration::minutes(2)).timestamp())),
            step: Step::Validity,
            defect: |d| matches!(d, Defect::NotYetValid { .. }),
        },
        Row {
            name: "signature byte flipped",
            credential: flipped.into_bytes(),
            step: Step::Signature,
            defect: |d| matches!(d, Defect::BadSignature(_)),
        },
        Row {
            name: "Ed25519 S not reduced (Wycheproof s >= L)",
            credential: s_not_reduced.into_bytes(),
            step: Step::Signature,
            defect: |d| matches!(d, Defect::BadSignature(_)),
        },
        Row {
            name: "signature truncated to 63 bytes",
            credential: format!("{input}.{}", b64([7u8; 63])).into_bytes(),
            step: Step::Signature,
            defect: |d| matches!(d, Defect::BadSignature(why) if why.contains("64 bytes")),
        },
        Row {
            name: "not UTF-8",
            credential: vec![0xff, 0xfe, b'.', b'.'],
            step: Step::Parse,
            defect: |d| matches!(d, Defect::NotUtf8),
        },
        Row {
            name: "oversized",
            credential: "a".repeat(200 * 1024).into_bytes(),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::TooLarge { .. }),
        },
        Row {
            name: "four parts",
            credential: format!("{good}.x").into_bytes(),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::Malformed(_)),
        },
    ]
}

#[tokio::test]
async fn each_strictness_rule_fails_at_its_step() {
    let context = offline_context();
    let issuer = Issuer::did_key(KeyType::Ed25519);
    for row in rows(&issuer) {
        let report = check(&context, &row.credential).await;
        assert_failed(&report, row.step, row.defect, row.name);
        // Nothing after the failure passed on the credential's word.
        let failed_at = Step::ALL.iter().position(|s| *s == row.step).unwrap();
        for later in &Step::ALL[failed_at + 1..] {
            if matches!(row.step, Step::Parse | Step::Issuer | Step::Signature) {
                assert!(
                    matches!(report.outcome(*later), Outcome::NotChecked(_)),
                    "{}: {later}:\n{report}",
                    row.name
                );
            }
        }
    }

    // A P-256 issuer: an all-zero ES256 signature (Wycheproof r = s = 0) never verifies.
    let p256 = Issuer::did_key(KeyType::P256);
    let (header, payload) = parts(&p256);
    let good = sign(&header, &payload, &p256.key);
    let (input, _) = good.rsplit_once('.').unwrap();
    let report = check(&context, format!("{input}.{}", b64([0u8; 64])).as_bytes()).await;
    assert_failed(
        &report,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "ES256 r = s = 0",
    );
}

#[tokio::test]
async fn leeway_cty_and_holder_binding() {
    let context = offline_context();
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let (header, payload) = parts(&issuer);

    // validUntil 30 s ago is within the 60 s leeway; `cty: vc` is allowed.
    let mut recent = payload.clone();
    recent["validUntil"] = json!(stamp(now() - Duration::seconds(30)));
    let mut with_cty = header.clone();
    with_cty["cty"] = json!("vc");
    let report = check(&context, sign(&with_cty, &recent, &issuer.key).as_bytes()).await;
    assert_valid(&report, &OFFLINE, "within leeway, cty vc");

    // A bare credential where holder binding is required.
    let jwt = sign(&header, &payload, &issuer.key);
    let mut expectations = credential_expectations();
    expectations.holder_binding = HolderBinding::Required {
        nonce: "n".into(),
        audience: "a".into(),
        max_age: Duration::minutes(5),
    };
    let report = verify_vc_jwt(jwt.as_bytes(), &expectations, &context)
        .await
        .unwrap();
    assert_failed(
        &report,
        Step::HolderBinding,
        |d| matches!(d, Defect::HolderProofMissing),
        "bare credential, binding required",
    );

    // Policy: the accepted types are matched against `type`.
    let mut expectations = credential_expectations();
    expectations.policy.accepted_types = vec![OTHER_VCT.to_owned()];
    let report = verify_vc_jwt(jwt.as_bytes(), &expectations, &context)
        .await
        .unwrap();
    assert_failed(
        &report,
        Step::Policy,
        |d| matches!(d, Defect::TypeNotAccepted { .. }),
        "type not accepted",
    );
    expectations.policy.accepted_types = vec![VCT.to_owned()];
    let report = verify_vc_jwt(jwt.as_bytes(), &expectations, &context)
        .await
        .unwrap();
    assert_valid(&report, &OFFLINE, "type accepted");
}

/// A registry with an anchor, an accredited did:credence issuer with VCT's schema and a W3C
/// status list (index 1 valid, 2 revoked, 3 suspended) published as the issuer issues it.
pub(crate) struct World {
    pub(crate) registry: crate::support::Registry,
    pub(crate) issuer: OwnerKeys,
    pub(crate) genesis: ops::SignedOperation,
    pub(crate) did: Did,
    pub(crate) list: StatusListUri,
}

impl World {
    pub(crate) async fn start() -> Self {
        let anchor = OwnerKeys::generate(KeyType::Ed25519);
        let anchor_did = ops::did_for_genesis(&anchor.genesis(vec![]));
        let issuer = OwnerKeys::generate(KeyType::Ed25519);
        let genesis = issuer.genesis(vec![]);
        let did = ops::did_for_genesis(&genesis);
        let registry = start_registry(vec![anchor_did.clone()]).await;
        let client = &registry.client;
        client.create(&anchor.genesis(vec![])).await.unwrap();
        client.create(&genesis).await.unwrap();
        let accreditation = AccreditationClaims::new(
            did.clone(),
            vec![VCT.parse().unwrap()],
            false,
            t0() - Duration::days(1),
            t0() + Duration::days(365),
        );
        client
            .accredit(&signed::sign(
                &serde_json::to_value(&accreditation).unwrap(),
                &anchor.signing,
                &kid(&anchor_did),
            ))
            .await
            .unwrap();
        // The type's schema describes the subject's claims, as the issuer validates them.
        let schema = json!({
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["company"],
                "properties": {"company": {"type": "string"}},
            },
            "typeMetadata": {"vct": VCT, "display": [{"lang": "en", "name": "Business licence"}]},
        });
        client
            .publish_schema(&signed::sign(&schema, &anchor.signing, &kid(&anchor_did)))
            .await
            .unwrap();
        let list =
            StatusListUri::for_list(&format!("{}/registry", registry.base), &did, "w3c-1").unwrap();
        let world = Self {
            registry,
            issuer,
            genesis,
            did,
            list,
        };
        world.publish_lists(&world.issuer.signing, t0()).await;
        world
    }

    pub(crate) fn key(&self, secret: &SecretKey) -> IssuerKey {
        IssuerKey::new(secret.clone(), Kid::parse(&kid(&self.did)).unwrap())
    }

    /// Both bitstring lists, signed with `secret` as of `at`.
    pub(crate) async fn publish_lists(&self, secret: &SecretKey, at: DateTime<Utc>) {
        let entries = u32::try_from(status::MIN_ENTRIES).unwrap();
        let list = IssuerStatusList::restore(
            self.did.clone(),
            self.list.clone(),
            entries,
            [
                (StatusIndex::new(1), Status::Valid),
                (StatusIndex::new(2), Status::Invalid),
                (StatusIndex::new(3), Status::Suspended),
            ],
        )
        .unwrap();
        for purpose in [StatusPurpose::Revocation, StatusPurpose::Suspension] {
            let jwt = list
                .bitstring_status_list_jwt(&self.key(secret), purpose, at, Ttl { seconds: 600 })
                .unwrap();
            self.registry
                .client
                .publish_status_list(&jwt)
                .await
                .unwrap();
        }
    }

    /// Revocation and suspension entries at `index`, as the issuer writes them.
    pub(crate) fn entries(&self, index: u32) -> Vec<BitstringStatusEntry> {
        [StatusPurpose::Revocation, StatusPurpose::Suspension]
            .into_iter()
            .map(|purpose| BitstringStatusEntry {
                purpose,
                index: StatusIndex::new(index),
                list: self.list.for_purpose(purpose),
            })
            .collect()
    }

    /// A credential of `credential_type` signed with `secret`, issued at `at`, status `index`.
    pub(crate) fn issue(
        &self,
        secret: &SecretKey,
        credential_type: &str,
        at: DateTime<Utc>,
        index: Option<u32>,
    ) -> String {
        let entries = index.map(|i| self.entries(i)).unwrap_or_default();
        issue(
            &self.key(secret),
            &request(credential_type, at, entries),
            at,
        )
        .unwrap()
    }
}

#[tokio::test]
async fn bitstring_status_accreditation_schema_and_rotation_against_a_registry() {
    let world = World::start().await;
    let context = context(&world.registry);
    let signing = world.issuer.signing.clone();
    let iat = t0() + Duration::minutes(1);

    let report = check(
        &context,
        world.issue(&signing, VCT, iat, Some(1)).as_bytes(),
    )
    .await;
    assert_valid(&report, &[Step::HolderBinding], "valid, every step");

    assert_failed(
        &check(
            &context,
            world.issue(&signing, VCT, iat, Some(2)).as_bytes(),
        )
        .await,
        Step::Status,
        |d| matches!(d, Defect::Revoked { index: 2, uri } if uri.ends_with(".revocation")),
        "revoked",
    );
    assert_failed(
        &check(
            &context,
            world.issue(&signing, VCT, iat, Some(3)).as_bytes(),
        )
        .await,
        Step::Status,
        |d| matches!(d, Defect::Suspended { index: 3, uri } if uri.ends_with(".suspension")),
        "suspended",
    );
    assert_failed(
        &check(
            &context,
            world.issue(&signing, VCT, iat, Some(200_000)).as_bytes(),
        )
        .await,
        Step::Status,
        |d| matches!(d, Defect::BadStatusEntry(_)),
        "index outside the list",
    );

    // A revocation entry pointing at the suspension list: the list's purpose is checked.
    let mut crossed = world.entries(1);
    crossed[0].list = world.list.for_purpose(StatusPurpose::Suspension);
    crossed.truncate(1);
    let jwt = issue(&world.key(&signing), &request(VCT, iat, crossed), iat).unwrap();
    let report = check(&context, jwt.as_bytes()).await;
    assert!(
        matches!(report.outcome(Step::Status), Outcome::CouldNotCheck(why) if why.contains("is for suspension")),
        "{report}"
    );

    // Accreditation for the credential's type: another type is not accredited (and has no
    // schema); a bare term names nothing the registry accredits.
    let report = check(
        &context,
        world.issue(&signing, OTHER_VCT, iat, Some(1)).as_bytes(),
    )
    .await;
    assert_failed(
        &report,
        Step::Accreditation,
        |d| matches!(d, Defect::NotAccredited { vct, .. } if vct == OTHER_VCT),
        "other type",
    );
    assert!(
        matches!(report.outcome(Step::Schema), Outcome::NotChecked(why) if why.contains("no schema")),
        "{report}"
    );
    assert_failed(
        &check(
            &context,
            world
                .issue(&signing, "BusinessLicenceCredential", iat, Some(1))
                .as_bytes(),
        )
        .await,
        Step::Accreditation,
        |d| matches!(d, Defect::NotAccredited { reason, .. } if reason.contains("URI")),
        "a term type",
    );

    // Schema: the subject's claims against the type's schema (claim values never quoted).
    let mut bad = request(VCT, iat, world.entries(1));
    bad.subject = Claims::from_value(json!({"company": 42})).unwrap();
    let jwt = issue(&world.key(&signing), &bad, iat).unwrap();
    let report = check(&context, jwt.as_bytes()).await;
    assert_failed(
        &report,
        Step::Schema,
        |d| matches!(d, Defect::SchemaViolation { problems, .. } if problems.len() == 1 && problems[0].contains("/company")),
        "schema",
    );
    assert!(!report.to_string().contains("42"), "{report}");

    // Rotation at t1: #key-1 is a new key from then on. No status entries here: the lists
    // were signed with the old key, which the issuer's current document no longer lists.
    let t1 = t0() + Duration::minutes(30);
    world.registry.time.set(t1);
    let rotated = OwnerKeys::generate(KeyType::Ed25519);
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
    assert_valid(
        &check(&fresh, world.issue(&signing, VCT, iat, None).as_bytes()).await,
        &[Step::Status, Step::HolderBinding],
        "old key, signed before the rotation",
    );
    assert_failed(
        &check(&fresh, world.issue(&signing, VCT, after, None).as_bytes()).await,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "old key after the rotation",
    );
    assert_failed(
        &check(
            &fresh,
            world.issue(&rotated.signing, VCT, iat, None).as_bytes(),
        )
        .await,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "new key backdated",
    );
    assert_valid(
        &check(
            &fresh,
            world.issue(&rotated.signing, VCT, after, None).as_bytes(),
        )
        .await,
        &[Step::Status, Step::HolderBinding],
        "new key after the rotation",
    );
    // Signed with the old key before the rotation, with a status entry: its list (signed by
    // the old key) no longer verifies against the issuer's document, so status could not be
    // checked, never valid.
    let report = check(&fresh, world.issue(&signing, VCT, iat, Some(1)).as_bytes()).await;
    assert_eq!(report.verdict(), Verdict::CouldNotCheck, "{report}");
    // Republished under the new key, it answers again.
    world.registry.time.set(t1 + Duration::seconds(2));
    world
        .publish_lists(&rotated.signing, t1 + Duration::seconds(1))
        .await;
    let refreshed = crate::support::context(&world.registry);
    assert_valid(
        &check(
            &refreshed,
            world.issue(&signing, VCT, iat, Some(1)).as_bytes(),
        )
        .await,
        &[Step::HolderBinding],
        "old key before the rotation, list republished",
    );
}

#[tokio::test]
async fn an_unreachable_status_list_is_could_not_check() {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let did = Did::parse(&issuer.did).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let list =
        StatusListUri::for_list(&format!("http://127.0.0.1:{port}/registry"), &did, "l").unwrap();
    let entry = BitstringStatusEntry {
        purpose: StatusPurpose::Revocation,
        index: StatusIndex::new(0),
        list: list.for_purpose(StatusPurpose::Revocation),
    };
    let at = now() - Duration::hours(1);
    let jwt = issue(&issuer_key(&issuer), &request(VCT, at, vec![entry]), at).unwrap();
    let report = check(&offline_context(), jwt.as_bytes()).await;
    assert_eq!(report.verdict(), Verdict::CouldNotCheck, "{report}");
    assert!(
        matches!(report.outcome(Step::Status), Outcome::CouldNotCheck(why) if why.contains("could not be fetched")),
        "{report}"
    );
    assert!(report.first_failure().is_none());
}
