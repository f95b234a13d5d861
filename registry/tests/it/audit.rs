//! `audit`: clean on an honest registry, and each attack caught — an operation row altered, a
//! log entry altered or deleted, a rollback and a split view.

use std::sync::Arc;

use credence_registry::audit::{AuditOptions, AuditReport, audit};
use credence_registry::client::RegistryClient;
use credence_registry::keys::KeyType;
use credence_registry::log::CheckpointSigner;
use credence_registry::ops::OpHash;
use credence_registry::store::{DidStore, WriteLimits};
use credence_registry::{AppOptions, app};

use crate::support::{Owner, backends, serve_on_loopback, sqlite};

fn app_with(store: Arc<dyn DidStore>, signer: Arc<CheckpointSigner>) -> axum::Router {
    app(
        store,
        AppOptions {
            registry_prefix: "/registry",
            limits: WriteLimits::default(),
            web: Default::default(),
            log_signer: signer,
            witnesses: Vec::new(),
            trust_anchors: Vec::new(),
        },
    )
}

/// Creates `count` DIDs (and updates the first) through the registry's HTTP API.
async fn populate(base: &str, count: usize) -> Vec<String> {
    let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
    let mut dids = Vec::new();
    for i in 0..count {
        let owner = Owner::new(KeyType::Ed25519);
        let (did, resolution) = client.create(&owner.genesis()).await.unwrap();
        if i == 0 {
            let head = OpHash::parse(resolution.metadata.version_id.as_deref().unwrap()).unwrap();
            client
                .submit(&did, &owner.update(&head, &owner.rotation))
                .await
                .unwrap();
        }
        dids.push(did.to_string());
    }
    dids
}

async fn run(base: &str, state: Option<&std::path::Path>) -> AuditReport {
    let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
    let options = AuditOptions {
        state_dir: state.map(Into::into),
        log_key: None,
        check_served_dids: true,
        ..AuditOptions::default()
    };
    audit(&client, &options, &|_, _| {})
        .await
        .expect("audit runs")
}

#[track_caller]
fn assert_found(report: &AuditReport, needle: &str) {
    assert!(
        report.discrepancies.iter().any(|d| d.what.contains(needle)),
        "expected a discrepancy mentioning {needle:?}, got {:?}",
        report.discrepancies
    );
}

#[tokio::test]
async fn an_honest_registry_audits_clean_on_both_backends() {
    for backend in backends().await {
        let base = serve_on_loopback(crate::support::test_app(
            backend.store.clone(),
            WriteLimits::default(),
        ))
        .await;
        populate(&base, 3).await;
        let state = tempfile::tempdir().unwrap();
        let report = run(&base, Some(state.path())).await;
        assert!(
            report.is_clean(),
            "{}: {:?}",
            backend.name,
            report.discrepancies
        );
        assert!(report.key_pinned_now);
        assert!(report.entries_verified >= 4);
        // Incremental: the second run checks consistency with the first.
        populate(&base, 1).await;
        let again = run(&base, Some(state.path())).await;
        assert!(again.is_clean(), "{:?}", again.discrepancies);
        assert_eq!(again.previous_size, Some(report.checkpoint_size));
        assert!(!again.key_pinned_now);
    }
}

#[tokio::test]
async fn tampering_with_the_database_is_caught() {
    let backend = sqlite().await;
    let base = serve_on_loopback(crate::support::test_app(
        backend.store.clone(),
        WriteLimits::default(),
    ))
    .await;
    let dids = populate(&base, 3).await;
    let state = tempfile::tempdir().unwrap();
    assert!(run(&base, Some(state.path())).await.is_clean());
    let db = sqlx::SqlitePool::connect(&backend.url).await.unwrap();

    // An operation row altered directly: the registry now serves something the log never saw.
    let original: String =
        sqlx::query_scalar("SELECT operation FROM did_ops WHERE did = $1 AND position = 1")
            .bind(&dids[0])
            .fetch_one(&db)
            .await
            .unwrap();
    let altered = original.replacen("\"services\":[]", "\"services\":[{\"id\":\"x\",\"serviceEndpoint\":\"https://evil.example\",\"type\":\"LinkedDomains\"}]", 1);
    assert_ne!(altered, original, "the tamper must change something");
    sqlx::query("UPDATE did_ops SET operation = $1 WHERE did = $2 AND position = 1")
        .bind(&altered)
        .bind(&dids[0])
        .execute(&db)
        .await
        .unwrap();
    let report = run(&base, None).await;
    assert_found(&report, "as served differs from log entry");
    sqlx::query("UPDATE did_ops SET operation = $1 WHERE did = $2 AND position = 1")
        .bind(&original)
        .bind(&dids[0])
        .execute(&db)
        .await
        .unwrap();
    assert!(run(&base, None).await.is_clean(), "restored");

    // A log entry altered: the entries no longer hash to the signed root.
    let entry: Vec<u8> = sqlx::query_scalar("SELECT entry FROM log_entries WHERE idx = 1")
        .fetch_one(&db)
        .await
        .unwrap();
    let mut forged = entry.clone();
    let last = forged.len() - 2;
    forged[last] ^= 0x01;
    sqlx::query("UPDATE log_entries SET entry = $1 WHERE idx = 1")
        .bind(&forged)
        .execute(&db)
        .await
        .unwrap();
    let report = run(&base, Some(state.path())).await;
    assert_found(&report, "do not hash to the checkpoint's root");
    sqlx::query("UPDATE log_entries SET entry = $1 WHERE idx = 1")
        .bind(&entry)
        .execute(&db)
        .await
        .unwrap();

    // A leaf deleted.
    sqlx::query("DELETE FROM log_entries WHERE idx = 2")
        .execute(&db)
        .await
        .unwrap();
    let report = run(&base, Some(state.path())).await;
    assert_found(&report, "entry bundle could not be fetched");
}

#[tokio::test]
async fn rollback_and_split_view_are_caught() {
    // Two registries under one key that tell different histories.
    let signer = Arc::new(CheckpointSigner::generate("split.credence/log").unwrap().0);
    let (honest, other) = (sqlite().await, sqlite().await);
    let honest_base = serve_on_loopback(app_with(honest.store.clone(), signer.clone())).await;
    let other_base = serve_on_loopback(app_with(other.store.clone(), signer.clone())).await;
    populate(&honest_base, 2).await;
    let state = tempfile::tempdir().unwrap();
    let first = run(&honest_base, Some(state.path())).await;
    assert!(first.is_clean(), "{:?}", first.discrepancies);

    // Smaller than what was audited: rollback.
    populate(&other_base, 1).await;
    assert_eq!(other.store.log_size().await.unwrap(), 2);
    let report = run(&other_base, Some(state.path())).await;
    assert_found(&report, "rollback or split view");
    // Same key, longer, but not an extension of the audited history: split view.
    populate(&other_base, 2).await;
    let report = run(&other_base, Some(state.path())).await;
    assert_found(&report, "history was rewritten");
}
