//! Presentations built in the test (did:key and did:jwk issuers, no registry), each good one
//! tampered with in one way; every bad case names the step that must fail and why.

use chrono::Duration;
use credence_registry::keys::{KeyType, SecretKey};
use credence_verifier::{Defect, Expectations, HolderBinding, Outcome, Policy, Step, Verdict};
use serde_json::{Value, json};

use crate::support::{
    AUDIENCE, Issuer, Kb, Unsigned, assert_failed, assert_valid, b64, disclosure, expectations,
    now, offline_context, present, sign, sign_raw, standard, verify,
};

/// Steps a presentation from a did:key issuer without a status entry or a registry leaves
/// unchecked.
const OFFLINE: [Step; 3] = [Step::Status, Step::Accreditation, Step::Schema];

#[tokio::test]
async fn good_presentations_verify_for_each_key_type_and_did_method() {
    let context = offline_context();
    for (issuer, holder) in [
        (Issuer::did_key(KeyType::Ed25519), KeyType::Ed25519),
        (Issuer::did_key(KeyType::P256), KeyType::P256),
        (Issuer::did_jwk(KeyType::P256), KeyType::Ed25519),
        (Issuer::did_jwk(KeyType::Ed25519), KeyType::P256),
    ] {
        let holder = SecretKey::generate(holder);
        let credential = standard(&issuer, &holder, now() - Duration::hours(1));
        let jwt = credential.sign(&issuer.key);
        let case = format!("{} holder {}", issuer.did, holder.public().type_name());
        // All 8 Disclosures, recursive and array elements among them.
        let all = present(&jwt, &credential.disclosures, Some(Kb::new(&holder)));
        let report = verify(&context, all.as_bytes(), &expectations()).await;
        assert_valid(&report, &OFFLINE, &case);
        let claims = report.valid_claims().unwrap().as_value();
        assert_eq!(
            claims["address"],
            json!({"country": "DE", "locality": "Berlin"})
        );
        assert_eq!(claims["nationalities"], json!(["DE", "FR"]));
        assert_eq!(claims["given_name"], "Erika");
        assert!(claims.get("_sd").is_none() && claims.get("_sd_alg").is_none());

        // Only two: the others are absent, undisclosed array elements removed.
        let some = present(
            &jwt,
            &[
                credential.disclosures[0].clone(),
                credential.disclosures[6].clone(),
            ],
            Some(Kb::new(&holder)),
        );
        let report = verify(&context, some.as_bytes(), &expectations()).await;
        assert_valid(&report, &OFFLINE, &case);
        let claims = report.valid_claims().unwrap().as_value();
        assert_eq!(claims["nationalities"], json!(["DE"]));
        assert!(claims.get("family_name").is_none() && claims.get("address").is_none());
    }
}

/// One tampered variant of the standard credential.
struct Case {
    name: &'static str,
    presentation: Vec<u8>,
    step: Step,
    defect: fn(&Defect) -> bool,
}

