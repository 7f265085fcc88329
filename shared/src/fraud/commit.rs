//! Writing the state back: which events each key keeps, and the one owner of
//! write-conflict retries.
//!
//! A key keeps the events of the records before the batch's first failed
//! record (the "cut": Lambda redelivers it and everything after it, which is
//! then applied, and alerted, again). When the cut falls inside a key's
//! events, its state is recomputed from the state read plus the kept events.
//!
//! Each key is one conditional write on the version read. On a conflict
//! (another invocation wrote the key since), the key is read again and the
//! kept events re-applied to what is there, in order, skipping events the
//! stored state already lists as applied; then written again, with jittered
//! backoff, up to `conflict_retries` times and within the deadline. A key
//! that still cannot be written fails the records of its kept events.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use super::detect::{apply, Thresholds};
use super::event::FraudEvent;
use super::state::{Key, KeyState};
use super::store::{Save, StateError, Stored, UserState};
use crate::deadline::Deadline;
use crate::limits::DYNAMODB_WRITE_CONCURRENCY;
use crate::sink::retry::full_jitter_delay;

/// One key's part of a batch: its state as read, as it is after the batch's
/// events, and those events (with the index of their record), in order.
#[derive(Debug, Clone)]
pub struct KeyWork {
    /// The key.
    pub key: Key,
    /// The state read at the start of the invocation.
    pub read: Stored,
    /// The state after every event of the batch applied.
    pub state: KeyState,
    /// The events applied (not those skipped as already applied), with their record's index.
    pub events: Vec<(usize, Arc<FraudEvent>)>,
}

/// One conditional write to make.
#[derive(Debug, Clone)]
pub struct KeyCommit {
    /// The key.
    pub key: Key,
    /// The version read.
    pub expected_version: u64,
    /// The state to write.
    pub state: KeyState,
    /// The events it adds to what was read, with their record's index.
    pub events: Vec<(usize, Arc<FraudEvent>)>,
}

/// The writes to make: for each key with events kept (`keep(record)`), its
/// state with just those events (a prefix: records are in order).
pub fn plan(work: Vec<KeyWork>, keep: impl Fn(usize) -> bool, t: &Thresholds) -> Vec<KeyCommit> {
    let mut commits = Vec::with_capacity(work.len());
    for w in work {
        let kept = w.events.iter().take_while(|(record, _)| keep(*record)).count();
        if kept == 0 {
            continue;
        }
        let state = if kept == w.events.len() { w.state } else { reapply(w.read.state, &w.events[..kept], t) };
        let mut events = w.events;
        events.truncate(kept);
        commits.push(KeyCommit { key: w.key, expected_version: w.read.version, state, events });
    }
    commits
}

/// `state` with `events` applied in order (those it lists as applied are skipped; findings are not kept).
pub fn reapply(mut state: KeyState, events: &[(usize, Arc<FraudEvent>)], t: &Thresholds) -> KeyState {
    let mut ignored = Vec::new();
    for (_, event) in events {
        apply(&mut state, event, t, &mut ignored);
        ignored.clear();
    }
    state
}

/// What the writes came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Keys written.
    pub written: usize,
    /// Conflicts met (each followed by a re-read and a re-apply).
    pub conflicts: usize,
    /// Keys that could not be written, with the last error.
    pub failed: Vec<(Key, String)>,
    /// Records whose events could not be written: to report as failed.
    pub failed_records: Vec<usize>,
}

/// How the writes go.
#[derive(Debug, Clone, Copy)]
pub struct WriteSettings<'a> {
    /// The thresholds (to re-apply events after a conflict).
    pub thresholds: &'a Thresholds,
    /// Re-reads after conflicts, per key.
    pub conflict_retries: u32,
    /// The items' expiry, seconds since the epoch.
    pub expires_at_s: i64,
    /// When to stop retrying.
    pub deadline: Deadline,
}

/// Makes the writes, [`DYNAMODB_WRITE_CONCURRENCY`] at a time.
pub async fn commit_all(store: &dyn UserState, commits: Vec<KeyCommit>, settings: WriteSettings<'_>) -> CommitReport {
    let results: Vec<(KeyCommit, KeyOutcome)> = stream::iter(commits)
        .map(|c| async move {
            let outcome = commit_one(store, &c, settings).await;
            (c, outcome)
        })
        .buffer_unordered(DYNAMODB_WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut report = CommitReport::default();
    for (commit, outcome) in results {
        report.conflicts += outcome.conflicts;
        match outcome.error {
            None => report.written += 1,
            Some(error) => {
                report.failed_records.extend(commit.events.iter().map(|(record, _)| *record));
                report.failed.push((commit.key, error.to_string()));
            }
        }
    }
    report.failed_records.sort_unstable();
    report.failed_records.dedup();
    report
}

/// How one key's write went: the conflicts met, and the error it gave up on, if it did.
struct KeyOutcome {
    conflicts: usize,
    error: Option<StateError>,
}

/// Writes one key, re-reading and re-applying after each conflict.
async fn commit_one(store: &dyn UserState, commit: &KeyCommit, settings: WriteSettings<'_>) -> KeyOutcome {
    let done = |conflicts, error| KeyOutcome { conflicts, error };
    let mut expected_version = commit.expected_version;
    let mut state = commit.state.clone();
    let mut conflicts = 0;
    loop {
        let save = Save { key: &commit.key, state: &state, expected_version, expires_at_s: settings.expires_at_s };
        match store.save(save).await {
            Ok(()) => return done(conflicts, None),
            Err(StateError::Conflict) if conflicts < settings.conflict_retries as usize => {
                let delay = full_jitter_delay(conflicts as u32);
                conflicts += 1;
                if settings.deadline.would_pass(delay) {
                    return done(conflicts, Some(StateError::Conflict));
                }
                tokio::time::sleep(delay).await;
                let fresh = match store.reload(&commit.key).await {
                    Ok(fresh) => fresh,
                    Err(error) => return done(conflicts, Some(error)),
                };
                expected_version = fresh.version;
                state = reapply(fresh.state, &commit.events, settings.thresholds);
            }
            Err(StateError::Conflict) => return done(conflicts + 1, Some(StateError::Conflict)),
            Err(error) => return done(conflicts, Some(error)),
        }
    }
}
