//! The registry-backed steps against the real registry server on loopback (SQLite in a
//! temporary directory, a manual clock, a trust anchor): the issuer resolved as of issuance
//! across a key rotation, Token Status List statuses and their caching, accreditation at the
//! issuance time, the registry's schema; and "could not check" when nothing answers.

use chrono::{DateTime, Duration, Utc};
use credence_registry::client::{RegistryClient, plain_http_client};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::owner::OwnerKeys;
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_registry::trust::AccreditationClaims;
use credence_registry::{ops, signed};
use credence_verifier::{Context, Defect, Outcome, Step, Verdict};
use serde_json::{Value, json};

use crate::support::{
    Issuer, Kb, VCT, assert_failed, assert_valid, context, expectations, kid, now, offline_context,
    present, standard, start_registry, status_list, t0, verify,
};

const OTHER_VCT: &str = "https://credence.example/vct/e-invoice";

/// The standard credential from `key` as `did`, issued at `iat`, with status entry `index` in
/// `uri`, fully disclosed, with a KB-JWT made at `kb_at`.
fn credential(
    did: &Did,
    key: &SecretKey,
    iat: DateTime<Utc>,
    uri: &str,
    index: u64,
    change: impl Fn(&mut Value),
) -> (String, SecretKey) {
    let issuer = Issuer {
        key: key.clone(),
        did: did.to_string(),
        kid: kid(did),
    };
    let holder = SecretKey::generate(KeyType::Ed25519);
    let mut unsigned = standard(&issuer, &holder, iat);
    unsigned.payload["status"] = json!({"status_list": {"idx": index, "uri": uri}});
    change(&mut unsigned.payload);
    let jwt = unsigned.sign(key);
    (
        present(&jwt, &unsigned.disclosures, Some(Kb::new(&holder))),
        holder,
    )
}