fn build_cases(issuer: &Issuer, holder: &SecretKey) -> Vec<Case> {
    let iat = now() - Duration::hours(1);
    let good = standard(issuer, holder, iat);
    let kb = || Some(Kb::new(holder));
    let with = |change: &dyn Fn(&mut Unsigned)| {
        let mut credential = good.clone();
        change(&mut credential);
        present(&credential.sign(&issuer.key), &credential.disclosures, kb()).into_bytes()
    };
    let jwt = good.sign(&issuer.key);
    let attacker = SecretKey::generate(KeyType::Ed25519);
    let other_issuer = Issuer::did_key(KeyType::Ed25519);
    let (extra, _) = disclosure(Some("given_name"), json!("Mallory"));
    let (reserved, reserved_digest) = disclosure(Some("_sd"), json!(["x"]));
    let (overwrite, overwrite_digest) = disclosure(Some("company"), json!("Evil Ltd"));
    let mut flipped = jwt.clone().into_bytes();
    let at = jwt.rfind('.').unwrap() + 5;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let header_json = good.header.to_string();
    let payload_json = good.payload.to_string();
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));

    let case = |name, presentation: Vec<u8>, step, defect| Case {
        name,
        presentation,
        step,
        defect,
    };
    vec![
        // ---- parse ----
        case("not UTF-8", vec![0xff, 0xfe, b'~'], Step::Parse, |d| matches!(d, Defect::NotUtf8)),
        case("no tilde", jwt.clone().into_bytes(), Step::Parse, |d| matches!(d, Defect::Malformed(_))),
        case("truncated JWS", present(&jwt[..jwt.len() / 2], &[], None).into_bytes(), Step::Parse, |d| matches!(d, Defect::Malformed(_))),
        case("oversized", vec![b'a'; 200 * 1024], Step::Parse, |d| matches!(d, Defect::TooLarge { .. })),
        case("alg none", with(&|c| c.header["alg"] = json!("none")), Step::Parse, |d| matches!(d, Defect::AlgorithmNotAllowed { alg, .. } if alg == "none")),
        case("alg None", with(&|c| c.header["alg"] = json!("None")), Step::Parse, |d| matches!(d, Defect::AlgorithmNotAllowed { .. })),
        case("alg HS256", with(&|c| c.header["alg"] = json!("HS256")), Step::Parse, |d| matches!(d, Defect::AlgorithmNotAllowed { .. })),
        case("alg ES256K", with(&|c| c.header["alg"] = json!("ES256K")), Step::Parse, |d| matches!(d, Defect::AlgorithmNotAllowed { .. })),
        case("alg absent", with(&|c| { c.header.as_object_mut().unwrap().remove("alg"); }), Step::Parse, |d| matches!(d, Defect::AlgorithmNotAllowed { .. })),
        case("typ absent", with(&|c| { c.header.as_object_mut().unwrap().remove("typ"); }), Step::Parse, |d| matches!(d, Defect::WrongType { found: None, .. })),
        case("typ JWT", with(&|c| c.header["typ"] = json!("JWT")), Step::Parse, |d| matches!(d, Defect::WrongType { .. })),
        case("typ vc+sd-jwt", with(&|c| c.header["typ"] = json!("vc+sd-jwt")), Step::Parse, |d| matches!(d, Defect::LegacyType)),
        case("crit", with(&|c| c.header["crit"] = json!(["b64"])), Step::Parse, |d| matches!(d, Defect::CriticalHeader { .. })),
        case("duplicate header member", present(&sign_raw(&header_json.replacen('{', "{\"alg\":\"none\",", 1), &payload_json, &issuer.key), &good.disclosures, kb()).into_bytes(), Step::Parse, |d| matches!(d, Defect::Malformed(m) if m.contains("duplicate"))),
        case("duplicate claim", present(&sign_raw(&header_json, &payload_json.replacen('{', &format!("{{\"iss\":\"{}\",", other_issuer.did), 1), &issuer.key), &good.disclosures, kb()).into_bytes(), Step::Parse, |d| matches!(d, Defect::Malformed(m) if m.contains("duplicate"))),
        case("JSON nested too deep", with(&|c| c.payload["deep"] = serde_json::from_str(&deep).unwrap_or(Value::Null)), Step::Parse, |d| matches!(d, Defect::Malformed(m) if m.contains("deeper"))),
        case("kid of another DID", with(&|c| c.header["kid"] = json!(other_issuer.kid)), Step::Parse, |d| matches!(d, Defect::KidNotOfIssuer { .. })),
        case("kid not a DID URL", with(&|c| c.header["kid"] = json!("key-1")), Step::Parse, |d| matches!(d, Defect::KidNotOfIssuer { .. })),
        case("kid without fragment", with(&|c| c.header["kid"] = json!(issuer.did)), Step::Parse, |d| matches!(d, Defect::KidNotOfIssuer { .. })),
        case("iss not a DID", with(&|c| c.payload["iss"] = json!("https://issuer.example")), Step::Parse, |d| matches!(d, Defect::BadClaim { claim: "iss", .. })),
        case("no iat", with(&|c| { c.payload.as_object_mut().unwrap().remove("iat"); }), Step::Parse, |d| matches!(d, Defect::BadClaim { claim: "iat", .. })),
        case("no vct", with(&|c| { c.payload.as_object_mut().unwrap().remove("vct"); }), Step::Parse, |d| matches!(d, Defect::BadClaim { claim: "vct", .. })),
        case("_sd_alg sha-512", with(&|c| c.payload["_sd_alg"] = json!("sha-512")), Step::Parse, |d| matches!(d, Defect::UnsupportedSdAlg(a) if a == "sha-512")),
        case("disclosure sent twice", present(&jwt, &[good.disclosures[0].clone(), good.disclosures[0].clone()], kb()).into_bytes(), Step::Parse, |d| matches!(d, Defect::DuplicateDisclosure { index: 1 })),
        case("disclosure not base64url", present(&jwt, &["!!".into()], kb()).into_bytes(), Step::Parse, |d| matches!(d, Defect::MalformedDisclosure { index: 0, .. })),
        case("disclosure not an array", present(&jwt, &[b64("{\"a\":1}")], kb()).into_bytes(), Step::Parse, |d| matches!(d, Defect::MalformedDisclosure { .. })),
        case("disclosure of 4 elements", present(&jwt, &[b64("[\"s\",\"a\",1,2]")], kb()).into_bytes(), Step::Parse, |d| matches!(d, Defect::MalformedDisclosure { .. })),
        case("empty disclosure", format!("{jwt}~~").into_bytes(), Step::Parse, |d| matches!(d, Defect::MalformedDisclosure { .. })),
        case("disclosure named _sd", with(&|c| { c.payload["_sd"].as_array_mut().unwrap().push(json!(reserved_digest)); c.disclosures.push(reserved.clone()); }), Step::Parse, |d| matches!(d, Defect::ReservedClaimName { .. })),
        // ---- signature ----
        case("signature byte flipped", present(&flipped, &good.disclosures, kb()).into_bytes(), Step::Signature, |d| matches!(d, Defect::BadSignature(_))),
        case("signed by an attacker (jwk header ignored)", present(&sign(&json!({"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": issuer.kid, "jwk": attacker.public().to_jwk()}), &good.payload, &attacker), &good.disclosures, kb()).into_bytes(), Step::Signature, |d| matches!(d, Defect::BadSignature(_))),
        case("kid naming no key of the issuer", with(&|c| c.header["kid"] = json!(format!("{}#key-9", issuer.did))), Step::Signature, |d| matches!(d, Defect::KeyNotAuthorized { .. })),
        case("payload changed after signing", present(&format!("{}.{}.{}", jwt.split('.').next().unwrap(), b64(good.payload.to_string().replace("Example GmbH", "Evil Ltd")), jwt.split('.').nth(2).unwrap()), &good.disclosures, kb()).into_bytes(), Step::Signature, |d| matches!(d, Defect::BadSignature(_))),
        case("unreferenced disclosure", present(&jwt, &[good.disclosures[0].clone(), extra.clone()], kb()).into_bytes(), Step::Signature, |d| matches!(d, Defect::UnreferencedDisclosure { index: 1, claim } if claim == "given_name")),
        case("disclosure overwrites a claim", with(&|c| { c.payload["_sd"].as_array_mut().unwrap().push(json!(overwrite_digest)); c.disclosures.push(overwrite.clone()); }), Step::Signature, |d| matches!(d, Defect::DisclosureOverwritesClaim { name, .. } if name == "company")),
        case("digest repeated", with(&|c| { let first = c.payload["_sd"][0].clone(); c.payload["_sd"].as_array_mut().unwrap().push(first); }), Step::Signature, |d| matches!(d, Defect::DigestRepeated)),
        case("array disclosure in _sd", with(&|c| { let element = c.payload["nationalities"][0]["..."].clone(); c.payload["_sd"].as_array_mut().unwrap().push(element); c.payload["nationalities"] = json!([]); }), Step::Signature, |d| matches!(d, Defect::DisclosureKindMismatch { .. })),
        case("_sd not an array", with(&|c| c.payload["_sd"] = json!("x")), Step::Signature, |d| matches!(d, Defect::MalformedSdData(_))),
        // ---- validity ----
        case("expired", with(&|c| c.payload["exp"] = json!((now() - Duration::minutes(2)).timestamp())), Step::Validity, |d| matches!(d, Defect::Expired { .. })),
        case("not yet valid", with(&|c| c.payload["nbf"] = json!((now() + Duration::minutes(2)).timestamp())), Step::Validity, |d| matches!(d, Defect::NotYetValid { .. })),
        case("issued in the future", with(&|c| c.payload["iat"] = json!((now() + Duration::minutes(2)).timestamp())), Step::Validity, |d| matches!(d, Defect::IssuedInFuture { .. })),
        case("exp not a number", with(&|c| c.payload["exp"] = json!("tomorrow")), Step::Validity, |d| matches!(d, Defect::BadClaim { claim: "exp", .. })),
        // ---- holder binding ----
        case("no key-binding JWT", present(&jwt, &good.disclosures, None).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::KeyBindingMissing)),
        case("KB nonce replayed from another request", present(&jwt, &good.disclosures, Some(Kb { nonce: "old-nonce", ..Kb::new(holder) })).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::NonceMismatch)),
        case("KB for another verifier", present(&jwt, &good.disclosures, Some(Kb { audience: "https://other.example", ..Kb::new(holder) })).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::AudienceMismatch { .. })),
        case("KB stale", present(&jwt, &good.disclosures, Some(Kb { iat: now() - Duration::minutes(7), ..Kb::new(holder) })).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::KeyBindingStale { .. })),
        case("KB from the future", present(&jwt, &good.disclosures, Some(Kb { iat: now() + Duration::minutes(2), ..Kb::new(holder) })).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::KeyBindingStale { .. })),
        case("KB wrong sd_hash", present(&jwt, &good.disclosures, Some(Kb { sd_hash: Some(b64([0u8; 32])), ..Kb::new(holder) })).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::SdHashMismatch)),
        case("KB typ JWT", present(&jwt, &good.disclosures, Some(Kb { typ: "JWT", ..Kb::new(holder) })).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::WrongType { expected: "kb+jwt", .. })),
        case("KB signed by another key", present(&jwt, &good.disclosures, Some(Kb::new(&attacker))).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::KeyBindingSignature(_))),
        case("KB garbage", format!("{}x.y", present(&jwt, &good.disclosures, None)).into_bytes(), Step::HolderBinding, |d| matches!(d, Defect::KeyBindingMalformed(_))),
        case("no cnf", with(&|c| { c.payload.as_object_mut().unwrap().remove("cnf"); }), Step::HolderBinding, |d| matches!(d, Defect::NoHolderKey(_))),
        case("cnf with a private key", with(&|c| c.payload["cnf"]["jwk"]["d"] = json!(b64([1u8; 32]))), Step::HolderBinding, |d| matches!(d, Defect::NoHolderKey(_))),
    ]
}

