//! PostgreSQL backend: several stateless issuer instances on one database. Write transactions
//! run at READ COMMITTED; the statements that decide (`UPDATE status_lists ... WHERE allocated
//! < entries`, `UPDATE status_entries ... WHERE status = $3`) take the row lock they need and
//! re-check their condition on the latest committed row, and primary keys refuse the rest
//! (an index handed out twice, a record id reused).

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use super::{
    Embedded, IssuanceRecord, RowCounts, StoreError, StoredAccessToken, StoredList, StoredOffer,
    StoredTenant, StoredType, Swept,
};
use crate::ids::{CredentialTypeId, RecordId, TenantId};
use crate::secrets::TokenHash;

const MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "issuer",
        include_str!("../../migrations/postgres/0001_issuer.sql"),
    ),
    (
        2,
        "oid4vci",
        include_str!("../../migrations/postgres/0002_oid4vci.sql"),
    ),
]);

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
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate::Migrator::new(MIGRATIONS)
            .await?
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }

    async fn begin_write(&self) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

super::impl_issuer_store!(PostgresStore);
