//! One shard of one event source mapping, as a state machine without I/O:
//! records read from the shard go in ([`ShardState::push`]), the next thing
//! to do comes out ([`ShardState::next_step`]: invoke a batch, discard
//! records to the on-failure destination, wait, or nothing), and the
//! function's answer goes back in ([`ShardState::complete`]). Time is passed in.
//!
//! What it does, as Lambda's mapping does for Kinesis:
//! - batches of at most `BatchSize` records and 6 MB of event, gathered for up
//!   to `MaximumBatchingWindowInSeconds` (a full batch goes at once);
//! - a batch that fails is retried before anything after it, so a shard is
//!   processed in order. With `ReportBatchItemFailures`, the records before the
//!   reported sequence number are done (the checkpoint moves to just before it)
//!   and the rest is retried; that counts as a retry attempt. A function error
//!   fails the whole batch: with `BisectBatchOnFunctionError` it is split in two
//!   halves retried in order, which does not count as a retry attempt;
//! - after `MaximumRetryAttempts` failed retries the batch goes to the
//!   on-failure destination and the mapping moves on; records older than
//!   `MaximumRecordAgeInSeconds` go there without being invoked;
//! - with `TumblingWindowInSeconds`, windows are cut by arrival time (a batch
//!   never spans two), the `state` the function returns is passed to its next
//!   invocation, and a window ends with an invoke without records and
//!   `isFinalInvokeForWindow` (retried like any batch while it fails). A window
//!   whose state grows over 1 MB is ended early (`isWindowTerminatedEarly`).

use std::collections::{BTreeMap, VecDeque};

use eddy::limits::{LAMBDA_MAX_PAYLOAD_BYTES, LAMBDA_STATE_MAX_BYTES};
use eddy::workload::{lambda_record_bytes, state_bytes, EventSource, LambdaRecord, EVENT_OVERHEAD_BYTES};

use super::checkpoint::{SavedWindow, ShardCheckpoint};
use super::settings::EsmSettings;

/// First wait before a failed batch is retried, ms; doubled each attempt.
pub const RETRY_BASE_DELAY_MS: i64 = 100;
/// Longest wait before a retry, ms.
pub const RETRY_MAX_DELAY_MS: i64 = 2_000;

/// A record read from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Its sequence number.
    pub sequence_number: String,
    /// Its partition key.
    pub partition_key: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// `ApproximateArrivalTimestamp`, ms since the epoch.
    pub arrival_ms: i64,
}

/// Where the shard's events come from, and who reads them (for the events' fields and sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The shard.
    pub shard_id: String,
    /// The stream's ARN.
    pub stream_arn: String,
    /// The region.
    pub region: String,
    /// The function's role.
    pub role_arn: String,
}

impl Source {
    /// As the event builder takes it.
    pub fn event_source(&self) -> EventSource<'_> {
        EventSource {
            shard_id: &self.shard_id,
            stream_arn: &self.stream_arn,
            region: &self.region,
            invoke_identity_arn: &self.role_arn,
        }
    }

    /// An upper bound of the bytes `record` takes in an event.
    pub fn record_bytes(&self, record: &StreamRecord) -> usize {
        let r = LambdaRecord {
            partition_key: &record.partition_key,
            sequence_number: &record.sequence_number,
            data: &record.data,
            arrival: 0.0,
        };
        lambda_record_bytes(&r, &self.event_source())
    }
}

/// Records invoked together, and how often they failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// The records, in shard order.
    pub records: Vec<StreamRecord>,
    /// Failed invocations counted against `MaximumRetryAttempts`.
    pub failed_attempts: u32,
    /// Invocations that held these records so far (`approximateInvokeCount`).
    pub invocations: u32,
    /// Not invoked before this time (retry backoff), ms.
    pub not_before_ms: i64,
    /// The last error, for the on-failure destination.
    pub last_error: Option<String>,
}

/// The tumbling-window members of an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCall {
    /// Window start, ms.
    pub start_ms: i64,
    /// Window end, ms.
    pub end_ms: i64,
    /// The state carried from the previous invocation.
    pub state: BTreeMap<String, String>,
    /// `isFinalInvokeForWindow`.
    pub is_final: bool,
    /// `isWindowTerminatedEarly`.
    pub terminated_early: bool,
}

/// An invocation to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoke {
    /// Its records (none for a final window invoke).
    pub batch: Batch,
    /// Its window, for a tumbling-window mapping.
    pub window: Option<WindowCall>,
}

/// Why records go to the on-failure destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `MaximumRetryAttempts` failed retries.
    RetryAttemptsExhausted,
    /// Older than `MaximumRecordAgeInSeconds`.
    RecordAgeExceeded,
}

impl Condition {
    /// The name Lambda gives it in the on-failure record.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Records the mapping gives up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discard {
    /// The records.
    pub records: Vec<StreamRecord>,
    /// Why.
    pub condition: Condition,
    /// Invocations that held them.
    pub invocations: u32,
    /// The last error, if they were invoked.
    pub error: Option<String>,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Invoke the function.
    Invoke(Invoke),
    /// Send records to the on-failure destination.
    Discard(Discard),
    /// Nothing before this time (ms), unless more records come.
    Wait {
        /// When.
        until_ms: i64,
    },
    /// Nothing to do until records come (a window may be open).
    Quiet,
}

