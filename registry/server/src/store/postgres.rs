//! PostgreSQL backend: several stateless service instances share one database. Every write
//! transaction's first statement locks the log's size row (`LOCK_LOG`), the one lock all
//! writers take, always first: writers of every kind, on every instance, serialize on it as
//! SQLite's `BEGIN IMMEDIATE` serializes them, and no two can deadlock. Under READ COMMITTED each
//! later statement sees everything committed before it began, so the checks a transaction makes
//! after the lock (the DID's head, a `vct`'s owner, a list's issuer, an accreditation's
//! revocation) see every earlier write: two instances racing on the same `prev` serialize and
//! the second sees `HeadMoved`.

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Row as _, Transaction};

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{
    Append, DidRecord, DidStore, Embedded, NewAccreditation, NewSchema, NewStatusList, Revocation,
    StoreError, StoredAccreditation, StoredOp, StoredSchema, StoredStatusList,
};
use credence_registry::did::Did;
use credence_registry::log::LogHash;

const MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "dids",
        include_str!("../../migrations/postgres/0001_dids.sql"),
    ),
    (
        2,
        "log",
        include_str!("../../migrations/postgres/0002_log.sql"),
    ),
    (
        3,
        "schemas",
        include_str!("../../migrations/postgres/0003_schemas.sql"),
    ),
    (
        4,
        "accreditations",
        include_str!("../../migrations/postgres/0004_accreditations.sql"),
    ),
    (
        5,
        "status lists",
        include_str!("../../migrations/postgres/0005_status_lists.sql"),
    ),
    (
        6,
        "log key",
        include_str!("../../migrations/postgres/0006_log_key.sql"),
    ),
]);

/// The write lock: the log's size row. Taken once, as the first statement of every write
/// transaction (a group-commit batch takes it once, before its first savepoint, so it holds
/// for the whole batch).
const LOCK_LOG: &str = "SELECT size FROM log_state WHERE id = 1 FOR UPDATE";
/// Reads the log's size inside a transaction that already holds `LOCK_LOG`.
const READ_LOG_SIZE: &str = "SELECT size FROM log_state WHERE id = 1";
/// Reads the DID's head inside a transaction that already holds `LOCK_LOG`: no other writer
/// can change the row until this one commits, so it needs no row lock of its own.
const READ_HEAD: &str = "SELECT head, op_count FROM dids WHERE did = $1";

/// A PostgreSQL-backed store.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and migrates (migrations take an advisory lock, so concurrent starts are safe).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        sqlx::migrate::Migrator::new(MIGRATIONS)
            .await?
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }

    /// `connect`, but first one direct connection within `timeout`: sqlx's pool retries a
    /// refused connection until its acquire timeout and then reports only that it timed out,
    /// while the direct attempt fails at once with the cause (refused, unknown host, bad
    /// password).
    pub async fn connect_within(
        url: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, StoreError> {
        use sqlx::Connection as _;
        match tokio::time::timeout(timeout, sqlx::PgConnection::connect(url)).await {
            Ok(Ok(probe)) => {
                let _ = probe.close().await;
            }
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => {
                return Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the database did not answer within {} ms",
                        timeout.as_millis()
                    ),
                ))));
            }
        }
        Self::connect(url).await
    }

    /// The pool, for test fixtures that need to reset a shared database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Begins a write transaction: takes the write lock before anything is read.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(LOCK_LOG).execute(&mut *tx).await?;
        Ok(tx)
    }
}

/// A unique violation means another writer got there first.
fn map_conflict(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists,
        _ => StoreError::Database(error),
    }
}

super::read_methods!(PostgresStore);

#[async_trait]
impl DidStore for PostgresStore {
    async fn append_batch(
        &self,
        batch: &[Append<'_>],
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(batch.len());
        for append in batch {
            let append = *append;
            // Each append in its own savepoint: a refused one leaves no trace, the others
            // commit together (group commit: one durable sync for the whole batch).
            sqlx::query("SAVEPOINT item").execute(&mut *tx).await?;
            let outcome: Result<u64, StoreError> = async {
                Ok(super::append_in_transaction!(
                    tx,
                    append,
                    lock_did = READ_HEAD,
                    lock_log = READ_LOG_SIZE,
                    map_err = map_conflict
                ))
            }
            .await;
            if outcome.is_err() {
                sqlx::query("ROLLBACK TO SAVEPOINT item")
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("RELEASE SAVEPOINT item")
                .execute(&mut *tx)
                .await?;
            results.push(outcome);
        }
        tx.commit().await.map_err(map_conflict)?;
        Ok(results)
    }

    async fn publish_schema(&self, schema: NewSchema<'_>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let index = super::publish_schema_in_transaction!(
            tx,
            schema,
            lock_log = READ_LOG_SIZE,
            map_err = map_conflict
        );
        tx.commit().await.map_err(map_conflict)?;
        Ok(index)
    }
    async fn schema(&self, id: &str) -> Result<Option<StoredSchema>, StoreError> {
        self.read_schema(id).await
    }
    async fn latest_schema_for_vct(&self, vct: &str) -> Result<Option<StoredSchema>, StoreError> {
        self.read_latest_schema_for_vct(vct).await
    }
    async fn accredit(&self, accreditation: NewAccreditation<'_>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let index = super::accredit_in_transaction!(
            tx,
            accreditation,
            lock_log = READ_LOG_SIZE,
            map_err = map_conflict
        );
        tx.commit().await.map_err(map_conflict)?;
        Ok(index)
    }
    async fn revoke_accreditation(&self, revocation: Revocation<'_>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let index = super::revoke_in_transaction!(
            tx,
            revocation,
            lock_log = READ_LOG_SIZE,
            map_err = map_conflict
        );
        tx.commit().await.map_err(map_conflict)?;
        Ok(index)
    }
    async fn accreditations_for(
        &self,
        subject: &Did,
    ) -> Result<Vec<StoredAccreditation>, StoreError> {
        self.read_accreditations_for(subject).await
    }
    async fn accreditation(&self, id: &str) -> Result<Option<StoredAccreditation>, StoreError> {
        self.read_accreditation(id).await
    }
    async fn publish_status_list(&self, list: NewStatusList<'_>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let index = super::status_list_in_transaction!(
            tx,
            list,
            lock_log = READ_LOG_SIZE,
            map_err = map_conflict
        );
        tx.commit().await.map_err(map_conflict)?;
        Ok(index)
    }
    async fn status_list(
        &self,
        key: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredStatusList>, StoreError> {
        self.read_status_list(key, version).await
    }
    async fn current(&self, did: &Did) -> Result<Option<DidRecord>, StoreError> {
        self.read_current(did).await
    }
    async fn ops(&self, did: &Did) -> Result<Vec<StoredOp>, StoreError> {
        self.read_ops(did).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.read_ping().await
    }
    async fn log_size(&self) -> Result<u64, StoreError> {
        self.read_log_size().await
    }
    async fn read_hashes(&self, indexes: &[u64]) -> Result<HashMap<u64, LogHash>, StoreError> {
        self.read_read_hashes(indexes).await
    }
    async fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read_entries(start, count).await
    }
    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.read_latest_checkpoint().await
    }

    async fn claim_log_key(&self, verifier_key: &str) -> Result<String, StoreError> {
        sqlx::query(super::CLAIM_LOG_KEY)
            .bind(verifier_key)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar(super::SELECT_LOG_KEY)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn save_checkpoint(
        &self,
        size: u64,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(super::SAVE_CHECKPOINT)
            .bind(super::to_i64(size)?)
            .bind(note)
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
