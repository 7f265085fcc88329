//! `BoundedCache`: a map of rendered lookups capped in size and cleared when
//! full. User agents and geo records repeat a lot within and across batches;
//! clearing (rather than evicting one by one) keeps the hot path a single hash
//! lookup and the memory bounded.
//!
//! Keys such as user agents come from the internet, so the hash is seeded at
//! random per process ([`RandomWyHash`]): wyhash is several times faster than
//! the standard SipHash on 100-byte strings, and the random seed keeps crafted
//! collisions out of reach.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Builds wyhash hashers from a seed drawn at random once per map.
#[derive(Debug, Clone, Copy)]
pub struct RandomWyHash(u64);

impl Default for RandomWyHash {
    fn default() -> Self {
        Self(fastrand::u64(..))
    }
}

impl BuildHasher for RandomWyHash {
    type Hasher = wyhash::WyHash;

    fn build_hasher(&self) -> wyhash::WyHash {
        wyhash::WyHash::with_seed(self.0)
    }
}

/// A `HashMap` with [`RandomWyHash`].
pub type FastMap<K, V> = HashMap<K, V, RandomWyHash>;

/// A capped map: when an insert would pass `capacity` entries, it is cleared first.
#[derive(Debug, Clone)]
pub struct BoundedCache<K, V> {
    map: FastMap<K, V>,
    capacity: usize,
    clears: usize,
}

impl<K: Eq + Hash, V> BoundedCache<K, V> {
    /// A cache of at most `capacity` entries (0: nothing is kept).
    pub fn new(capacity: usize) -> Self {
        Self { map: FastMap::default(), capacity, clears: 0 }
    }

    /// The value cached for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// Keeps `value` for `key`, clearing the cache first when it is full.
    pub fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        if self.map.len() >= self.capacity {
            self.map.clear();
            self.clears += 1;
        }
        self.map.insert(key, value);
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many times the cache was cleared because it was full.
    pub fn clears(&self) -> usize {
        self.clears
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_full_cache_when_a_new_key_comes_then_it_is_cleared_and_stays_bounded() {
        let mut cache: BoundedCache<String, u32> = BoundedCache::new(2);
        cache.insert("a".into(), 1);
        cache.insert("b".into(), 2);
        assert_eq!(cache.get("a"), Some(&1));
        cache.insert("c".into(), 3);
        assert_eq!((cache.len(), cache.clears()), (1, 1));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("c"), Some(&3));
    }

    #[test]
    fn given_capacity_zero_when_inserting_then_nothing_is_kept() {
        let mut cache: BoundedCache<usize, u32> = BoundedCache::new(0);
        cache.insert(1, 1);
        assert!(cache.is_empty());
    }
}
