//! Fraud detection with state: the `detect` function reads the `enriched`
//! stream, keeps per-user, per-card and per-IP state in DynamoDB, and puts an
//! alert on the `alerts` stream for each login or transaction a detector
//! flags.
//!
//! # Detectors ([`detect`])
//!
//! Pure, synchronous functions of a key's state and one event, whose time is
//! the event's own (`time`, normalised by enrich):
//!
//! | detector | key | fires when |
//! |---|---|---|
//! | `unfamiliar-login` | user | a successful login from a new device, IP or country, once the user is warmed up |
//! | `impossible-travel` | user | two successful logins imply more than the speed threshold (no warm-up needed) |
//! | `brute-force` | user, source IP | failed logins in the sliding period reach the threshold |
//! | `card-velocity` | card | more transactions, or more amount, than allowed in the sliding period |
//! | `card-amount` | card | an amount far above the card's running mean (Welford's), after a minimum of transactions |
//!
//! An alert is the event plus `alert: {function, detectors, score, severity,
//! tags, findings: [{detector, score, evidence}]}` ([`alert`]). Where a login
//! happened: the enriched `geo` first, else the login service's `location`
//! ([`event`]).
//!
//! # State ([`state`], [`codec`], [`store`])
//!
//! One DynamoDB table, partition key `pk` only: `user#ID`, `card#ID`,
//! `ip#ADDRESS`. An item holds a `version`, the encoded `state` (binary,
//! compact, every list capped so its size has a bound checked at init) and
//! `expires_at`, the table's TTL attribute, pushed `EDDY_FRAUD_TTL_DAYS` ahead
//! at every write. [`UserState`] is the port; [`DynamoUserState`] the table;
//! [`MemoryUserState`] its in-memory twin.
//!
//! Per invocation: one strongly consistent `BatchGetItem` per 100 keys of the
//! batch (unprocessed keys read again with backoff), never a call per record;
//! the events of a key applied in batch order; then one conditional `PutItem`
//! per key changed (on the version read; a new key on its absence).
//!
//! # Failures, replays, conflicts
//!
//! Every record ends in exactly one counted outcome, as in every function:
//! an alert sent (delivered), no finding or not a login/transaction
//! (dropped, by reason), undecodable (quarantined) or failed. A record fails,
//! and Lambda redelivers it and the records after it, when its alert could
//! not be sent, when the state of one of its keys could not be read, or when
//! it could not be written after its retries. Never a silent drop.
//!
//! - Alerts go out before the state is written: if the write then fails, the
//!   record is redelivered and re-evaluated, so an alert is never lost; it
//!   may come twice (alerts are at least once).
//! - A key's write keeps only the events of records before the batch's first
//!   failed record: those after it are redelivered, applied and alerted anew.
//! - Replays: each key's state lists the fingerprints (hashes of the event
//!   `id`) of the last `EDDY_FRAUD_MAX_APPLIED` events applied to it; an event
//!   already listed is skipped for that key, so a redelivered record whose
//!   state was written (its key committed, another key failed) is not applied
//!   twice. Fingerprints rather than a per-shard sequence number because a key
//!   such as a source IP is updated from many partition keys, whose batches
//!   run concurrently with a `ParallelizationFactor` above 1. Exact as long as
//!   a key gets at most that many events between a failure and its replay.
//! - Conflicts: another invocation wrote the key since it was read (two
//!   shards touching one IP, or concurrent batches of one shard). The write is
//!   retried by reading the key again and re-applying this batch's events to
//!   it, in order, skipping any it already lists ([`commit`], the one owner of
//!   these retries: the SDK retries requests, Lambda the batch). No update is
//!   lost; the alerts were decided on the state read first.
//! - A damaged state (or one of an unknown codec version) starts afresh,
//!   logged: failing would block the shard forever.
//!
//! # Configuration (environment, read once at init)
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `EDDY_FRAUD_TABLE` | (none: in-memory state, for `eddy invoke`) | the state table |
//! | `EDDY_ALERTS_STREAM` | (required in Lambda) | where alerts go |
//! | `EDDY_QUARANTINE_BUCKET`, `EDDY_QUARANTINE_PREFIX` | (bucket required in Lambda) | undecodable records |
//! | `EDDY_FRAUD_MAX_SPEED_KMH` | 900 | impossible travel above this speed |
//! | `EDDY_FRAUD_MIN_TRAVEL_KM` | 500 | ... over at least this distance (geo lookups err by less) |
//! | `EDDY_FRAUD_VELOCITY_COUNT` | 5 | card velocity above this many transactions in the period |
//! | `EDDY_FRAUD_VELOCITY_AMOUNT` | 2000 | ... or above this amount in the period |
//! | `EDDY_FRAUD_VELOCITY_SECONDS` | 60 | card velocity's sliding period |
//! | `EDDY_FRAUD_AMOUNT_Z` | 4 | card amount: standard deviations above the mean |
//! | `EDDY_FRAUD_AMOUNT_MULTIPLE` | 3 | ... and at least this many times the mean |
//! | `EDDY_FRAUD_AMOUNT_MIN_SAMPLES` | 10 | ... once the card has this many transactions |
//! | `EDDY_FRAUD_FAILED_LOGINS_USER` | 3 | brute force: failed logins of one user in the period |
//! | `EDDY_FRAUD_FAILED_LOGINS_IP` | 10 | brute force: failed logins from one IP in the period |
//! | `EDDY_FRAUD_FAILED_LOGINS_SECONDS` | 60 | brute force's sliding period |
//! | `EDDY_FRAUD_WARMUP_LOGINS` | 5 | successful logins before unfamiliar logins alert |
//! | `EDDY_FRAUD_WARMUP_DAYS` | 0 | days since first seen before they alert, too |
//! | `EDDY_FRAUD_TTL_DAYS` | 90 | an item expires this long after its last write |
//! | `EDDY_FRAUD_MAX_KNOWN` | 16 | devices, IPs, countries kept per user (each) |
//! | `EDDY_FRAUD_MAX_LOCATIONS` | 8 | recent login places kept per user |
//! | `EDDY_FRAUD_MAX_WINDOW_EVENTS` | 64 | failed logins / transactions counted per period (thresholds must be below it) |
//! | `EDDY_FRAUD_MAX_APPLIED` | 256 | fingerprints of applied events kept per key (replays) |
//! | `EDDY_FRAUD_CONFLICT_RETRIES` | 5 | re-reads after a write conflict, per key and invocation |
//!
//! With the default caps an item is at most about 6 KB. [`score`] compares
//! alerts with the fraud scenario's ground truth (`eddy gen --scenario fraud`).
//!
//! ```
//! use eddy::fraud::detect::{apply, Thresholds};
//! use eddy::fraud::event::parse;
//! use eddy::fraud::state::{Key, KeyState};
//!
//! let t = Thresholds::default();
//! let mut user = KeyState::new(&Key::User("u-1".into()));
//! let login = |id: &str, time: &str, lat: f64, lon: f64| {
//!     let json = format!(r#"{{"id":"{id}","kind":"login","user":"u-1","time":"{time}","location":{{"lat":{lat},"lon":{lon}}}}}"#);
//!     parse(&json, String::new, 0).unwrap().event
//! };
//! let mut findings = Vec::new();
//! apply(&mut user, &login("a", "2024-11-25T01:00:00Z", 40.71, -74.0), &t, &mut findings); // New York
//! apply(&mut user, &login("b", "2024-11-25T01:05:00Z", 51.51, -0.13), &t, &mut findings); // London, 5 min later
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].detector.name(), "impossible-travel");
//! ```

use std::sync::Arc;

use async_trait::async_trait;

pub mod alert;
pub mod codec;
pub mod commit;
pub mod config;
pub mod detect;
pub mod dynamo;
pub mod event;
pub mod handler;
pub mod memory;
pub mod processor;
pub mod score;
pub mod state;
pub mod store;

pub use config::DetectConfig;
pub use detect::{Detector, Finding, Thresholds};
pub use dynamo::DynamoUserState;
pub use handler::{Detect, DetectReport};
pub use memory::MemoryUserState;
pub use store::{Loaded, Save, StateError, Stored, UserState};

#[async_trait]
impl<S: UserState + ?Sized> UserState for Arc<S> {
    async fn load(&self, keys: &[state::Key], deadline: crate::deadline::Deadline) -> Loaded {
        (**self).load(keys, deadline).await
    }

    async fn reload(&self, key: &state::Key) -> Result<Stored, StateError> {
        (**self).reload(key).await
    }

    async fn save(&self, save: Save<'_>) -> Result<(), StateError> {
        (**self).save(save).await
    }
}
