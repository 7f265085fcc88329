//! The `UserState` port: where detect's per-key state lives between
//! invocations. [`super::dynamo::DynamoUserState`] is the table (the only code
//! that talks to DynamoDB); [`super::memory::MemoryUserState`] is its
//! in-memory twin for tests and `eddy invoke`.
//!
//! Both keep the same item: the key, a version (0 means never written), the
//! encoded state ([`super::codec`]) and an expiry time for DynamoDB's TTL.
//! A write names the version it read and succeeds only if the item still has
//! it (optimistic concurrency); otherwise it is a [`StateError::Conflict`],
//! which the caller resolves by reading again and re-applying its events
//! ([`super::commit`]).

use std::collections::HashMap;

use async_trait::async_trait;

use super::codec::{decode, encode};
use super::state::{Key, KeyState};
use crate::deadline::Deadline;
use crate::limits::DYNAMODB_MAX_ITEM_BYTES;

/// Bytes an item takes beyond its state: attribute names, the version and the expiry.
pub const ITEM_OVERHEAD_BYTES: usize = 64;

/// A key's state as stored, with its version (0: never written).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The item's version; a write must name it.
    pub version: u64,
    /// The state.
    pub state: KeyState,
}

impl Stored {
    /// The state of a key never written.
    pub fn new(key: &Key) -> Self {
        Self { version: 0, state: KeyState::new(key) }
    }

    /// The state in `bytes` at `version`; a damaged state, one of another
    /// codec version or of another kind of key starts afresh (logged), keeping
    /// the version so the next write replaces it: failing would block the
    /// shard for good, since a retry reads the same bytes.
    pub fn from_bytes(key: &Key, version: u64, bytes: &[u8]) -> Self {
        match decode(bytes) {
            Ok(state) if state.fits(key) => Self { version, state },
            Ok(_) => {
                tracing::warn!(key = %key.pk(), "state of another kind of key: starting afresh");
                Self { version, state: KeyState::new(key) }
            }
            Err(error) => {
                tracing::warn!(key = %key.pk(), %error, "unreadable state: starting afresh");
                Self { version, state: KeyState::new(key) }
            }
        }
    }
}

/// What [`UserState::load`] found.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Every key asked for that could be read (new keys at version 0).
    pub states: HashMap<Key, Stored>,
    /// Keys that could not be read, with the last error.
    pub unavailable: HashMap<Key, String>,
}

/// One conditional write.
#[derive(Debug, Clone, Copy)]
pub struct Save<'a> {
    /// The key.
    pub key: &'a Key,
    /// The new state.
    pub state: &'a KeyState,
    /// The version read: the write succeeds only if the item still has it
    /// (0: only if there is no item); the item then gets `expected_version + 1`.
    pub expected_version: u64,
    /// When DynamoDB may delete the item (TTL), seconds since the epoch.
    pub expires_at_s: i64,
}

/// Why a state could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Another writer changed the item since it was read.
    #[error("the item changed since it was read (conditional check failed)")]
    Conflict,
    /// The service refused or could not be reached (after the SDK's retries).
    #[error("{0}")]
    Service(String),
    /// The encoded state would not fit an item (the caps prevent it).
    #[error("state of {bytes} bytes does not fit a {DYNAMODB_MAX_ITEM_BYTES}-byte item")]
    TooLarge {
        /// The encoded size.
        bytes: usize,
    },
}

/// The port detect's handler takes.
#[async_trait]
pub trait UserState: Send + Sync {
    /// Reads the state of `keys` (each once) with as few calls as the service
    /// allows; keys never written come back new, at version 0.
    async fn load(&self, keys: &[Key], deadline: Deadline) -> Loaded;

    /// Reads one key again, consistently (after a conflict).
    async fn reload(&self, key: &Key) -> Result<Stored, StateError>;

    /// Writes a state if the item still has the version read.
    async fn save(&self, save: Save<'_>) -> Result<(), StateError>;
}

/// The bytes to write for a state, refused when they could not fit an item.
pub fn encode_for_save(state: &KeyState) -> Result<Vec<u8>, StateError> {
    let bytes = encode(state);
    if bytes.len() + ITEM_OVERHEAD_BYTES > DYNAMODB_MAX_ITEM_BYTES {
        return Err(StateError::TooLarge { bytes: bytes.len() });
    }
    Ok(bytes)
}