/// What an invocation came to, as the mapping reads the function's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every record is done.
    Success {
        /// The returned window state.
        state: BTreeMap<String, String>,
    },
    /// Records from index `from` on failed (`batchItemFailures`).
    Partial {
        /// Index of the reported record in the batch.
        from: usize,
        /// The returned window state.
        state: BTreeMap<String, String>,
    },
    /// The whole invocation failed.
    Failed {
        /// Why.
        error: String,
    },
}

/// Counters of one shard's mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Invocations (final window invokes included).
    pub invocations: u64,
    /// Records handed to the function, re-deliveries included.
    pub records_invoked: u64,
    /// Final window invokes that succeeded.
    pub windows_closed: u64,
    /// Windows given up on (their final invoke kept failing).
    pub windows_dropped: u64,
    /// Invocations that reported batch item failures.
    pub partial_responses: u64,
    /// Invocations that failed as a whole.
    pub function_errors: u64,
    /// Failed batches split in two.
    pub bisections: u64,
    /// Retries scheduled (partial responses and errors, bisections aside).
    pub retries: u64,
    /// Batches sent to the on-failure destination.
    pub discarded_batches: u64,
    /// Records sent to the on-failure destination.
    pub discarded_records: u64,
    /// Records `FilterCriteria` kept from the function.
    pub filtered_out: u64,
}

impl ShardStats {
    /// Adds `other` to these.
    pub fn merge(&mut self, other: &ShardStats) {
        self.invocations += other.invocations;
        self.records_invoked += other.records_invoked;
        self.windows_closed += other.windows_closed;
        self.windows_dropped += other.windows_dropped;
        self.partial_responses += other.partial_responses;
        self.function_errors += other.function_errors;
        self.bisections += other.bisections;
        self.retries += other.retries;
        self.discarded_batches += other.discarded_batches;
        self.discarded_records += other.discarded_records;
        self.filtered_out += other.filtered_out;
    }
}

