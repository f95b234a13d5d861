//! The transparency log over HTTP: checkpoints, tiles, entry bundles and proofs agree with each
//! other and with an independent RFC 6962 implementation; forged inputs are refused.

use credence_registry::keys::KeyType;
use credence_registry::log::{self, Entry, LogHash, TileRequest};
use credence_registry::ops;
use credence_registry_server::store::WriteLimits;
use sha2::{Digest, Sha256};

use crate::support::{Owner, assert_problem, backends, get, post_op, test_app};

/// RFC 6962 §2.1 Merkle Tree Hash, written from the RFC's recursive definition and sharing no
/// code with `tlog_tiles`: the independent implementation our roots are checked against.
fn rfc6962_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => Sha256::new()
            .chain_update([0u8])
            .chain_update(&leaves[0])
            .finalize()
            .into(),
        n => {
            // k is the largest power of two smaller than n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (left, right) = (rfc6962_root(&leaves[..k]), rfc6962_root(&leaves[k..]));
            Sha256::new()
                .chain_update([1u8])
                .chain_update(left)
                .chain_update(right)
                .finalize()
                .into()
        }
    }
}

#[test]
fn independent_rfc6962_agrees_with_tlog_tiles() {
    for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 1000] {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        let (size, root) = log::root_from_entries(leaves.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(size, n as u64);
        assert_eq!(root.0, rfc6962_root(&leaves), "n = {n}");
    }
}

async fn text(app: &axum::Router, uri: &str) -> String {
    let reply = get(app, uri).await;
    assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
    reply.body.as_str().unwrap_or_default().to_owned()
}

