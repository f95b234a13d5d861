//! PostgreSQL backend: several stateless issuer instances on one database. The issuer's
//! tables (and sqlx's migration bookkeeping) live in their own schema, [`SCHEMA`], unless the
//! URL sets a `search_path` itself, so the issuer can share a database with the registry,
//! whose migrations are numbered independently. Write transactions
//! run at READ COMMITTED; the statements that decide (`UPDATE status_lists ... WHERE allocated
//! < entries`, `UPDATE status_entries ... WHERE status = $3`) take the row lock they need and
//! re-check their condition on the latest committed row, and primary keys refuse the rest
//! (an index handed out twice, a record id reused).

use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

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
        include_str!("../../migrations/postgres/0001_issuer.sql"),
    ),
    (
        2,
        "oid4vci",
        include_str!("../../migrations/postgres/0002_oid4vci.sql"),
    ),
    (
        3,
        "rotation",
        include_str!("../../migrations/postgres/0003_rotation.sql"),
    ),
]);

/// The schema the issuer's tables live in when the URL does not choose one.
pub(super) const SCHEMA: &str = "credence_issuer";

/// A PostgreSQL-backed store.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and migrates (migrations take an advisory lock, so concurrent starts are safe).
    /// Creates [`SCHEMA`] and works inside it unless `url` chooses a `search_path`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut options: PgConnectOptions = url.parse()?;
        let chooses_schema = options
            .get_options()
            .is_some_and(|o| o.contains("search_path"));
        if !chooses_schema {
            let mut connection = PgConnection::connect_with(&options).await?;
            match sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
                .execute(&mut connection)
                .await
            {
                // Two instances starting at once: the loser of the race finds it made.
                Err(error) if !super::is_unique_violation(&error) => return Err(error.into()),
                _ => {}
            }
            connection.close().await?;
            options = options.options([("search_path", SCHEMA)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_with(options)
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
