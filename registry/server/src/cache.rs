//! Small in-memory read caches for hot registry answers (status lists, accreditations), bounded
//! in entries and, where the answer can change, in age.
//!
//! The store stays the source of truth. A service invalidates an entry when it writes through
//! this process; `max_age` bounds how long an answer can lag a write made by another instance
//! sharing the database (PostgreSQL deployments). Immutable answers (a pinned status list
//! version) are cached without an age limit.

use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a mutable cached answer may lag a write made by another instance.
pub const SHARED_STORE_STALENESS: Duration = Duration::from_secs(1);

/// A bounded cache of `Arc<V>` by `K`, with an optional age limit.
pub struct FreshCache<K, V> {
    entries: quick_cache::sync::Cache<K, (Instant, Arc<V>)>,
    max_age: Option<Duration>,
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
        }
    }

    /// The cached value, if there is one young enough.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let (stored, value) = self.entries.get(key)?;
        match self.max_age {
            Some(max_age) if stored.elapsed() > max_age => None,
            _ => Some(value),
        }
    }

    pub fn insert(&self, key: K, value: Arc<V>) {
        self.entries.insert(key, (Instant::now(), value));
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
        let cache = FreshCache::new(8, Some(Duration::from_millis(30)));
        cache.insert("a", Arc::new(1));
        assert_eq!(cache.get(&"a").as_deref(), Some(&1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"a"), None, "too old");
        cache.insert("a", Arc::new(2));
        cache.invalidate(&"a");
        assert_eq!(cache.get(&"a"), None, "invalidated");

        let forever = FreshCache::new(8, None);
        forever.insert("b", Arc::new(3));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(forever.get(&"b").as_deref(), Some(&3));
    }
}
