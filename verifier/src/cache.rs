//! A small time-keyed cache: what the pipeline fetched (issuer documents as of a time, status
//! lists, accreditation answers, compiled schemas) kept until an expiry the caller computes from
//! the `now` it was given. It never reads the clock, so tests move time by passing a later
//! `now`, and a verification "as of" a past moment sees what was cached as of then.
//!
//! Bounded: when full, expired entries go first, then everything (a verifier that meets more
//! distinct issuers and lists than the capacity refetches; it never grows without limit).
//! Values are `Arc`s, so a hit costs a lock, a hash and a reference count.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// A value and when it expires.
type Entry<V> = (DateTime<Utc>, Arc<V>);

#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    capacity: usize,
}

impl<K: Eq + Hash, V> TtlCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value under `key` if it has not expired at `now`.
    pub(crate) fn get(&self, key: &K, now: DateTime<Utc>) -> Option<Arc<V>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(expires, _)| now < *expires)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` under `key` until `expires`.
    pub(crate) fn insert(&self, key: K, value: Arc<V>, now: DateTime<Utc>, expires: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (expires, value));
    }
}
