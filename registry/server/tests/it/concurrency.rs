//! Several writers at once on one database: racing first publications, racing revocations,
//! crossing group commits of two instances, two instances claiming the first log key. Each race
//! runs many rounds of concurrent tasks lined up on a barrier (no sleeps), on SQLite and on
//! PostgreSQL. SQLite's `BEGIN IMMEDIATE` serializes writers; these tests pin that PostgreSQL
//! (READ COMMITTED, several pools) decides every check under the same lock.

use std::sync::Arc;

use chrono::Utc;
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::log::{CheckpointSigner, Entry};
use credence_registry::ops::{self, DidState, SignedOperation};
use credence_registry_server::store::{
    self, Append, DidStore, NewAccreditation, NewSchema, NewStatusList, Revocation, StoreError,
    WriteLimits,
};
use credence_registry_server::transparency::Transparency;
use tokio::sync::Barrier;

use crate::support::{Backend, Owner, PG_ENV, backends, post, post_op, test_app};

/// Rounds per race: enough that a check made outside the write lock loses at least once.
const ROUNDS: usize = 12;
/// Writers per round.
const RACERS: usize = 8;

/// A DID nobody registered: the store takes any DID as a publisher.
fn random_did() -> Did {
    ops::did_for_genesis(&Owner::new(KeyType::Ed25519).genesis())
}

