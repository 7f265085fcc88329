//! `DynamoUserState`: the state table in DynamoDB, the only code of detect that
//! talks to it.
//!
//! Item (one table, partition key only):
//!
//! | attribute | type | what |
//! |---|---|---|
//! | `pk` | S | `user#ID`, `card#ID` or `ip#ADDRESS` (the table's HASH key) |
//! | `version` | N | incremented by every write; writes are conditional on it |
//! | `state` | B | the encoded [`super::state::KeyState`] ([`super::codec`]) |
//! | `expires_at` | N | seconds since the epoch; the table's TTL attribute |
//!
//! Reads: one `BatchGetItem` (strongly consistent) per
//! [`DYNAMODB_BATCH_GET_MAX_KEYS`] keys (fewer when items may be large: a
//! response holds at most [`DYNAMODB_BATCH_GET_MAX_RESPONSE_BYTES`]);
//! `UnprocessedKeys` are read again with backoff by the one retry loop of
//! entries ([`crate::sink::retry`]) until the deadline. Writes: `PutItem` with
//! `attribute_not_exists(pk)` for a new key, else `version = :read`; a failed
//! condition is a [`StateError::Conflict`]. The SDK retries whole requests
//! (throttling, network errors).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::state::Key;
use super::store::{encode_for_save, Loaded, Save, StateError, Stored, UserState};
use crate::deadline::Deadline;
use crate::limits::{DYNAMODB_BATCH_GET_MAX_KEYS, DYNAMODB_BATCH_GET_MAX_RESPONSE_BYTES};
use crate::sink::retry::{retry_failed_entries, AttemptResult};

/// The partition key attribute.
pub const PK: &str = "pk";
/// The version attribute.
pub const VERSION: &str = "version";
/// The encoded state attribute.
pub const STATE: &str = "state";
/// The TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";

/// The state table.
#[derive(Debug, Clone)]
pub struct DynamoUserState {
    client: aws_sdk_dynamodb::Client,
    table: String,
    keys_per_read: usize,
}

impl DynamoUserState {
    /// The table `table`, whose items are at most `max_item_bytes` (keys per
    /// `BatchGetItem` are chosen so a response stays under its size limit).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, max_item_bytes: usize) -> Self {
        let keys_per_read =
            (DYNAMODB_BATCH_GET_MAX_RESPONSE_BYTES / max_item_bytes.max(1)).clamp(1, DYNAMODB_BATCH_GET_MAX_KEYS);
        Self { client, table: table.into(), keys_per_read }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Keys per `BatchGetItem` call.
    pub fn keys_per_read(&self) -> usize {
        self.keys_per_read
    }

    /// One `BatchGetItem` of `keys[pending]`: stores what came back in
    /// `found` and returns the positions (in `pending`) of the unprocessed keys.
    async fn read_some(&self, keys: &[Key], pending: &[usize], found: &Mutex<HashMap<Key, Stored>>) -> AttemptResult {
        let request_keys: Vec<HashMap<String, AttributeValue>> =
            pending.iter().map(|&i| key_attribute(&keys[i])).collect();
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(request_keys))
            .consistent_read(true)
            .projection_expression("#pk, #version, #state")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#state", STATE)
            .build()
            .map_err(|e| format!("dynamodb: cannot build BatchGetItem: {e}"))?;
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, wanted)
            .send()
            .await
            .map_err(|e| format!("dynamodb BatchGetItem on {}: {}", self.table, DisplayErrorContext(&e)))?;
        let mut got = found.lock().unwrap_or_else(|p| p.into_inner());
        for item in output.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
            if let Some((key, stored)) = stored_of(item) {
                got.insert(key, stored);
            }
        }
        let unprocessed: Vec<String> = output
            .unprocessed_keys()
            .and_then(|u| u.get(&self.table))
            .map(|k| k.keys().iter().filter_map(|item| string(item, PK)).collect())
            .unwrap_or_default();
        Ok(pending
            .iter()
            .enumerate()
            .filter(|(_, &i)| unprocessed.contains(&keys[i].pk()))
            .map(|(position, _)| position)
            .collect())
    }
}

#[async_trait]
impl UserState for DynamoUserState {
    async fn load(&self, keys: &[Key], deadline: Deadline) -> Loaded {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let found = Mutex::new(HashMap::new());
        let positions: Vec<usize> = (0..keys.len()).collect();
        let (keys_ref, found_ref) = (&keys, &found);
        let reads = positions.chunks(self.keys_per_read).map(|chunk| async move {
            retry_failed_entries(chunk.to_vec(), deadline, |pending| async move {
                self.read_some(keys_ref, &pending, found_ref).await
            })
            .await
        });
        let results = futures_util::future::join_all(reads).await;
        let mut states = found.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut loaded = Loaded::default();
        for (failed, error) in results {
            for i in failed {
                let error = error.clone().unwrap_or_else(|| "not read before the deadline".into());
                loaded.unavailable.insert(keys[i].clone(), error);
            }
        }
        for key in keys {
            if loaded.unavailable.contains_key(&key) {
                continue;
            }
            let stored = states.remove(&key).unwrap_or_else(|| Stored::new(&key));
            loaded.states.insert(key, stored);
        }
        loaded
    }

