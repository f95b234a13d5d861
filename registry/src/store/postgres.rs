//! PostgreSQL backend: several stateless service instances share one database. A write
//! transaction locks the DID's row (`SELECT ... FOR UPDATE`) before it checks the head, so two
//! instances racing on the same `prev` serialize and the second sees `HeadMoved`; two racing
//! genesis inserts collide on the primary key.

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row as _};

use super::{
    Append, DidRecord, DidStore, Embedded, StoreError, StoredOp, check_append, decode_op,
    decode_record, encode_state,
};
use crate::did::Did;

const MIGRATIONS: Embedded = Embedded(&[(
    1,
    "dids",
    include_str!("../../migrations/postgres/0001_dids.sql"),
)]);

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

    /// The pool, for test fixtures that need to reset a shared database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A unique violation means another writer got there first.
fn map_conflict(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists,
        _ => StoreError::Database(error),
    }
}

#[async_trait]
impl DidStore for PostgresStore {
    async fn append(&self, append: Append<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let did = append.did.as_str();
        let existing: Option<(String, i64)> =
            sqlx::query_as("SELECT head, op_count FROM dids WHERE did = $1 FOR UPDATE")
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
            .await
            .map_err(map_conflict)?;
        sqlx::query(super::INSERT_OP)
            .bind(did)
            .bind(position)
            .bind(append.hash.as_str())
            .bind(append.expected_head.map(|h| h.as_str()))
            .bind(String::from_utf8_lossy(&append.operation.canonical_bytes()).as_ref())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(map_conflict)?;
        tx.commit().await.map_err(map_conflict)?;
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
