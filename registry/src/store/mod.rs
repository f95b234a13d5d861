//! Storage: the only module that contains SQL. One narrow trait, [`DidStore`], with a SQLite
//! implementation (the embedded default) and a PostgreSQL one (several service instances on one
//! database); both pass the same conformance suite in `tests/it/store.rs`.
//!
//! The store validates nothing about operations (that is `ops.rs`); it guarantees atomicity: an
//! operation, its position in the DID's chain and the cached state are written in one
//! transaction that first takes the write lock, and a second writer on the same `prev` fails.

mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone as _, Utc};
use sqlx::migrate::{Migration, MigrationSource, MigrationType};

use crate::did::Did;
use crate::ops::{DidState, OpHash, SignedOperation};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Per-DID write limits, in the spirit of did:plc's (§4.5 of DID-METHOD.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteLimits {
    pub per_hour: u32,
    pub per_day: u32,
}

impl Default for WriteLimits {
    fn default() -> Self {
        Self {
            per_hour: 10,
            per_day: 30,
        }
    }
}

/// One accepted operation as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredOp {
    /// 0 for the genesis.
    pub position: u64,
    pub hash: OpHash,
    pub operation: SignedOperation,
    pub created: DateTime<Utc>,
}

/// The cached current state of a DID.
#[derive(Clone, Debug, PartialEq)]
pub struct DidRecord {
    pub state: DidState,
    pub op_count: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// What to append, and what the caller believes the head is.
#[derive(Clone, Copy, Debug)]
pub struct Append<'a> {
    pub did: &'a Did,
    /// `None` for a genesis operation.
    pub expected_head: Option<&'a OpHash>,
    pub operation: &'a SignedOperation,
    pub hash: &'a OpHash,
    pub new_state: &'a DidState,
    pub now: DateTime<Utc>,
    pub limits: WriteLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A genesis for a DID that exists, or an operation hash already stored (a replay).
    #[error("already exists")]
    AlreadyExists,
    /// A non-genesis operation for a DID that does not exist.
    #[error("no such DID")]
    NotFound,
    /// Another operation was appended since the caller read the head.
    #[error("the DID's head moved to {head}")]
    HeadMoved { head: String },
    /// The DID has used up its write allowance.
    #[error("write limit reached: {limit}")]
    RateLimited {
        limit: &'static str,
        retry_after_secs: u64,
    },
    /// Stored data that does not decode: corruption or tampering.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The persistence the registry needs, and nothing more.
#[async_trait]
pub trait DidStore: Send + Sync + 'static {
    /// Appends an operation atomically (see the module doc).
    async fn append(&self, append: Append<'_>) -> Result<(), StoreError>;
    /// The cached current state, if the DID exists.
    async fn current(&self, did: &Did) -> Result<Option<DidRecord>, StoreError>;
    /// All operations of a DID in order (empty if it does not exist).
    async fn ops(&self, did: &Did) -> Result<Vec<StoredOp>, StoreError>;
    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://...`.
pub async fn open(database_url: &str) -> Result<Arc<dyn DidStore>, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(database_url).await?))
    } else if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    } else {
        Err(StoreError::Database(sqlx::Error::Configuration(
            "database URL must start with sqlite: or postgres://".into(),
        )))
    }
}

// SQL shared by both backends: sqlx binds `$N` positionally on SQLite as on PostgreSQL.
const SELECT_CURRENT: &str =
    "SELECT state, op_count, created_ms, updated_ms FROM dids WHERE did = $1";
const SELECT_OPS: &str =
    "SELECT position, hash, operation, created_ms FROM did_ops WHERE did = $1 ORDER BY position";
const COUNT_RECENT: &str = "SELECT COUNT(*) FROM did_ops WHERE did = $1 AND created_ms > $2";
const HASH_EXISTS: &str = "SELECT COUNT(*) FROM did_ops WHERE hash = $1";
const INSERT_DID: &str = "INSERT INTO dids (did, head, state, op_count, deactivated, created_ms, updated_ms) \
     VALUES ($1, $2, $3, 1, $4, $5, $5)";
const UPDATE_DID: &str = "UPDATE dids SET head = $2, state = $3, op_count = op_count + 1, deactivated = $4, \
     updated_ms = $5 WHERE did = $1";
const INSERT_OP: &str = "INSERT INTO did_ops (did, position, hash, prev, operation, created_ms) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Decides, from what the transaction read, whether the append may proceed.
fn check_append(
    append: &Append<'_>,
    existing: Option<(String, i64)>,
    recent_hour: i64,
    recent_day: i64,
    hash_seen: bool,
) -> Result<i64, StoreError> {
    if hash_seen {
        return Err(StoreError::AlreadyExists);
    }
    match (append.expected_head, existing) {
        (None, Some(_)) => Err(StoreError::AlreadyExists),
        (None, None) => Ok(0),
        (Some(_), None) => Err(StoreError::NotFound),
        (Some(expected), Some((head, op_count))) => {
            if head != expected.as_str() {
                return Err(StoreError::HeadMoved { head });
            }
            if recent_hour >= i64::from(append.limits.per_hour) {
                return Err(StoreError::RateLimited {
                    limit: "operations per hour",
                    retry_after_secs: 3600,
                });
            }
            if recent_day >= i64::from(append.limits.per_day) {
                return Err(StoreError::RateLimited {
                    limit: "operations per day",
                    retry_after_secs: 86_400,
                });
            }
            Ok(op_count)
        }
    }
}

fn encode_state(state: &DidState) -> String {
    serde_json::to_string(state).unwrap_or_else(|e| unreachable!("DidState always serializes: {e}"))
}

fn decode_record(
    state: &str,
    op_count: i64,
    created_ms: i64,
    updated_ms: i64,
) -> Result<DidRecord, StoreError> {
    Ok(DidRecord {
        state: serde_json::from_str(state)
            .map_err(|e| StoreError::Corrupt(format!("state: {e}")))?,
        op_count: u64::try_from(op_count)
            .map_err(|_| StoreError::Corrupt("negative op_count".into()))?,
        created: from_ms(created_ms)?,
        updated: from_ms(updated_ms)?,
    })
}

fn decode_op(
    position: i64,
    hash: &str,
    operation: &str,
    created_ms: i64,
) -> Result<StoredOp, StoreError> {
    let value = crate::json::parse_strict(operation.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("operation {hash}: {e}")))?;
    let operation = SignedOperation::from_value(value)
        .map_err(|e| StoreError::Corrupt(format!("operation {hash}: {e}")))?;
    Ok(StoredOp {
        position: u64::try_from(position)
            .map_err(|_| StoreError::Corrupt("negative position".into()))?,
        hash: OpHash::parse(hash)
            .ok_or_else(|| StoreError::Corrupt(format!("bad hash {hash:?}")))?,
        operation,
        created: from_ms(created_ms)?,
    })
}

fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("bad timestamp {ms}")))
}

/// Migrations compiled into the binary, so an installed `credence` needs no files beside it.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}
