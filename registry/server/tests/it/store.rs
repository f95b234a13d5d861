//! The storage conformance suite: the same checks against SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::Utc;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{self, DidState, SignedOperation};
use credence_registry_server::store::{Append, DidStore, StoreError, WriteLimits};

use crate::support::{Owner, backends};

async fn append(
    store: &Arc<dyn DidStore>,
    current: Option<&DidState>,
    op: &SignedOperation,
    limits: WriteLimits,
) -> Result<DidState, StoreError> {
    let next = ops::apply(current, op).expect("test builds valid operations");
    let position = match current {
        Some(state) => store
            .current(&state.did)
            .await?
            .map_or(0, |record| record.op_count),
        None => 0,
    };
    let log_entry = credence_registry::log::did_operation_entry(&next.did, position, op);
    store
        .append(Append {
            did: &next.did,
            expected_head: current.map(|s| &s.head),
            operation: op,
            hash: &op.hash(),
            new_state: &next,
            now: Utc::now(),
            limits,
            log_entry: &log_entry,
        })
        .await?;
    Ok(next)
}

#[tokio::test]
async fn conformance() {
    for backend in backends().await {
        let store = &backend.store;
        let limits = WriteLimits::default();
        store.ping().await.unwrap();
        let owner = Owner::new(KeyType::Ed25519);
        let genesis = owner.genesis();
        let v1 = append(store, None, &genesis, limits).await.unwrap();

        // The cached state and the log agree.
        let record = store.current(&v1.did).await.unwrap().unwrap();
        assert_eq!(record.state, v1);
        assert_eq!(record.op_count, 1);
        let log = store.ops(&v1.did).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].operation, genesis);
        assert_eq!(log[0].hash, genesis.hash());
        assert_eq!(log[0].position, 0);

        // A second genesis for the same DID.
        assert!(
            matches!(
                append(store, None, &genesis, limits).await,
                Err(StoreError::AlreadyExists)
            ),
            "{}",
            backend.name
        );

        let update = owner.update(&v1.head, &owner.rotation);
        let v2 = append(store, Some(&v1), &update, limits).await.unwrap();
        let record = store.current(&v1.did).await.unwrap().unwrap();
        assert_eq!(
            (record.state.head.clone(), record.op_count),
            (v2.head.clone(), 2)
        );
        assert!(record.updated >= record.created);

        // A writer that read the old head loses.
        let late = owner.update(&v1.head, &SecretKey::generate(KeyType::Ed25519));
        let moved = append(store, Some(&v1), &late, limits).await;
        assert!(
            matches!(moved, Err(StoreError::HeadMoved { ref head }) if *head == v2.head.as_str()),
            "{moved:?}"
        );

        // A non-genesis write for an unknown DID.
        let stranger = Owner::new(KeyType::Ed25519);
        let stranger_v1 = ops::apply(None, &stranger.genesis()).unwrap();
        let orphan = stranger.update(&stranger_v1.head, &stranger.rotation);
        assert!(matches!(
            append(store, Some(&stranger_v1), &orphan, limits).await,
            Err(StoreError::NotFound)
        ));

        // Write limits count this DID's recent operations.
        let tight = WriteLimits {
            per_hour: 2,
            per_day: 10,
        };
        let limited = append(
            store,
            Some(&v2),
            &owner.update(&v2.head, &owner.rotation),
            tight,
        )
        .await;
        assert!(
            matches!(
                limited,
                Err(StoreError::RateLimited {
                    retry_after_secs: 3600,
                    ..
                })
            ),
            "{limited:?}"
        );
        let daily = WriteLimits {
            per_hour: 10,
            per_day: 2,
        };
        let limited = append(
            store,
            Some(&v2),
            &owner.update(&v2.head, &owner.rotation),
            daily,
        )
        .await;
        assert!(
            matches!(
                limited,
                Err(StoreError::RateLimited {
                    retry_after_secs: 86_400,
                    ..
                })
            ),
            "{limited:?}"
        );

        // Nothing from the refused attempts was written.
        assert_eq!(store.ops(&v1.did).await.unwrap().len(), 2);
        assert_eq!(store.ops(&stranger_v1.did).await.unwrap().len(), 0);
        assert!(store.current(&stranger_v1.did).await.unwrap().is_none());
    }
}

/// The store closes cleanly here; surviving a crash (kill -9) is the end-to-end tests' job
/// (`acknowledged_creates_survive_kill_9`, `crash_during_writes_on_*`).
#[tokio::test]
async fn acknowledged_writes_are_read_back_after_closing_and_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("reopen.db").display());
    let owner = Owner::new(KeyType::Ed25519);
    let did = {
        let store = credence_registry_server::store::open(&url).await.unwrap();
        append(&store, None, &owner.genesis(), WriteLimits::default())
            .await
            .unwrap()
            .did
    };
    let store = credence_registry_server::store::open(&url).await.unwrap();
    assert_eq!(store.ops(&did).await.unwrap().len(), 1);
}

