//! Storage: the only module that contains SQL. One narrow trait, [`DidStore`], with a SQLite
//! implementation (the embedded default) and a PostgreSQL one (several service instances on one
//! database); both pass the same conformance suite in `tests/it/store.rs`.
//!
//! The store validates nothing about operations (that is `ops.rs`); it guarantees atomicity and
//! order: every write (an operation with its position in the DID's chain and the cached state, a
//! schema, an accreditation or its revocation, a status list version, each with its log entry)
//! is one transaction whose first step takes the one write lock (SQLite `BEGIN IMMEDIATE`,
//! PostgreSQL the log's size row), and every check it makes (head, `vct` owner, list issuer,
//! already revoked) is made after that, so a second writer on the same `prev`, `vct`, list or
//! accreditation sees the first one's write and fails.
//!
//! The cached state in `dids.state` is stored as JCS, the form the operation is hashed, stored
//! and logged in: what is served is what a client rebuilds from the logged operation.

mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone as _, Utc};
use sqlx::migrate::{Migration, MigrationSource, MigrationType};

use credence_registry::did::Did;
use credence_registry::log::LogHash;
use credence_registry::ops::{DidState, OpHash, SignedOperation};

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
    /// The log entry that recorded it.
    pub log_index: Option<u64>,
}

/// The cached current state of a DID.
#[derive(Clone, Debug, PartialEq)]
pub struct DidRecord {
    pub state: DidState,
    pub op_count: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// A schema to publish (see `schemas.rs`), with its log entry.
#[derive(Clone, Copy, Debug)]
pub struct NewSchema<'a> {
    pub id: &'a str,
    pub vct: &'a str,
    pub publisher: &'a Did,
    /// A trust anchor may publish a new version of a `vct` someone else owns (and then owns
    /// it); anyone else only of a `vct` that is new or whose latest version it published.
    pub publisher_is_trust_anchor: bool,
    pub content: &'a str,
    pub jws: &'a str,
    pub now: DateTime<Utc>,
    pub log_entry: &'a [u8],
}

/// A published schema as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSchema {
    pub id: String,
    pub vct: String,
    pub publisher: Did,
    pub content: String,
    pub jws: String,
    pub created: DateTime<Utc>,
    pub log_index: u64,
}

/// An accreditation to record (see `trust.rs`), with its log entry.
#[derive(Clone, Copy, Debug)]
pub struct NewAccreditation<'a> {
    pub id: &'a str,
    pub subject: &'a Did,
    pub accreditor: &'a Did,
    pub types: &'a [credence_registry::ids::CredentialType],
    pub may_accredit: bool,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub jws: &'a str,
    pub now: DateTime<Utc>,
    pub log_entry: &'a [u8],
}

/// A status list version to publish (see `status.rs`), with its log entry.
#[derive(Clone, Copy, Debug)]
pub struct NewStatusList<'a> {
    pub key: &'a str,
    pub uri: &'a str,
    pub issuer: &'a Did,
    pub format: &'a str,
    pub version: i64,
    pub ttl_seconds: u64,
    pub jws: &'a str,
    pub now: DateTime<Utc>,
    pub log_entry: &'a [u8],
}

/// A status list version as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredStatusList {
    pub key: String,
    pub uri: String,
    pub issuer: Did,
    pub format: String,
    pub version: i64,
    pub ttl_seconds: u64,
    pub jws: String,
    pub log_index: u64,
}

/// A revocation of an accreditation by its accreditor, with its log entry.
#[derive(Clone, Copy, Debug)]
pub struct Revocation<'a> {
    pub id: &'a str,
    pub now: DateTime<Utc>,
    pub log_entry: &'a [u8],
}

