//! Storage: the only module with SQL. One narrow trait, [`IssuerStore`], implemented for
//! SQLite (the embedded default, [`SqliteStore`]) and PostgreSQL ([`PostgresStore`]) by one
//! macro over the same SQL (sqlx binds `$N` positionally on both), and checked by one
//! conformance suite (`tests/it/store.rs`) on both backends.
//!
//! What the store guarantees, and the domain relies on:
//! - a status index is handed out once: `status_entries` has the primary key `(list, idx)`,
//!   and [`IssuerStore::record_issuance`] inserts the entry and the record of issuance in one
//!   transaction, so there is never an allocation without its record nor a record without its
//!   allocation;
//! - a status changes only from the value the caller read ([`IssuerStore::set_status`] is a
//!   compare-and-set), and every change bumps the list's `version` in the same transaction, so
//!   the republisher cannot miss one.
//!
//! It validates nothing else: rules (which transitions are allowed, when a list is full) are
//! the domain's.

mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone as _, Utc};
use sqlx::migrate::{Migration, MigrationSource, MigrationType};

use crate::ids::{CredentialTypeId, Format, RecordId, TenantId};
use crate::secrets::TokenHash;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with this key exists (tenant id or DID, type id, list URI, record id).
    #[error("already exists")]
    AlreadyExists,
    /// The status index was handed out meanwhile (or the list filled up): draw another.
    #[error("status index taken")]
    IndexTaken,
    /// Stored data that does not decode: corruption or tampering.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The transaction of a group commit (`group_commit`) failed or did not finish; nothing
    /// of this record was written.
    #[error("group commit failed: {0}")]
    Batch(String),
}

/// A tenant as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTenant {
    pub id: TenantId,
    pub name: String,
    pub did: credence_registry::did::Did,
    /// The tenant's keys sealed under the master key (see `secrets::MasterKey::seal`).
    pub sealed_keys: Vec<u8>,
    pub created: DateTime<Utc>,
}

/// A tenant's key rotation begun and not yet finished or discarded: the next keys, sealed
/// like [`StoredTenant::sealed_keys`], stored before the registry saw them.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRotation {
    pub tenant: TenantId,
    pub sealed_keys: Vec<u8>,
    pub started: DateTime<Utc>,
}

/// A credential type as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredType {
    pub tenant: TenantId,
    pub id: CredentialTypeId,
    pub schema_id: String,
    pub vct: String,
    pub w3c_type: String,
    /// The registry's JSON Schema, kept so issuance validates without a registry round trip.
    pub schema: serde_json::Value,
    pub formats: Vec<Format>,
    /// RFC 6901 JSON Pointers.
    pub disclosable: Vec<String>,
    pub validity_seconds: i64,
    pub revocation: bool,
    pub suspension: bool,
    pub created: DateTime<Utc>,
}

/// A status list as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredList {
    pub uri: String,
    pub tenant: TenantId,
    pub entries: u32,
    pub allocated: u32,
    /// Bumped by every status change; 1 for a new list.
    pub version: i64,
    /// The version last published to the registry (0: never).
    pub published_version: i64,
    /// When it was last published (Unix ms; 0: never).
    pub published_ms: i64,
}

/// A record of issuance: what was issued, never the claims.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuanceRecord {
    pub id: RecordId,
    pub tenant: TenantId,
    pub type_id: CredentialTypeId,
    pub formats: Vec<Format>,
    /// The status list URI and index, when the type has status.
    pub status: Option<(String, u32)>,
    /// RFC 7638 thumbprint of the holder's key.
    pub holder_thumbprint: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub issued: DateTime<Utc>,
    /// Format name -> hex SHA-256 of the envelope as handed out.
    pub envelope_hashes: std::collections::BTreeMap<String, String>,
}

/// Where an OpenID4VCI offer is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferState {
    /// The pre-authorized code has not been redeemed.
    Offered,
    /// An access token was given out for it; the claims wait for the credential request.
    Redeemed,
    /// Credentials were issued; the claims are gone.
    Issued,
    /// It expired before being issued; the claims are gone.
    Expired,
}

impl OfferState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Redeemed => "redeemed",
            Self::Issued => "issued",
            Self::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        [Self::Offered, Self::Redeemed, Self::Issued, Self::Expired]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| StoreError::Corrupt(format!("offer state {text:?}")))
    }
}

/// An OpenID4VCI credential offer as stored: hashes of its secrets, and its claims while it
/// is open.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredOffer {
    /// SHA-256 of the offer id (the by-reference URL's last segment).
    pub id_hash: TokenHash,
    pub tenant: TenantId,
    pub type_id: CredentialTypeId,
    pub formats: Vec<Format>,
    /// The claims to issue; `None` once issued or expired.
    pub claims: Option<serde_json::Value>,
    /// What the wallet is told about the transaction code (never the code).
    pub tx_code: Option<crate::oid4vci::TxCodeHint>,
    /// The pre-authorized code grant: code and transaction code hashes, expiry, attempts.
    /// `grant.redeemed` mirrors `state != Offered`.
    pub grant: crate::oid4vci::CodeGrant,
    pub state: OfferState,
    pub created: DateTime<Utc>,
}

