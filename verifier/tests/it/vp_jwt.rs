//! VC-JOSE-COSE `vp+jwt` presentations through `verify_vp_jwt`: `vc+jwt` credentials the issuer
//! crate makes for a holder's did:key / did:jwk, enveloped in a presentation the holder signs
//! for one nonce and one audience; every holder-binding rule a failing row naming its step and
//! defect; an enclosed revoked credential failing at status against a real registry.

use chrono::{DateTime, Duration, Utc};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::vc_jwt::issue;
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_verifier::vp_jwt::PresentationDefect;
use credence_verifier::{
    Context, Defect, Expectations, HolderBinding, Outcome, Report, Step, verify_vp_jwt,
};
use serde_json::{Value, json};

use crate::support::{
    AUDIENCE, Issuer, NONCE, VCT, assert_failed, b64, context, now, offline_context, sign, t0,
};
use crate::vc_jwt::{World, request};

/// A holder: a key and the DID the issuer writes as `credentialSubject.id`.
pub(crate) struct Holder {
    pub(crate) key: SecretKey,
    pub(crate) did: String,
    pub(crate) kid: String,
}

impl Holder {
    pub(crate) fn did_key(key_type: KeyType) -> Self {
        let issuer = Issuer::did_key(key_type);
        Self {
            key: issuer.key,
            did: issuer.did,
            kid: issuer.kid,
        }
    }

    fn did_jwk(key_type: KeyType) -> Self {
        let issuer = Issuer::did_jwk(key_type);
        Self {
            key: issuer.key,
            did: issuer.did,
            kid: issuer.kid,
        }
    }
}

/// A `vc+jwt` business licence the issuer crate issues to `holder`, an hour before [`now`].
pub(crate) fn credential_for(issuer: &Issuer, holder_did: &str) -> String {
    let mut request = request(VCT, now() - Duration::hours(1), vec![]);
    request.holder = Some(Did::parse(holder_did).unwrap());
    let key = IssuerKey::new(issuer.key.clone(), Kid::parse(&issuer.kid).unwrap());
    issue(&key, &request, now() - Duration::hours(1)).unwrap()
}

/// The header and payload of a presentation of `credentials` by `holder` for `nonce` and
/// `audience`, made 10 s before [`now`].
pub(crate) fn vp_parts(
    holder: &Holder,
    credentials: &[&str],
    nonce: &str,
    audience: &str,
) -> (Value, Value) {
    let header = json!({
        "alg": holder.key.public().algorithm().name(),
        "typ": "vp+jwt",
        "kid": holder.kid,
    });
    let payload = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": credentials
            .iter()
            .map(|jwt| json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": "EnvelopedVerifiableCredential",
                "id": format!("data:application/vc+jwt,{jwt}"),
            }))
            .collect::<Vec<_>>(),
        "iss": holder.did,
        "aud": audience,
        "nonce": nonce,
        "iat": (now() - Duration::seconds(10)).timestamp(),
    });
    (header, payload)
}

/// The signed presentation.
pub(crate) fn present_vp(
    holder: &Holder,
    credentials: &[&str],
    nonce: &str,
    audience: &str,
) -> String {
    let (header, payload) = vp_parts(holder, credentials, nonce, audience);
    sign(&header, &payload, &holder.key)
}

async fn check(context: &Context, presentation: &str) -> Vec<Report> {
    verify_vp_jwt(
        presentation.as_bytes(),
        &Expectations::presentation(now(), NONCE, AUDIENCE),
        context,
    )
    .await
    .expect("expectations are valid")
}

/// Steps an offline did:key issuer without status leaves unchecked.
const OFFLINE: [Step; 3] = [Step::Status, Step::Accreditation, Step::Schema];