/// Group commit: one transaction, each append atomic on its own. A refused append in the
/// middle leaves no trace (no operation, no leaf, no hash) and does not stop the others.
#[tokio::test]
async fn a_batch_commits_the_good_appends_and_drops_the_refused_one() {
    for backend in backends().await {
        let store = &backend.store;
        let limits = WriteLimits::default();
        let owner = Owner::new(KeyType::Ed25519);
        let v1 = append(store, None, &owner.genesis(), limits).await.unwrap();
        let first = owner.update(&v1.head, &owner.rotation);
        let fork = owner.update(&v1.head, &SecretKey::generate(KeyType::Ed25519));
        let other = Owner::new(KeyType::P256);
        let other_genesis = other.genesis();
        let states = [
            ops::apply(Some(&v1), &first).unwrap(),
            ops::apply(Some(&v1), &fork).unwrap(),
            ops::apply(None, &other_genesis).unwrap(),
        ];
        let entries = [
            credence_registry::log::did_operation_entry(&v1.did, 1, &first),
            credence_registry::log::did_operation_entry(&v1.did, 1, &fork),
            credence_registry::log::did_operation_entry(&states[2].did, 0, &other_genesis),
        ];
        let operations = [&first, &fork, &other_genesis];
        let hashes: Vec<_> = operations.iter().map(|op| op.hash()).collect();
        let heads = [Some(&v1.head), Some(&v1.head), None];
        let size_before = store.log_size().await.unwrap();
        let batch: Vec<Append<'_>> = (0..3)
            .map(|i| Append {
                did: &states[i].did,
                expected_head: heads[i],
                operation: operations[i],
                hash: &hashes[i],
                new_state: &states[i],
                now: Utc::now(),
                limits,
                log_entry: &entries[i],
            })
            .collect();
        let results = store.append_batch(&batch).await.unwrap();
        assert!(results[0].is_ok(), "{}: {:?}", backend.name, results[0]);
        assert!(
            matches!(results[1], Err(StoreError::HeadMoved { .. })),
            "{:?}",
            results[1]
        );
        assert!(results[2].is_ok(), "{:?}", results[2]);
        // The two good appends took consecutive log indexes; the refused one took none.
        let (a, c) = (*results[0].as_ref().unwrap(), *results[2].as_ref().unwrap());
        assert_eq!(c, a + 1, "{}", backend.name);
        assert!(a >= size_before);
        assert_eq!(store.ops(&v1.did).await.unwrap().len(), 2);
        assert_eq!(store.ops(&states[2].did).await.unwrap().len(), 1);
        let entries_there = store.entries(a, 2).await.unwrap();
        assert_eq!(entries_there, vec![entries[0].clone(), entries[2].clone()]);
    }
}

/// A create whose `publicKeyJwk` carries `member` as an extra `n`: a number JCS rewrites
/// (integers above 2^53 are rounded, `1.0` is written `1`).
fn genesis_with_jwk_member(owner: &Owner, member: serde_json::Value) -> SignedOperation {
    let mut jwk = owner.signing.public().to_jwk();
    jwk["n"] = member;
    let method = ops::VerificationMethodSpec {
        id: "key-1".into(),
        kind: "JsonWebKey".into(),
        public_key_multibase: None,
        public_key_jwk: Some(jwk),
        purposes: vec![ops::Purpose::AssertionMethod],
    };
    SignedOperation::sign(
        ops::OperationBody::Create {
            rotation_keys: vec![owner.rotation.public().to_did_key()],
            verification_methods: vec![method],
            services: vec![],
        },
        &owner.rotation,
    )
}

/// Numbers JCS rewrites, as JSON text sent to the registry.
const REWRITTEN_NUMBERS: [&str; 2] = ["9007199254740993", "1.0"];

/// The cached state is the one the stored (canonical, logged) operations define, even for
/// numbers whose canonical form differs from what was sent.
#[tokio::test]
async fn the_cached_state_is_the_one_the_stored_operations_define() {
    for backend in backends().await {
        for number in REWRITTEN_NUMBERS {
            let owner = Owner::new(KeyType::Ed25519);
            let genesis = genesis_with_jwk_member(&owner, serde_json::from_str(number).unwrap());
            let state = append(&backend.store, None, &genesis, WriteLimits::default())
                .await
                .unwrap();
            let record = backend.store.current(&state.did).await.unwrap().unwrap();
            let stored: Vec<SignedOperation> = backend
                .store
                .ops(&state.did)
                .await
                .unwrap()
                .into_iter()
                .map(|op| op.operation)
                .collect();
            let folded = ops::fold_trusted(&state.did, &stored).unwrap();
            assert_eq!(
                ops::document(&record.state),
                ops::document(&folded),
                "{}: {number}",
                backend.name
            );
        }
    }
}

/// Verified resolution (`?proof=true`: the client rebuilds the document from the logged
/// operation) accepts what the registry serves for a DID whose JWK holds such numbers.
#[tokio::test]
async fn verified_resolution_agrees_with_the_served_document_for_numbers_jcs_rewrites() {
    use credence_registry::client::{LogWatcher, RegistryClient};
    use credence_registry::wire::VersionSelector;

    for backend in backends().await {
        let base = crate::support::serve_on_loopback(crate::support::test_app(
            backend.store.clone(),
            WriteLimits::default(),
        ))
        .await;
        let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
        let key = crate::support::test_signer().verifier_key().to_owned();
        let watcher = LogWatcher::new(&key, vec![], 0);
        for number in REWRITTEN_NUMBERS {
            let owner = Owner::new(KeyType::Ed25519);
            let genesis = genesis_with_jwk_member(&owner, serde_json::from_str(number).unwrap());
            let (did, created) = client.create(&genesis).await.unwrap();
            let verified = client
                .resolve_verified(&did, &VersionSelector::Latest, &watcher)
                .await;
            let verified = verified.unwrap_or_else(|e| panic!("{}: {number}: {e:?}", backend.name));
            assert_eq!(verified.document, created.document, "{number}");
            assert_eq!(
                verified.document,
                client
                    .resolve(&did, &VersionSelector::Latest)
                    .await
                    .unwrap()
                    .document
            );
        }
    }
}