#[tokio::test]
async fn registry_backed_steps_status_accreditation_schema_and_rotation() {
    let anchor = OwnerKeys::generate(KeyType::Ed25519);
    let anchor_did = ops::did_for_genesis(&anchor.genesis(vec![]));
    let issuer = OwnerKeys::generate(KeyType::P256);
    let issuer_genesis = issuer.genesis(vec![]);
    let issuer_did = ops::did_for_genesis(&issuer_genesis);
    let registry = start_registry(vec![anchor_did.clone()]).await;
    let client = &registry.client;
    client.create(&anchor.genesis(vec![])).await.unwrap();
    client.create(&issuer_genesis).await.unwrap();

    // The anchor accredits the issuer for VCT and publishes VCT's schema.
    let accreditation = AccreditationClaims::new(
        issuer_did.clone(),
        vec![VCT.parse().expect("a credential type")],
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
    let schema = json!({
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["iss", "vct", "given_name", "company"],
            "properties": {"given_name": {"type": "string"}, "company": {"type": "string"}},
        },
        "typeMetadata": {"vct": VCT, "display": [{"lang": "en", "name": "Business licence"}]},
    });
    client
        .publish_schema(&signed::sign(&schema, &anchor.signing, &kid(&anchor_did)))
        .await
        .unwrap();

    // The issuer's status list: entry 5 revoked, 6 suspended, 7 an application-specific 3.
    let uri = format!(
        "{}/registry/status-lists/{issuer_did}/list-1",
        registry.base
    );
    client
        .publish_status_list(&status_list(
            &issuer_did,
            &issuer.signing,
            &uri,
            t0(),
            &[(5, 1), (6, 2), (7, 3)],
        ))
        .await
        .unwrap();

    let context = context(&registry);
    let iat = t0() + Duration::minutes(1);
    let check = |index: u64, change: fn(&mut Value)| {
        credential(&issuer_did, &issuer.signing, iat, &uri, index, change).0
    };
    let run = |presentation: String| {
        let context = &context;
        async move { verify(context, presentation.as_bytes(), &expectations()).await }
    };

    // Valid: every step passed, against the registry.
    assert_valid(&run(check(0, |_| {})).await, &[], "valid");

    // Status, as the list says.
    assert_failed(
        &run(check(5, |_| {})).await,
        Step::Status,
        |d| matches!(d, Defect::Revoked { index: 5, .. }),
        "revoked",
    );
    assert_failed(
        &run(check(6, |_| {})).await,
        Step::Status,
        |d| matches!(d, Defect::Suspended { index: 6, .. }),
        "suspended",
    );
    assert_failed(
        &run(check(7, |_| {})).await,
        Step::Status,
        |d| matches!(d, Defect::OtherStatus { value: 3, .. }),
        "status 3",
    );
    assert_failed(
        &run(check(200_000, |_| {})).await,
        Step::Status,
        |d| matches!(d, Defect::BadStatusEntry(_)),
        "index outside the list",
    );
    assert_failed(
        &run(check(0, |p| {
            p["status"] = json!({"status_list": {"idx": -1, "uri": "x"}})
        }))
        .await,
        Step::Status,
        |d| matches!(d, Defect::BadStatusEntry(_)),
        "malformed entry",
    );

    // Accreditation: not for another type (which has no schema either).
    let report = run(check(0, |p| p["vct"] = json!(OTHER_VCT))).await;
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

    // Schema: a claim of the wrong type fails; a required claim the holder withheld does not.
    let report = run(check(0, |p| p["company"] = json!(42))).await;
    assert_failed(
        &report,
        Step::Schema,
        |d| matches!(d, Defect::SchemaViolation { problems, .. } if problems.len() == 1 && problems[0].contains("/company")),
        "schema",
    );
    assert!(
        !report.to_string().contains("42"),
        "no claim value in the report: {report}"
    );
    let (full, holder) = credential(&issuer_did, &issuer.signing, iat, &uri, 0, |_| {});
    let parts: Vec<&str> = full.split('~').collect();
    let family_name_only = present(parts[0], &[parts[2].to_owned()], Some(Kb::new(&holder)));
    assert_valid(&run(family_name_only).await, &[], "given_name withheld");

    // Issued before the issuer's DID existed.
    let early = credential(
        &issuer_did,
        &issuer.signing,
        t0() - Duration::hours(1),
        &uri,
        0,
        |_| {},
    )
    .0;
    assert_failed(
        &run(early).await,
        Step::Issuer,
        |d| matches!(d, Defect::IssuerUnknown { .. }),
        "before genesis",
    );

    // Key rotation at t1: the issuer's #key-1 is a new key from then on.
    let t1 = t0() + Duration::minutes(30);
    registry.time.set(t1);
    let rotated = OwnerKeys::generate(KeyType::P256);
    client
        .submit(
            &issuer_did,
            &issuer.update(issuer_genesis.hash(), &rotated, vec![]),
        )
        .await
        .unwrap();
    // The list is republished under the new key, now revoking entry 0.
    registry.time.set(t1 + Duration::seconds(2));
    client
        .publish_status_list(&status_list(
            &issuer_did,
            &rotated.signing,
            &uri,
            t1 + Duration::seconds(1),
            &[(0, 1)],
        ))
        .await
        .unwrap();

    // The warm context still holds the old list until its ttl (600 s) runs out at `now`.
    assert_valid(
        &run(check(1, |_| {})).await,
        &[],
        "old key, issued before the rotation (cached list)",
    );
    let later = now() + Duration::seconds(601);
    let (stale_ok, holder) = credential(&issuer_did, &issuer.signing, iat, &uri, 0, |_| {});
    let with_kb_at = |presentation: &str, holder: &SecretKey, at: DateTime<Utc>| {
        let (sd_jwt, _) = presentation.rsplit_once('~').unwrap();
        let mut parts: Vec<String> = sd_jwt.split('~').map(str::to_owned).collect();
        let jwt = parts.remove(0);
        present(
            &jwt,
            &parts,
            Some(Kb {
                iat: at - Duration::seconds(10),
                ..Kb::new(holder)
            }),
        )
    };
    let mut later_expectations = expectations();
    later_expectations.now = later;
    let report = verify(
        &context,
        with_kb_at(&stale_ok, &holder, later).as_bytes(),
        &later_expectations,
    )
    .await;
    assert_failed(
        &report,
        Step::Status,
        |d| matches!(d, Defect::Revoked { index: 0, .. }),
        "list refetched after its ttl",
    );

    // A fresh context, so nothing is cached: resolution as of issuance decides the key.
    let fresh = crate::support::context(&registry);
    let after = t1 + Duration::minutes(1);
    let fresh_run = |presentation: String| {
        let fresh = &fresh;
        async move { verify(fresh, presentation.as_bytes(), &expectations()).await }
    };
    let old_before = credential(&issuer_did, &issuer.signing, iat, &uri, 1, |_| {}).0;
    assert_valid(
        &fresh_run(old_before).await,
        &[],
        "old key, before the rotation",
    );
    let old_after = credential(&issuer_did, &issuer.signing, after, &uri, 1, |_| {}).0;
    assert_failed(
        &fresh_run(old_after).await,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "old key after the rotation",
    );
    let new_backdated = credential(&issuer_did, &rotated.signing, iat, &uri, 1, |_| {}).0;
    assert_failed(
        &fresh_run(new_backdated).await,
        Step::Signature,
        |d| matches!(d, Defect::BadSignature(_)),
        "new key backdated",
    );
    let new_after = credential(&issuer_did, &rotated.signing, after, &uri, 1, |_| {}).0;
    assert_valid(
        &fresh_run(new_after.clone()).await,
        &[],
        "new key after the rotation",
    );

    // Deactivation at t2: what the DID signed before still verifies (it is resolved as of
    // issuance); nothing it claims to sign afterwards does.
    let t2 = t1 + Duration::minutes(10);
    registry.time.set(t2);
    let head = client.owner_state(&issuer_did).await.unwrap().head;
    client
        .submit(&issuer_did, &rotated.deactivate(head))
        .await
        .unwrap();
    let deactivated = crate::support::context(&registry);
    let run = |presentation: String| {
        let deactivated = &deactivated;
        async move { verify(deactivated, presentation.as_bytes(), &expectations()).await }
    };
    // Issued before the deactivation: genuinely issued (issuer and signature pass, resolved
    // as of issuance), but a deactivated issuer keeps no status list, so the credential cannot
    // be shown current: the status step fails, naming the deactivation (the decided rule,
    // `pipeline::ListError::IssuerDeactivated`), rather than "could not check".
    let report = run(new_after).await;
    assert_eq!(report.outcome(Step::Issuer), &Outcome::Passed);
    assert_eq!(report.outcome(Step::Signature), &Outcome::Passed);
    assert!(
        matches!(
            report.outcome(Step::Status),
            Outcome::Failed(Defect::IssuerDeactivated { issuer, since: Some(_) })
                if *issuer == issuer_did.to_string()
        ),
        "{report}"
    );
    assert!(
        report.to_string().contains("has deactivated its DID"),
        "{report}"
    );
    let after_deactivation = t2 + Duration::minutes(1);
    let posthumous = credential(
        &issuer_did,
        &rotated.signing,
        after_deactivation,
        &uri,
        1,
        |_| {},
    )
    .0;
    assert_failed(
        &run(posthumous).await,
        Step::Issuer,
        |d| matches!(d, Defect::IssuerUnknown { detail, .. } if detail.contains("deactivated")),
        "issued after the deactivation",
    );
}