/// What the caller knows that the state machine does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// The last read found nothing new: the shard is drained for now.
    pub at_tip: bool,
    /// Close the open window as soon as nothing is left before it (`--until-idle`).
    pub close_windows: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Buffered {
    record: StreamRecord,
    window_start_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OpenWindow {
    start_ms: i64,
    end_ms: i64,
    state: BTreeMap<String, String>,
    terminated_early: bool,
    failed_final: u32,
    not_before_ms: i64,
}

/// The state of one (mapping, shard).
#[derive(Debug, Clone)]
pub struct ShardState {
    settings: EsmSettings,
    source: Source,
    buffer: VecDeque<Buffered>,
    buffered_since_ms: Option<i64>,
    retries: VecDeque<Batch>,
    window: Option<OpenWindow>,
    last_arrival_ms: i64,
    checkpoint: Option<String>,
    /// The last record `FilterCriteria` kept from the function after the last one they let through.
    filtered_tail: Option<String>,
    stats: ShardStats,
}

impl ShardState {
    /// A shard read with `settings` from `source`.
    pub fn new(settings: EsmSettings, source: Source) -> Self {
        Self {
            settings,
            source,
            buffer: VecDeque::new(),
            buffered_since_ms: None,
            retries: VecDeque::new(),
            window: None,
            last_arrival_ms: i64::MIN,
            checkpoint: None,
            filtered_tail: None,
            stats: ShardStats::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &EsmSettings {
        &self.settings
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The counters.
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    /// The sequence number of the last record done (processed or given up on).
    pub fn checkpoint(&self) -> Option<&str> {
        self.checkpoint.as_deref()
    }

    /// Records read and not yet invoked.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Whether nothing read is left to invoke or retry.
    pub fn is_drained(&self) -> bool {
        self.buffer.is_empty() && self.retries.is_empty()
    }

    /// Whether a tumbling window is open (its final invoke not made yet).
    pub fn has_open_window(&self) -> bool {
        self.window.is_some()
    }

    /// Resumes where an earlier run stopped: after its checkpoint, in its open window.
    pub fn resume(&mut self, saved: &ShardCheckpoint) {
        self.checkpoint = saved.sequence_number.clone();
        self.window = saved.window.as_ref().map(|w| {
            self.last_arrival_ms = self.last_arrival_ms.max(w.start_ms);
            OpenWindow {
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                state: w.state.clone(),
                terminated_early: false,
                failed_final: 0,
                not_before_ms: i64::MIN,
            }
        });
    }

    /// Where this shard stands: the last record done and the open window.
    pub fn saved(&self) -> ShardCheckpoint {
        ShardCheckpoint {
            sequence_number: self.checkpoint.clone(),
            window: self.window.as_ref().map(|w| SavedWindow {
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                state: w.state.clone(),
            }),
        }
    }

    /// Takes records read from the shard, in order; those `FilterCriteria`
    /// keep from the function are done at once.
    pub fn push(&mut self, records: Vec<StreamRecord>, now_ms: i64) {
        let records = self.filter(records);
        if records.is_empty() {
            return;
        }
        if self.buffer.is_empty() {
            self.buffered_since_ms = Some(now_ms);
        }
        let window_ms = self.settings.tumbling_window.map(|w| w.as_millis() as i64);
        for record in records {
            // arrival times can step back a little; a window never reopens
            self.last_arrival_ms = self.last_arrival_ms.max(record.arrival_ms);
            let window_start_ms = window_ms.map(|w| self.last_arrival_ms.div_euclid(w) * w);
            self.buffer.push_back(Buffered { record, window_start_ms });
        }
    }

    /// The records that pass the mapping's `FilterCriteria`. The checkpoint
    /// moves past a filtered record once nothing before it is left to do.
    fn filter(&mut self, records: Vec<StreamRecord>) -> Vec<StreamRecord> {
        let Some(criteria) = &self.settings.filter else { return records };
        let mut kept = Vec::with_capacity(records.len());
        for record in records {
            if criteria.matches(&record.data) {
                kept.push(record);
                self.filtered_tail = None;
            } else {
                self.stats.filtered_out += 1;
                self.filtered_tail = Some(record.sequence_number);
            }
        }
        if kept.is_empty() {
            self.settle_filtered_tail();
        }
        kept
    }

    /// Moves the checkpoint past the filtered records at the end when nothing else is left to do.
    fn settle_filtered_tail(&mut self) {
        if self.buffer.is_empty() && self.retries.is_empty() {
            if let Some(tail) = self.filtered_tail.take() {
                self.checkpoint = Some(tail);
            }
        }
    }

    /// The next thing to do at `now_ms`.
    pub fn next_step(&mut self, now_ms: i64, hints: Hints) -> Step {
        if let Some(step) = self.next_retry(now_ms) {
            return step;
        }
        if let Some(step) = self.final_invoke_due(now_ms, hints) {
            return step;
        }
        if self.buffer.is_empty() {
            return Step::Quiet;
        }
        if let Some(discard) = self.expire_buffer(now_ms) {
            return Step::Discard(discard);
        }
        self.next_batch(now_ms, hints)
    }

    /// The retry at the front, if any: its expired records first, then the batch when due.
    fn next_retry(&mut self, now_ms: i64) -> Option<Step> {
        let front = self.retries.front_mut()?;
        let expired = expired_prefix(&front.records, now_ms, &self.settings);
        if expired > 0 {
            let records: Vec<StreamRecord> = front.records.drain(..expired).collect();
            let discard = Discard {
                records,
                condition: Condition::RecordAgeExceeded,
                invocations: front.invocations,
                error: front.last_error.clone(),
            };
            if front.records.is_empty() {
                self.retries.pop_front();
            }
            return Some(Step::Discard(self.discarded(discard)));
        }
        if now_ms < front.not_before_ms {
            return Some(Step::Wait { until_ms: front.not_before_ms });
        }
        let batch = self.retries.pop_front()?;
        let window = self.window_call(false);
        Some(Step::Invoke(Invoke { batch, window }))
    }

    /// The open window's final invoke, when it is due: the window is over
    /// (records of a later window are waiting, its end has passed with the
    /// shard drained, or closing was asked for) or it was terminated early.
    fn final_invoke_due(&mut self, now_ms: i64, hints: Hints) -> Option<Step> {
        let window = self.window.as_ref()?;
        let next_window = self.buffer.front().and_then(|b| b.window_start_ms);
        let grace_ms = self.settings.batching_window.as_millis() as i64;
        let due = window.terminated_early
            || next_window.is_some_and(|start| start != window.start_ms)
            || (self.buffer.is_empty()
                && (hints.close_windows || (hints.at_tip && now_ms >= window.end_ms + grace_ms)));
        if !due {
            return None;
        }
        if now_ms < window.not_before_ms {
            return Some(Step::Wait { until_ms: window.not_before_ms });
        }
        let window = self.window_call(true);
        Some(Step::Invoke(Invoke { batch: Batch::default(), window }))
    }

    /// Buffered records too old to invoke, taken off the buffer.
    fn expire_buffer(&mut self, now_ms: i64) -> Option<Discard> {
        let expired = self.buffer.iter().take_while(|b| is_expired(&b.record, now_ms, &self.settings)).count();
        if expired == 0 {
            return None;
        }
        let records = self.buffer.drain(..expired).map(|b| b.record).collect();
        Some(self.discarded(Discard { records, condition: Condition::RecordAgeExceeded, invocations: 0, error: None }))
    }

    /// A new batch from the buffer when one is ready, else when to look again.
    fn next_batch(&mut self, now_ms: i64, hints: Hints) -> Step {
        let state_bytes = self.window.as_ref().map_or(0, |w| state_bytes(&w.state));
        let first_window = self.buffer.front().and_then(|b| b.window_start_ms);
        let mut bytes = EVENT_OVERHEAD_BYTES + state_bytes;
        let mut n = 0;
        for b in &self.buffer {
            let size = self.source.record_bytes(&b.record);
            if n == self.settings.batch_size
                || b.window_start_ms != first_window
                || (n > 0 && bytes + size > LAMBDA_MAX_PAYLOAD_BYTES)
            {
                break;
            }
            bytes += size;
            n += 1;
        }
        let since = self.buffered_since_ms.unwrap_or(now_ms);
        let gathered_until = since + self.settings.batching_window.as_millis() as i64;
        let ready =
            n < self.buffer.len() || n == self.settings.batch_size || now_ms >= gathered_until || hints.close_windows;
        if !ready {
            return Step::Wait { until_ms: gathered_until };
        }
        let records: Vec<StreamRecord> = self.buffer.drain(..n).map(|b| b.record).collect();
        self.buffered_since_ms = (!self.buffer.is_empty()).then_some(now_ms);
        if let (Some(start), None) = (first_window, &self.window) {
            let width = self.settings.tumbling_window.map_or(0, |w| w.as_millis() as i64);
            self.window = Some(OpenWindow {
                start_ms: start,
                end_ms: start + width,
                state: BTreeMap::new(),
                terminated_early: false,
                failed_final: 0,
                not_before_ms: i64::MIN,
            });
        }
        let window = self.window_call(false);
        Step::Invoke(Invoke { batch: Batch { records, ..Batch::default() }, window })
    }

    fn window_call(&self, is_final: bool) -> Option<WindowCall> {
        self.window.as_ref().map(|w| WindowCall {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            state: w.state.clone(),
            is_final,
            terminated_early: is_final && w.terminated_early,
        })
    }

    /// Takes the function's answer to `invoke` at `now_ms`; returns records to
    /// send to the on-failure destination, if the mapping gives up on some.
    pub fn complete(&mut self, invoke: Invoke, outcome: Outcome, now_ms: i64) -> Option<Discard> {
        let Invoke { mut batch, window } = invoke;
        let is_final = window.as_ref().is_some_and(|w| w.is_final);
        batch.invocations += 1;
        self.stats.invocations += 1;
        self.stats.records_invoked += batch.records.len() as u64;
        let discard = self.apply(batch, is_final, outcome, now_ms);
        self.settle_filtered_tail();
        discard
    }

    /// What an outcome does to the shard: checkpoint, window state, retries.
    fn apply(&mut self, mut batch: Batch, is_final: bool, outcome: Outcome, now_ms: i64) -> Option<Discard> {
        match outcome {
            Outcome::Success { .. } if is_final => {
                self.window = None;
                self.stats.windows_closed += 1;
                None
            }
            Outcome::Success { state } => {
                self.keep_state(state);
                self.advance_checkpoint(&batch.records);
                None
            }
            Outcome::Partial { from, state } => {
                self.stats.partial_responses += 1;
                self.keep_state(state);
                let rest = batch.records.split_off(from.min(batch.records.len()));
                self.advance_checkpoint(&batch.records);
                batch.records = rest;
                batch.failed_attempts += 1;
                batch.last_error = Some(format!("batch item failure reported at record {from}"));
                self.retry_or_discard(batch, now_ms)
            }
            Outcome::Failed { error } if is_final => {
                self.stats.function_errors += 1;
                self.fail_final(error, now_ms);
                None
            }
            Outcome::Failed { error } => {
                self.stats.function_errors += 1;
                batch.last_error = Some(error);
                if self.settings.bisect_on_error && batch.records.len() > 1 {
                    self.bisect(batch);
                    return None;
                }
                batch.failed_attempts += 1;
                self.retry_or_discard(batch, now_ms)
            }
        }
    }

    /// Moves the checkpoint to the last of `done`, if any.
    fn advance_checkpoint(&mut self, done: &[StreamRecord]) {
        if let Some(last) = done.last() {
            self.checkpoint = Some(last.sequence_number.clone());
        }
    }

    /// Keeps the state a (non-final) invocation returned, ending the window early when it is too big.
    fn keep_state(&mut self, state: BTreeMap<String, String>) {
        if let Some(window) = &mut self.window {
            window.terminated_early |= state_bytes(&state) > LAMBDA_STATE_MAX_BYTES;
            window.state = state;
        }
    }

    fn fail_final(&mut self, error: String, now_ms: i64) {
        let Some(window) = &mut self.window else { return };
        window.failed_final += 1;
        if self.settings.retries_exhausted(window.failed_final) {
            tracing::error!(
                shard = %self.source.shard_id,
                window_start_ms = window.start_ms,
                error = %error,
                "the window's final invoke kept failing: the window is dropped"
            );
            self.window = None;
            self.stats.windows_dropped += 1;
            return;
        }
        window.not_before_ms = now_ms + retry_delay_ms(window.failed_final);
        self.stats.retries += 1;
    }

    /// Splits a failed batch in two, retried in order; not a retry attempt.
    fn bisect(&mut self, mut batch: Batch) {
        let second = Batch { records: batch.records.split_off(batch.records.len() / 2), ..batch.clone() };
        self.retries.push_front(second);
        self.retries.push_front(batch);
        self.stats.bisections += 1;
    }

    fn retry_or_discard(&mut self, mut batch: Batch, now_ms: i64) -> Option<Discard> {
        if batch.records.is_empty() {
            return None;
        }
        if self.settings.retries_exhausted(batch.failed_attempts) {
            let discard = Discard {
                records: std::mem::take(&mut batch.records),
                condition: Condition::RetryAttemptsExhausted,
                invocations: batch.invocations,
                error: batch.last_error,
            };
            return Some(self.discarded(discard));
        }
        batch.not_before_ms = now_ms + retry_delay_ms(batch.failed_attempts);
        self.retries.push_front(batch);
        self.stats.retries += 1;
        None
    }

    /// Counts a discard and moves the checkpoint past it.
    fn discarded(&mut self, discard: Discard) -> Discard {
        self.stats.discarded_batches += 1;
        self.stats.discarded_records += discard.records.len() as u64;
        self.advance_checkpoint(&discard.records);
        self.settle_filtered_tail();
        discard
    }
}

/// The wait before retry `attempt` (from 1): doubling from [`RETRY_BASE_DELAY_MS`] up to [`RETRY_MAX_DELAY_MS`].
pub fn retry_delay_ms(attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(16);
    (RETRY_BASE_DELAY_MS << doublings).min(RETRY_MAX_DELAY_MS)
}

fn is_expired(record: &StreamRecord, now_ms: i64, settings: &EsmSettings) -> bool {
    settings.max_record_age.is_some_and(|age| now_ms - record.arrival_ms > age.as_millis() as i64)
}

fn expired_prefix(records: &[StreamRecord], now_ms: i64, settings: &EsmSettings) -> usize {
    records.iter().take_while(|r| is_expired(r, now_ms, settings)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T0: i64 = 1_795_978_500_000;

    fn source() -> Source {
        Source {
            shard_id: "shardId-000000000000".into(),
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/raw".into(),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::000000000000:role/archive".into(),
        }
    }

    fn record(i: u64, arrival_ms: i64) -> StreamRecord {
        StreamRecord {
            sequence_number: format!("4968068385027707115952791458080684045023746487738590{i:04}"),
            partition_key: format!("k{i}"),
            data: format!("{{\"n\":{i}}}").into_bytes(),
            arrival_ms,
        }
    }

    fn records(range: std::ops::Range<u64>, arrival_ms: i64) -> Vec<StreamRecord> {
        range.map(|i| record(i, arrival_ms)).collect()
    }

    fn settings() -> EsmSettings {
        EsmSettings {
            batch_size: 3,
            batching_window: Duration::from_secs(1),
            report_batch_item_failures: true,
            bisect_on_error: true,
            max_retries: Some(2),
            ..EsmSettings::default()
        }
    }

    fn numbers(batch: &[StreamRecord]) -> Vec<u64> {
        batch.iter().map(|r| r.partition_key[1..].parse().unwrap()).collect()
    }

    fn invoke(step: Step) -> Invoke {
        match step {
            Step::Invoke(invoke) => invoke,
            other => panic!("expected an invoke, got {other:?}"),
        }
    }

    fn success() -> Outcome {
        Outcome::Success { state: BTreeMap::new() }
    }

    fn failed() -> Outcome {
        Outcome::Failed { error: "boom".into() }
    }

    #[test]
    fn given_records_when_batching_then_batches_are_full_or_wait_for_the_batching_window() {
        let mut shard = ShardState::new(settings(), source());
        assert_eq!(shard.next_step(T0, Hints::default()), Step::Quiet);
        shard.push(records(0..5, T0), T0);
        let first = invoke(shard.next_step(T0, Hints::default()));
        assert_eq!(numbers(&first.batch.records), [0, 1, 2], "a full batch goes at once");
        assert_eq!(shard.complete(first, success(), T0), None);
        assert_eq!(shard.checkpoint(), Some(record(2, T0).sequence_number.as_str()));
        // two records left: they wait for the batching window (1 s from when they were read)
        assert_eq!(shard.next_step(T0 + 10, Hints::default()), Step::Wait { until_ms: T0 + 1000 });
        let rest = invoke(shard.next_step(T0 + 1000, Hints::default()));
        assert_eq!(numbers(&rest.batch.records), [3, 4]);
        shard.complete(rest, success(), T0 + 1000);
        assert!(shard.is_drained());
        assert_eq!((shard.stats().invocations, shard.stats().records_invoked), (2, 5));
    }

    #[test]
    fn given_big_records_when_batching_then_no_event_exceeds_6_mb() {
        let mut shard = ShardState::new(EsmSettings { batch_size: 100, ..settings() }, source());
        let big: Vec<StreamRecord> =
            (0..10).map(|i| StreamRecord { data: vec![b'x'; 1_000_000], ..record(i, T0) }).collect();
        shard.push(big, T0);
        let first = invoke(shard.next_step(T0, Hints::default()));
        let bytes: usize = first.batch.records.iter().map(|r| source().record_bytes(r)).sum();
        assert_eq!(first.batch.records.len(), 4, "4 x 1.33 MB of base64 fit, 5 would not");
        assert!(bytes + EVENT_OVERHEAD_BYTES <= LAMBDA_MAX_PAYLOAD_BYTES);
    }

    #[test]
    fn given_a_partial_failure_then_the_checkpoint_moves_before_it_and_the_rest_is_retried_first() {
        let mut shard = ShardState::new(settings(), source());
        shard.push(records(0..6, T0), T0);
        let batch = invoke(shard.next_step(T0, Hints::default()));
        let state = BTreeMap::new();
        assert_eq!(shard.complete(batch, Outcome::Partial { from: 1, state }, T0), None);
        assert_eq!(shard.checkpoint(), Some(record(0, T0).sequence_number.as_str()));
        assert_eq!(shard.stats().retries, 1);
        // the retry waits its backoff, and nothing newer overtakes it
        assert_eq!(shard.next_step(T0 + 1, Hints::default()), Step::Wait { until_ms: T0 + RETRY_BASE_DELAY_MS });
        let retry = invoke(shard.next_step(T0 + RETRY_BASE_DELAY_MS, Hints::default()));
        assert_eq!(numbers(&retry.batch.records), [1, 2]);
        assert_eq!((retry.batch.failed_attempts, retry.batch.invocations), (1, 1));
        shard.complete(retry, success(), T0 + 200);
        let next = invoke(shard.next_step(T0 + 200, Hints::default()));
        assert_eq!(numbers(&next.batch.records), [3, 4, 5]);
    }

    #[test]
    fn given_a_function_error_with_bisect_then_halves_are_retried_without_using_retries() {
        let mut shard = ShardState::new(EsmSettings { batch_size: 4, ..settings() }, source());
        shard.push(records(0..4, T0), T0);
        let batch = invoke(shard.next_step(T0, Hints::default()));
        assert_eq!(shard.complete(batch, failed(), T0), None);
        let first_half = invoke(shard.next_step(T0, Hints::default()));
        assert_eq!(numbers(&first_half.batch.records), [0, 1]);
        assert_eq!(first_half.batch.failed_attempts, 0, "bisecting is not a retry attempt");
        shard.complete(first_half, success(), T0);
        let second_half = invoke(shard.next_step(T0, Hints::default()));
        assert_eq!(numbers(&second_half.batch.records), [2, 3]);
        shard.complete(second_half, success(), T0);
        assert_eq!((shard.stats().bisections, shard.stats().retries, shard.stats().function_errors), (1, 0, 1));
        assert_eq!(shard.checkpoint(), Some(record(3, T0).sequence_number.as_str()));
    }

    #[test]
    fn given_a_poison_record_then_bisection_isolates_it_and_only_it_goes_to_the_destination() {
        let mut shard = ShardState::new(EsmSettings { batch_size: 4, ..settings() }, source());
        shard.push(records(0..4, T0), T0);
        let mut now = T0;
        let mut delivered = Vec::new();
        let mut discarded = Vec::new();
        for _ in 0..50 {
            match shard.next_step(now, Hints::default()) {
                Step::Invoke(inv) => {
                    let poisoned = inv.batch.records.iter().any(|r| r.partition_key == "k2");
                    let records = inv.batch.records.clone();
                    let outcome = if poisoned { failed() } else { success() };
                    if let Some(d) = shard.complete(inv, outcome, now) {
                        discarded.push(d);
                    } else if !poisoned {
                        delivered.extend(numbers(&records));
                    }
                }
                Step::Wait { until_ms } => now = until_ms,
                Step::Discard(d) => discarded.push(d),
                Step::Quiet => break,
            }
        }
        assert_eq!(delivered, [0, 1, 3]);
        assert_eq!(discarded.len(), 1);
        let d = &discarded[0];
        assert_eq!((numbers(&d.records), d.condition), (vec![2], Condition::RetryAttemptsExhausted));
        // the poison record: in the first batch, in its half, alone, then 2 retries
        assert_eq!(d.invocations, 5);
        assert_eq!(d.error.as_deref(), Some("boom"));
        assert_eq!(shard.stats().discarded_records, 1);
    }

    #[test]
    fn given_no_bisect_and_retries_exhausted_then_the_whole_batch_goes_to_the_destination_and_the_shard_moves_on() {
        let settings = EsmSettings { bisect_on_error: false, max_retries: Some(1), ..settings() };
        let mut shard = ShardState::new(settings, source());
        shard.push(records(0..4, T0), T0);
        let batch = invoke(shard.next_step(T0, Hints::default()));
        assert_eq!(shard.complete(batch, failed(), T0), None);
        let retry = invoke(shard.next_step(T0 + 100, Hints::default()));
        assert_eq!(numbers(&retry.batch.records), [0, 1, 2]);
        let discard = shard.complete(retry, failed(), T0 + 100).expect("retries exhausted");
        assert_eq!(numbers(&discard.records), [0, 1, 2]);
        assert_eq!((discard.condition, discard.invocations), (Condition::RetryAttemptsExhausted, 2));
        assert_eq!(shard.checkpoint(), Some(record(2, T0).sequence_number.as_str()));
        let next = invoke(shard.next_step(T0 + 2000, Hints::default()));
        assert_eq!(numbers(&next.batch.records), [3]);
    }

    #[test]
    fn given_unlimited_retries_then_a_failing_batch_is_retried_with_growing_waits() {
        let settings = EsmSettings { bisect_on_error: false, max_retries: None, ..settings() };
        let mut shard = ShardState::new(settings, source());
        shard.push(records(0..1, T0), T0 - 2000);
        let mut now = T0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let batch = invoke(shard.next_step(now, Hints::default()));
            assert!(shard.complete(batch, failed(), now).is_none());
            let Step::Wait { until_ms } = shard.next_step(now, Hints::default()) else { panic!() };
            waits.push(until_ms - now);
            now = until_ms;
        }
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[test]
    fn given_old_records_then_they_go_to_the_destination_without_being_invoked() {
        let settings = EsmSettings { max_record_age: Some(Duration::from_secs(60)), ..settings() };
        let mut shard = ShardState::new(settings, source());
        shard.push(vec![record(0, T0 - 61_000), record(1, T0 - 60_500), record(2, T0 - 1000)], T0);
        let Step::Discard(discard) = shard.next_step(T0, Hints::default()) else { panic!() };
        assert_eq!((numbers(&discard.records), discard.condition), (vec![0, 1], Condition::RecordAgeExceeded));
        assert_eq!(discard.invocations, 0);
        let batch = invoke(shard.next_step(T0 + 1000, Hints::default()));
        assert_eq!(numbers(&batch.batch.records), [2]);
    }

    #[test]
    fn given_a_retry_whose_records_age_out_then_they_go_to_the_destination() {
        let settings = EsmSettings {
            max_record_age: Some(Duration::from_secs(60)),
            bisect_on_error: false,
            max_retries: None,
            ..settings()
        };
        let mut shard = ShardState::new(settings, source());
        shard.push(records(0..2, T0), T0);
        let batch = invoke(shard.next_step(T0 + 1000, Hints::default()));
        shard.complete(batch, failed(), T0 + 1000);
        let Step::Discard(discard) = shard.next_step(T0 + 60_001, Hints::default()) else { panic!() };
        assert_eq!((discard.records.len(), discard.invocations), (2, 1));
        assert_eq!(discard.error.as_deref(), Some("boom"));
        assert!(shard.is_drained());
    }

    fn windowed() -> EsmSettings {
        EsmSettings { tumbling_window: Some(Duration::from_secs(60)), batch_size: 10, ..settings() }
    }

    fn state(n: &str) -> BTreeMap<String, String> {
        [("s".to_string(), n.to_string())].into()
    }

    #[test]
    fn given_a_tumbling_window_then_batches_stop_at_its_end_and_the_state_is_carried_to_the_final_invoke() {
        let start = T0 - T0.rem_euclid(60_000);
        let mut shard = ShardState::new(windowed(), source());
        shard.push(vec![record(0, start + 1), record(1, start + 59_999), record(2, start + 60_000)], start + 60_001);
        let first = invoke(shard.next_step(start + 60_001, Hints::default()));
        assert_eq!(numbers(&first.batch.records), [0, 1], "a batch never spans two windows");
        let window = first.window.clone().unwrap();
        assert_eq!((window.start_ms, window.end_ms, window.is_final), (start, start + 60_000, false));
        assert!(window.state.is_empty());
        shard.complete(first, Outcome::Success { state: state("a") }, start + 60_001);
        let last = invoke(shard.next_step(start + 60_001, Hints::default()));
        assert!(last.batch.records.is_empty());
        let window = last.window.clone().unwrap();
        assert!(window.is_final && !window.terminated_early);
        assert_eq!(window.state, state("a"));
        shard.complete(last, success(), start + 60_001);
        let next = invoke(shard.next_step(start + 62_000, Hints::default()));
        assert_eq!(numbers(&next.batch.records), [2]);
        let window = next.window.unwrap();
        assert_eq!((window.start_ms, window.state.len()), (start + 60_000, 0), "a new window starts empty");
        assert_eq!(shard.stats().windows_closed, 1);
    }

    #[test]
    fn given_an_open_window_then_it_closes_when_its_time_passes_on_a_drained_shard_or_when_asked() {
        let start = T0 - T0.rem_euclid(60_000);
        let mut shard = ShardState::new(windowed(), source());
        shard.push(vec![record(0, start + 10)], start + 20);
        let batch = invoke(shard.next_step(start + 2000, Hints::default()));
        shard.complete(batch, Outcome::Success { state: state("x") }, start + 2000);
        let drained = Hints { at_tip: true, close_windows: false };
        assert_eq!(shard.next_step(start + 59_000, drained), Step::Quiet);
        assert!(shard.has_open_window());
        assert_eq!(shard.next_step(start + 61_000, Hints::default()), Step::Quiet, "not at the tip: records may come");
        let last = invoke(shard.next_step(start + 61_000, drained));
        assert!(last.window.as_ref().unwrap().is_final);

        let mut shard = ShardState::new(windowed(), source());
        shard.push(vec![record(0, start + 10)], start + 20);
        let batch = invoke(shard.next_step(start + 2000, Hints::default()));
        shard.complete(batch, success(), start + 2000);
        let close = Hints { at_tip: false, close_windows: true };
        assert!(invoke(shard.next_step(start + 2001, close)).window.unwrap().is_final);
    }

    #[test]
    fn given_a_partial_failure_in_a_window_then_the_returned_state_goes_to_the_retry() {
        let start = T0 - T0.rem_euclid(60_000);
        let mut shard = ShardState::new(windowed(), source());
        shard.push(records(0..3, start + 5), start + 5);
        let batch = invoke(shard.next_step(start + 2000, Hints::default()));
        shard.complete(batch, Outcome::Partial { from: 2, state: state("0,1") }, start + 2000);
        let retry = invoke(shard.next_step(start + 3000, Hints::default()));
        assert_eq!(numbers(&retry.batch.records), [2]);
        assert_eq!(retry.window.unwrap().state, state("0,1"));
    }

    #[test]
    fn given_a_failing_final_invoke_then_it_is_retried_with_the_same_state_and_the_window_dropped_when_exhausted() {
        let start = T0 - T0.rem_euclid(60_000);
        let mut shard = ShardState::new(windowed(), source());
        shard.push(vec![record(0, start)], start);
        let batch = invoke(shard.next_step(start + 1000, Hints::default()));
        shard.complete(batch, Outcome::Success { state: state("kept") }, start + 1000);
        let close = Hints { at_tip: true, close_windows: true };
        let mut now = start + 1000;
        for attempt in 0..3 {
            let step = shard.next_step(now, close);
            let step = if let Step::Wait { until_ms } = step {
                now = until_ms;
                shard.next_step(now, close)
            } else {
                step
            };
            let last = invoke(step);
            assert_eq!(last.window.as_ref().unwrap().state, state("kept"), "attempt {attempt}");
            shard.complete(last, failed(), now);
        }
        assert!(!shard.has_open_window());
        assert_eq!((shard.stats().windows_dropped, shard.stats().windows_closed), (1, 0));
    }

    #[test]
    fn given_a_saved_checkpoint_and_window_then_a_new_state_resumes_in_that_window() {
        let start = T0 - T0.rem_euclid(60_000);
        let mut shard = ShardState::new(windowed(), source());
        shard.push(vec![record(0, start + 5)], start + 5);
        let batch = invoke(shard.next_step(start + 2000, Hints::default()));
        shard.complete(batch, Outcome::Success { state: state("1") }, start + 2000);
        let saved = shard.saved();
        assert_eq!(saved.sequence_number.as_deref(), Some(record(0, 0).sequence_number.as_str()));

        let mut resumed = ShardState::new(windowed(), source());
        resumed.resume(&saved);
        assert!(resumed.has_open_window());
        resumed.push(vec![record(1, start + 10)], start + 3000);
        let next = invoke(resumed.next_step(start + 4000, Hints::default()));
        let window = next.window.unwrap();
        assert_eq!((window.start_ms, window.state), (start, state("1")), "the same window, its state carried over");
    }

    #[test]
    fn given_filter_criteria_then_only_matching_records_are_invoked_and_the_others_are_done() {
        let pattern = r#"{"data":{"n":[{"numeric":[">=",2]}]}}"#.to_string();
        let filter = eddy::rules::Patterns::parse(&[pattern]).unwrap();
        let mut shard = ShardState::new(EsmSettings { filter: Some(filter), ..settings() }, source());
        shard.push(records(0..2, T0), T0);
        assert_eq!(shard.next_step(T0, Hints::default()), Step::Quiet, "nothing passes");
        assert_eq!(shard.checkpoint(), Some(record(1, T0).sequence_number.as_str()), "filtered records are done");
        let mut more = records(2..5, T0);
        more.push(StreamRecord { data: br#"{"n":0}"#.to_vec(), ..record(5, T0) });
        shard.push(more, T0);
        let batch = invoke(shard.next_step(T0, Hints::default()));
        assert_eq!(numbers(&batch.batch.records), [2, 3, 4]);
        assert_eq!(shard.stats().filtered_out, 3);
        shard.complete(batch, success(), T0);
        assert_eq!(shard.checkpoint(), Some(record(5, T0).sequence_number.as_str()), "past the filtered tail");
    }

    #[test]
    fn given_a_state_over_1_mb_then_the_window_is_terminated_early() {
        let start = T0 - T0.rem_euclid(60_000);
        let mut shard = ShardState::new(windowed(), source());
        shard.push(records(0..2, start), start);
        let batch = invoke(shard.next_step(start + 1000, Hints::default()));
        let big = state(&"x".repeat(LAMBDA_STATE_MAX_BYTES));
        shard.complete(batch, Outcome::Success { state: big }, start + 1000);
        let last = invoke(shard.next_step(start + 1000, Hints::default()));
        let window = last.window.unwrap();
        assert!(window.is_final && window.terminated_early);
    }
}
