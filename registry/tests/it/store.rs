//! The storage conformance suite: the same checks against SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::Utc;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{self, DidState, SignedOperation};
use credence_registry::store::{Append, DidStore, StoreError, WriteLimits};

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

#[tokio::test]
async fn acknowledged_writes_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("reopen.db").display());
    let owner = Owner::new(KeyType::Ed25519);
    let did = {
        let store = credence_registry::store::open(&url).await.unwrap();
        append(&store, None, &owner.genesis(), WriteLimits::default())
            .await
            .unwrap()
            .did
    };
    let store = credence_registry::store::open(&url).await.unwrap();
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