#[tokio::test]
async fn a_holder_presents_two_credentials_for_each_key_type_and_did_method() {
    let context = offline_context();
    let issuer = Issuer::did_key(KeyType::P256);
    for holder in [
        Holder::did_key(KeyType::Ed25519),
        Holder::did_key(KeyType::P256),
        Holder::did_jwk(KeyType::Ed25519),
        Holder::did_jwk(KeyType::P256),
    ] {
        let case = holder.did.clone();
        let first = credential_for(&issuer, &holder.did);
        let second = credential_for(&issuer, &holder.did);
        let reports = check(
            &context,
            &present_vp(&holder, &[&first, &second], NONCE, AUDIENCE),
        )
        .await;
        assert_eq!(reports.len(), 2, "{case}");
        for report in &reports {
            crate::support::assert_valid(report, &OFFLINE, &case);
            assert_eq!(report.outcome(Step::HolderBinding), &Outcome::Passed);
            let claims = report.valid_claims().unwrap().as_value();
            assert_eq!(claims["credentialSubject"]["id"], holder.did.as_str());
            assert_eq!(claims["credentialSubject"]["company"], "Example GmbH");
        }
    }
}

#[tokio::test]
async fn a_did_key_subject_binds_the_same_key_presented_under_did_jwk() {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = Holder::did_key(KeyType::Ed25519);
    let credential = credential_for(&issuer, &holder.did);
    let as_jwk = Holder {
        did: format!("did:jwk:{}", b64(holder.key.public().to_jwk().to_string())),
        kid: String::new(),
        key: holder.key.clone(),
    };
    let as_jwk = Holder {
        kid: format!("{}#0", as_jwk.did),
        ..as_jwk
    };
    let reports = check(
        &offline_context(),
        &present_vp(&as_jwk, &[&credential], NONCE, AUDIENCE),
    )
    .await;
    crate::support::assert_valid(&reports[0], &OFFLINE, "same key, other DID method");
}

/// One bad presentation and where it fails.
struct Row {
    name: &'static str,
    presentation: String,
    step: Step,
    defect: fn(&Defect) -> bool,
}

fn binding(defect: &Defect) -> Option<&PresentationDefect> {
    match defect {
        Defect::Presentation(inner) => Some(inner),
        _ => None,
    }
}