/// Runs `task(i)` for `i in 0..count` on the runtime's threads, released together.
async fn race<T, F, Fut>(count: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let handles: Vec<_> = (0..count)
        .map(|i| {
            let barrier = barrier.clone();
            let work = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for handle in handles {
        results.push(handle.await.expect("racer panicked"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_first_publications_of_one_vct_leave_one_owner() {
    for backend in backends().await {
        // The entries here are not signed: keep them out of the shared log that audits replay.
        let fresh = FreshDatabase::new(&backend).await;
        let isolated = store::open(&fresh.url).await.unwrap();
        for round in 0..ROUNDS {
            let vct = format!("https://credence.example/vct/race/{}", random_did());
            let publishers: Vec<Did> = (0..RACERS).map(|_| random_did()).collect();
            let ids: Vec<String> = (0..RACERS)
                .map(|i| format!("race-{}-{i}", publishers[i].method_specific_id()))
                .collect();
            let results = race(RACERS, |i| {
                let (store, vct) = (isolated.clone(), vct.clone());
                let (publisher, id) = (publishers[i].clone(), ids[i].clone());
                async move {
                    let jws = format!("test-{id}");
                    let entry = Entry::Schema {
                        id: id.clone(),
                        vct: vct.clone(),
                        publisher: publisher.clone(),
                        jws: jws.clone(),
                    }
                    .to_bytes();
                    store
                        .publish_schema(NewSchema {
                            id: &id,
                            vct: &vct,
                            publisher: &publisher,
                            publisher_is_trust_anchor: false,
                            content: "{}",
                            jws: &jws,
                            now: Utc::now(),
                            log_entry: &entry,
                        })
                        .await
                }
            })
            .await;
            let winners: Vec<usize> = (0..RACERS).filter(|i| results[*i].is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "{} round {round}: one first publication wins: {results:?}",
                backend.name
            );
            let owner = &publishers[winners[0]];
            for (i, result) in results.iter().enumerate() {
                if i != winners[0] {
                    assert!(
                        matches!(result, Err(StoreError::VctTaken { publisher }) if publisher == owner.as_str()),
                        "{}: {result:?}",
                        backend.name
                    );
                    assert_eq!(isolated.schema(&ids[i]).await.unwrap(), None);
                }
            }
            let latest = isolated.latest_schema_for_vct(&vct).await.unwrap();
            assert_eq!(latest.map(|s| s.publisher), Some(owner.clone()));
        }
        drop(isolated);
        fresh.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_first_publications_of_one_status_list_leave_one_issuer() {
    for backend in backends().await {
        // The entries here are not signed: keep them out of the shared log that audits replay.
        let fresh = FreshDatabase::new(&backend).await;
        let isolated = store::open(&fresh.url).await.unwrap();
        for round in 0..ROUNDS {
            let key = format!("race{}", random_did().method_specific_id());
            let uri = format!("https://credence.example/status/{key}");
            let issuers: Vec<Did> = (0..RACERS).map(|_| random_did()).collect();
            let results = race(RACERS, |i| {
                let (store, key, uri) = (isolated.clone(), key.clone(), uri.clone());
                let issuer = issuers[i].clone();
                async move {
                    let jws = format!("test-{key}-{i}");
                    let entry = Entry::StatusList {
                        key: key.clone(),
                        uri: uri.clone(),
                        issuer: issuer.clone(),
                        jws: jws.clone(),
                    }
                    .to_bytes();
                    store
                        .publish_status_list(NewStatusList {
                            key: &key,
                            uri: &uri,
                            issuer: &issuer,
                            format: "statuslist+jwt",
                            // Distinct versions, so only the issuer check can refuse them.
                            version: 1_000 + i as i64,
                            ttl_seconds: 60,
                            jws: &jws,
                            now: Utc::now(),
                            log_entry: &entry,
                        })
                        .await
                }
            })
            .await;
            let winners: Vec<usize> = (0..RACERS).filter(|i| results[*i].is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "{} round {round}: one first publication wins: {results:?}",
                backend.name
            );
            for (i, result) in results.iter().enumerate() {
                if i != winners[0] {
                    assert!(
                        matches!(result, Err(StoreError::VctTaken { .. })),
                        "{}: {result:?}",
                        backend.name
                    );
                    let version = Some(1_000 + i as i64);
                    assert_eq!(isolated.status_list(&key, version).await.unwrap(), None);
                }
            }
            let latest = isolated.status_list(&key, None).await.unwrap();
            assert_eq!(latest.map(|l| l.issuer), Some(issuers[winners[0]].clone()));
        }
        drop(isolated);
        fresh.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_revocations_of_one_accreditation_are_logged_once() {
    for backend in backends().await {
        // The entries here are not signed: keep them out of the shared log that audits replay.
        let fresh = FreshDatabase::new(&backend).await;
        let isolated = store::open(&fresh.url).await.unwrap();
        for round in 0..ROUNDS {
            let (subject, accreditor) = (random_did(), random_did());
            let id = format!("race-{}", subject.method_specific_id());
            let types = vec!["https://credence.example/vct/race".parse().unwrap()];
            let now = Utc::now();
            let entry = Entry::Accreditation {
                id: id.clone(),
                jws: format!("test-{id}"),
            }
            .to_bytes();
            isolated
                .accredit(NewAccreditation {
                    id: &id,
                    subject: &subject,
                    accreditor: &accreditor,
                    types: &types,
                    may_accredit: false,
                    valid_from: now,
                    valid_until: now + chrono::Duration::days(1),
                    jws: "test",
                    now,
                    log_entry: &entry,
                })
                .await
                .unwrap();
            let attempts: Vec<Vec<u8>> = (0..RACERS)
                .map(|i| {
                    Entry::AccreditationRevocation {
                        id: id.clone(),
                        jws: format!("test-{id}-attempt-{i}"),
                    }
                    .to_bytes()
                })
                .collect();
            let size_before = isolated.log_size().await.unwrap();
            let results = race(RACERS, |i| {
                let (store, id, entry) = (isolated.clone(), id.clone(), attempts[i].clone());
                async move {
                    store
                        .revoke_accreditation(Revocation {
                            id: &id,
                            now: Utc::now(),
                            log_entry: &entry,
                        })
                        .await
                }
            })
            .await;
            let size_after = isolated.log_size().await.unwrap();
            let winners: Vec<usize> = (0..RACERS).filter(|i| results[*i].is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "{} round {round}: one revocation wins: {results:?}",
                backend.name
            );
            for (i, result) in results.iter().enumerate() {
                if i != winners[0] {
                    assert!(
                        matches!(result, Err(StoreError::AlreadyExists)),
                        "{}: {result:?}",
                        backend.name
                    );
                }
            }
            // Count the attempts' entries among what the race appended.
            let logged = isolated
                .entries(size_before, size_after - size_before)
                .await
                .unwrap()
                .into_iter()
                .filter(|entry| attempts.contains(entry))
                .count();
            assert_eq!(
                logged, 1,
                "{} round {round}: revocation log entries",
                backend.name
            );
            let stored = isolated.accreditation(&id).await.unwrap().unwrap();
            assert_eq!(
                stored.revoked_log_index,
                Some(*results[winners[0]].as_ref().unwrap())
            );
        }
        drop(isolated);
        fresh.drop_database().await;
    }
}

/// Creates a DID through `store`; returns its state.
async fn create(store: &Arc<dyn DidStore>, owner: &Owner) -> DidState {
    let genesis = owner.genesis();
    let state = ops::apply(None, &genesis).unwrap();
    let entry = credence_registry::log::did_operation_entry(&state.did, 0, &genesis);
    store
        .append(Append {
            did: &state.did,
            expected_head: None,
            operation: &genesis,
            hash: &genesis.hash(),
            new_state: &state,
            now: Utc::now(),
            limits: WriteLimits::default(),
            log_entry: &entry,
        })
        .await
        .unwrap();
    state
}

/// An update of `state` prepared for a batch: the operation, its next state and log entry.
struct Prepared {
    state: DidState,
    operation: SignedOperation,
    next: DidState,
    entry: Vec<u8>,
}

impl Prepared {
    fn new(state: &DidState, owner: &Owner) -> Self {
        let operation = owner.update(&state.head, &SecretKey::generate(KeyType::Ed25519));
        let next = ops::apply(Some(state), &operation).unwrap();
        let entry = credence_registry::log::did_operation_entry(&state.did, 1, &operation);
        Self {
            state: state.clone(),
            operation,
            next,
            entry,
        }
    }
}

/// Two instances (two pools on one database) each commit one batch updating the same DIDs in
/// opposite orders. Locking each DID's row before the log's would let each batch hold a row
/// the other waits for: PostgreSQL breaks that deadlock by failing one whole batch (every
/// write in it answered 500). Every batch must commit; one update per DID wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_group_commits_of_two_instances_do_not_deadlock() {
    const DIDS: usize = 6;
    for backend in backends().await {
        let second = store::open(&backend.url).await.unwrap();
        for round in 0..ROUNDS {
            let owners: Vec<Owner> = (0..DIDS).map(|_| Owner::new(KeyType::Ed25519)).collect();
            let mut states = Vec::new();
            for owner in &owners {
                states.push(create(&backend.store, owner).await);
            }
            // Instance one updates DIDs 0..n, instance two n..0, each its own update.
            let first_batch: Vec<Prepared> = (0..DIDS)
                .map(|i| Prepared::new(&states[i], &owners[i]))
                .collect();
            let second_batch: Vec<Prepared> = (0..DIDS)
                .rev()
                .map(|i| Prepared::new(&states[i], &owners[i]))
                .collect();
            let batches = Arc::new([first_batch, second_batch]);
            let stores = [backend.store.clone(), second.clone()];
            let results = race(2, |which| {
                let (store, batches) = (stores[which].clone(), batches.clone());
                async move {
                    let hashes: Vec<_> =
                        batches[which].iter().map(|p| p.operation.hash()).collect();
                    let appends: Vec<Append<'_>> = batches[which]
                        .iter()
                        .zip(&hashes)
                        .map(|(p, hash)| Append {
                            did: &p.state.did,
                            expected_head: Some(&p.state.head),
                            operation: &p.operation,
                            hash,
                            new_state: &p.next,
                            now: Utc::now(),
                            limits: WriteLimits::default(),
                            log_entry: &p.entry,
                        })
                        .collect();
                    store.append_batch(&appends).await
                }
            })
            .await;
            let [first, second_results] = [&results[0], &results[1]].map(|r| match r {
                Ok(items) => items,
                Err(error) => panic!(
                    "{} round {round}: a whole batch failed: {error}",
                    backend.name
                ),
            });
            for i in 0..DIDS {
                let outcomes = [&first[i], &second_results[DIDS - 1 - i]];
                let won = outcomes.iter().filter(|o| o.is_ok()).count();
                assert_eq!(won, 1, "{} round {round}: {outcomes:?}", backend.name);
                assert!(
                    outcomes
                        .iter()
                        .any(|o| matches!(o, Err(StoreError::HeadMoved { .. }))),
                    "{outcomes:?}"
                );
                assert_eq!(backend.store.ops(&states[i].did).await.unwrap().len(), 2);
            }
        }
    }
}

/// The same race through two whole registry apps (two group committers over two pools), as two
/// service instances behind a load balancer: every answer is 201 or 409 `forked-history`, one
/// winner per DID, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_registry_instances_racing_updates_answer_one_201_and_409s() {
    const DIDS: usize = 12;
    for backend in backends().await {
        let apps = [
            test_app(backend.store.clone(), WriteLimits::default()),
            test_app(
                store::open(&backend.url).await.unwrap(),
                WriteLimits::default(),
            ),
        ];
        for round in 0..ROUNDS {
            let owners: Vec<Owner> = (0..DIDS).map(|_| Owner::new(KeyType::Ed25519)).collect();
            let mut states = Vec::new();
            for owner in &owners {
                let created = post_op(&apps[0], "/registry/dids", &owner.genesis()).await;
                assert_eq!(created.status, 201, "{}", created.body);
                states.push(ops::apply(None, &owner.genesis()).unwrap());
            }
            // Task 2i goes to instance one, 2i+1 to instance two; both update DID i.
            let updates: Vec<(String, SignedOperation)> = (0..2 * DIDS)
                .map(|task| {
                    let i = task / 2;
                    let op =
                        owners[i].update(&states[i].head, &SecretKey::generate(KeyType::Ed25519));
                    (format!("/registry/dids/{}/ops", states[i].did), op)
                })
                .collect();
            let replies = race(2 * DIDS, |task| {
                let app = apps[task % 2].clone();
                let (uri, body) = (
                    updates[task].0.clone(),
                    serde_json::to_vec(&updates[task].1).unwrap(),
                );
                async move { post(&app, &uri, body).await }
            })
            .await;
            for i in 0..DIDS {
                let pair = [&replies[2 * i], &replies[2 * i + 1]];
                let statuses = pair.map(|r| r.status.as_u16());
                let mut sorted = statuses;
                sorted.sort_unstable();
                assert_eq!(
                    sorted,
                    [201, 409],
                    "{} round {round}: {:?}",
                    backend.name,
                    pair.map(|r| &r.body)
                );
                let loser = pair.iter().find(|r| r.status == 409).unwrap();
                crate::support::assert_problem(loser, 409, "forked-history");
            }
        }
    }
}

/// A fresh, empty database for one test or trial, and how to drop it: a temporary SQLite file,
/// or a new PostgreSQL database next to the one `CREDENCE_TEST_DATABASE_URL` names.
pub(crate) struct FreshDatabase {
    pub(crate) url: String,
    admin: Option<(sqlx::PgPool, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl FreshDatabase {
    pub(crate) async fn new(backend: &Backend) -> Self {
        if backend.name == "sqlite" {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
            return Self {
                url,
                admin: None,
                _dir: Some(dir),
            };
        }
        Self::postgres().await
    }

    /// A new, empty PostgreSQL database next to the one `CREDENCE_TEST_DATABASE_URL` names.
    pub(crate) async fn postgres() -> Self {
        let base = std::env::var(PG_ENV).unwrap();
        let admin = sqlx::PgPool::connect(&base).await.unwrap();
        let name = format!("credence_store_test_{}", random_did().method_specific_id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            admin: Some((admin, name)),
            _dir: None,
        }
    }

    pub(crate) async fn drop_database(mut self) {
        if let Some((admin, name)) = self.admin.take() {
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

impl Drop for FreshDatabase {
    /// A test that failed before `drop_database` still drops its database, best effort, from a
    /// thread of its own (this runs inside the test's runtime, which cannot block on a future).
    fn drop(&mut self) {
        let Some((_, name)) = self.admin.take() else {
            return;
        };
        let base = std::env::var(PG_ENV).unwrap_or_default();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = sqlx::PgPool::connect(&base).await.ok()?;
                let sql = format!("DROP DATABASE {name} WITH (FORCE)");
                sqlx::query(&sql).execute(&admin).await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Two instances started at the same moment on a fresh database, each with its own log key:
/// exactly one key is claimed; the other instance refuses to start, saying why; the log's
/// checkpoints verify under the winner's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_claiming_the_first_log_key_at_once_one_wins() {
    const TRIALS: usize = 5;
    for backend in backends().await {
        for trial in 0..TRIALS {
            let fresh = FreshDatabase::new(&backend).await;
            // PostgreSQL migrations take an advisory lock, so instances may open at once;
            // SQLite's do not (one instance per file is its deployment), so open in turn.
            let stores = if backend.name == "sqlite" {
                let first = store::open(&fresh.url).await.unwrap();
                [first, store::open(&fresh.url).await.unwrap()]
            } else {
                let (a, b) = tokio::join!(store::open(&fresh.url), store::open(&fresh.url));
                [a.unwrap(), b.unwrap()]
            };
            let logs: Vec<Transparency> = stores
                .iter()
                .map(|store| {
                    let (signer, _secret) =
                        CheckpointSigner::generate("credence.test/keyclaim").unwrap();
                    Transparency::new(store.clone(), Arc::new(signer))
                })
                .collect();
            let logs = Arc::new(logs);
            let started = race(2, |i| {
                let logs = logs.clone();
                async move { logs[i].check_key().await }
            })
            .await;
            let winners: Vec<usize> = (0..2).filter(|i| started[*i].is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "{} trial {trial}: exactly one instance starts: {started:?}",
                backend.name
            );
            let (winner, loser) = (winners[0], 1 - winners[0]);
            match &started[loser] {
                Err(credence_registry::error::Error::Internal(cause)) => assert!(
                    cause.contains("log key") && cause.contains(logs[winner].verifier_key()),
                    "{cause}"
                ),
                other => panic!("{other:?}"),
            }
            // The winner publishes; its checkpoints verify under its own key, and the loser
            // still cannot start.
            logs[winner].publish().await.unwrap();
            let (_, note) = stores[winner].latest_checkpoint().await.unwrap().unwrap();
            credence_registry::log::verify_checkpoint(&note, logs[winner].verifier_key()).unwrap();
            assert!(logs[loser].check_key().await.is_err());
            assert!(logs[winner].check_key().await.is_ok());
            drop(logs);
            drop(stores);
            fresh.drop_database().await;
        }
    }
}
