//! Witnesses: the registry gathers cosignatures when it publishes; a witness refuses to cosign
//! a checkpoint that does not extend what it cosigned before; clients can require k of n.

use std::sync::Arc;

use credence_registry::keys::KeyType;
use credence_registry::log::{self, CheckpointSigner};
use credence_registry::witness::{Witness, WitnessError, verify_cosigned};
use credence_registry_server::store::WriteLimits;
use credence_registry_server::transparency::{Transparency, WitnessEndpoint};
use credence_registry_server::{AppOptions, app};

use crate::support::{Owner, backends, get, post_op, serve_on_loopback, sqlite, test_signer};

/// A witness following the test log, served on loopback.
async fn start_witness(state: &std::path::Path) -> (Arc<Witness>, String) {
    let (_, secret) = CheckpointSigner::generate("witness.test").unwrap();
    let witness = Arc::new(
        Witness::open(
            &secret,
            &[test_signer().verifier_key().to_owned()],
            state.join("witness.json"),
        )
        .unwrap(),
    );
    let base = serve_on_loopback(credence_registry_server::http::witness::router(
        witness.clone(),
    ))
    .await;
    (witness, base)
}

#[tokio::test]
async fn checkpoints_carry_witness_cosignatures_and_k_of_n_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (witness, witness_url) = start_witness(dir.path()).await;
    let backend = sqlite().await;
    let app = app(
        backend.store.clone(),
        AppOptions {
            registry_prefix: "/registry",
            limits: WriteLimits::default(),
            web: Default::default(),
            log_signer: test_signer(),
            witnesses: vec![
                format!("{witness_url}={}", witness.verifier_key())
                    .parse::<WitnessEndpoint>()
                    .unwrap(),
            ],
            trust_anchors: Vec::new(),
            clock: Default::default(),
            checkpoint_interval: std::time::Duration::from_secs(1),
        },
    );
    let log_key = test_signer().verifier_key().to_owned();
    let witness_key = witness.verifier_key().to_owned();
    for round in 0..3 {
        for _ in 0..2 {
            post_op(
                &app,
                "/registry/dids",
                &Owner::new(KeyType::Ed25519).genesis(),
            )
            .await;
        }
        let note = get(&app, "/registry/log/checkpoint")
            .await
            .body
            .as_str()
            .unwrap()
            .to_owned();
        let checkpoint = verify_cosigned(&note, &log_key, std::slice::from_ref(&witness_key), 1)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{note}"));
        assert_eq!(
            witness.latest_size(&checkpoint.origin).await,
            checkpoint.size
        );
        // Two required, one available: refused.
        let (other, _) = CheckpointSigner::generate("other.witness").unwrap();
        let keys = [witness_key.clone(), other.verifier_key().to_owned()];
        assert!(verify_cosigned(&note, &log_key, &keys, 2).is_err());
    }
}