fn rows() -> Vec<Row> {
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = Holder::did_key(KeyType::Ed25519);
    let stranger = Holder::did_key(KeyType::Ed25519);
    let credential = credential_for(&issuer, &holder.did);
    let (header, payload) = vp_parts(&holder, &[&credential], NONCE, AUDIENCE);
    let with = |change: &dyn Fn(&mut Value, &mut Value)| {
        let (mut header, mut payload) = (header.clone(), payload.clone());
        change(&mut header, &mut payload);
        sign(&header, &payload, &holder.key)
    };
    let at = |time: DateTime<Utc>| {
        move |_: &mut Value, p: &mut Value| p["iat"] = json!(time.timestamp())
    };
    let tampered = {
        let (h, p, s) = {
            let mut parts = credential.split('.');
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        };
        let mut claims: Value =
            serde_json::from_slice(&credence_registry::keys::decode_b64url(p).unwrap()).unwrap();
        claims["credentialSubject"]["company"] = json!("Forged GmbH");
        format!("{h}.{}.{s}", b64(claims.to_string()))
    };
    vec![
        Row {
            name: "wrong nonce",
            presentation: with(&|_, p| p["nonce"] = json!("another-request")),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::NonceMismatch)),
        },
        Row {
            name: "no nonce",
            presentation: with(&|_, p| {
                p.as_object_mut().unwrap().remove("nonce");
            }),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::NonceMismatch)),
        },
        Row {
            name: "wrong aud",
            presentation: with(&|_, p| p["aud"] = json!("https://other.example/client")),
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::AudienceMismatch { .. })
                )
            },
        },
        Row {
            name: "aud a prefix of ours (exact match only)",
            presentation: with(&|_, p| p["aud"] = json!("https://verifier.example/clien")),
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::AudienceMismatch { .. })
                )
            },
        },
        Row {
            name: "aud an array with us and another",
            presentation: with(&|_, p| p["aud"] = json!([AUDIENCE, "https://other.example"])),
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::AudienceMismatch { .. })
                )
            },
        },
        Row {
            name: "stale iat (10 min old, window 5 min)",
            presentation: with(&at(now() - Duration::minutes(10))),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::Stale { .. })),
        },
        Row {
            name: "iat in the future beyond the leeway",
            presentation: with(&at(now() + Duration::minutes(5))),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::Stale { .. })),
        },
        Row {
            name: "no iat",
            presentation: with(&|_, p| {
                p.as_object_mut().unwrap().remove("iat");
            }),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::IssuedAtMissing)),
        },
        Row {
            name: "expired presentation",
            presentation: with(&|_, p| {
                p["exp"] = json!((now() - Duration::minutes(2)).timestamp())
            }),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::Times(_))),
        },
        Row {
            name: "signed by a key that is not the subject's (its own kid)",
            presentation: {
                let (header, payload) = vp_parts(&stranger, &[&credential], NONCE, AUDIENCE);
                sign(&header, &payload, &stranger.key)
            },
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::SubjectNotSigner { .. })
                )
            },
        },
        Row {
            name: "the holder's kid, another key's signature",
            presentation: sign(&header, &payload, &stranger.key),
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::Signature(_))),
        },
        Row {
            name: "holder claim names someone else",
            presentation: with(&|_, p| p["holder"] = json!(stranger.did)),
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::HolderMismatch {
                        claim: "holder",
                        ..
                    })
                )
            },
        },
        Row {
            name: "kid of a DID method needing a registry",
            presentation: with(&|h, _| h["kid"] = json!("did:web:holder.example#key-1")),
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::HolderKeyUnknown { .. })
                )
            },
        },
        Row {
            name: "kid without a fragment",
            presentation: with(&|h, _| h["kid"] = json!(holder.did)),
            step: Step::HolderBinding,
            defect: |d| {
                matches!(
                    binding(d),
                    Some(PresentationDefect::HolderKeyUnknown { .. })
                )
            },
        },
        Row {
            name: "typ JWT",
            presentation: with(&|h, _| h["typ"] = json!("JWT")),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::WrongType {
                        expected: "vp+jwt",
                        ..
                    }
                )
            },
        },
        Row {
            name: "typ vc+jwt (a credential, not a presentation)",
            presentation: with(&|h, _| h["typ"] = json!("vc+jwt")),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::WrongType { found: Some(t), .. } if t == "vc+jwt"),
        },
        Row {
            name: "alg none",
            presentation: {
                let mut h = header.clone();
                h["alg"] = json!("none");
                format!("{}.{}.", b64(h.to_string()), b64(payload.to_string()))
            },
            step: Step::Parse,
            defect: |d| matches!(d, Defect::AlgorithmNotAllowed { .. }),
        },
        Row {
            name: "VCDM 1.1 vp claim",
            presentation: with(&|_, p| {
                let vp = json!({"@context": ["https://www.w3.org/2018/credentials/v1"], "type": ["VerifiablePresentation"], "verifiableCredential": [credential]});
                *p = json!({"vp": vp, "nonce": NONCE, "aud": AUDIENCE, "iat": now().timestamp()});
            }),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::BadClaim { claim: "vp", .. }),
        },
        Row {
            name: "not a VerifiablePresentation",
            presentation: with(&|_, p| p["type"] = json!(["VerifiableCredential"])),
            step: Step::Parse,
            defect: |d| matches!(d, Defect::BadClaim { claim: "type", .. }),
        },
        Row {
            name: "no credential",
            presentation: with(&|_, p| p["verifiableCredential"] = json!([])),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "verifiableCredential",
                        ..
                    }
                )
            },
        },
        Row {
            name: "a credential as a bare string, not enveloped",
            presentation: with(&|_, p| p["verifiableCredential"] = json!([credential])),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "verifiableCredential",
                        ..
                    }
                )
            },
        },
        Row {
            name: "an enveloped credential of another media type",
            presentation: with(&|_, p| {
                p["verifiableCredential"][0]["id"] =
                    json!(format!("data:application/vc+sd-jwt,{credential}"));
            }),
            step: Step::Parse,
            defect: |d| {
                matches!(
                    d,
                    Defect::BadClaim {
                        claim: "verifiableCredential",
                        ..
                    }
                )
            },
        },
        Row {
            name: "a tampered enclosed credential",
            presentation: sign(
                &header,
                &vp_parts(&holder, &[&tampered], NONCE, AUDIENCE).1,
                &holder.key,
            ),
            step: Step::Signature,
            defect: |d| matches!(d, Defect::BadSignature(_)),
        },
        Row {
            name: "an enclosed credential issued to nobody",
            presentation: {
                let mut request = request(VCT, now() - Duration::hours(1), vec![]);
                request.holder = None;
                let key = IssuerKey::new(issuer.key.clone(), Kid::parse(&issuer.kid).unwrap());
                let anonymous = issue(&key, &request, now() - Duration::hours(1)).unwrap();
                sign(
                    &header,
                    &vp_parts(&holder, &[&anonymous], NONCE, AUDIENCE).1,
                    &holder.key,
                )
            },
            step: Step::HolderBinding,
            defect: |d| matches!(binding(d), Some(PresentationDefect::NoSubject(_))),
        },
    ]
}

