//! `audit`: clean on an honest registry, and each attack caught — an operation row altered, a
//! log entry altered or deleted, a rollback and a split view.

use std::sync::Arc;

use credence_registry::audit::{AuditOptions, AuditReport, audit};
use credence_registry::client::RegistryClient;
use credence_registry::keys::KeyType;
use credence_registry::log::{CheckpointSigner, TileRequest};
use credence_registry::ops::OpHash;
use credence_registry_server::store::{DidStore, WriteLimits};
use credence_registry_server::{AppOptions, app};

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
            clock: Default::default(),
            checkpoint_interval: std::time::Duration::from_secs(1),
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
    // A fresh auditor (no mirror: a mirror holds entries already verified, and is not refetched).
    let report = run(&base, None).await;
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
    let report = run(&base, None).await;
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

/// Counts requests for entry bundles, and answers `oversized` bundles with more bytes than any
/// client accepts (a stand-in for a registry whose bundles grew past the bound).
fn counting_app(
    store: Arc<dyn DidStore>,
    fetched: Arc<std::sync::atomic::AtomicUsize>,
    oversized: &'static [&'static str],
) -> axum::Router {
    crate::support::test_app(store, WriteLimits::default()).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let fetched = fetched.clone();
            async move {
                let path = request.uri().path().to_owned();
                if path.contains("/log/tile/entries/") {
                    fetched.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if oversized.iter().any(|bundle| path.ends_with(bundle)) {
                        let too_many = credence_registry::client::MAX_TILE_RESPONSE_BYTES + 1;
                        return axum::response::IntoResponse::into_response(vec![0u8; too_many]);
                    }
                }
                next.run(request).await
            }
        },
    ))
}

/// Regression (issue 8, item 9): `credence audit` did not resume: the second run reported 0
/// entries from the local mirror (a partial bundle was never kept) and fetched them again.
#[tokio::test]
async fn a_second_audit_reads_its_mirror_and_fetches_nothing_again() {
    for backend in backends().await {
        let fetched = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let base =
            serve_on_loopback(counting_app(backend.store.clone(), fetched.clone(), &[])).await;
        populate(&base, 3).await;
        let state = tempfile::tempdir().unwrap();
        let first = run(&base, Some(state.path())).await;
        assert!(
            first.is_clean(),
            "{}: {:?}",
            backend.name,
            first.discrepancies
        );
        assert!(fetched.load(std::sync::atomic::Ordering::SeqCst) > 0);
        fetched.store(0, std::sync::atomic::Ordering::SeqCst);
        let second = run(&base, Some(state.path())).await;
        assert!(
            second.is_clean(),
            "{}: {:?}",
            backend.name,
            second.discrepancies
        );
        if backend.exclusive_log_size().await.is_some() {
            // This test owns the log: nothing changed, so everything comes from the mirror.
            assert_eq!(second.entries_mirrored_from_cache, second.checkpoint_size);
            assert_eq!(
                fetched.load(std::sync::atomic::Ordering::SeqCst),
                0,
                "refetched"
            );
        } else {
            // A shared log grows meanwhile; what the first run saw in full bundles is mirrored.
            let full = first.checkpoint_size / credence_registry::log::TILE_WIDTH
                * credence_registry::log::TILE_WIDTH;
            assert!(
                second.entries_mirrored_from_cache >= full,
                "{}",
                backend.name
            );
        }
    }
}

/// Regression (issue 8, item 10): one entry bundle larger than the client accepts (or that could
/// not be fetched) ended every later audit. The audit reports it and verifies everything else;
/// the tree still checks against the root through the bundle's hash tile.
#[tokio::test]
async fn an_unfetchable_entry_bundle_does_not_stop_the_audit() {
    let backend = sqlite().await;
    let fetched = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let base = serve_on_loopback(counting_app(
        backend.store.clone(),
        fetched,
        &["/log/tile/entries/000"],
    ))
    .await;
    let width = credence_registry::log::TILE_WIDTH as usize;
    populate(&base, width + 3).await;
    let report = run(&base, None).await;
    let size = report.checkpoint_size;
    assert!(size > width as u64, "{size}");
    assert_found(&report, "entry bundle could not be fetched");
    assert_eq!(
        report.discrepancies.len(),
        1,
        "only the unfetchable bundle is a finding: {:?}",
        report.discrepancies
    );
    assert_eq!(report.entries_verified, size - width as u64);
    assert!(report.dids_checked >= 3, "{report:?}");
}

/// Regression (issue 8, item 10): client responses were read whole before the size check, so an
/// endless body held the client until its timeout. Refused once the cap is passed.
#[tokio::test]
async fn an_endless_registry_response_is_cut_off_at_the_cap() {
    use futures::StreamExt as _;
    let endless = axum::Router::new().fallback(|| async {
        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        axum::body::Body::from_stream(futures::stream::repeat(chunk).map(Ok::<_, std::io::Error>))
    });
    let base = serve_on_loopback(endless).await;
    let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
    let started = std::time::Instant::now();
    let error = client.checkpoint().await.unwrap_err();
    assert!(error.to_string().contains("too large"), "{error}");
    let tile = TileRequest {
        level: None,
        index: 0,
        partial_width: None,
    };
    let error = client.tile(&tile).await.unwrap_err();
    assert!(error.to_string().contains("too large"), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(14),
        "cut off at the cap, not by the 15 s timeout"
    );
}
