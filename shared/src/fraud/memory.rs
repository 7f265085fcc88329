//! `MemoryUserState`: the in-memory twin of the DynamoDB table, with the same
//! item (version, encoded state, expiry) and the same conditional writes. It
//! yields to the runtime on every call, as a network call would, so two
//! handler calls joined in one test interleave like two Lambda invocations.
//! Faults can be injected per key: unreadable keys, failing writes, and
//! another writer getting there first (conflicts).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::state::Key;
use super::store::{encode_for_save, Loaded, Save, StateError, Stored, UserState};
use crate::deadline::Deadline;

/// One stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    version: u64,
    bytes: Vec<u8>,
    expires_at_s: i64,
}

#[derive(Debug, Default)]
struct Inner {
    items: HashMap<String, Item>,
    unavailable: HashSet<String>,
    failing_saves: HashMap<String, usize>,
    interfering: HashMap<String, usize>,
    calls: Calls,
}

/// How the twin was used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// [`UserState::load`] calls.
    pub loads: usize,
    /// Keys asked for by those calls.
    pub keys_loaded: usize,
    /// [`UserState::reload`] calls.
    pub reloads: usize,
    /// Writes that succeeded.
    pub saves: usize,
    /// Writes refused as conflicts.
    pub conflicts: usize,
}

/// The in-memory twin of the state table.
#[derive(Debug, Default)]
pub struct MemoryUserState {
    inner: Mutex<Inner>,
}

impl MemoryUserState {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored state of `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Stored> {
        let item = self.lock().items.get(&key.pk()).cloned()?;
        Some(Stored::from_bytes(key, item.version, &item.bytes))
    }

    /// The expiry (seconds since the epoch) of `key`'s item, if any.
    pub fn expires_at(&self, key: &Key) -> Option<i64> {
        self.lock().items.get(&key.pk()).map(|i| i.expires_at_s)
    }

    /// The encoded size of `key`'s item, if any.
    pub fn item_bytes(&self, key: &Key) -> Option<usize> {
        self.lock().items.get(&key.pk()).map(|i| i.bytes.len())
    }

    /// How many items are stored.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether no item is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores raw bytes for `key` (e.g. a damaged state).
    pub fn put_bytes(&self, key: &Key, version: u64, bytes: Vec<u8>) {
        self.lock().items.insert(key.pk(), Item { version, bytes, expires_at_s: 0 });
    }

    /// Makes `key` unreadable (loads report it unavailable) until [`MemoryUserState::heal`].
    pub fn make_unavailable(&self, key: &Key) {
        self.lock().unavailable.insert(key.pk());
    }

    /// Makes the next `times` writes of `key` fail with a service error.
    pub fn fail_saves(&self, key: &Key, times: usize) {
        self.lock().failing_saves.insert(key.pk(), times);
    }

    /// Makes the next `times` writes of `key` find that another writer got
    /// there first: the item's version moves on (its state unchanged) and the
    /// write is a conflict.
    pub fn interfere(&self, key: &Key, times: usize) {
        self.lock().interfering.insert(key.pk(), times);
    }

    /// Removes every injected fault.
    pub fn heal(&self) {
        let mut inner = self.lock();
        inner.unavailable.clear();
        inner.failing_saves.clear();
        inner.interfering.clear();
    }

    /// How the twin was used so far.
    pub fn calls(&self) -> Calls {
        self.lock().calls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Takes one from a per-key fault counter; says whether the fault applies now.
fn take_fault(faults: &mut HashMap<String, usize>, pk: &str) -> bool {
    match faults.get_mut(pk) {
        Some(left) if *left > 0 => {
            *left -= 1;
            true
        }
        _ => false,
    }
}

#[async_trait]
impl UserState for MemoryUserState {
    async fn load(&self, keys: &[Key], _deadline: Deadline) -> Loaded {
        tokio::task::yield_now().await;
        let mut inner = self.lock();
        inner.calls.loads += 1;
        inner.calls.keys_loaded += keys.len();
        let mut loaded = Loaded::default();
        for key in keys {
            let pk = key.pk();
            if inner.unavailable.contains(&pk) {
                loaded.unavailable.insert(key.clone(), "injected: key unavailable".into());
                continue;
            }
            let stored = match inner.items.get(&pk) {
                Some(item) => Stored::from_bytes(key, item.version, &item.bytes),
                None => Stored::new(key),
            };
            loaded.states.insert(key.clone(), stored);
        }
        loaded
    }

    async fn reload(&self, key: &Key) -> Result<Stored, StateError> {
        tokio::task::yield_now().await;
        let mut inner = self.lock();
        inner.calls.reloads += 1;
        if inner.unavailable.contains(&key.pk()) {
            return Err(StateError::Service("injected: key unavailable".into()));
        }
        Ok(match inner.items.get(&key.pk()) {
            Some(item) => Stored::from_bytes(key, item.version, &item.bytes),
            None => Stored::new(key),
        })
    }

    async fn save(&self, save: Save<'_>) -> Result<(), StateError> {
        tokio::task::yield_now().await;
        let bytes = encode_for_save(save.state)?;
        let pk = save.key.pk();
        let mut inner = self.lock();
        if take_fault(&mut inner.failing_saves, &pk) {
            return Err(StateError::Service("injected: write failed".into()));
        }
        if take_fault(&mut inner.interfering, &pk) {
            let item = inner.items.entry(pk.clone()).or_insert_with(|| Item {
                version: 0,
                bytes: super::codec::encode(&super::state::KeyState::new(save.key)),
                expires_at_s: save.expires_at_s,
            });
            item.version += 1;
        }
        let current = inner.items.get(&pk).map_or(0, |i| i.version);
        if current != save.expected_version {
            inner.calls.conflicts += 1;
            return Err(StateError::Conflict);
        }
        let item = Item { version: save.expected_version + 1, bytes, expires_at_s: save.expires_at_s };
        inner.items.insert(pk, item);
        inner.calls.saves += 1;
        Ok(())
    }
}