#[tokio::test]
async fn tampered_presentations_fail_at_the_right_step_for_the_right_reason() {
    let context = offline_context();
    for (issuer_type, holder_type) in [
        (KeyType::Ed25519, KeyType::Ed25519),
        (KeyType::P256, KeyType::P256),
    ] {
        let issuer = Issuer::did_key(issuer_type);
        let holder = SecretKey::generate(holder_type);
        for case in build_cases(&issuer, &holder) {
            let report = verify(&context, &case.presentation, &expectations()).await;
            let name = format!("{} ({issuer_type})", case.name);
            assert_failed(&report, case.step, case.defect, &name);
            // After a failure the network steps never run.
            for step in [Step::Status, Step::Accreditation, Step::Schema] {
                assert!(
                    matches!(report.outcome(step), Outcome::NotChecked(_)),
                    "{name}: {step}"
                );
            }
        }
    }
}

#[tokio::test]
async fn policy_rules_are_applied_last() {
    let context = offline_context();
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let credential = standard(&issuer, &holder, now() - Duration::days(10));
    let jwt = credential.sign(&issuer.key);
    // Discloses given_name only.
    let presentation = present(&jwt, &credential.disclosures[..1], Some(Kb::new(&holder)));
    let check = |policy: Policy, defect: fn(&Defect) -> bool, case: &'static str| {
        let context = &context;
        let presentation = presentation.clone();
        async move {
            let expectations = Expectations {
                policy,
                ..expectations()
            };
            let report = verify(context, presentation.as_bytes(), &expectations).await;
            assert_failed(&report, Step::Policy, defect, case);
        }
    };
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    check(
        Policy {
            accepted_types: vec!["https://other.example/vct".into()],
            ..Policy::default()
        },
        |d| matches!(d, Defect::TypeNotAccepted { .. }),
        "type",
    )
    .await;
    check(
        Policy {
            accepted_issuers: vec![Issuer::did_key(KeyType::P256).did.parse().unwrap()],
            ..Policy::default()
        },
        |d| matches!(d, Defect::IssuerNotAccepted { .. }),
        "issuer",
    )
    .await;
    check(
        Policy {
            max_age: Some(Duration::days(7)),
            ..Policy::default()
        },
        |d| matches!(d, Defect::TooOld { .. }),
        "age",
    )
    .await;
    check(
        Policy {
            required_claims: vec![path(&["family_name"])],
            ..Policy::default()
        },
        |d| matches!(d, Defect::RequiredClaimMissing { path } if path == "family_name"),
        "claim",
    )
    .await;
    check(
        Policy {
            required_claims: vec![path(&["address", "locality"])],
            ..Policy::default()
        },
        |d| matches!(d, Defect::RequiredClaimMissing { .. }),
        "nested claim",
    )
    .await;

    let accepting = Policy {
        accepted_types: vec![crate::support::VCT.into()],
        accepted_issuers: vec![issuer.did.parse().unwrap()],
        max_age: Some(Duration::days(30)),
        required_claims: vec![path(&["given_name"]), path(&["company"])],
    };
    let report = verify(
        &context,
        presentation.as_bytes(),
        &Expectations {
            policy: accepting,
            ..expectations()
        },
    )
    .await;
    assert_valid(&report, &OFFLINE, "accepting policy");
}