#[tokio::test]
async fn each_holder_binding_rule_fails_at_its_step() {
    let context = offline_context();
    for row in rows() {
        let reports = check(&context, &row.presentation).await;
        assert_eq!(reports.len(), 1, "{}", row.name);
        assert_failed(&reports[0], row.step, row.defect, row.name);
        // A presentation whose binding fails costs no fetch: nothing after it ran.
        if row.step == Step::HolderBinding {
            assert!(
                matches!(reports[0].outcome(Step::Status), Outcome::NotChecked(_)),
                "{}",
                row.name
            );
        }
    }
}

#[tokio::test]
async fn one_bad_credential_of_two_fails_alone_and_no_binding_asked_is_not_checked() {
    let context = offline_context();
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = Holder::did_key(KeyType::Ed25519);
    let other = Holder::did_key(KeyType::Ed25519);
    let mine = credential_for(&issuer, &holder.did);
    let theirs = credential_for(&issuer, &other.did);
    let reports = check(
        &context,
        &present_vp(&holder, &[&mine, &theirs], NONCE, AUDIENCE),
    )
    .await;
    crate::support::assert_valid(&reports[0], &OFFLINE, "the holder's own");
    assert_failed(
        &reports[1],
        Step::HolderBinding,
        |d| {
            matches!(
                binding(d),
                Some(PresentationDefect::SubjectNotSigner { .. })
            )
        },
        "someone else's credential",
    );

    let expectations = Expectations {
        holder_binding: HolderBinding::NotRequired,
        ..Expectations::presentation(now(), NONCE, AUDIENCE)
    };
    let reports = verify_vp_jwt(
        present_vp(&holder, &[&mine], "any", "anyone").as_bytes(),
        &expectations,
        &context,
    )
    .await
    .unwrap();
    assert!(matches!(
        reports[0].outcome(Step::HolderBinding),
        Outcome::NotChecked(_)
    ));
}

#[tokio::test]
async fn an_enclosed_revoked_credential_fails_at_status() {
    let world = World::start().await;
    let context = context(&world.registry);
    let signing = world.issuer.signing.clone();
    let holder = Holder::did_key(KeyType::Ed25519);
    let iat = t0() + Duration::minutes(1);
    let issue_to = |index: u32| {
        let mut request = request(VCT, iat, world.entries(index));
        request.holder = Some(Did::parse(&holder.did).unwrap());
        issue(&world.key(&signing), &request, iat).unwrap()
    };
    let (valid, revoked) = (issue_to(1), issue_to(2));
    let reports = check(
        &context,
        &present_vp(&holder, &[&valid, &revoked], NONCE, AUDIENCE),
    )
    .await;
    crate::support::assert_valid(&reports[0], &[], "valid, every step");
    assert_eq!(reports[1].outcome(Step::HolderBinding), &Outcome::Passed);
    assert_failed(
        &reports[1],
        Step::Status,
        |d| matches!(d, Defect::Revoked { index: 2, .. }),
        "revoked",
    );
}