/// A free loopback port nobody listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_registry_or_status_list_is_could_not_check_never_invalid() {
    let port = closed_port().await;
    // A did:credence issuer, the registry down: the issuer step could not be checked.
    let client = RegistryClient::new(&format!("http://127.0.0.1:{port}/registry")).unwrap();
    let down = Context::new(
        Resolver::new(CredenceSource::Remote(client.clone()), Default::default()),
        Some(client),
        plain_http_client().unwrap(),
    );
    let key = SecretKey::generate(KeyType::Ed25519);
    let did: Did = "did:credence:aaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap();
    let (presentation, _) = credential(
        &did,
        &key,
        now() - Duration::hours(1),
        "http://127.0.0.1:1/x",
        0,
        |_| {},
    );
    let report = verify(&down, presentation.as_bytes(), &expectations()).await;
    assert_eq!(report.verdict(), Verdict::CouldNotCheck, "{report}");
    assert!(
        matches!(report.outcome(Step::Issuer), Outcome::CouldNotCheck(why) if why.contains("unreachable")),
        "{report}"
    );
    assert!(report.first_failure().is_none());

    // A did:key issuer whose status list does not answer: only the status step.
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let uri = format!(
        "http://127.0.0.1:{port}/registry/status-lists/{}/list-1",
        issuer.did
    );
    let holder = SecretKey::generate(KeyType::Ed25519);
    let mut unsigned = standard(&issuer, &holder, now() - Duration::hours(1));
    unsigned.payload["status"] = json!({"status_list": {"idx": 0, "uri": uri}});
    let presentation = present(
        &unsigned.sign(&issuer.key),
        &unsigned.disclosures,
        Some(Kb::new(&holder)),
    );
    let report = verify(&offline_context(), presentation.as_bytes(), &expectations()).await;
    assert_eq!(report.verdict(), Verdict::CouldNotCheck, "{report}");
    assert!(
        matches!(report.outcome(Step::Status), Outcome::CouldNotCheck(why) if why.contains("could not be fetched")),
        "{report}"
    );
    for step in [
        Step::Parse,
        Step::Issuer,
        Step::Signature,
        Step::Validity,
        Step::HolderBinding,
        Step::Policy,
    ] {
        assert_eq!(report.outcome(step), &Outcome::Passed, "{step}: {report}");
    }
}