#[tokio::test]
async fn a_witness_refuses_inconsistent_or_forged_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (witness, _) = start_witness(dir.path()).await;
    // Two logs under the same key telling different histories (a split view).
    let (honest, forked) = (sqlite().await, sqlite().await);
    let honest_log = Transparency::new(honest.store.clone(), test_signer());
    let forked_log = Transparency::new(forked.store.clone(), test_signer());
    let honest_app = crate::support::test_app(honest.store.clone(), WriteLimits::default());
    let forked_app = crate::support::test_app(forked.store.clone(), WriteLimits::default());
    for _ in 0..2 {
        post_op(
            &honest_app,
            "/registry/dids",
            &Owner::new(KeyType::Ed25519).genesis(),
        )
        .await;
        post_op(
            &forked_app,
            "/registry/dids",
            &Owner::new(KeyType::Ed25519).genesis(),
        )
        .await;
    }
    honest_log.publish().await.unwrap();
    let honest_note = honest_log.checkpoint().await.unwrap();
    let lines = witness
        .add_checkpoint(&format!("old 0\n\n{honest_note}"))
        .await
        .unwrap();
    assert!(lines.starts_with("— witness.test "), "{lines}");

    // Stale `old`: 409 with the witness's size.
    assert!(matches!(
        witness
            .add_checkpoint(&format!("old 0\n\n{honest_note}"))
            .await,
        Err(WitnessError::SizeMismatch(2))
    ));

    // The fork grows to 3 entries; its proof from 2 cannot be consistent with the honest root.
    post_op(
        &forked_app,
        "/registry/dids",
        &Owner::new(KeyType::Ed25519).genesis(),
    )
    .await;
    forked_log.publish().await.unwrap();
    let forked_note = forked_log.checkpoint().await.unwrap();
    let proof = forked_log.consistency(2, 3).await.unwrap();
    let body = format!("old 2\n{}\n\n{forked_note}", proof.proof.join("\n"));
    assert!(
        matches!(
            witness.add_checkpoint(&body).await,
            Err(WitnessError::Inconsistent(_))
        ),
        "split view must be refused"
    );
    assert_eq!(
        witness.latest_size("test.credence/log").await,
        2,
        "nothing recorded"
    );

    // A checkpoint signed by a key the witness does not know for that log.
    let (stranger, _) = CheckpointSigner::generate("test.credence/log").unwrap();
    let forged = stranger.sign(5, log::leaf_hash(b"x")).unwrap();
    assert!(matches!(
        witness.add_checkpoint(&format!("old 2\n\n{forged}")).await,
        Err(WitnessError::BadSignature(_))
    ));
    let (unknown, _) = CheckpointSigner::generate("unknown.log").unwrap();
    let unknown_note = unknown.sign(1, log::leaf_hash(b"x")).unwrap();
    assert!(matches!(
        witness
            .add_checkpoint(&format!("old 0\n\n{unknown_note}"))
            .await,
        Err(WitnessError::UnknownLog(_))
    ));
    assert!(matches!(
        witness.add_checkpoint("garbage").await,
        Err(WitnessError::Malformed(_))
    ));
    assert!(matches!(
        witness.add_checkpoint("old x\n\nnote").await,
        Err(WitnessError::Malformed(_))
    ));

    // The honest log's extension is accepted with a valid proof.
    post_op(
        &honest_app,
        "/registry/dids",
        &Owner::new(KeyType::Ed25519).genesis(),
    )
    .await;
    honest_log.publish().await.unwrap();
    let next = honest_log.checkpoint().await.unwrap();
    let proof = honest_log.consistency(2, 3).await.unwrap();
    witness
        .add_checkpoint(&format!("old 2\n{}\n\n{next}", proof.proof.join("\n")))
        .await
        .unwrap();
    assert_eq!(witness.latest_size("test.credence/log").await, 3);
}

#[tokio::test]
async fn the_witness_http_api_answers_with_the_spec_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, base) = start_witness(dir.path()).await;
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("{base}/add-checkpoint"))
            .body(body)
            .send()
    };
    assert_eq!(post("nonsense".into()).await.unwrap().status(), 400);
    let (unknown, _) = CheckpointSigner::generate("unknown.log").unwrap();
    let note = unknown.sign(1, log::leaf_hash(b"x")).unwrap();
    assert_eq!(
        post(format!("old 0\n\n{note}")).await.unwrap().status(),
        404
    );
    let note = test_signer().sign(1, log::leaf_hash(b"x")).unwrap();
    let accepted = post(format!("old 0\n\n{note}")).await.unwrap();
    assert_eq!(accepted.status(), 200);
    let conflict = post(format!("old 0\n\n{note}")).await.unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(conflict.headers()["content-type"], "text/x.tlog.size");
    assert_eq!(conflict.text().await.unwrap().trim(), "1");
    assert_eq!(post("x".repeat(70_000)).await.unwrap().status(), 413);
}

