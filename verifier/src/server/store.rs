//! The verifier service's only SQL: OpenID4VP requests, on SQLite (the embedded default, a
//! file of its own in the verifier's data directory, so its migrations table is apart from the
//! registry's and the issuer's) or PostgreSQL (the tables and sqlx's bookkeeping in the schema
//! [`PG_SCHEMA`] unless the URL sets a `search_path`). Same SQL text on both (`$N` binds).
//!
//! Single use is one statement: [`RequestStore::consume`] moves a request from `pending` to
//! `verifying` with `UPDATE .. WHERE status = 'pending' AND expires_ms > now`; of two racing
//! responses (or a replay), exactly one sees a row changed.

use std::borrow::Cow;
use std::str::FromStr as _;

use chrono::{DateTime, TimeZone as _, Utc};
use sqlx::migrate::{Migration, MigrationSource, MigrationType};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, PgPool, SqlitePool};

/// The schema the verifier's tables live in on PostgreSQL when the URL does not choose one.
pub const PG_SCHEMA: &str = "credence_verifier";

/// A store failure: the database, never the client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    /// A response consumed it and is being verified.
    Verifying,
    Verified,
    Failed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Verifying => "verifying",
            RequestStatus::Verified => "verified",
            RequestStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(RequestStatus::Pending),
            "verifying" => Ok(RequestStatus::Verifying),
            "verified" => Ok(RequestStatus::Verified),
            "failed" => Ok(RequestStatus::Failed),
            other => Err(StoreError::Corrupt(format!("status {other:?}"))),
        }
    }
}

/// One stored request.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub id: String,
    pub nonce: String,
    pub state: String,
    pub response_mode: String,
    pub dcql_query: String,
    pub purpose: Option<String>,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub status: RequestStatus,
    pub result: Option<String>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The requests table, on either backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RequestStore {
    pool: Pool,
}

/// Runs the same query text on whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    String,
    Option<String>,
);

const COLUMNS: &str = "id, nonce, state, response_mode, dcql_query, purpose, created_ms, \
                       expires_ms, status, result";

fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms}")))
}

fn from_row(row: Row) -> Result<StoredRequest, StoreError> {
    Ok(StoredRequest {
        id: row.0,
        nonce: row.1,
        state: row.2,
        response_mode: row.3,
        dcql_query: row.4,
        purpose: row.5,
        created: time(row.6)?,
        expires: time(row.7)?,
        status: RequestStatus::parse(&row.8)?,
        result: row.9,
    })
}

impl RequestStore {
    /// Opens (creating an SQLite file if missing) and migrates.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            sqlx::migrate::Migrator::new(SQLITE_MIGRATIONS)
                .await?
                .run(&pool)
                .await?;
            Ok(Self {
                pool: Pool::Sqlite(pool),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut options: PgConnectOptions = url.parse()?;
            let chooses_schema = options
                .get_options()
                .is_some_and(|o| o.contains("search_path"));
            if !chooses_schema {
                let mut connection = PgConnection::connect_with(&options).await?;
                match sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
                    .execute(&mut connection)
                    .await
                {
                    // Two instances starting at once: the loser finds it made.
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
                connection.close().await?;
                options = options.options([("search_path", PG_SCHEMA)]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(30))
                .connect_with(options)
                .await?;
            sqlx::migrate::Migrator::new(POSTGRES_MIGRATIONS)
                .await?
                .run(&pool)
                .await?;
            Ok(Self {
                pool: Pool::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Records a new pending request.
    pub async fn insert(&self, request: &StoredRequest) -> Result<(), StoreError> {
        let sql = "INSERT INTO openid4vp_requests (id, nonce, state, response_mode, dcql_query, \
                   purpose, created_ms, expires_ms, status) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&request.id)
                .bind(&request.nonce)
                .bind(&request.state)
                .bind(&request.response_mode)
                .bind(&request.dcql_query)
                .bind(&request.purpose)
                .bind(request.created.timestamp_millis())
                .bind(request.expires.timestamp_millis())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM openid4vp_requests WHERE id = $1");
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(from_row).transpose()
    }

    /// Takes a pending, unexpired request for verification: `true` for exactly one caller.
    pub async fn consume(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let sql = "UPDATE openid4vp_requests SET status = 'verifying', answered_ms = $2 \
                   WHERE id = $1 AND status = 'pending' AND expires_ms > $2";
        let changed = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(now.timestamp_millis())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Fails a pending request that a response reached after its expiry: `true` if it did.
    pub async fn expire(
        &self,
        id: &str,
        now: DateTime<Utc>,
        result: &str,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE openid4vp_requests SET status = 'failed', result = $3, answered_ms = $2 \
                   WHERE id = $1 AND status = 'pending' AND expires_ms <= $2";
        let changed = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(now.timestamp_millis())
                .bind(result)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Records the outcome of a consumed request.
    pub async fn finish(
        &self,
        id: &str,
        status: RequestStatus,
        result: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE openid4vp_requests SET status = $2, result = $3 \
                   WHERE id = $1 AND status = 'verifying'";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(status.as_str())
                .bind(result)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// How many requests are stored (tests' "nothing was written").
    pub async fn count(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM openid4vp_requests";
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(sql).fetch_one(pool).await?
        });
        Ok(n)
    }
}

/// Migrations compiled into the binary.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

const SQLITE_MIGRATIONS: Embedded = Embedded(&[(
    1,
    "openid4vp",
    include_str!("../../migrations/sqlite/0001_openid4vp.sql"),
)]);

const POSTGRES_MIGRATIONS: Embedded = Embedded(&[(
    1,
    "openid4vp",
    include_str!("../../migrations/postgres/0001_openid4vp.sql"),
)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
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
                .collect())
        })
    }
}