/// An accreditation as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAccreditation {
    pub id: String,
    pub subject: Did,
    pub accreditor: Did,
    pub types: Vec<credence_registry::ids::CredentialType>,
    pub may_accredit: bool,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub jws: String,
    pub created: DateTime<Utc>,
    pub log_index: u64,
    pub revoked: Option<DateTime<Utc>>,
    pub revoked_log_index: Option<u64>,
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
    /// The canonical log entry recording this operation (`log::did_operation_entry`).
    pub log_entry: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A genesis for a DID that exists, or an operation hash already stored (a replay).
    #[error("already exists")]
    AlreadyExists,
    /// A schema's `vct` belongs to another publisher (the one of its latest version), or a
    /// status list's URI to another issuer.
    #[error("vct is published by {publisher}")]
    VctTaken { publisher: String },
    /// A status list version not newer than the current one (`current`, Unix ms).
    #[error("stale version; current is {current}")]
    StaleVersion { current: i64 },
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
    /// The whole group-commit transaction failed; this write was not made.
    #[error("the write batch failed: {0}")]
    BatchFailed(String),
    /// Stored data that does not decode: corruption or tampering.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How a store condition reaches a client: the conflicts callers cause are their own problems;
/// anything else is an internal error, logged and never shown.
impl From<StoreError> for credence_registry::error::Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AlreadyExists => {
                Self::Replayed("this operation or DID was already accepted".into())
            }
            StoreError::NotFound => Self::NotFound("the DID was not found".into()),
            StoreError::HeadMoved { head } => Self::ForkedHistory { head },
            StoreError::RateLimited {
                limit,
                retry_after_secs,
            } => Self::RateLimited {
                limit,
                retry_after_secs,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The persistence the registry needs, and nothing more.
#[async_trait]
pub trait DidStore: Send + Sync + 'static {
    /// Appends an operation and its log entry atomically (see the module doc); returns the
    /// entry's log index.
    async fn append(&self, append: Append<'_>) -> Result<u64, StoreError> {
        self.append_batch(&[append])
            .await?
            .pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("a batch of one gave no result".into())))
    }
    /// Appends several operations in one transaction, each atomically on its own (a refused
    /// one is rolled back to its savepoint): the group commit. `Err` means the whole batch
    /// failed and nothing was written.
    async fn append_batch(
        &self,
        batch: &[Append<'_>],
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError>;
    /// The cached current state, if the DID exists.
    async fn current(&self, did: &Did) -> Result<Option<DidRecord>, StoreError>;
    /// All operations of a DID in order (empty if it does not exist).
    async fn ops(&self, did: &Did) -> Result<Vec<StoredOp>, StoreError>;
    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;
    /// Publishes a schema and its log entry atomically; returns the log index.
    /// `AlreadyExists` if the id is taken; `VctTaken` if the vct's latest version is another
    /// publisher's and this one is not a trust anchor (see `NewSchema`).
    async fn publish_schema(&self, schema: NewSchema<'_>) -> Result<u64, StoreError>;
    async fn schema(&self, id: &str) -> Result<Option<StoredSchema>, StoreError>;
    /// The most recently published schema for `vct`.
    async fn latest_schema_for_vct(&self, vct: &str) -> Result<Option<StoredSchema>, StoreError>;
    /// Records an accreditation and its log entry atomically; `AlreadyExists` if the id is taken.
    async fn accredit(&self, accreditation: NewAccreditation<'_>) -> Result<u64, StoreError>;
    /// Marks an accreditation revoked, with its log entry; `NotFound` if there is none,
    /// `AlreadyExists` if it is already revoked.
    async fn revoke_accreditation(&self, revocation: Revocation<'_>) -> Result<u64, StoreError>;
    /// Every accreditation naming `subject`, oldest first.
    async fn accreditations_for(
        &self,
        subject: &Did,
    ) -> Result<Vec<StoredAccreditation>, StoreError>;
    async fn accreditation(&self, id: &str) -> Result<Option<StoredAccreditation>, StoreError>;
    /// Publishes a status list version and its log entry atomically. `StaleVersion` if not
    /// newer than the latest; `VctTaken` (reused: the key belongs to another issuer) if the
    /// list's URI is already another issuer's.
    async fn publish_status_list(&self, list: NewStatusList<'_>) -> Result<u64, StoreError>;
    /// The latest version of a list, or the given one.
    async fn status_list(
        &self,
        key: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredStatusList>, StoreError>;
    /// Number of entries in the log.
    async fn log_size(&self) -> Result<u64, StoreError>;
    /// Stored tree hashes by stored-hash index; fails with `Corrupt` if one is missing.
    async fn read_hashes(&self, indexes: &[u64]) -> Result<HashMap<u64, LogHash>, StoreError>;
    /// Log entries `start .. start + count` (fewer if the log is shorter).
    async fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Records a signed checkpoint (idempotent per size). For a size already recorded, a note
    /// that extends the stored one (the same signed checkpoint with more witness cosignatures
    /// appended) replaces it; any other note is ignored.
    async fn save_checkpoint(
        &self,
        size: u64,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The checkpoint with the largest size, if any.
    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError>;
    /// Claims the log for `verifier_key` unless a key claimed it before, in one atomic insert
    /// (of two instances claiming at once, exactly one wins); returns the key holding the
    /// claim, which is `verifier_key` only if it won now or before.
    async fn claim_log_key(&self, verifier_key: &str) -> Result<String, StoreError>;
}

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://...`.
pub async fn open(database_url: &str) -> Result<Arc<dyn DidStore>, StoreError> {
    open_within(database_url, std::time::Duration::from_secs(30)).await
}

/// `open`, giving up after `connect_timeout` if a PostgreSQL server does not accept a first
/// connection (with the cause, where the pool alone would retry quietly until its timeout).
pub async fn open_within(
    database_url: &str,
    connect_timeout: std::time::Duration,
) -> Result<Arc<dyn DidStore>, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresStore::connect_within(database_url, connect_timeout).await?,
        ))
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
const SELECT_OPS: &str = "SELECT position, hash, operation, created_ms, log_index FROM did_ops WHERE did = $1 ORDER BY position";
const COUNT_RECENT: &str = "SELECT COUNT(*) FROM did_ops WHERE did = $1 AND created_ms > $2";
const HASH_EXISTS: &str = "SELECT COUNT(*) FROM did_ops WHERE hash = $1";
const INSERT_DID: &str = "INSERT INTO dids (did, head, state, op_count, deactivated, created_ms, updated_ms) \
     VALUES ($1, $2, $3, 1, $4, $5, $5)";
const UPDATE_DID: &str = "UPDATE dids SET head = $2, state = $3, op_count = op_count + 1, deactivated = $4, \
     updated_ms = $5 WHERE did = $1";
const INSERT_OP: &str = "INSERT INTO did_ops (did, position, hash, prev, operation, created_ms, log_index) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const INSERT_ENTRY: &str =
    "INSERT INTO log_entries (idx, kind, entry, created_ms) VALUES ($1, $2, $3, $4)";
const UPDATE_LOG_SIZE: &str = "UPDATE log_state SET size = $1 WHERE id = 1";
const SELECT_ENTRIES: &str =
    "SELECT entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx";
const SELECT_LATEST_CHECKPOINT: &str =
    "SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1";
/// `save_checkpoint` for both backends: a note for a recorded size may only grow by cosignatures.
const SAVE_CHECKPOINT: &str = "INSERT INTO log_checkpoints (size, note, created_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (size) DO UPDATE SET note = excluded.note \
     WHERE length(excluded.note) > length(log_checkpoints.note) \
     AND substr(excluded.note, 1, length(log_checkpoints.note)) = log_checkpoints.note";
/// The first claim wins: a second insert of row 1 does nothing (on PostgreSQL it waits for the
/// first to commit, then does nothing).
const CLAIM_LOG_KEY: &str =
    "INSERT INTO log_key (id, verifier_key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";
const SELECT_LOG_KEY: &str = "SELECT verifier_key FROM log_key WHERE id = 1";

/// `SELECT id, hash FROM log_hashes WHERE id IN ($1, ..., $n)`.
fn select_hashes_sql(count: usize) -> String {
    let placeholders: Vec<String> = (1..=count).map(|i| format!("${i}")).collect();
    format!(
        "SELECT id, hash FROM log_hashes WHERE id IN ({})",
        placeholders.join(", ")
    )
}

/// `INSERT INTO log_hashes (id, hash) VALUES ($1, $2), ...` for `count` rows.
fn insert_hashes_sql(count: usize) -> String {
    let rows: Vec<String> = (0..count)
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    format!(
        "INSERT INTO log_hashes (id, hash) VALUES {}",
        rows.join(", ")
    )
}

/// Turns fetched `(id, hash)` rows into a map, checking that every index asked for came back.
fn collect_hashes(
    indexes: &[u64],
    rows: Vec<(i64, Vec<u8>)>,
) -> Result<std::collections::HashMap<u64, credence_registry::log::LogHash>, StoreError> {
    let mut hashes = HashMap::with_capacity(rows.len());
    for (id, bytes) in rows {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("log hash {id} is not 32 bytes")))?;
        hashes.insert(to_u64(id)?, LogHash(array));
    }
    if let Some(missing) = indexes.iter().find(|i| !hashes.contains_key(i)) {
        return Err(StoreError::Corrupt(format!(
            "log hash {missing} is missing"
        )));
    }
    Ok(hashes)
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{value} exceeds the database's integer range")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative index {value}")))
}

/// Sequence and integrate one log entry inside the caller's transaction: read the next index
/// (the size; the transaction holds the write lock, so no other writer can take it), compute the hashes it adds to the tree from the right edge, insert hashes
/// and entry, bump the size. Evaluates to `(index as i64, index)`.
macro_rules! log_append_in_transaction {
    ($tx:ident, entry = $entry:expr, kind = $kind:expr, now_ms = $now_ms:expr, lock_log = $lock_log:expr, map_err = $map_err:expr) => {{
        use credence_registry::log::TwoPass as _;
        let log_index: i64 = sqlx::query_scalar($lock_log).fetch_one(&mut *$tx).await?;
        let index = super::to_u64(log_index)?;
        let computation = credence_registry::log::AppendHashes {
            index,
            entry: $entry,
        };
        let needed = computation.needs();
        let known = if needed.is_empty() {
            std::collections::HashMap::new()
        } else {
            let sql = super::select_hashes_sql(needed.len());
            let mut query = sqlx::query_as::<_, (i64, Vec<u8>)>(&sql);
            for id in &needed {
                query = query.bind(super::to_i64(*id)?);
            }
            super::collect_hashes(&needed, query.fetch_all(&mut *$tx).await?)?
        };
        let new_hashes = computation
            .compute(&known)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let first = credence_registry::log::first_stored_index(index);
        let sql = super::insert_hashes_sql(new_hashes.len());
        let mut insert = sqlx::query(&sql);
        for (offset, hash) in new_hashes.iter().enumerate() {
            insert = insert
                .bind(super::to_i64(first + offset as u64)?)
                .bind(hash.0.to_vec());
        }
        insert.execute(&mut *$tx).await.map_err($map_err)?;
        sqlx::query(super::INSERT_ENTRY)
            .bind(log_index)
            .bind($kind)
            .bind($entry)
            .bind($now_ms)
            .execute(&mut *$tx)
            .await
            .map_err($map_err)?;
        sqlx::query(super::UPDATE_LOG_SIZE)
            .bind(log_index + 1)
            .execute(&mut *$tx)
            .await?;
        (log_index, index)
    }};
}
pub(crate) use log_append_in_transaction;

const SCHEMA_COLUMNS: &str = "id, vct, publisher, content, jws, created_ms, log_index";

fn decode_schema(
    row: (String, String, String, String, String, i64, i64),
) -> Result<StoredSchema, StoreError> {
    let (id, vct, publisher, content, jws, created_ms, log_index) = row;
    Ok(StoredSchema {
        id,
        vct,
        publisher: Did::parse(&publisher)
            .map_err(|e| StoreError::Corrupt(format!("schema publisher: {e}")))?,
        content,
        jws,
        created: from_ms(created_ms)?,
        log_index: to_u64(log_index)?,
    })
}

const ACCREDITATION_COLUMNS: &str = "id, subject, accreditor, types, may_accredit, valid_from_ms, valid_until_ms, jws, created_ms, log_index, revoked_ms, revoked_log_index";

type AccreditationRow = (
    String,
    String,
    String,
    String,
    bool,
    i64,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

fn decode_accreditation(row: AccreditationRow) -> Result<StoredAccreditation, StoreError> {
    let (
        id,
        subject,
        accreditor,
        types,
        may_accredit,
        from,
        until,
        jws,
        created,
        log_index,
        revoked,
        revoked_index,
    ) = row;
    let did = |text: &str| {
        Did::parse(text).map_err(|e| StoreError::Corrupt(format!("accreditation {id}: {e}")))
    };
    Ok(StoredAccreditation {
        subject: did(&subject)?,
        accreditor: did(&accreditor)?,
        types: serde_json::from_str(&types)
            .map_err(|e| StoreError::Corrupt(format!("accreditation types: {e}")))?,
        may_accredit,
        valid_from: from_ms(from)?,
        valid_until: from_ms(until)?,
        jws,
        created: from_ms(created)?,
        log_index: to_u64(log_index)?,
        revoked: revoked.map(from_ms).transpose()?,
        revoked_log_index: revoked_index.map(to_u64).transpose()?,
        id,
    })
}

/// The body of `accredit`, the same for both backends.
macro_rules! accredit_in_transaction {
    ($tx:ident, $new:ident, lock_log = $lock_log:expr, map_err = $map_err:expr) => {{
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accreditations WHERE id = $1")
            .bind($new.id)
            .fetch_one(&mut *$tx)
            .await?;
        if taken > 0 {
            return Err(StoreError::AlreadyExists);
        }
        let now_ms = $new.now.timestamp_millis();
        let (log_index, index) = super::log_append_in_transaction!(
            $tx,
            entry = $new.log_entry,
            kind = "accreditation",
            now_ms = now_ms,
            lock_log = $lock_log,
            map_err = $map_err
        );
        let types = serde_json::to_string($new.types).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO accreditations (id, subject, accreditor, types, may_accredit, valid_from_ms, valid_until_ms, jws, created_ms, log_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind($new.id)
        .bind($new.subject.as_str())
        .bind($new.accreditor.as_str())
        .bind(types)
        .bind($new.may_accredit)
        .bind($new.valid_from.timestamp_millis())
        .bind($new.valid_until.timestamp_millis())
        .bind($new.jws)
        .bind(now_ms)
        .bind(log_index)
        .execute(&mut *$tx)
        .await
        .map_err($map_err)?;
        index
    }};
}
pub(crate) use accredit_in_transaction;

type StatusListRow = (String, String, String, String, i64, i64, String, i64);

fn decode_status_list(row: StatusListRow) -> Result<StoredStatusList, StoreError> {
    let (key, uri, issuer, format, version, ttl, jws, log_index) = row;
    Ok(StoredStatusList {
        issuer: Did::parse(&issuer)
            .map_err(|e| StoreError::Corrupt(format!("status list {key}: {e}")))?,
        key,
        uri,
        format,
        version,
        ttl_seconds: to_u64(ttl)?,
        jws,
        log_index: to_u64(log_index)?,
    })
}

/// The body of `publish_status_list`, the same for both backends.
macro_rules! status_list_in_transaction {
    ($tx:ident, $list:ident, lock_log = $lock_log:expr, map_err = $map_err:expr) => {{
        let latest: Option<(String, i64)> =
            sqlx::query_as("SELECT issuer, version FROM status_lists WHERE key = $1 ORDER BY version DESC LIMIT 1")
                .bind($list.key)
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some((issuer, current)) = latest {
            if issuer != $list.issuer.as_str() {
                return Err(StoreError::VctTaken { publisher: issuer });
            }
            if $list.version <= current {
                return Err(StoreError::StaleVersion { current });
            }
        }
        let now_ms = $list.now.timestamp_millis();
        let (log_index, index) = super::log_append_in_transaction!(
            $tx,
            entry = $list.log_entry,
            kind = "statusList",
            now_ms = now_ms,
            lock_log = $lock_log,
            map_err = $map_err
        );
        sqlx::query(
            "INSERT INTO status_lists (key, uri, issuer, format, version, ttl_seconds, jws, created_ms, log_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($list.key)
        .bind($list.uri)
        .bind($list.issuer.as_str())
        .bind($list.format)
        .bind($list.version)
        .bind(super::to_i64($list.ttl_seconds)?)
        .bind($list.jws)
        .bind(now_ms)
        .bind(log_index)
        .execute(&mut *$tx)
        .await
        .map_err($map_err)?;
        index
    }};
}
pub(crate) use status_list_in_transaction;

/// The body of `revoke_accreditation`, the same for both backends.
macro_rules! revoke_in_transaction {
    ($tx:ident, $revocation:ident, lock_log = $lock_log:expr, map_err = $map_err:expr) => {{
        let revoked: Option<Option<i64>> = sqlx::query_scalar("SELECT revoked_ms FROM accreditations WHERE id = $1")
            .bind($revocation.id)
            .fetch_optional(&mut *$tx)
            .await?;
        match revoked {
            None => return Err(StoreError::NotFound),
            Some(Some(_)) => return Err(StoreError::AlreadyExists),
            Some(None) => {}
        }
        let now_ms = $revocation.now.timestamp_millis();
        let (log_index, index) = super::log_append_in_transaction!(
            $tx,
            entry = $revocation.log_entry,
            kind = "accreditationRevocation",
            now_ms = now_ms,
            lock_log = $lock_log,
            map_err = $map_err
        );
        sqlx::query("UPDATE accreditations SET revoked_ms = $1, revoked_log_index = $2 WHERE id = $3 AND revoked_ms IS NULL")
            .bind(now_ms)
            .bind(log_index)
            .bind($revocation.id)
            .execute(&mut *$tx)
            .await
            .map_err($map_err)?;
        index
    }};
}
pub(crate) use revoke_in_transaction;

/// The body of `publish_schema`, the same for both backends.
macro_rules! publish_schema_in_transaction {
    ($tx:ident, $schema:ident, lock_log = $lock_log:expr, map_err = $map_err:expr) => {{
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schemas WHERE id = $1")
            .bind($schema.id)
            .fetch_one(&mut *$tx)
            .await?;
        if taken > 0 {
            return Err(StoreError::AlreadyExists);
        }
        // The owner is the publisher of the latest version (README, "Schemas").
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT publisher FROM schemas WHERE vct = $1 ORDER BY log_index DESC LIMIT 1",
        )
        .bind($schema.vct)
        .fetch_optional(&mut *$tx)
        .await?;
        if let Some(owner) = owner.filter(|owner| owner != $schema.publisher.as_str()) {
            if !$schema.publisher_is_trust_anchor {
                return Err(StoreError::VctTaken { publisher: owner });
            }
        }
        let now_ms = $schema.now.timestamp_millis();
        let (log_index, index) = super::log_append_in_transaction!(
            $tx,
            entry = $schema.log_entry,
            kind = "schema",
            now_ms = now_ms,
            lock_log = $lock_log,
            map_err = $map_err
        );
        sqlx::query("INSERT INTO schemas (id, vct, publisher, content, jws, created_ms, log_index) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind($schema.id)
            .bind($schema.vct)
            .bind($schema.publisher.as_str())
            .bind($schema.content)
            .bind($schema.jws)
            .bind(now_ms)
            .bind(log_index)
            .execute(&mut *$tx)
            .await
            .map_err($map_err)?;
        index
    }};
}
pub(crate) use publish_schema_in_transaction;

/// The body of `append`, the same for both backends (the SQL is shared; only the transaction
/// type and the statements reading the head and the log size differ, which the backends pass
/// in; the backend has taken the write lock when the transaction began). A macro rather than a
/// generic function because sqlx's executor bounds for "any database" are longer than the body.
macro_rules! append_in_transaction {
    ($tx:ident, $append:ident, lock_did = $lock_did:expr, lock_log = $lock_log:expr, map_err = $map_err:expr) => {{
        let did = $append.did.as_str();
        let existing: Option<(String, i64)> = sqlx::query_as($lock_did)
            .bind(did)
            .fetch_optional(&mut *$tx)
            .await?;
        let now_ms = $append.now.timestamp_millis();
        let count = |since: i64| {
            sqlx::query_scalar::<_, i64>(super::COUNT_RECENT)
                .bind(did)
                .bind(since)
        };
        // A DID that does not exist yet has no recent operations, and no stored operation can
        // share its genesis hash (the hash derives the DID): three round trips saved per
        // create. UNIQUE constraints back this up.
        let (recent_hour, recent_day, hash_seen) = if existing.is_none() {
            (0, 0, 0)
        } else {
            let recent_hour = count(now_ms - 3_600_000).fetch_one(&mut *$tx).await?;
            let recent_day = count(now_ms - 86_400_000).fetch_one(&mut *$tx).await?;
            let hash_seen: i64 = sqlx::query_scalar(super::HASH_EXISTS)
                .bind($append.hash.as_str())
                .fetch_one(&mut *$tx)
                .await?;
            (recent_hour, recent_day, hash_seen)
        };
        let position =
            super::check_append(&$append, existing, recent_hour, recent_day, hash_seen > 0)?;

        let (log_index, index) = super::log_append_in_transaction!(
            $tx,
            entry = $append.log_entry,
            kind = "didOperation",
            now_ms = now_ms,
            lock_log = $lock_log,
            map_err = $map_err
        );

        let state = super::encode_state($append.new_state);
        let query = if position == 0 {
            super::INSERT_DID
        } else {
            super::UPDATE_DID
        };
        sqlx::query(query)
            .bind(did)
            .bind($append.hash.as_str())
            .bind(&state)
            .bind($append.new_state.deactivated)
            .bind(now_ms)
            .execute(&mut *$tx)
            .await
            .map_err($map_err)?;
        sqlx::query(super::INSERT_OP)
            .bind(did)
            .bind(position)
            .bind($append.hash.as_str())
            .bind($append.expected_head.map(|h| h.as_str()))
            .bind(String::from_utf8_lossy(&$append.operation.canonical_bytes()).as_ref())
            .bind(now_ms)
            .bind(log_index)
            .execute(&mut *$tx)
            .await
            .map_err($map_err)?;
        index
    }};
}
pub(crate) use append_in_transaction;

/// The read side, identical SQL on both backends, as inherent methods the trait impls call
/// (`async_trait` cannot see methods a macro generates inside the impl it rewrites).
macro_rules! read_methods {
    ($store:ty) => {
        impl $store {
            async fn read_current(&self, did: &Did) -> Result<Option<DidRecord>, StoreError> {
                let row = sqlx::query(super::SELECT_CURRENT)
                    .bind(did.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    super::decode_record(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)
                })
                .transpose()
            }

            async fn read_ops(&self, did: &Did) -> Result<Vec<StoredOp>, StoreError> {
                let rows = sqlx::query(super::SELECT_OPS)
                    .bind(did.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        super::decode_op(
                            r.try_get(0)?,
                            r.try_get(1)?,
                            r.try_get(2)?,
                            r.try_get(3)?,
                            r.try_get(4)?,
                        )
                    })
                    .collect()
            }

            async fn read_ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn read_log_size(&self) -> Result<u64, StoreError> {
                let size: i64 = sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?;
                super::to_u64(size)
            }

            async fn read_read_hashes(
                &self,
                indexes: &[u64],
            ) -> Result<std::collections::HashMap<u64, credence_registry::log::LogHash>, StoreError> {
                if indexes.is_empty() {
                    return Ok(std::collections::HashMap::new());
                }
                let sql = super::select_hashes_sql(indexes.len());
                let mut query = sqlx::query_as::<_, (i64, Vec<u8>)>(&sql);
                for id in indexes {
                    query = query.bind(super::to_i64(*id)?);
                }
                super::collect_hashes(indexes, query.fetch_all(&self.pool).await?)
            }

            async fn read_entries(
                &self,
                start: u64,
                count: u64,
            ) -> Result<Vec<Vec<u8>>, StoreError> {
                let end = start.saturating_add(count);
                Ok(sqlx::query_scalar(super::SELECT_ENTRIES)
                    .bind(super::to_i64(start)?)
                    .bind(super::to_i64(end)?)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn read_schema(&self, id: &str) -> Result<Option<StoredSchema>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM schemas WHERE id = $1",
                    super::SCHEMA_COLUMNS
                );
                let row = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::decode_schema).transpose()
            }

            async fn read_latest_schema_for_vct(
                &self,
                vct: &str,
            ) -> Result<Option<StoredSchema>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM schemas WHERE vct = $1 ORDER BY log_index DESC LIMIT 1",
                    super::SCHEMA_COLUMNS
                );
                let row = sqlx::query_as(&sql)
                    .bind(vct)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::decode_schema).transpose()
            }

            async fn read_accreditations_for(
                &self,
                subject: &Did,
            ) -> Result<Vec<StoredAccreditation>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM accreditations WHERE subject = $1 ORDER BY log_index",
                    super::ACCREDITATION_COLUMNS
                );
                let rows: Vec<super::AccreditationRow> = sqlx::query_as(&sql)
                    .bind(subject.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(super::decode_accreditation).collect()
            }

            async fn read_accreditation(
                &self,
                id: &str,
            ) -> Result<Option<StoredAccreditation>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM accreditations WHERE id = $1",
                    super::ACCREDITATION_COLUMNS
                );
                let row: Option<super::AccreditationRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::decode_accreditation).transpose()
            }

            async fn read_status_list(&self, key: &str, version: Option<i64>) -> Result<Option<StoredStatusList>, StoreError> {
            const COLUMNS: &str = "key, uri, issuer, format, version, ttl_seconds, jws, log_index";
            let row: Option<super::StatusListRow> = match version {
                Some(version) => {
                    sqlx::query_as(&format!("SELECT {COLUMNS} FROM status_lists WHERE key = $1 AND version = $2"))
                        .bind(key)
                        .bind(version)
                        .fetch_optional(&self.pool)
                        .await?
                }
                None => {
                    sqlx::query_as(&format!("SELECT {COLUMNS} FROM status_lists WHERE key = $1 ORDER BY version DESC LIMIT 1"))
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?
                }
            };
            row.map(super::decode_status_list).transpose()
        }

        async fn read_latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
                let row: Option<(i64, String)> = sqlx::query_as(super::SELECT_LATEST_CHECKPOINT)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(size, note)| Ok((super::to_u64(size)?, note)))
                    .transpose()
            }
        }
    };
}
pub(crate) use read_methods;

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

/// JCS, like the operation in `did_ops` and in the log: serde_json would keep what JCS rewrites
/// (an integer above 2^53, `1.0`), and the served document would then differ from the one a
/// client rebuilds from the logged operation.
fn encode_state(state: &DidState) -> String {
    serde_jcs::to_string(state).unwrap_or_else(|e| unreachable!("DidState always serializes: {e}"))
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
    log_index: Option<i64>,
) -> Result<StoredOp, StoreError> {
    let value = credence_registry::json::parse_strict(operation.as_bytes())
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
        log_index: log_index.map(to_u64).transpose()?,
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