async fn bytes(app: &axum::Router, uri: &str) -> Vec<u8> {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let request = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "{uri}");
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn checkpoints_tiles_and_proofs_agree() {
    for backend in backends().await {
        let app = test_app(backend.store.clone(), WriteLimits::default());
        let key = text(&app, "/registry/log/key").await;
        // Exact sizes only where the test owns the database: PostgreSQL runs share one log
        // with the tests running beside this one.
        let exclusive = backend.exclusive_log_size().await.is_some();
        let before = backend.store.log_size().await.unwrap();
        let first =
            log::verify_checkpoint(&text(&app, "/registry/log/checkpoint").await, key.trim())
                .unwrap();
        assert!(first.size >= before);
        if exclusive {
            assert_eq!(first.size, before);
        }

        // Three DIDs, one of them updated: four entries.
        let mut dids = Vec::new();
        for _ in 0..3 {
            let owner = Owner::new(KeyType::Ed25519);
            let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
            dids.push((owner, created.body));
        }
        let (owner, created) = &dids[0];
        let did = created["didDocument"]["id"].as_str().unwrap();
        let head = ops::OpHash::parse(
            created["didDocumentMetadata"]["versionId"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        post_op(
            &app,
            &format!("/registry/dids/{did}/ops"),
            &owner.update(&head, &owner.rotation),
        )
        .await;

        let checkpoint =
            log::verify_checkpoint(&text(&app, "/registry/log/checkpoint").await, key.trim())
                .unwrap();
        assert_eq!(checkpoint.origin, "test.credence/log");
        assert!(checkpoint.size >= before + 4, "{}", backend.name);
        if exclusive {
            assert_eq!(checkpoint.size, before + 4);
        }

        // The log's own view of each DID operation carries its index.
        let log_view = get(&app, &format!("/registry/dids/{did}/ops")).await.body;
        let indexes: Vec<u64> = log_view["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["logIndex"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes.len(), 2);

        // Inclusion proofs for every new entry verify against the checkpoint.
        for index in before..checkpoint.size {
            let proof = get(
                &app,
                &format!(
                    "/registry/log/proof/inclusion?index={index}&size={}",
                    checkpoint.size
                ),
            )
            .await
            .body;
            let leaf = log::hash_from_base64(proof["leafHash"].as_str().unwrap()).unwrap();
            let path: Vec<LogHash> = proof["proof"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| log::hash_from_base64(h.as_str().unwrap()).unwrap())
                .collect();
            log::check_inclusion(&path, checkpoint.size, checkpoint.root, index, leaf).unwrap();
            // The same proof does not prove another leaf or another position.
            let other = log::leaf_hash(b"something else");
            assert!(
                log::check_inclusion(&path, checkpoint.size, checkpoint.root, index, other)
                    .is_err()
            );
            if checkpoint.size > 1 {
                let elsewhere = (index + 1) % checkpoint.size;
                assert!(
                    log::check_inclusion(&path, checkpoint.size, checkpoint.root, elsewhere, leaf)
                        .is_err()
                );
            }
        }

        // The newer tree extends the older one.
        if first.size > 0 {
            let proof = get(
                &app,
                &format!(
                    "/registry/log/proof/consistency?from={}&to={}",
                    first.size, checkpoint.size
                ),
            )
            .await
            .body;
            let path: Vec<LogHash> = proof["proof"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| log::hash_from_base64(h.as_str().unwrap()).unwrap())
                .collect();
            log::check_consistency(
                &path,
                first.size,
                first.root,
                checkpoint.size,
                checkpoint.root,
            )
            .unwrap();
            assert!(
                log::check_consistency(
                    &path,
                    first.size,
                    log::leaf_hash(b"forged"),
                    checkpoint.size,
                    checkpoint.root
                )
                .is_err()
            );
        }

        // Entry bundles and level-0 tiles reproduce the root, also by the independent RFC 6962.
        let mut entries = Vec::new();
        let mut leaf_hashes = Vec::new();
        let full_tiles = checkpoint.size / 256;
        for n in 0..=full_tiles {
            let width = if n < full_tiles {
                None
            } else {
                Some(checkpoint.size % 256)
            };
            if width == Some(0) {
                break;
            }
            let bundle = TileRequest {
                level: None,
                index: n,
                partial_width: width,
            };
            entries.extend(
                log::decode_bundle(
                    &bytes(&app, &format!("/registry/log/tile/{}", bundle.path())).await,
                )
                .unwrap(),
            );
            let tile = TileRequest {
                level: Some(0),
                ..bundle
            };
            leaf_hashes.extend(
                bytes(&app, &format!("/registry/log/tile/{}", tile.path()))
                    .await
                    .chunks(32)
                    .map(<[u8]>::to_vec),
            );
        }
        assert_eq!(entries.len() as u64, checkpoint.size);
        let (_, root) = log::root_from_entries(entries.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(root, checkpoint.root);
        assert_eq!(rfc6962_root(&entries), checkpoint.root.0);
        for (entry, leaf) in entries.iter().zip(&leaf_hashes) {
            assert_eq!(log::leaf_hash(entry).0.to_vec(), *leaf);
        }
        // Every entry decodes, and the DID chains re-validate from the log alone.
        let ours: Vec<ops::SignedOperation> = entries
            .iter()
            .filter_map(|bytes| match Entry::parse(bytes).unwrap() {
                Entry::DidOperation {
                    did: entry_did,
                    operation,
                    ..
                } if entry_did.as_str() == did => Some(operation),
                _ => None,
            })
            .collect();
        assert_eq!(ops::replay(&ours).unwrap().len(), 2);
    }
}

#[tokio::test]
async fn bad_log_requests_are_4xx() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let owner = Owner::new(KeyType::Ed25519);
    post_op(&app, "/registry/dids", &owner.genesis()).await;
    let check = |uri: &'static str, status: u16, kind: &'static str| {
        let app = app.clone();
        async move { assert_problem(&get(&app, uri).await, status, kind) }
    };
    check(
        "/registry/log/proof/inclusion?index=5&size=1",
        400,
        "invalid-log-request",
    )
    .await;
    check(
        "/registry/log/proof/inclusion?index=0&size=99",
        400,
        "invalid-log-request",
    )
    .await;
    check(
        "/registry/log/proof/inclusion?index=-1&size=1",
        400,
        "invalid-query",
    )
    .await;
    check("/registry/log/proof/inclusion?size=1", 400, "invalid-query").await;
    check(
        "/registry/log/proof/consistency?from=2&to=1",
        400,
        "invalid-log-request",
    )
    .await;
    check(
        "/registry/log/proof/consistency?from=0&to=1",
        400,
        "invalid-log-request",
    )
    .await;
    check("/registry/log/tile/0/000", 404, "tile-not-found").await;
    check("/registry/log/tile/entries/001.p/1", 404, "tile-not-found").await;
    check("/registry/log/tile/0/0", 400, "invalid-log-request").await;
    check("/registry/log/tile/0/x000/000", 400, "invalid-log-request").await;
    check("/registry/log/tile/0/000.p/0", 400, "invalid-log-request").await;
    check("/registry/log/tile/0/000.p/256", 400, "invalid-log-request").await;
    check("/registry/log/tile/entries/abc", 400, "invalid-log-request").await;
    let partial = bytes(&app, "/registry/log/tile/entries/000.p/1").await;
    assert_eq!(log::decode_bundle(&partial).unwrap().len(), 1);
}

#[test]
fn forged_checkpoints_and_bundles_are_refused() {
    let (signer, _) = log::CheckpointSigner::generate("test.credence/log").unwrap();
    let root = log::leaf_hash(b"x");
    let note = signer.sign(7, root).unwrap();
    let checkpoint = log::verify_checkpoint(&note, signer.verifier_key()).unwrap();
    assert_eq!((checkpoint.size, checkpoint.root), (7, root));
    // Change the size line: the signature no longer covers the text.
    let forged = note.replacen("\n7\n", "\n8\n", 1);
    assert!(matches!(
        log::verify_checkpoint(&forged, signer.verifier_key()),
        Err(log::LogError::BadCheckpointSignature(_))
    ));
    // Signed by another key of the same name.
    let (other, _) = log::CheckpointSigner::generate("test.credence/log").unwrap();
    assert!(log::verify_checkpoint(&other.sign(7, root).unwrap(), signer.verifier_key()).is_err());

    let entries = vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
    let bundle = log::encode_bundle(&entries).unwrap();
    assert_eq!(log::decode_bundle(&bundle).unwrap(), entries);
    assert!(
        log::decode_bundle(&bundle[..bundle.len() - 1]).is_err(),
        "truncated inside an entry"
    );
    assert!(
        log::decode_bundle(&bundle[..1]).is_err(),
        "truncated inside a length"
    );
    let reordered =
        log::encode_bundle(&[entries[1].clone(), entries[0].clone(), entries[2].clone()]).unwrap();
    let (_, original_root) = log::root_from_entries(entries.iter().map(Vec::as_slice)).unwrap();
    let (_, reordered_root) = log::root_from_entries(
        log::decode_bundle(&reordered)
            .unwrap()
            .iter()
            .map(Vec::as_slice),
    )
    .unwrap();
    assert_ne!(original_root, reordered_root);
}

#[test]
fn tile_paths_round_trip_in_c2sp_form() {
    for (path, level, index, width) in [
        ("0/000", Some(0), 0, None),
        ("1/x001/234", Some(1), 1234, None),
        ("entries/x001/x234/067", None, 1_234_067, None),
        ("2/005.p/17", Some(2), 5, Some(17)),
    ] {
        let request = TileRequest::parse(path).unwrap();
        assert_eq!(
            (request.level, request.index, request.partial_width),
            (level, index, width)
        );
        assert_eq!(request.path(), path);
    }
}

/// A client that pins the log key gets resolutions it can check: the operation behind the
/// version is in the log, and the document is the one it defines. Tampering and rollback are
/// caught.
#[tokio::test]
async fn verified_remote_resolution_catches_tampering_and_rollback() {
    use credence_registry::client::{LogWatcher, RegistryClient};
    use credence_registry::error::Error;
    use credence_registry::wire::VersionSelector;

    let backend = crate::support::sqlite().await;
    let base =
        crate::support::serve_on_loopback(test_app(backend.store.clone(), WriteLimits::default()))
            .await;
    let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
    let key = crate::support::test_signer().verifier_key().to_owned();
    let watcher = LogWatcher::new(&key, vec![], 0);

    let owner = Owner::new(KeyType::Ed25519);
    let (did, created) = client.create(&owner.genesis()).await.unwrap();
    let v1 = created.metadata.version_id.clone().unwrap();
    client
        .submit(
            &did,
            &owner.update(&ops::OpHash::parse(&v1).unwrap(), &owner.rotation),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        client
            .create(&Owner::new(KeyType::Ed25519).genesis())
            .await
            .unwrap();
    }
    let latest = client
        .resolve_verified(&did, &VersionSelector::Latest, &watcher)
        .await
        .unwrap();
    assert_eq!(latest.document["id"], did.as_str());
    let old = client
        .resolve_verified(&did, &VersionSelector::Id(v1.clone()), &watcher)
        .await
        .unwrap();
    assert_eq!(old.metadata.version_id.as_deref(), Some(v1.as_str()));
    let seen = watcher.last().await.unwrap().size;

    // The cached current state altered in the database: the document no longer matches.
    let db = sqlx::SqlitePool::connect(&backend.url).await.unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM dids WHERE did = $1")
        .bind(did.as_str())
        .fetch_one(&db)
        .await
        .unwrap();
    let multikey = owner.signing.public().to_multikey();
    let other = Owner::new(KeyType::Ed25519).signing.public().to_multikey();
    sqlx::query("UPDATE dids SET state = $1 WHERE did = $2")
        .bind(state.replace(&multikey, &other))
        .bind(did.as_str())
        .execute(&db)
        .await
        .unwrap();
    let refused = client
        .resolve_verified(&did, &VersionSelector::Latest, &watcher)
        .await;
    assert!(
        matches!(refused, Err(Error::LogVerification(_))),
        "{refused:?}"
    );
    // The trusting client is fooled: that is what the proof is for.
    assert_eq!(
        client
            .resolve(&did, &VersionSelector::Latest)
            .await
            .unwrap()
            .document["verificationMethod"][0]["publicKeyMultibase"],
        other
    );

    // The stored operation altered: no longer the logged leaf.
    let operation: String =
        sqlx::query_scalar("SELECT operation FROM did_ops WHERE did = $1 AND position = 0")
            .bind(did.as_str())
            .fetch_one(&db)
            .await
            .unwrap();
    sqlx::query("UPDATE did_ops SET operation = $1 WHERE did = $2 AND position = 0")
        .bind(operation.replace(&multikey, &other))
        .bind(did.as_str())
        .execute(&db)
        .await
        .unwrap();
    let refused = client
        .resolve_verified(&did, &VersionSelector::Id(v1), &watcher)
        .await;
    assert!(
        matches!(refused, Err(Error::LogVerification(_))),
        "{refused:?}"
    );

    // Another registry under the same key with a shorter history: a rollback for this client.
    let small = crate::support::sqlite().await;
    let small_base =
        crate::support::serve_on_loopback(test_app(small.store.clone(), WriteLimits::default()))
            .await;
    let small_client = RegistryClient::new(&format!("{small_base}/registry")).unwrap();
    let (small_did, _) = small_client
        .create(&Owner::new(KeyType::Ed25519).genesis())
        .await
        .unwrap();
    assert!(small.store.log_size().await.unwrap() < seen);
    let refused = small_client
        .resolve_verified(&small_did, &VersionSelector::Latest, &watcher)
        .await;
    assert!(
        matches!(&refused, Err(Error::LogVerification(detail)) if detail.contains("rollback")),
        "{refused:?}"
    );
}

/// Issue 10: reads never sign. Without a publisher, a read that needs a checkpoint newer than
/// the stored one waits, then answers `checkpoint-pending` (503) with the stored checkpoint
/// unchanged; with the publisher running, such a read wakes it and is answered promptly, long
/// before the publisher's interval.
#[tokio::test]
async fn reads_never_sign_a_checkpoint_the_publisher_does() {
    use credence_registry_server::transparency::{Transparency, spawn_publisher};
    use std::time::Duration;
    for shared in backends().await {
        let name = shared.name;
        // A database of its own: the shared test database has other tests' publishers.
        let fresh = crate::concurrency::FreshDatabase::new(&shared).await;
        let store = credence_registry_server::store::open(&fresh.url)
            .await
            .unwrap();
        // No app and so no publisher of its own: the test decides who publishes.
        let registry = credence_registry_server::registry::Registry::new(
            store.clone(),
            WriteLimits::default(),
        );
        let create = || async {
            let genesis = Owner::new(KeyType::Ed25519).genesis();
            let body = serde_json::to_vec(&genesis).unwrap();
            registry.submit(None, &body).await.unwrap();
            store.log_size().await.unwrap()
        };
        let log = std::sync::Arc::new(
            Transparency::new(store.clone(), crate::support::test_signer())
                .with_covering_wait(Duration::from_millis(500)),
        );
        let first = create().await;
        assert_eq!(log.publish().await.unwrap(), first, "{name}");
        let stored_before = store.latest_checkpoint().await.unwrap();
        assert_eq!(stored_before.as_ref().map(|(size, _)| *size), Some(first));

        let second = create().await;
        let error = log.checkpoint().await.unwrap_err();
        assert!(
            matches!(error, credence_registry::error::Error::CheckpointPending(n) if n == second),
            "{name}: {error:?}"
        );
        assert_eq!(error.status(), 503);
        // The read wrote nothing: the stored checkpoint is still the one of size `first`.
        assert_eq!(
            store.latest_checkpoint().await.unwrap(),
            stored_before,
            "{name}"
        );

        // A publisher whose interval never comes round within the test: after its first
        // tick, only a waiting read can make it sign.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let publisher = spawn_publisher(log.clone(), Duration::from_secs(3600), stopped);
        log.checkpoint().await.unwrap();
        let third = create().await;
        let note = log.checkpoint().await.unwrap();
        let (stored_size, stored_note) = store.latest_checkpoint().await.unwrap().unwrap();
        assert_eq!(stored_size, third, "{name}");
        assert_eq!(stored_note, note, "{name}");
        stop.send(true).unwrap();
        publisher.await.unwrap();
        drop((registry, log, store));
        fresh.drop_database().await;
    }
}
