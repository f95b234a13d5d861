//! Small in-memory read caches for hot registry answers (status lists, accreditations), bounded
//! in entries and, where the answer can change, in age.
//!
//! The store stays the source of truth. A service invalidates an entry when it writes through
//! this process; `max_age` bounds how long an answer can lag a write made by another instance
//! sharing the database (PostgreSQL deployments). Immutable answers (a pinned status list
//! version) are cached without an age limit.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use credence_registry::clock::Clock;

/// How long a mutable cached answer may lag a write made by another instance.
pub const SHARED_STORE_STALENESS: Duration = Duration::from_secs(1);

/// A bounded cache of `Arc<V>` by `K`, with an optional age limit.
pub struct FreshCache<K, V> {
    entries: quick_cache::sync::Cache<K, (DateTime<Utc>, Arc<V>)>,
    max_age: Option<Duration>,
    /// Where entry ages are read (the system clock; a test moves a manual one).
    clock: Clock,
}

impl<K: Eq + Hash + Clone, V> std::fmt::Debug for FreshCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshCache")
            .field("entries", &self.entries.len())
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V> FreshCache<K, V> {
    /// At most `capacity` entries, each answered for at most `max_age` (`None`: until evicted).
    pub fn new(capacity: usize, max_age: Option<Duration>) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity),
            max_age,
            clock: Clock::system(),
        }
    }

    /// The same, reading entry ages from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The cached value, if there is one young enough.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let (stored, value) = self.entries.get(key)?;
        match self.max_age {
            Some(max_age)
                if (self.clock.now() - stored)
                    .to_std()
                    .is_ok_and(|age| age > max_age) =>
            {
                None
            }
            _ => Some(value),
        }
    }

    pub fn insert(&self, key: K, value: Arc<V>) {
        self.entries.insert(key, (self.clock.now(), value));
    }

    /// Forgets `key`: the next read goes to the store.
    pub fn invalidate(&self, key: &K) {
        self.entries.remove(key);
    }

    /// The cached value, or `load`'s (which is then cached). Errors are not cached.
    pub async fn get_or_load<E, F>(&self, key: &K, load: F) -> Result<Arc<V>, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let value = Arc::new(load.await?);
        self.insert(key.clone(), value.clone());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let (clock, time) = Clock::manual(chrono::Utc::now());
        let cache = FreshCache::new(8, Some(Duration::from_millis(30))).with_clock(clock.clone());
        cache.insert("a", Arc::new(1));
        time.advance(chrono::Duration::milliseconds(30));
        assert_eq!(cache.get(&"a").as_deref(), Some(&1), "exactly max_age old");
        time.advance(chrono::Duration::milliseconds(1));
        assert_eq!(cache.get(&"a"), None, "too old");
        cache.insert("a", Arc::new(2));
        cache.invalidate(&"a");
        assert_eq!(cache.get(&"a"), None, "invalidated");

        let forever = FreshCache::new(8, None).with_clock(clock);
        forever.insert("b", Arc::new(3));
        time.advance(chrono::Duration::days(365));
        assert_eq!(forever.get(&"b").as_deref(), Some(&3));
    }
}