    async fn reload(&self, key: &Key) -> Result<Stored, StateError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attribute(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                StateError::Service(format!("dynamodb GetItem on {}: {}", self.table, DisplayErrorContext(&e)))
            })?;
        Ok(output.item().and_then(stored_of).map_or_else(|| Stored::new(key), |(_, stored)| stored))
    }

    async fn save(&self, save: Save<'_>) -> Result<(), StateError> {
        let bytes = encode_for_save(save.state)?;
        let mut item = key_attribute(save.key);
        item.insert(VERSION.into(), number(save.expected_version + 1));
        item.insert(STATE.into(), AttributeValue::B(Blob::new(bytes)));
        item.insert(EXPIRES_AT.into(), AttributeValue::N(save.expires_at_s.to_string()));
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let request = if save.expected_version == 0 {
            request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK)
        } else {
            request
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":read", number(save.expected_version))
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StateError::Conflict)
            }
            Err(e) => {
                Err(StateError::Service(format!("dynamodb PutItem on {}: {}", self.table, DisplayErrorContext(&e))))
            }
        }
    }
}

/// `{"pk": {"S": key.pk()}}`.
fn key_attribute(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_string(), AttributeValue::S(key.pk()))])
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The key and stored state of an item (an item without a readable key is skipped;
/// one without a readable state starts afresh at its version).
fn stored_of(item: &HashMap<String, AttributeValue>) -> Option<(Key, Stored)> {
    let key = Key::from_pk(&string(item, PK)?)?;
    let version = item.get(VERSION).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
    let bytes = item.get(STATE).and_then(|v| v.as_b().ok()).map(|b| b.as_ref()).unwrap_or_default();
    let stored = Stored::from_bytes(&key, version, bytes);
    Some((key, stored))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fraud::codec::encode;
    use crate::fraud::state::KeyState;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use std::sync::Arc;
    use std::time::Duration;

    fn item(key: &Key, version: u64) -> HashMap<String, AttributeValue> {
        let mut item = key_attribute(key);
        item.insert(VERSION.into(), number(version));
        item.insert(STATE.into(), AttributeValue::B(Blob::new(encode(&KeyState::new(key)))));
        item
    }

    fn users(n: usize) -> Vec<Key> {
        (0..n).map(|i| Key::User(format!("u-{i:03}"))).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn unprocessed_keys_are_read_again_and_chunks_hold_at_most_100_keys() {
        let keys = users(150);
        let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let seen = calls.clone();
        let rule = mock!(aws_sdk_dynamodb::Client::batch_get_item).then_compute_output(move |req| {
            let asked: Vec<String> =
                req.request_items().unwrap()["t"].keys().iter().map(|k| k[PK].as_s().unwrap().clone()).collect();
            let first = seen.lock().unwrap().is_empty();
            seen.lock().unwrap().push(asked.clone());
            // the first call leaves its first two keys unprocessed; u-005 exists at version 3
            let (later, now) = if first { asked.split_at(2) } else { asked.split_at(0) };
            let found: Vec<_> =
                now.iter().filter(|pk| *pk == "user#u-005").map(|pk| item(&Key::from_pk(pk).unwrap(), 3)).collect();
            let mut out = BatchGetItemOutput::builder().responses("t", found);
            if !later.is_empty() {
                let keys = later.iter().map(|pk| key_attribute(&Key::from_pk(pk).unwrap())).collect();
                out = out.unprocessed_keys("t", KeysAndAttributes::builder().set_keys(Some(keys)).build().unwrap());
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let store = DynamoUserState::new(client, "t", 4_000);
        let loaded = store.load(&keys, Deadline::after(Duration::from_secs(30))).await;
        assert!(loaded.unavailable.is_empty(), "{:?}", loaded.unavailable);
        assert_eq!(loaded.states.len(), 150);
        assert_eq!(loaded.states[&Key::User("u-005".into())].version, 3);
        assert_eq!(loaded.states[&Key::User("u-100".into())].version, 0);
        let calls = calls.lock().unwrap();
        assert!(calls.iter().all(|c| c.len() <= DYNAMODB_BATCH_GET_MAX_KEYS));
        assert_eq!(calls.len(), 3, "two chunks, and the two unprocessed keys again");
        // chunks go out concurrently: the retry may come before or after the other chunk
        assert!(calls[1..].iter().any(|c| c[..] == calls[0][..2]), "{calls:?}");
    }

    #[tokio::test]
    async fn a_failed_condition_is_a_conflict_and_other_errors_name_the_table() {
        let conflict = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&conflict]);
        let store = DynamoUserState::new(client, "t", 4_000);
        let key = Key::Card("c".into());
        let state = KeyState::new(&key);
        let save = Save { key: &key, state: &state, expected_version: 2, expires_at_s: 1 };
        assert_eq!(store.save(save).await, Err(StateError::Conflict));
    }

    #[test]
    fn large_items_mean_fewer_keys_per_read() {
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, []);
        assert_eq!(DynamoUserState::new(client.clone(), "t", 4_000).keys_per_read(), 100);
        assert_eq!(DynamoUserState::new(client, "t", 400 * 1024).keys_per_read(), 40);
    }
}
