//! The store's conformance suite, run on every backend: the guarantees the domain relies on
//! (an index handed out once, allocation and record written together or not at all, status
//! compare-and-set bumping the list's version, another tenant's record invisible).

use std::collections::BTreeMap;

use chrono::{TimeZone as _, Utc};
use credence_issuer::ids::{CredentialTypeId, Format, RecordId, TenantId};
use credence_issuer::secrets::BearerToken;
use credence_issuer::store::{IssuanceRecord, StoreError, StoredList, StoredTenant};
use credence_registry::did::Did;

use crate::support::backends;

fn tenant(id: &str, did: &str) -> StoredTenant {
    StoredTenant {
        id: TenantId::parse(id).expect("id"),
        name: id.to_owned(),
        did: Did::parse(did).expect("did"),
        sealed_keys: vec![1, 2, 3],
        created: Utc
            .timestamp_millis_opt(1_767_225_600_000)
            .single()
            .expect("time"),
    }
}

fn record(tenant: &str, status: Option<(&str, u32)>) -> IssuanceRecord {
    let time = Utc
        .timestamp_millis_opt(1_767_225_600_000)
        .single()
        .expect("time");
    IssuanceRecord {
        id: RecordId::generate(),
        tenant: TenantId::parse(tenant).expect("tenant"),
        type_id: CredentialTypeId::parse("licence").expect("type"),
        formats: vec![Format::VcJwt],
        status: status.map(|(uri, index)| (uri.to_owned(), index)),
        holder_thumbprint: "thumb".into(),
        valid_from: time,
        valid_until: time,
        issued: time,
        envelope_hashes: BTreeMap::from([("vc+jwt".into(), "00".into())]),
    }
}

#[tokio::test]
async fn store_conformance() {
    for backend in backends().await {
        let store = &backend.store;
        let name = backend.name;
        let a = tenant("a", "did:credence:aaaa");
        let token = BearerToken::generate();
        store
            .create_tenant(&a, &token.hash())
            .await
            .expect("tenant");
        assert_eq!(
            store.tenant(&a.id).await.expect("read"),
            Some(a.clone()),
            "{name}"
        );
        assert_eq!(
            store.tenant_for_token(&token.hash()).await.expect("token"),
            Some(a.id.clone())
        );
        assert_eq!(
            store
                .tenant_for_token(&BearerToken::generate().hash())
                .await
                .expect("token"),
            None
        );
        // Same id, or same DID: refused, nothing written.
        let before = backend.counts().await;
        for duplicate in [
            tenant("a", "did:credence:other"),
            tenant("a2", "did:credence:aaaa"),
        ] {
            assert!(
                matches!(
                    store
                        .create_tenant(&duplicate, &BearerToken::generate().hash())
                        .await,
                    Err(StoreError::AlreadyExists)
                ),
                "{name}"
            );
        }
        assert_eq!(backend.counts().await, before, "{name}");
        let b = tenant("b", "did:credence:bbbb");
        store
            .create_tenant(&b, &BearerToken::generate().hash())
            .await
            .expect("tenant b");

        let uri = "https://registry.example/status-lists/did:credence:aaaa/l1";
        let list = StoredList {
            uri: uri.into(),
            tenant: a.id.clone(),
            entries: 2,
            allocated: 0,
            version: 1,
            published_version: 0,
            published_ms: 0,
        };
        store.create_list(&list, Utc::now()).await.expect("list");
        assert!(matches!(
            store.create_list(&list, Utc::now()).await,
            Err(StoreError::AlreadyExists)
        ));
        let first = record("a", Some((uri, 1)));
        store.record_issuance(&first).await.expect("issued");
        assert_eq!(
            store.taken_indexes(uri, &[0, 1]).await.expect("taken"),
            vec![1],
            "{name}"
        );

        // An index handed out before, or past the end, or in another tenant's list: nothing
        // written, neither entry nor record.
        let before = backend.counts().await;
        for (tenant, index) in [("a", 1), ("a", 2), ("b", 0)] {
            assert!(
                matches!(
                    store
                        .record_issuance(&record(tenant, Some((uri, index))))
                        .await,
                    Err(StoreError::IndexTaken)
                ),
                "{name} {tenant} {index}"
            );
            assert_eq!(backend.counts().await, before, "{name} {tenant} {index}");
        }
        // A reused record id: refused, and its allocation rolled back with it.
        let mut reused = record("a", Some((uri, 0)));
        reused.id = first.id.clone();
        assert!(
            matches!(
                store.record_issuance(&reused).await,
                Err(StoreError::AlreadyExists)
            ),
            "{name}"
        );
        assert_eq!(backend.counts().await, before, "{name}");
        assert_eq!(
            store.taken_indexes(uri, &[0]).await.expect("taken"),
            Vec::<u32>::new()
        );
        store
            .record_issuance(&record("a", Some((uri, 0))))
            .await
            .expect("last index");
        assert!(
            matches!(store.record_issuance(&record("a", None)).await, Ok(())),
            "no status needs no list"
        );

        // Another tenant's record is invisible.
        assert!(
            store
                .record(&b.id, &first.id)
                .await
                .expect("read")
                .is_none(),
            "{name}"
        );
        let (read, status) = store
            .record(&a.id, &first.id)
            .await
            .expect("read")
            .expect("record");
        assert_eq!((read, status), (first.clone(), Some(0)));

        // Compare-and-set: only from the expected status; each change bumps the version.
        let dirty = store.dirty_lists().await.expect("dirty");
        assert_eq!(
            dirty
                .iter()
                .map(|l| (l.uri.as_str(), l.version, l.allocated))
                .collect::<Vec<_>>(),
            vec![(uri, 1, 2)]
        );
        assert!(
            !store.set_status(uri, 1, 2, 1).await.expect("cas"),
            "{name}"
        );
        assert!(store.set_status(uri, 1, 0, 1).await.expect("cas"), "{name}");
        assert_eq!(store.dirty_lists().await.expect("dirty")[0].version, 2);
        let mut entries = store.list_entries(uri).await.expect("entries");
        entries.sort();
        assert_eq!(entries, vec![(0, 0), (1, 1)]);
        store
            .mark_published(uri, 2, Utc::now())
            .await
            .expect("published");
        assert!(
            store.dirty_lists().await.expect("dirty").is_empty(),
            "{name}"
        );
        // An older version's mark does not undo a newer one's.
        store
            .mark_published(uri, 1, Utc::now())
            .await
            .expect("published");
        assert!(
            store.dirty_lists().await.expect("dirty").is_empty(),
            "{name}"
        );
        assert_eq!(store.records(&a.id, 10).await.expect("records").len(), 3);
        assert!(store.records(&b.id, 10).await.expect("records").is_empty());
    }
}

