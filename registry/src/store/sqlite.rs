//! SQLite backend: the embedded default. WAL journal with `synchronous = FULL` (sqlx sets
//! neither) so that an acknowledged commit survives a crash, and `BEGIN IMMEDIATE` so a write
//! transaction holds the write lock from its first statement (no lock upgrade deadlocks, no
//! read-then-write race).

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};

use super::{
    Append, DidRecord, DidStore, Embedded, StoreError, StoredOp, check_append, decode_op,
    decode_record, encode_state,
};
use crate::did::Did;

const MIGRATIONS: Embedded = Embedded(&[(
    1,
    "dids",
    include_str!("../../migrations/sqlite/0001_dids.sql"),
)]);

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

#[async_trait]
impl DidStore for SqliteStore {
    async fn append(&self, append: Append<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let did = append.did.as_str();
        let existing: Option<(String, i64)> =
            sqlx::query_as("SELECT head, op_count FROM dids WHERE did = $1")
                .bind(did)
                .fetch_optional(&mut *tx)
                .await?;
        let now_ms = append.now.timestamp_millis();
        let count = |since: i64| {
            sqlx::query_scalar::<_, i64>(super::COUNT_RECENT)
                .bind(did)
                .bind(since)
        };
        let recent_hour = count(now_ms - 3_600_000).fetch_one(&mut *tx).await?;
        let recent_day = count(now_ms - 86_400_000).fetch_one(&mut *tx).await?;
        let hash_seen: i64 = sqlx::query_scalar(super::HASH_EXISTS)
            .bind(append.hash.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let position = check_append(&append, existing, recent_hour, recent_day, hash_seen > 0)?;
        let state = encode_state(append.new_state);
        let query = if position == 0 {
            super::INSERT_DID
        } else {
            super::UPDATE_DID
        };
        sqlx::query(query)
            .bind(did)
            .bind(append.hash.as_str())
            .bind(&state)
            .bind(append.new_state.deactivated)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(super::INSERT_OP)
            .bind(did)
            .bind(position)
            .bind(append.hash.as_str())
            .bind(append.expected_head.map(|h| h.as_str()))
            .bind(String::from_utf8_lossy(&append.operation.canonical_bytes()).as_ref())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn current(&self, did: &Did) -> Result<Option<DidRecord>, StoreError> {
        let row = sqlx::query(super::SELECT_CURRENT)
            .bind(did.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| decode_record(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            .transpose()
    }

    async fn ops(&self, did: &Did) -> Result<Vec<StoredOp>, StoreError> {
        let rows = sqlx::query(super::SELECT_OPS)
            .bind(did.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| decode_op(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