/// An access token as stored (its hash), bound to the offer it was given for.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAccessToken {
    pub token_hash: TokenHash,
    pub offer_hash: TokenHash,
    pub tenant: TenantId,
    pub expires_at: DateTime<Utc>,
    /// A credential request was accepted with it.
    pub used: bool,
}

/// What [`IssuerStore::sweep_oid4vci`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Offers whose claims were deleted because they expired.
    pub offers: u64,
    pub access_tokens: u64,
    pub nonces: u64,
}

/// How many rows each table holds (health checks, and tests asserting nothing was written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub tenants: i64,
    pub tokens: i64,
    pub types: i64,
    pub lists: i64,
    pub entries: i64,
    pub records: i64,
    pub offers: i64,
    /// Offers still holding claims (open offers).
    pub offer_claims: i64,
    pub access_tokens: i64,
    pub nonces: i64,
    /// Pending key rotations.
    pub rotations: i64,
}

/// The persistence the issuer needs, and nothing more.
#[async_trait]
pub trait IssuerStore: Send + Sync + 'static {
    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;
    /// Stores a tenant and its first token's hash together; `AlreadyExists` if the id or the
    /// DID is taken.
    async fn create_tenant(
        &self,
        tenant: &StoredTenant,
        token: &TokenHash,
    ) -> Result<(), StoreError>;
    async fn tenant(&self, id: &TenantId) -> Result<Option<StoredTenant>, StoreError>;
    /// The tenant a token (by its hash) belongs to.
    async fn tenant_for_token(&self, token: &TokenHash) -> Result<Option<TenantId>, StoreError>;
    /// The tenant a token (by its hash) belongs to, read whole in one query.
    async fn tenant_by_token(&self, token: &TokenHash) -> Result<Option<StoredTenant>, StoreError>;
    /// `AlreadyExists` if the tenant has a type with this id.
    async fn add_type(&self, credential_type: &StoredType) -> Result<(), StoreError>;
    async fn credential_type(
        &self,
        tenant: &TenantId,
        id: &CredentialTypeId,
    ) -> Result<Option<StoredType>, StoreError>;
    async fn credential_types(&self, tenant: &TenantId) -> Result<Vec<StoredType>, StoreError>;
    /// A new, empty status list (version 1, never published); `AlreadyExists` if the URI is
    /// taken.
    async fn create_list(&self, list: &StoredList, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// The tenant's lists, oldest first.
    async fn lists(&self, tenant: &TenantId) -> Result<Vec<StoredList>, StoreError>;
    /// Which of `candidates` are allocated in the list (a read: allocation itself is
    /// [`record_issuance`](Self::record_issuance)).
    async fn taken_indexes(
        &self,
        list_uri: &str,
        candidates: &[u32],
    ) -> Result<Vec<u32>, StoreError>;
    /// In one transaction: allocates the record's status entry (valid) if it has one, counting
    /// it in its list, and stores the record. `IndexTaken` if the index is taken or the list
    /// has no room left (nothing is written); `AlreadyExists` if the record id is taken.
    async fn record_issuance(&self, record: &IssuanceRecord) -> Result<(), StoreError>;
    /// [`record_issuance`](Self::record_issuance) of each record, all in one transaction (one
    /// commit, one fsync on SQLite): the outcome of each, in order (a refused record writes
    /// nothing, the others are kept). `Err` if the transaction
    /// itself failed: then nothing of the batch was written.
    async fn record_issuances(
        &self,
        records: &[IssuanceRecord],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError>;
    /// A record of `tenant` with its current status code, if the record exists *and* is this
    /// tenant's (another tenant's record is `None`, as if it did not exist).
    async fn record(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Option<(IssuanceRecord, Option<u8>)>, StoreError>;
    /// The tenant's records, newest first, at most `limit`.
    async fn records(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Vec<IssuanceRecord>, StoreError>;
    /// Compare-and-set of one entry's status: from `expected` to `new`, bumping the list's
    /// version. `Ok(false)` (nothing written) if the entry's status is not `expected`.
    async fn set_status(
        &self,
        list_uri: &str,
        index: u32,
        expected: u8,
        new: u8,
    ) -> Result<bool, StoreError>;
    /// Lists changed since their last publication (version > published_version).
    async fn dirty_lists(&self) -> Result<Vec<StoredList>, StoreError>;
    /// The allocated entries of a list and their status codes.
    async fn list_entries(&self, list_uri: &str) -> Result<Vec<(u32, u8)>, StoreError>;
    /// Records that `version` of the list was published at `now` (never lowers it: a slower
    /// publisher of an older version does not undo a newer one's mark).
    async fn mark_published(
        &self,
        list_uri: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn row_counts(&self) -> Result<RowCounts, StoreError>;

    // Key rotation (see `rotation.rs`).

    /// Stores a rotation's next keys; `AlreadyExists` if the tenant has a rotation pending.
    async fn begin_rotation(&self, pending: &PendingRotation) -> Result<(), StoreError>;
    /// The tenant's pending rotation, if any.
    async fn pending_rotation(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<PendingRotation>, StoreError>;
    /// Every pending rotation (start-up finishes or discards them).
    async fn pending_rotations(&self) -> Result<Vec<PendingRotation>, StoreError>;
    /// In one transaction: makes the pending keys (if they are still `sealed_keys`) the
    /// tenant's keys, deletes the pending row, and bumps the version of each of the tenant's
    /// status lists so that the republisher signs them again with the new key. `Ok(false)`,
    /// nothing written, if no such rotation is pending.
    async fn finish_rotation(
        &self,
        tenant: &TenantId,
        sealed_keys: &[u8],
    ) -> Result<bool, StoreError>;
    /// Deletes the pending rotation if its keys are `sealed_keys`; `Ok(false)` if it was not
    /// there.
    async fn discard_rotation(
        &self,
        tenant: &TenantId,
        sealed_keys: &[u8],
    ) -> Result<bool, StoreError>;

    // OpenID4VCI (see `offers.rs`). Every consuming operation is one conditional statement,
    // so of two concurrent attempts exactly one wins.

    /// Stores a new offer (state `Offered`); `AlreadyExists` if its id or code hash is taken.
    async fn create_offer(&self, offer: &StoredOffer) -> Result<(), StoreError>;
    /// The tenant's offer with this id hash.
    async fn offer(
        &self,
        tenant: &TenantId,
        id_hash: &TokenHash,
    ) -> Result<Option<StoredOffer>, StoreError>;
    /// The tenant's offer whose pre-authorized code has this hash.
    async fn offer_by_code(
        &self,
        tenant: &TenantId,
        code_hash: &TokenHash,
    ) -> Result<Option<StoredOffer>, StoreError>;
    /// Takes one transaction code attempt from an unredeemed offer (never below zero).
    async fn spend_tx_code_attempt(&self, code_hash: &TokenHash) -> Result<(), StoreError>;
    /// Redeems the offer of `code_hash` if it is still `Offered`, has attempts left and has
    /// not expired at `now`, and stores `token` for it, in one transaction; the offer then
    /// lives as long as its token. `Ok(false)`, nothing written, if any condition failed.
    async fn redeem_offer(
        &self,
        code_hash: &TokenHash,
        now: DateTime<Utc>,
        token: &StoredAccessToken,
    ) -> Result<bool, StoreError>;
    async fn access_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<StoredAccessToken>, StoreError>;
    /// Marks the token used if it is unused and unexpired at `now`; `Ok(false)` otherwise.
    async fn use_access_token(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The offer's credentials were issued: its claims are deleted.
    async fn finish_offer(&self, id_hash: &TokenHash) -> Result<(), StoreError>;
    async fn create_nonce(
        &self,
        tenant: &TenantId,
        nonce_hash: &TokenHash,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Whether the tenant handed out this nonce and it is unused and unexpired at `now` (a
    /// read; [`consume_nonce`](Self::consume_nonce) decides).
    async fn nonce_usable(
        &self,
        tenant: &TenantId,
        nonce_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes the nonce if it is the tenant's and unexpired at `now`; `Ok(false)` if it was
    /// not there (unknown, already consumed, or expired).
    async fn consume_nonce(
        &self,
        tenant: &TenantId,
        nonce_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes what expired by `now`: nonces, access tokens, and the claims of offers never
    /// issued (their rows stay, state `Expired`).
    async fn sweep_oid4vci(&self, now: DateTime<Utc>) -> Result<Swept, StoreError>;
}

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://...`.
pub async fn open(database_url: &str) -> Result<Arc<dyn IssuerStore>, StoreError> {
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

fn millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms} out of range")))
}

fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| unreachable!("plain data serializes"))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// An insert's outcome: a row that is already there (a primary or unique key) is
/// `AlreadyExists`, any other failure the database's.
fn inserted<T>(result: Result<T, sqlx::Error>) -> Result<(), StoreError> {
    match result {
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

type TenantRow = (String, String, String, Vec<u8>, i64);
type TypeRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
);
type ListRow = (String, String, i64, i64, i64, i64, i64);
type RecordRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    i64,
    i64,
    i64,
    String,
);

fn tenant_from_row(row: TenantRow) -> Result<StoredTenant, StoreError> {
    let (id, name, did, sealed_keys, created_ms) = row;
    Ok(StoredTenant {
        id: TenantId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name,
        did: credence_registry::did::Did::parse(&did)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        sealed_keys,
        created: millis(created_ms)?,
    })
}

fn type_from_row(row: TypeRow) -> Result<StoredType, StoreError> {
    let (
        tenant,
        id,
        schema_id,
        vct,
        w3c_type,
        schema,
        formats,
        disclosable,
        validity,
        rev,
        sus,
        created,
    ) = row;
    Ok(StoredType {
        tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        id: CredentialTypeId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        schema_id,
        vct,
        w3c_type,
        schema: from_json(&schema, "schema")?,
        formats: from_json(&formats, "formats")?,
        disclosable: from_json(&disclosable, "disclosable")?,
        validity_seconds: validity,
        revocation: rev != 0,
        suspension: sus != 0,
        created: millis(created)?,
    })
}

fn list_from_row(row: ListRow) -> Result<StoredList, StoreError> {
    let (uri, tenant, entries, allocated, version, published_version, published_ms) = row;
    Ok(StoredList {
        uri,
        tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        entries: to_u32(entries, "entries")?,
        allocated: to_u32(allocated, "allocated")?,
        version,
        published_version,
        published_ms,
    })
}

fn record_from_row(row: RecordRow) -> Result<IssuanceRecord, StoreError> {
    let (id, tenant, type_id, formats, list_uri, idx, thumbprint, from, until, issued, hashes) =
        row;
    let status = match (list_uri, idx) {
        (Some(uri), Some(idx)) => Some((uri, to_u32(idx, "index")?)),
        _ => None,
    };
    Ok(IssuanceRecord {
        id: RecordId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        type_id: CredentialTypeId::parse(&type_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        formats: from_json(&formats, "formats")?,
        status,
        holder_thumbprint: thumbprint,
        valid_from: millis(from)?,
        valid_until: millis(until)?,
        issued: millis(issued)?,
        envelope_hashes: from_json(&hashes, "envelope hashes")?,
    })
}

const SELECT_TENANT: &str =
    "SELECT id, name, did, sealed_keys, created_ms FROM tenants WHERE id = $1";
const SELECT_TYPE_COLUMNS: &str = "SELECT tenant_id, id, schema_id, vct, w3c_type, schema_json, formats, \
     disclosable, validity_seconds, revocation, suspension, created_ms FROM credential_types";
const SELECT_LIST_COLUMNS: &str = "SELECT uri, tenant_id, entries, allocated, version, \
     published_version, published_ms FROM status_lists";
const SELECT_RECORD_COLUMNS: &str = "SELECT id, tenant_id, type_id, formats, list_uri, idx, \
     holder_thumbprint, valid_from_ms, valid_until_ms, issued_ms, envelope_hashes FROM issuance_records";

type OfferRow = (
    Vec<u8>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Vec<u8>,
    Option<Vec<u8>>,
    i64,
    String,
    i64,
    i64,
);

fn hash_from_bytes(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash)
        .map_err(|_| StoreError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

fn offer_from_row(row: OfferRow) -> Result<StoredOffer, StoreError> {
    let (
        id_hash,
        tenant,
        type_id,
        formats,
        claims,
        hint,
        code_hash,
        tx_hash,
        attempts,
        state,
        expires,
        created,
    ) = row;
    let state = OfferState::parse(&state)?;
    Ok(StoredOffer {
        id_hash: hash_from_bytes(&id_hash)?,
        tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        type_id: CredentialTypeId::parse(&type_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        formats: from_json(&formats, "offer formats")?,
        claims: claims
            .map(|text| from_json(&text, "offer claims"))
            .transpose()?,
        tx_code: hint
            .map(|text| from_json(&text, "tx_code hint"))
            .transpose()?,
        grant: crate::oid4vci::CodeGrant {
            code_hash: hash_from_bytes(&code_hash)?,
            tx_code_hash: tx_hash.as_deref().map(hash_from_bytes).transpose()?,
            expires_at: millis(expires)?,
            attempts_left: to_u32(attempts, "attempts")?,
            redeemed: state != OfferState::Offered,
        },
        state,
        created: millis(created)?,
    })
}

const SELECT_ROTATION_COLUMNS: &str =
    "SELECT tenant_id, sealed_keys, started_ms FROM tenant_rotations";

fn rotation_from_row(row: (String, Vec<u8>, i64)) -> Result<PendingRotation, StoreError> {
    let (tenant, sealed_keys, started_ms) = row;
    Ok(PendingRotation {
        tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        sealed_keys,
        started: millis(started_ms)?,
    })
}

const SELECT_OFFER_COLUMNS: &str = "SELECT id_hash, tenant_id, type_id, formats, claims, tx_code_hint, \
     code_hash, tx_code_hash, attempts_left, state, expires_ms, created_ms FROM offers";

/// The trait's implementation for a backend: `$store` has a `pool` and an inherent
/// `begin_write()` that starts a transaction holding the write lock it needs (SQLite
/// `BEGIN IMMEDIATE`; PostgreSQL row locks taken by the statements themselves).
macro_rules! impl_issuer_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::IssuerStore for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_tenant(
                &self,
                tenant: &StoredTenant,
                token: &TokenHash,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query(
                    "INSERT INTO tenants (id, name, did, sealed_keys, created_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant.id.as_str())
                .bind(&tenant.name)
                .bind(tenant.did.as_str())
                .bind(&tenant.sealed_keys)
                .bind(tenant.created.timestamp_millis())
                .execute(&mut *tx)
                .await;
                super::inserted(inserted)?;
                sqlx::query("INSERT INTO tenant_tokens (token_hash, tenant_id, created_ms) VALUES ($1, $2, $3)")
                    .bind(token.0.as_slice())
                    .bind(tenant.id.as_str())
                    .bind(tenant.created.timestamp_millis())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn tenant(&self, id: &TenantId) -> Result<Option<StoredTenant>, StoreError> {
                let row: Option<super::TenantRow> = sqlx::query_as(super::SELECT_TENANT)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::tenant_from_row).transpose()
            }

            async fn tenant_for_token(
                &self,
                token: &TokenHash,
            ) -> Result<Option<TenantId>, StoreError> {
                let id: Option<String> =
                    sqlx::query_scalar("SELECT tenant_id FROM tenant_tokens WHERE token_hash = $1")
                        .bind(token.0.as_slice())
                        .fetch_optional(&self.pool)
                        .await?;
                id.map(|id| TenantId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string())))
                    .transpose()
            }

            async fn tenant_by_token(
                &self,
                token: &TokenHash,
            ) -> Result<Option<StoredTenant>, StoreError> {
                let row: Option<super::TenantRow> = sqlx::query_as(
                    "SELECT t.id, t.name, t.did, t.sealed_keys, t.created_ms FROM tenant_tokens k \
                     JOIN tenants t ON t.id = k.tenant_id WHERE k.token_hash = $1",
                )
                .bind(token.0.as_slice())
                .fetch_optional(&self.pool)
                .await?;
                row.map(super::tenant_from_row).transpose()
            }

            async fn add_type(&self, t: &StoredType) -> Result<(), StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO credential_types (tenant_id, id, schema_id, vct, w3c_type, schema_json, \
                     formats, disclosable, validity_seconds, revocation, suspension, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(t.tenant.as_str())
                .bind(t.id.as_str())
                .bind(&t.schema_id)
                .bind(&t.vct)
                .bind(&t.w3c_type)
                .bind(super::json_text(&t.schema))
                .bind(super::json_text(&t.formats))
                .bind(super::json_text(&t.disclosable))
                .bind(t.validity_seconds)
                .bind(i64::from(t.revocation))
                .bind(i64::from(t.suspension))
                .bind(t.created.timestamp_millis())
                .execute(&self.pool)
                .await;
                super::inserted(inserted)
            }

            async fn credential_type(
                &self,
                tenant: &TenantId,
                id: &CredentialTypeId,
            ) -> Result<Option<StoredType>, StoreError> {
                let sql = format!("{} WHERE tenant_id = $1 AND id = $2", super::SELECT_TYPE_COLUMNS);
                let row: Option<super::TypeRow> = sqlx::query_as(&sql)
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::type_from_row).transpose()
            }

            async fn credential_types(&self, tenant: &TenantId) -> Result<Vec<StoredType>, StoreError> {
                let sql = format!("{} WHERE tenant_id = $1 ORDER BY id", super::SELECT_TYPE_COLUMNS);
                let rows: Vec<super::TypeRow> = sqlx::query_as(&sql)
                    .bind(tenant.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(super::type_from_row).collect()
            }

            async fn create_list(&self, list: &StoredList, now: DateTime<Utc>) -> Result<(), StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO status_lists (uri, tenant_id, entries, allocated, version, \
                     published_version, published_ms, created_ms) VALUES ($1, $2, $3, 0, 1, 0, 0, $4)",
                )
                .bind(&list.uri)
                .bind(list.tenant.as_str())
                .bind(i64::from(list.entries))
                .bind(now.timestamp_millis())
                .execute(&self.pool)
                .await;
                super::inserted(inserted)
            }

            async fn lists(&self, tenant: &TenantId) -> Result<Vec<StoredList>, StoreError> {
                let sql = format!("{} WHERE tenant_id = $1 ORDER BY created_ms, uri", super::SELECT_LIST_COLUMNS);
                let rows: Vec<super::ListRow> = sqlx::query_as(&sql)
                    .bind(tenant.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(super::list_from_row).collect()
            }

            async fn taken_indexes(
                &self,
                list_uri: &str,
                candidates: &[u32],
            ) -> Result<Vec<u32>, StoreError> {
                if candidates.is_empty() {
                    return Ok(Vec::new());
                }
                let placeholders: Vec<String> =
                    (2..candidates.len() + 2).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "SELECT idx FROM status_entries WHERE list_uri = $1 AND idx IN ({})",
                    placeholders.join(", ")
                );
                let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(list_uri);
                for candidate in candidates {
                    query = query.bind(i64::from(*candidate));
                }
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|idx| super::to_u32(idx, "index"))
                    .collect()
            }

            async fn record_issuance(&self, record: &IssuanceRecord) -> Result<(), StoreError> {
                self.record_issuances(std::slice::from_ref(record))
                    .await?
                    .pop()
                    .unwrap_or_else(|| unreachable!("one outcome per record"))
            }

            async fn record_issuances(
                &self,
                records: &[IssuanceRecord],
            ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut outcomes = Vec::with_capacity(records.len());
                for record in records {
                    // Each statement either does its part or nothing (no statement fails on a
                    // refusal, so PostgreSQL's transaction stays usable without a savepoint per
                    // record); a refused record undoes what it did before the refusal.
                    if let Some((uri, index)) = &record.status {
                        // Counting first takes the list's row lock (PostgreSQL) and refuses a
                        // full list; the entry's primary key refuses an index handed out before.
                        let counted = sqlx::query(
                            "UPDATE status_lists SET allocated = allocated + 1 \
                             WHERE uri = $1 AND tenant_id = $2 AND allocated < entries AND $3 < entries",
                        )
                        .bind(uri)
                        .bind(record.tenant.as_str())
                        .bind(i64::from(*index))
                        .execute(&mut *tx)
                        .await?;
                        if counted.rows_affected() != 1 {
                            outcomes.push(Err(StoreError::IndexTaken));
                            continue;
                        }
                        let inserted = sqlx::query(
                            "INSERT INTO status_entries (list_uri, idx, status) VALUES ($1, $2, 0) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(uri)
                        .bind(i64::from(*index))
                        .execute(&mut *tx)
                        .await?;
                        if inserted.rows_affected() != 1 {
                            sqlx::query("UPDATE status_lists SET allocated = allocated - 1 WHERE uri = $1")
                                .bind(uri)
                                .execute(&mut *tx)
                                .await?;
                            outcomes.push(Err(StoreError::IndexTaken));
                            continue;
                        }
                    }
                    let (list_uri, idx) = match &record.status {
                        Some((uri, index)) => (Some(uri.as_str()), Some(i64::from(*index))),
                        None => (None, None),
                    };
                    let inserted = sqlx::query(
                        "INSERT INTO issuance_records (id, tenant_id, type_id, formats, list_uri, idx, \
                         holder_thumbprint, valid_from_ms, valid_until_ms, issued_ms, envelope_hashes) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                    )
                    .bind(record.id.as_str())
                    .bind(record.tenant.as_str())
                    .bind(record.type_id.as_str())
                    .bind(super::json_text(&record.formats))
                    .bind(list_uri)
                    .bind(idx)
                    .bind(&record.holder_thumbprint)
                    .bind(record.valid_from.timestamp_millis())
                    .bind(record.valid_until.timestamp_millis())
                    .bind(record.issued.timestamp_millis())
                    .bind(super::json_text(&record.envelope_hashes))
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() != 1 {
                        if let Some((uri, index)) = &record.status {
                            sqlx::query("DELETE FROM status_entries WHERE list_uri = $1 AND idx = $2")
                                .bind(uri)
                                .bind(i64::from(*index))
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query("UPDATE status_lists SET allocated = allocated - 1 WHERE uri = $1")
                                .bind(uri)
                                .execute(&mut *tx)
                                .await?;
                        }
                        outcomes.push(Err(StoreError::AlreadyExists));
                        continue;
                    }
                    outcomes.push(Ok(()));
                }
                tx.commit().await?;
                Ok(outcomes)
            }

            async fn record(
                &self,
                tenant: &TenantId,
                id: &RecordId,
            ) -> Result<Option<(IssuanceRecord, Option<u8>)>, StoreError> {
                let sql = format!("{} WHERE id = $1 AND tenant_id = $2", super::SELECT_RECORD_COLUMNS);
                let row: Option<super::RecordRow> = sqlx::query_as(&sql)
                    .bind(id.as_str())
                    .bind(tenant.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(record) = row.map(super::record_from_row).transpose()? else {
                    return Ok(None);
                };
                let status = match &record.status {
                    Some((uri, index)) => {
                        let code: i64 = sqlx::query_scalar(
                            "SELECT status FROM status_entries WHERE list_uri = $1 AND idx = $2",
                        )
                        .bind(uri)
                        .bind(i64::from(*index))
                        .fetch_one(&self.pool)
                        .await?;
                        Some(u8::try_from(code).map_err(|_| StoreError::Corrupt(format!("status {code}")))?)
                    }
                    None => None,
                };
                Ok(Some((record, status)))
            }

            async fn records(
                &self,
                tenant: &TenantId,
                limit: u32,
            ) -> Result<Vec<IssuanceRecord>, StoreError> {
                let sql = format!(
                    "{} WHERE tenant_id = $1 ORDER BY issued_ms DESC, id LIMIT $2",
                    super::SELECT_RECORD_COLUMNS
                );
                let rows: Vec<super::RecordRow> = sqlx::query_as(&sql)
                    .bind(tenant.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(super::record_from_row).collect()
            }

            async fn set_status(
                &self,
                list_uri: &str,
                index: u32,
                expected: u8,
                new: u8,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE status_entries SET status = $4 WHERE list_uri = $1 AND idx = $2 AND status = $3",
                )
                .bind(list_uri)
                .bind(i64::from(index))
                .bind(i64::from(expected))
                .bind(i64::from(new))
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("UPDATE status_lists SET version = version + 1 WHERE uri = $1")
                    .bind(list_uri)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn dirty_lists(&self) -> Result<Vec<StoredList>, StoreError> {
                let sql = format!(
                    "{} WHERE version > published_version ORDER BY created_ms, uri",
                    super::SELECT_LIST_COLUMNS
                );
                let rows: Vec<super::ListRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map(super::list_from_row).collect()
            }

            async fn list_entries(&self, list_uri: &str) -> Result<Vec<(u32, u8)>, StoreError> {
                let rows: Vec<(i64, i64)> =
                    sqlx::query_as("SELECT idx, status FROM status_entries WHERE list_uri = $1")
                        .bind(list_uri)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map(|(idx, status)| {
                        Ok((
                            super::to_u32(idx, "index")?,
                            u8::try_from(status)
                                .map_err(|_| StoreError::Corrupt(format!("status {status}")))?,
                        ))
                    })
                    .collect()
            }

            async fn mark_published(
                &self,
                list_uri: &str,
                version: i64,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE status_lists SET published_version = $2, published_ms = $3 \
                     WHERE uri = $1 AND published_version < $2",
                )
                .bind(list_uri)
                .bind(version)
                .bind(now.timestamp_millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn create_offer(&self, offer: &StoredOffer) -> Result<(), StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO offers (id_hash, tenant_id, type_id, formats, claims, tx_code_hint, \
                     code_hash, tx_code_hash, attempts_left, state, expires_ms, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(offer.id_hash.0.as_slice())
                .bind(offer.tenant.as_str())
                .bind(offer.type_id.as_str())
                .bind(super::json_text(&offer.formats))
                .bind(offer.claims.as_ref().map(super::json_text))
                .bind(offer.tx_code.as_ref().map(super::json_text))
                .bind(offer.grant.code_hash.0.as_slice())
                .bind(offer.grant.tx_code_hash.as_ref().map(|hash| hash.0.to_vec()))
                .bind(i64::from(offer.grant.attempts_left))
                .bind(offer.state.as_str())
                .bind(offer.grant.expires_at.timestamp_millis())
                .bind(offer.created.timestamp_millis())
                .execute(&self.pool)
                .await;
                super::inserted(inserted)
            }

            async fn offer(
                &self,
                tenant: &TenantId,
                id_hash: &TokenHash,
            ) -> Result<Option<StoredOffer>, StoreError> {
                let sql = format!("{} WHERE id_hash = $1 AND tenant_id = $2", super::SELECT_OFFER_COLUMNS);
                let row: Option<super::OfferRow> = sqlx::query_as(&sql)
                    .bind(id_hash.0.as_slice())
                    .bind(tenant.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::offer_from_row).transpose()
            }

            async fn offer_by_code(
                &self,
                tenant: &TenantId,
                code_hash: &TokenHash,
            ) -> Result<Option<StoredOffer>, StoreError> {
                let sql = format!("{} WHERE code_hash = $1 AND tenant_id = $2", super::SELECT_OFFER_COLUMNS);
                let row: Option<super::OfferRow> = sqlx::query_as(&sql)
                    .bind(code_hash.0.as_slice())
                    .bind(tenant.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::offer_from_row).transpose()
            }

            async fn spend_tx_code_attempt(&self, code_hash: &TokenHash) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE offers SET attempts_left = attempts_left - 1 \
                     WHERE code_hash = $1 AND state = 'offered' AND attempts_left > 0",
                )
                .bind(code_hash.0.as_slice())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn redeem_offer(
                &self,
                code_hash: &TokenHash,
                now: DateTime<Utc>,
                token: &StoredAccessToken,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let redeemed = sqlx::query(
                    "UPDATE offers SET state = 'redeemed', expires_ms = $3 \
                     WHERE code_hash = $1 AND state = 'offered' AND attempts_left > 0 AND expires_ms > $2",
                )
                .bind(code_hash.0.as_slice())
                .bind(now.timestamp_millis())
                .bind(token.expires_at.timestamp_millis())
                .execute(&mut *tx)
                .await?;
                if redeemed.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO access_tokens (token_hash, offer_hash, tenant_id, expires_ms, used) \
                     VALUES ($1, $2, $3, $4, 0)",
                )
                .bind(token.token_hash.0.as_slice())
                .bind(token.offer_hash.0.as_slice())
                .bind(token.tenant.as_str())
                .bind(token.expires_at.timestamp_millis())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn access_token(
                &self,
                token_hash: &TokenHash,
            ) -> Result<Option<StoredAccessToken>, StoreError> {
                let row: Option<(Vec<u8>, Vec<u8>, String, i64, i64)> = sqlx::query_as(
                    "SELECT token_hash, offer_hash, tenant_id, expires_ms, used FROM access_tokens \
                     WHERE token_hash = $1",
                )
                .bind(token_hash.0.as_slice())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(token_hash, offer_hash, tenant, expires, used)| {
                    Ok(StoredAccessToken {
                        token_hash: super::hash_from_bytes(&token_hash)?,
                        offer_hash: super::hash_from_bytes(&offer_hash)?,
                        tenant: TenantId::parse(&tenant)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        expires_at: super::millis(expires)?,
                        used: used != 0,
                    })
                })
                .transpose()
            }

            async fn use_access_token(
                &self,
                token_hash: &TokenHash,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let used = sqlx::query(
                    "UPDATE access_tokens SET used = 1 WHERE token_hash = $1 AND used = 0 AND expires_ms > $2",
                )
                .bind(token_hash.0.as_slice())
                .bind(now.timestamp_millis())
                .execute(&self.pool)
                .await?;
                Ok(used.rows_affected() == 1)
            }

            async fn finish_offer(&self, id_hash: &TokenHash) -> Result<(), StoreError> {
                sqlx::query("UPDATE offers SET claims = NULL, state = 'issued' WHERE id_hash = $1")
                    .bind(id_hash.0.as_slice())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_nonce(
                &self,
                tenant: &TenantId,
                nonce_hash: &TokenHash,
                expires_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO c_nonces (nonce_hash, tenant_id, expires_ms) VALUES ($1, $2, $3)")
                    .bind(nonce_hash.0.as_slice())
                    .bind(tenant.as_str())
                    .bind(expires_at.timestamp_millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn nonce_usable(
                &self,
                tenant: &TenantId,
                nonce_hash: &TokenHash,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT expires_ms FROM c_nonces WHERE nonce_hash = $1 AND tenant_id = $2 AND expires_ms > $3",
                )
                .bind(nonce_hash.0.as_slice())
                .bind(tenant.as_str())
                .bind(now.timestamp_millis())
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            async fn consume_nonce(
                &self,
                tenant: &TenantId,
                nonce_hash: &TokenHash,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM c_nonces WHERE nonce_hash = $1 AND tenant_id = $2 AND expires_ms > $3",
                )
                .bind(nonce_hash.0.as_slice())
                .bind(tenant.as_str())
                .bind(now.timestamp_millis())
                .execute(&self.pool)
                .await?;
                Ok(deleted.rows_affected() == 1)
            }

            async fn sweep_oid4vci(&self, now: DateTime<Utc>) -> Result<Swept, StoreError> {
                let now = now.timestamp_millis();
                let nonces = sqlx::query("DELETE FROM c_nonces WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let access_tokens = sqlx::query("DELETE FROM access_tokens WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let offers = sqlx::query(
                    "UPDATE offers SET claims = NULL, state = 'expired' \
                     WHERE claims IS NOT NULL AND expires_ms <= $1",
                )
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(Swept { offers, access_tokens, nonces })
            }

            async fn row_counts(&self) -> Result<RowCounts, StoreError> {
                let count = |table: &'static str| {
                    let pool = self.pool.clone();
                    async move {
                        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                            .fetch_one(&pool)
                            .await?;
                        Ok::<i64, StoreError>(n)
                    }
                };
                Ok(RowCounts {
                    tenants: count("tenants").await?,
                    tokens: count("tenant_tokens").await?,
                    types: count("credential_types").await?,
                    lists: count("status_lists").await?,
                    entries: count("status_entries").await?,
                    records: count("issuance_records").await?,
                    offers: count("offers").await?,
                    offer_claims: count("offers WHERE claims IS NOT NULL").await?,
                    access_tokens: count("access_tokens").await?,
                    nonces: count("c_nonces").await?,
                    rotations: count("tenant_rotations").await?,
                })
            }

            async fn begin_rotation(&self, pending: &PendingRotation) -> Result<(), StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO tenant_rotations (tenant_id, sealed_keys, started_ms) VALUES ($1, $2, $3)",
                )
                .bind(pending.tenant.as_str())
                .bind(&pending.sealed_keys)
                .bind(pending.started.timestamp_millis())
                .execute(&self.pool)
                .await;
                super::inserted(inserted)
            }

            async fn pending_rotation(
                &self,
                tenant: &TenantId,
            ) -> Result<Option<PendingRotation>, StoreError> {
                let sql = format!("{} WHERE tenant_id = $1", super::SELECT_ROTATION_COLUMNS);
                let row: Option<(String, Vec<u8>, i64)> = sqlx::query_as(&sql)
                    .bind(tenant.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(super::rotation_from_row).transpose()
            }

            async fn pending_rotations(&self) -> Result<Vec<PendingRotation>, StoreError> {
                let sql = format!("{} ORDER BY started_ms, tenant_id", super::SELECT_ROTATION_COLUMNS);
                let rows: Vec<(String, Vec<u8>, i64)> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map(super::rotation_from_row).collect()
            }

            async fn finish_rotation(
                &self,
                tenant: &TenantId,
                sealed_keys: &[u8],
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                // The DELETE decides: of two finishers (or a finisher and a discarder) one
                // deletes the row, and only that one installs the keys.
                let deleted = sqlx::query(
                    "DELETE FROM tenant_rotations WHERE tenant_id = $1 AND sealed_keys = $2",
                )
                .bind(tenant.as_str())
                .bind(sealed_keys)
                .execute(&mut *tx)
                .await?;
                if deleted.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("UPDATE tenants SET sealed_keys = $2 WHERE id = $1")
                    .bind(tenant.as_str())
                    .bind(sealed_keys)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE status_lists SET version = version + 1 WHERE tenant_id = $1")
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn discard_rotation(
                &self,
                tenant: &TenantId,
                sealed_keys: &[u8],
            ) -> Result<bool, StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM tenant_rotations WHERE tenant_id = $1 AND sealed_keys = $2",
                )
                .bind(tenant.as_str())
                .bind(sealed_keys)
                .execute(&self.pool)
                .await?;
                Ok(deleted.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_issuer_store;

/// Migrations compiled into the binary, so an installed `credence` needs no files beside it.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

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
