//! SQLite backend: the embedded default. WAL journal with `synchronous = FULL` so that an
//! acknowledged commit survives a crash, and `BEGIN IMMEDIATE` for write transactions, which
//! then hold the database's write lock from their first statement (no lock upgrade deadlock,
//! and every check they make sees every earlier write).

use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{
    Embedded, IssuanceRecord, PendingRotation, RowCounts, StoreError, StoredAccessToken,
    StoredList, StoredOffer, StoredTenant, StoredType, Swept,
};
use crate::ids::{CredentialTypeId, RecordId, TenantId};
use crate::secrets::TokenHash;

const MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "issuer",
        include_str!("../../migrations/sqlite/0001_issuer.sql"),
    ),
    (
        2,
        "oid4vci",
        include_str!("../../migrations/sqlite/0002_oid4vci.sql"),
    ),
    (
        3,
        "rotation",
        include_str!("../../migrations/sqlite/0003_rotation.sql"),
    ),
]);

/// An SQLite-backed store.
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

    async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

super::impl_issuer_store!(SqliteStore);