/// A group commit's batch: one transaction, each record accepted or refused on its own, in
/// order, a refused one writing nothing (its allocation undone) and the others kept.
#[tokio::test]
async fn a_batch_of_records_is_accepted_or_refused_record_by_record() {
    for backend in backends().await {
        let store = &backend.store;
        let name = backend.name;
        let a = tenant("a", "did:credence:aaaa");
        store
            .create_tenant(&a, &BearerToken::generate().hash())
            .await
            .expect("tenant");
        let uri = "https://registry.example/status-lists/did:credence:aaaa/batch";
        let list = StoredList {
            uri: uri.into(),
            tenant: a.id.clone(),
            entries: 3,
            allocated: 0,
            version: 1,
            published_version: 0,
            published_ms: 0,
        };
        store.create_list(&list, Utc::now()).await.expect("list");
        let kept = record("a", Some((uri, 0)));
        store.record_issuance(&kept).await.expect("issued");
        let before = backend.counts().await;

        let mut reused_id = record("a", Some((uri, 2)));
        reused_id.id = kept.id.clone();
        let batch = [
            record("a", Some((uri, 1))), // accepted
            record("a", Some((uri, 0))), // index taken before the batch
            record("a", Some((uri, 1))), // index taken earlier in the batch
            reused_id,                   // record id taken: its index 2 must stay free
            record("a", Some((uri, 3))), // past the end
            record("a", None),           // no status: accepted
        ];
        let outcomes = store.record_issuances(&batch).await.expect("transaction");
        let outcomes: Vec<&str> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(()) => "ok",
                Err(StoreError::IndexTaken) => "index taken",
                Err(StoreError::AlreadyExists) => "exists",
                Err(_) => "other",
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                "ok",
                "index taken",
                "index taken",
                "exists",
                "index taken",
                "ok"
            ],
            "{name}"
        );
        let after = backend.counts().await;
        assert_eq!(after.records, before.records + 2, "{name}");
        assert_eq!(after.entries, before.entries + 1, "{name}");
        assert_eq!(
            store.taken_indexes(uri, &[0, 1, 2]).await.expect("taken"),
            vec![0, 1],
            "{name}"
        );
        // The refused record's allocation was undone: the list's last index is still free.
        let listed = store.lists(&a.id).await.expect("lists");
        assert_eq!(listed[0].allocated, 2, "{name}");
        store
            .record_issuance(&record("a", Some((uri, 2))))
            .await
            .expect("the last index");
        assert!(
            matches!(
                store.record_issuance(&record("a", Some((uri, 2)))).await,
                Err(StoreError::IndexTaken)
            ),
            "{name}"
        );
    }
}
