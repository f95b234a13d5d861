//! The status list hosting service: admits issuer-signed list versions (the checks themselves
//! are in `credence_registry::status`), stores and logs each version, and serves the latest or
//! a pinned version from a cache.
//!
//! No HTTP and no SQL here.

use std::sync::Arc;

use chrono::{TimeZone as _, Utc};
use credence_registry::error::Error;
use credence_registry::resolver::Resolver;
use credence_registry::status::*;
use credence_registry::wire::{StatusFormat, StatusListVersion};

use crate::cache::{FreshCache, SHARED_STORE_STALENESS};
use crate::store::{DidStore, NewStatusList, StoreError, StoredStatusList};

/// The status list service.
#[derive(Clone)]
pub struct StatusLists {
    store: Arc<dyn DidStore>,
    resolver: Arc<Resolver>,
    trust: Arc<crate::trust::TrustRegistry>,
    latest: Arc<FreshCache<String, StatusListVersion>>,
    pinned: Arc<FreshCache<(String, i64), StatusListVersion>>,
    clock: credence_registry::clock::Clock,
}

/// Lists (and pinned versions) kept in memory.
const CACHED_LISTS: usize = 4096;

impl std::fmt::Debug for StatusLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusLists").finish_non_exhaustive()
    }
}

impl StatusLists {
    pub fn new(
        store: Arc<dyn DidStore>,
        resolver: Arc<Resolver>,
        trust: Arc<crate::trust::TrustRegistry>,
    ) -> Self {
        Self {
            store,
            resolver,
            trust,
            latest: Arc::new(FreshCache::new(CACHED_LISTS, Some(SHARED_STORE_STALENESS))),
            pinned: Arc::new(FreshCache::new(CACHED_LISTS, None)),
            clock: credence_registry::clock::Clock::system(),
        }
    }

    /// The same service reading the time from `clock`.
    pub fn with_clock(mut self, clock: credence_registry::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Accepts a new version of a status list.
    pub async fn publish(&self, jws: &str) -> Result<Arc<StatusListVersion>, Error> {
        let jws = jws.trim();
        credence_registry::error::check_size("status list", jws, MAX_LIST_JWS_BYTES)?;
        let (issuer, uri) = peek(jws)?;
        check_list_uri(&uri, &issuer)?;
        if let Err(reason) = self.trust.check_accredited_now(&issuer).await? {
            return Err(Error::Forbidden(format!(
                "only trust anchors and accredited issuers may publish status lists: {reason}"
            )));
        }
        let (signed, claims) = verify_list(&self.resolver, jws).await?;
        // The checks above judged what `peek` read, which the two formats name in more than one
        // member. Checking the verified claims' URI too ties it to the verified issuer as well,
        // so both readings name one issuer: the one whose accreditation was checked.
        check_list_uri(&claims.uri, &claims.issuer)?;
        // Signed by a key authorized now (checked by `verify`) that was already authorized
        // when the list says it was issued, and not issued in the future.
        credence_registry::signed::check_authorized_at(
            &self.resolver,
            &signed,
            "assertionMethod",
            claims.issued,
            self.clock.now(),
        )
        .await?;
        if claims.list.len() < MIN_ENTRIES {
            return Err(Error::InvalidStatusList(format!(
                "the list has {} entries; at least {MIN_ENTRIES} are required for herd privacy",
                claims.list.len()
            )));
        }
        let key = list_key(&claims.uri);
        let version = claims.issued.timestamp_millis();
        let entry = claims.log_entry(jws).to_log_bytes()?;
        let record = NewStatusList {
            key: &key,
            uri: &claims.uri,
            issuer: &claims.issuer,
            format: claims.format.name(),
            version,
            ttl_seconds: claims.ttl_seconds,
            jws,
            now: self.clock.now(),
            log_entry: &entry,
        };
        match self.store.publish_status_list(record).await {
            Ok(_) => {}
            Err(StoreError::StaleVersion { current }) => {
                return Err(Error::StaleStatusList(format!(
                    "this version (issued {}) is not newer than the current one ({})",
                    claims.issued,
                    Utc.timestamp_millis_opt(current)
                        .single()
                        .map_or_else(|| current.to_string(), |t| t.to_rfc3339())
                )));
            }
            Err(StoreError::VctTaken { publisher }) => {
                return Err(Error::Forbidden(format!(
                    "the list {} belongs to {publisher}",
                    claims.uri
                )));
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(%key, uri = claims.uri, issuer = %claims.issuer, "status list published");
        self.latest.invalidate(&key.to_string());
        self.get(&key, Some(version)).await
    }

    /// The latest version of a list, or a given one.
    pub async fn get(
        &self,
        key: &str,
        version: Option<i64>,
    ) -> Result<Arc<StatusListVersion>, Error> {
        match version {
            None => {
                self.latest
                    .get_or_load(&key.to_owned(), self.load(key, None))
                    .await
            }
            Some(version) => {
                self.pinned
                    .get_or_load(&(key.to_owned(), version), self.load(key, Some(version)))
                    .await
            }
        }
    }

    async fn load(&self, key: &str, version: Option<i64>) -> Result<StatusListVersion, Error> {
        let stored = self.store.status_list(key, version).await?.ok_or_else(|| {
            Error::StatusListNotFound(format!(
                "no status list {key:?}{}",
                version
                    .map(|v| format!(" at version {v}"))
                    .unwrap_or_default()
            ))
        })?;
        view(stored)
    }
}

fn view(stored: StoredStatusList) -> Result<StatusListVersion, Error> {
    Ok(StatusListVersion {
        key: stored
            .key
            .parse()
            .map_err(|e| Error::Internal(format!("stored status list: {e}")))?,
        uri: stored.uri,
        issuer: stored.issuer,
        format: StatusFormat::from_name(&stored.format)
            .ok_or_else(|| Error::Internal(format!("stored format {:?}", stored.format)))?,
        version: stored.version,
        ttl_seconds: stored.ttl_seconds,
        log_index: stored.log_index.into(),
        jws: stored.jws,
    })
}