/// Regression (issue 8, item 9): after a restart with `--witness` on an idle log, the checkpoint
/// was cosigned only once the log grew, so `audit --min-witnesses 1` failed. The publisher asks
/// a witness when it has not cosigned the latest checkpoint: at start (its first tick) and, for a
/// witness that was down, on a later tick. A cosignature is added once.
#[tokio::test]
async fn an_idle_log_is_cosigned_by_a_witness_added_later_even_one_that_was_down() {
    for backend in backends().await {
        // A log of its own: other tests publish checkpoints on the shared PostgreSQL log.
        let fresh = crate::concurrency::FreshDatabase::new(&backend).await;
        let store = credence_registry_server::store::open(&fresh.url)
            .await
            .unwrap();
        idle_log_is_cosigned(store).await;
        fresh.drop_database().await;
    }
}

async fn idle_log_is_cosigned(store: Arc<dyn credence_registry_server::store::DidStore>) {
    let dir = tempfile::tempdir().unwrap();
    let plain = crate::support::test_app(store.clone(), WriteLimits::default());
    for _ in 0..2 {
        post_op(
            &plain,
            "/registry/dids",
            &Owner::new(KeyType::Ed25519).genesis(),
        )
        .await;
    }
    // Published without any witness; the log then stays idle.
    get(&plain, "/registry/log/checkpoint").await;
    // The witness's address, free now: it is down when the log first asks.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (witness_signer, secret) = CheckpointSigner::generate("witness.test").unwrap();
    let endpoint = format!("http://{address}={}", witness_signer.verifier_key());
    let log = Transparency::with_witnesses(
        store.clone(),
        test_signer(),
        vec![endpoint.parse().unwrap()],
    );
    let size = log.publish().await.unwrap();
    let log_key = test_signer().verifier_key().to_owned();
    let note = store.latest_checkpoint().await.unwrap().unwrap().1;
    assert!(verify_cosigned(&note, &log_key, &[], 0).is_ok());

    let witness = Arc::new(
        Witness::open(
            &secret,
            std::slice::from_ref(&log_key),
            dir.path().join("w.json"),
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let router = credence_registry_server::http::witness::router(witness.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The publisher's next tick, with no write in between.
    assert_eq!(log.publish().await.unwrap(), size);
    let note = store.latest_checkpoint().await.unwrap().unwrap().1;
    let witness_key = witness.verifier_key().to_owned();
    verify_cosigned(&note, &log_key, std::slice::from_ref(&witness_key), 1)
        .unwrap_or_else(|e| panic!("{e}\n{note}"));
    assert_eq!(witness.latest_size("test.credence/log").await, size);
    // A new process (nothing remembered) asks again: the note does not gain a second copy.
    let restarted = Transparency::with_witnesses(
        store.clone(),
        test_signer(),
        vec![endpoint.parse().unwrap()],
    );
    restarted.publish().await.unwrap();
    let again = store.latest_checkpoint().await.unwrap().unwrap().1;
    assert_eq!(again, note);
}

/// Regression (issue 8, item 10): a witness's reply was read whole and appended to the
/// checkpoint; a reply larger than any signature lines is refused while reading.
#[tokio::test]
async fn an_oversized_witness_reply_is_refused() {
    let backend = sqlite().await;
    let plain = crate::support::test_app(backend.store.clone(), WriteLimits::default());
    post_op(
        &plain,
        "/registry/dids",
        &Owner::new(KeyType::Ed25519).genesis(),
    )
    .await;
    let flood = axum::Router::new()
        .fallback(|| async { format!("— flood.witness {}\n", "A".repeat(2 * 1024 * 1024)) });
    let base = serve_on_loopback(flood).await;
    let (flood_key, _) = CheckpointSigner::generate("flood.witness").unwrap();
    let log = Transparency::with_witnesses(
        backend.store.clone(),
        test_signer(),
        vec![
            format!("{base}={}", flood_key.verifier_key())
                .parse()
                .unwrap(),
        ],
    );
    log.publish().await.unwrap();
    let note = backend.store.latest_checkpoint().await.unwrap().unwrap().1;
    assert!(!note.contains("flood.witness"), "{} bytes", note.len());
    assert!(note.len() < 4096, "{} bytes", note.len());
}