#[tokio::test]
async fn without_holder_binding_the_step_is_not_checked_and_bad_expectations_are_errors() {
    let context = offline_context();
    let issuer = Issuer::did_key(KeyType::P256);
    let holder = SecretKey::generate(KeyType::P256);
    let credential = standard(&issuer, &holder, now() - Duration::hours(1));
    let issued = present(&credential.sign(&issuer.key), &credential.disclosures, None);
    let wallet = Expectations {
        holder_binding: HolderBinding::NotRequired,
        ..expectations()
    };
    let report = verify(&context, issued.as_bytes(), &wallet).await;
    assert_valid(
        &report,
        &[
            Step::Status,
            Step::Accreditation,
            Step::Schema,
            Step::HolderBinding,
        ],
        "wallet",
    );

    let empty_nonce = Expectations::presentation(now(), "", AUDIENCE);
    assert!(
        credence_verifier::verify_sd_jwt_vc(issued.as_bytes(), &empty_nonce, &context)
            .await
            .is_err()
    );
    let report = verify(&context, issued.as_bytes(), &expectations()).await;
    assert_eq!(report.verdict(), Verdict::Invalid);
    // The report renders one line per step, and names the verdict.
    let text = report.to_string();
    assert_eq!(text.lines().count(), 10, "{text}");
    assert!(
        text.contains("holder-binding: FAILED: no key-binding JWT"),
        "{text}"
    );
}
