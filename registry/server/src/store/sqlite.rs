//! SQLite backend: the embedded default. WAL journal with `synchronous = FULL` (sqlx sets
//! neither) so that an acknowledged commit survives a crash, and `BEGIN IMMEDIATE` so a write
//! transaction holds the database's write lock from its first statement (no lock upgrade
//! deadlocks, no read-then-write race): every check it makes sees every earlier write.

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};

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
        include_str!("../../migrations/sqlite/0001_dids.sql"),
    ),
    (
        2,
        "log",
        include_str!("../../migrations/sqlite/0002_log.sql"),
    ),
    (
        3,
        "schemas",
        include_str!("../../migrations/sqlite/0003_schemas.sql"),
    ),
    (
        4,
        "accreditations",
        include_str!("../../migrations/sqlite/0004_accreditations.sql"),
    ),
    (
        5,
        "status lists",
        include_str!("../../migrations/sqlite/0005_status_lists.sql"),
    ),
    (
        6,
        "log key",
        include_str!("../../migrations/sqlite/0006_log_key.sql"),
    ),
]);

/// A SQLite-backed store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file a `sqlite://` URL names and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate::Migrator::new(MIGRATIONS)
            .await?
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }
}

super::read_methods!(SqliteStore);

#[async_trait]
impl DidStore for SqliteStore {
    async fn append_batch(
        &self,
        batch: &[Append<'_>],
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
                    lock_did = "SELECT head, op_count FROM dids WHERE did = $1",
                    lock_log = "SELECT size FROM log_state WHERE id = 1",
                    map_err = StoreError::Database
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
        tx.commit().await?;
        Ok(results)
    }

    async fn publish_schema(&self, schema: NewSchema<'_>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let index = super::publish_schema_in_transaction!(
            tx,
            schema,
            lock_log = "SELECT size FROM log_state WHERE id = 1",
            map_err = StoreError::Database
        );
        tx.commit().await?;
        Ok(index)
    }
    async fn schema(&self, id: &str) -> Result<Option<StoredSchema>, StoreError> {
        self.read_schema(id).await
    }
    async fn latest_schema_for_vct(&self, vct: &str) -> Result<Option<StoredSchema>, StoreError> {
        self.read_latest_schema_for_vct(vct).await
    }
    async fn accredit(&self, accreditation: NewAccreditation<'_>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let index = super::accredit_in_transaction!(
            tx,
            accreditation,
            lock_log = "SELECT size FROM log_state WHERE id = 1",
            map_err = StoreError::Database
        );
        tx.commit().await?;
        Ok(index)
    }
    async fn revoke_accreditation(&self, revocation: Revocation<'_>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let index = super::revoke_in_transaction!(
            tx,
            revocation,
            lock_log = "SELECT size FROM log_state WHERE id = 1",
            map_err = StoreError::Database
        );
        tx.commit().await?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let index = super::status_list_in_transaction!(
            tx,
            list,
            lock_log = "SELECT size FROM log_state WHERE id = 1",
            map_err = StoreError::Database
        );
        tx.commit().await?;
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
