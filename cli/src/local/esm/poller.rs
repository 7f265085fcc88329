//! The loop of one (mapping, shard): read the shard, ask the state machine
//! what to do, invoke the function in-process, send what the mapping gives up
//! on to the on-failure destination. [`Control`] stops the loops (Ctrl-C,
//! or every shard drained with `--until-idle`) and closes the windows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eddy::batch::Counts;
use eddy::deadline::Deadline;
use tokio::sync::Notify;

use super::checkpoint::ShardCheckpoint;
use super::destination::{FailedBatch, OnFailure};
use super::event::payload;
use super::response::outcome;
use super::settings::EsmSettings;
use super::shard::{Discard, Hints, Invoke, Outcome, ShardState, ShardStats, Step};
use super::source::ShardReader;
use crate::local::registry::LocalFunction;
use crate::local::LocalError;

/// How long a shard with nothing to do waits before reading again (Lambda polls about once a second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Consecutive read errors after which a shard's loop gives up.
pub const MAX_READ_ERRORS: u32 = 20;

/// One event source mapping: the function it invokes and how.
pub struct MappingRuntime {
    /// `function/event`, for logs and the summary.
    pub name: String,
    /// The function's local name.
    pub function: String,
    /// The function's ARN (in on-failure records).
    pub function_arn: String,
    /// The handler.
    pub handler: Arc<dyn LocalFunction>,
    /// The mapping's settings.
    pub settings: EsmSettings,
    /// The function's timeout: the invocation's deadline, and when it is cut off.
    pub timeout: Duration,
    /// Where given-up batches go.
    pub destination: Arc<dyn OnFailure>,
}

/// What one shard's loop did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardReport {
    /// The mapping's counters.
    pub stats: ShardStats,
    /// The handler's outcome counts, summed over its invocations.
    pub counts: Counts,
    /// Batches the on-failure destination did not take.
    pub destination_errors: u64,
    /// The shard.
    pub shard_id: String,
    /// Where it stopped: the last record done, the open window.
    pub checkpoint: ShardCheckpoint,
}

#[derive(Debug, Clone, Copy, Default)]
struct PollerStatus {
    quiet_since: Option<Instant>,
    window_open: bool,
    finished: bool,
}

#[derive(Debug)]
struct Shared {
    pollers: Vec<PollerStatus>,
    last_activity: Instant,
}

/// Coordinates the shard loops of a run.
#[derive(Debug)]
pub struct Control {
    poll_interval: Duration,
    stop: AtomicBool,
    closing: AtomicBool,
    wake: Notify,
    shared: Mutex<Shared>,
}

impl Control {
    /// A control whose idle loops read every `poll_interval`.
    pub fn new(poll_interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            poll_interval,
            stop: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            wake: Notify::new(),
            shared: Mutex::new(Shared { pollers: Vec::new(), last_activity: Instant::now() }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new loop's id.
    pub fn register(&self) -> usize {
        let mut shared = self.lock();
        shared.pollers.push(PollerStatus::default());
        shared.pollers.len() - 1
    }

    /// Stops every loop after its current step (an invocation in flight completes).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Whether the loops were told to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether open windows are to be closed now.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn quiet(&self, id: usize, since: Instant, window_open: bool) {
        let mut shared = self.lock();
        if let Some(p) = shared.pollers.get_mut(id) {
            p.quiet_since = Some(since);
            p.window_open = window_open;
        }
    }

    fn busy(&self, id: usize) {
        if let Some(p) = self.lock().pollers.get_mut(id) {
            p.quiet_since = None;
        }
    }

    fn activity(&self) {
        self.lock().last_activity = Instant::now();
    }

    fn finished(&self, id: usize) {
        if let Some(p) = self.lock().pollers.get_mut(id) {
            p.finished = true;
        }
        self.wake.notify_waiters();
    }

    /// Whether every loop has finished.
    pub fn all_finished(&self) -> bool {
        self.lock().pollers.iter().all(|p| p.finished)
    }

    /// For `--until-idle`: when every shard read nothing new since the last
    /// invocation anywhere, asks the loops to close their open windows, and once
    /// none is open, stops them. Returns whether the run is stopped.
    pub fn stop_when_idle(&self) -> bool {
        let shared = self.lock();
        let last = shared.last_activity;
        let all_quiet = shared.pollers.iter().all(|p| p.finished || p.quiet_since.is_some_and(|q| q > last));
        if !all_quiet {
            return false;
        }
        if shared.pollers.iter().any(|p| !p.finished && p.window_open) {
            drop(shared);
            if !self.closing.swap(true, Ordering::SeqCst) {
                tracing::info!("every shard is drained: closing the open windows");
            }
            self.wake.notify_waiters();
            return false;
        }
        drop(shared);
        self.stop();
        true
    }

    /// Sleeps `duration`, or less if the run stops.
    pub async fn sleep(&self, duration: Duration) {
        if self.stopped() {
            return;
        }
        let notified = self.wake.notified();
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = notified => {}
        }
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// One (mapping, shard) loop.
pub struct ShardPoller {
    mapping: Arc<MappingRuntime>,
    reader: Box<dyn ShardReader>,
    state: ShardState,
    report: ShardReport,
}

impl ShardPoller {
    /// A loop invoking `mapping` on what `reader` reads, with `state` for the shard.
    pub fn new(mapping: Arc<MappingRuntime>, reader: Box<dyn ShardReader>, state: ShardState) -> Self {
        Self { mapping, reader, state, report: ShardReport::default() }
    }

    /// Runs until `control` stops it; `id` is its registration.
    pub async fn run(mut self, control: Arc<Control>, id: usize) -> Result<ShardReport, LocalError> {
        let result = self.poll(&control, id).await;
        control.finished(id);
        self.report.stats = self.state.stats().clone();
        self.report.shard_id = self.state.source().shard_id.clone();
        self.report.checkpoint = self.state.saved();
        result.map(|()| self.report)
    }

    async fn poll(&mut self, control: &Control, id: usize) -> Result<(), LocalError> {
        let mut errors = 0;
        while !control.stopped() {
            let (got, at_tip) = match self.fill(control, id).await {
                Ok(read) => {
                    errors = 0;
                    read
                }
                Err(e) => {
                    errors += 1;
                    if errors >= MAX_READ_ERRORS {
                        return Err(e);
                    }
                    tracing::warn!(mapping = %self.mapping.name, shard = %self.state.source().shard_id, error = %e, "read failed; retrying");
                    control.sleep(control.poll_interval).await;
                    continue;
                }
            };
            let hints = Hints { at_tip, close_windows: control.closing() };
            match self.state.next_step(now_ms(), hints) {
                Step::Invoke(invoke) => {
                    control.busy(id);
                    self.invoke(invoke).await;
                    control.activity();
                }
                Step::Discard(discard) => {
                    control.busy(id);
                    self.discard(discard).await;
                    control.activity();
                }
                Step::Wait { .. } if got && !at_tip && self.state.buffered() < self.state.settings().batch_size => {}
                Step::Wait { until_ms } => {
                    let wait = Duration::from_millis(until_ms.saturating_sub(now_ms()).max(1) as u64);
                    control.sleep(wait.min(control.poll_interval)).await;
                }
                Step::Quiet => control.sleep(control.poll_interval).await,
            }
        }
        Ok(())
    }

    /// Reads when the buffer has room for more than a batch's worth; returns
    /// (whether records came, whether the shard is at its tip).
    async fn fill(&mut self, control: &Control, id: usize) -> Result<(bool, bool), LocalError> {
        let batch_size = self.state.settings().batch_size;
        if self.state.buffered() >= batch_size {
            return Ok((false, false));
        }
        let started = Instant::now();
        let read = self.reader.read(batch_size - self.state.buffered()).await?;
        let got = !read.records.is_empty();
        self.state.push(read.records, now_ms());
        if read.at_tip && self.state.is_drained() {
            control.quiet(id, started, self.state.has_open_window());
        } else {
            control.busy(id);
        }
        Ok((got, read.at_tip))
    }

    async fn invoke(&mut self, invoke: Invoke) {
        let event = payload(&invoke, self.state.source());
        let timeout = self.mapping.timeout;
        let deadline = Deadline::from_lambda_deadline_ms((now_ms() as u64).saturating_add(timeout.as_millis() as u64));
        let result = match tokio::time::timeout(timeout, self.mapping.handler.invoke(&event, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(format!("Task timed out after {:.2} seconds", timeout.as_secs_f64())),
        };
        let response = result.map(|invocation| {
            self.report.counts.merge(&invocation.counts);
            invocation.response
        });
        let outcome = outcome(response, &invoke.batch.records, self.state.settings());
        self.log(&invoke, &outcome);
        if let Some(discard) = self.state.complete(invoke, outcome, now_ms()) {
            self.discard(discard).await;
        }
    }

    fn log(&self, invoke: &Invoke, outcome: &Outcome) {
        let (mapping, shard, records) = (&self.mapping.name, &self.state.source().shard_id, invoke.batch.records.len());
        match outcome {
            Outcome::Success { .. } => tracing::debug!(%mapping, %shard, records, "invocation succeeded"),
            Outcome::Partial { from, .. } => {
                tracing::info!(%mapping, %shard, records, retry_from = from, "batch item failures: retrying from the first")
            }
            Outcome::Failed { error } => tracing::warn!(%mapping, %shard, records, %error, "invocation failed"),
        }
    }

    async fn discard(&mut self, discard: Discard) {
        let failed = FailedBatch::new(&discard, self.state.source(), &self.mapping.function_arn, now_ms());
        let (mapping, shard) = (&self.mapping.name, &self.state.source().shard_id);
        match self.mapping.destination.send(&failed).await {
            Ok(to) => {
                tracing::warn!(%mapping, %shard, records = failed.records, condition = discard.condition.as_str(), %to, "records sent to the on-failure destination")
            }
            Err(error) => {
                self.report.destination_errors += 1;
                tracing::error!(%mapping, %shard, records = failed.records, %error, "the on-failure destination did not take the batch: it is lost");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::esm::destination::MemoryOnFailure;
    use crate::local::esm::shard::{Source, StreamRecord};
    use crate::local::esm::source::MemoryShard;
    use crate::local::registry::Invocation;
    use async_trait::async_trait;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// One invocation as the fake saw it: the records' data, whether final, the state.
    type Seen = (Vec<String>, bool, BTreeMap<String, String>);

    /// Fails records whose data is `poison` (reporting them), counts what it saw.
    #[derive(Default)]
    struct Fake {
        seen: Mutex<Vec<Seen>>,
        fail_first_calls: Mutex<u32>,
    }

    #[async_trait]
    impl LocalFunction for Fake {
        async fn invoke(&self, payload: &[u8], _deadline: Deadline) -> Result<Invocation, String> {
            let event: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
            let records = event["Records"].as_array().cloned().unwrap_or_default();
            let datas: Vec<String> = records
                .iter()
                .map(|r| {
                    let b64 = r["kinesis"]["data"].as_str().unwrap_or_default();
                    String::from_utf8(base64_simd::STANDARD.decode_to_vec(b64).unwrap_or_default()).unwrap_or_default()
                })
                .collect();
            let state: BTreeMap<String, String> = serde_json::from_value(event["state"].clone()).unwrap_or_default();
            let is_final = event["isFinalInvokeForWindow"].as_bool().unwrap_or(false);
            self.seen.lock().unwrap().push((datas.clone(), is_final, state.clone()));
            {
                let mut left = self.fail_first_calls.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return Err("transient".into());
                }
            }
            let failed = records.iter().zip(&datas).find(|(_, d)| d.as_str() == "poison");
            let failures = match failed {
                Some((r, _)) => json!([{"itemIdentifier": r["kinesis"]["sequenceNumber"]}]),
                None => json!([]),
            };
            let mut seen = state.get("seen").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
            seen += datas.iter().take_while(|d| d.as_str() != "poison").count();
            Ok(Invocation {
                response: json!({"batchItemFailures": failures, "state": {"seen": seen.to_string()}}),
                ..Invocation::default()
            })
        }
    }

    fn record(i: usize, data: &str, arrival_ms: i64) -> StreamRecord {
        StreamRecord {
            sequence_number: format!("{}", 4_960_000 + i),
            partition_key: "k".into(),
            data: data.as_bytes().to_vec(),
            arrival_ms,
        }
    }

    fn source() -> Source {
        Source {
            shard_id: "shardId-000000000000".into(),
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/raw".into(),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::000000000000:role/f".into(),
        }
    }

    async fn run(settings: EsmSettings, fake: Arc<Fake>, shard: &MemoryShard) -> (ShardReport, Arc<MemoryOnFailure>) {
        let destination = Arc::new(MemoryOnFailure::default());
        let mapping = Arc::new(MappingRuntime {
            name: "f/Raw".into(),
            function: "f".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            handler: fake,
            settings: settings.clone(),
            timeout: Duration::from_secs(5),
            destination: destination.clone(),
        });
        let control = Control::new(Duration::from_millis(5));
        let id = control.register();
        let poller = ShardPoller::new(mapping, Box::new(shard.reader()), ShardState::new(settings, source()));
        let watcher = {
            let control = control.clone();
            async move {
                while !control.stop_when_idle() && !control.all_finished() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let (report, ()) = tokio::join!(poller.run(control.clone(), id), watcher);
        (report.unwrap(), destination)
    }

    fn settings() -> EsmSettings {
        EsmSettings {
            batch_size: 4,
            report_batch_item_failures: true,
            bisect_on_error: true,
            max_retries: Some(1),
            ..EsmSettings::default()
        }
    }

    #[tokio::test]
    async fn given_a_reported_failure_then_the_batch_resumes_from_it_and_a_poison_record_ends_at_the_destination() {
        let shard = MemoryShard::default();
        let now = now_ms();
        shard.put(["a", "b", "poison", "c", "d", "e"].iter().enumerate().map(|(i, d)| record(i, d, now)));
        let fake = Arc::new(Fake::default());
        let (report, destination) = run(settings(), fake.clone(), &shard).await;
        let seen: Vec<Vec<String>> = fake.seen.lock().unwrap().iter().map(|(d, _, _)| d.clone()).collect();
        assert_eq!(seen[0], ["a", "b", "poison", "c"]);
        assert_eq!(seen[1], ["poison", "c"], "retried from the reported record, once (MaximumRetryAttempts 1)");
        assert_eq!(seen[2], ["d", "e"]);
        assert_eq!(seen.len(), 3);
        let failed = destination.batches();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].record["KinesisBatchInfo"]["batchSize"], 2);
        assert_eq!(failed[0].record["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(report.stats.discarded_records, 2);
        assert_eq!(report.checkpoint.sequence_number.as_deref(), Some("4960005"));
    }

    #[tokio::test]
    async fn given_a_transient_error_then_bisection_delivers_everything_without_the_destination() {
        let shard = MemoryShard::default();
        let now = now_ms();
        shard.put((0..4).map(|i| record(i, &format!("r{i}"), now)));
        let fake = Arc::new(Fake { fail_first_calls: Mutex::new(1), ..Fake::default() });
        let (report, destination) = run(settings(), fake.clone(), &shard).await;
        let seen: Vec<Vec<String>> = fake.seen.lock().unwrap().iter().map(|(d, _, _)| d.clone()).collect();
        assert_eq!(seen, [vec!["r0", "r1", "r2", "r3"], vec!["r0", "r1"], vec!["r2", "r3"]]);
        assert!(destination.batches().is_empty());
        assert_eq!((report.stats.bisections, report.stats.function_errors), (1, 1));
    }

    #[tokio::test]
    async fn given_a_tumbling_window_and_until_idle_then_the_state_reaches_the_final_invoke() {
        let shard = MemoryShard::default();
        let now = now_ms();
        shard.put((0..10).map(|i| record(i, &format!("r{i}"), now)));
        let fake = Arc::new(Fake::default());
        let settings = EsmSettings { tumbling_window: Some(Duration::from_secs(900)), ..settings() };
        let (report, _) = run(settings, fake.clone(), &shard).await;
        let seen = fake.seen.lock().unwrap().clone();
        let (records, is_final, state) = seen.last().unwrap();
        assert!(records.is_empty() && *is_final, "{seen:?}");
        assert_eq!(state.get("seen").map(String::as_str), Some("10"), "{seen:?}");
        assert_eq!(report.stats.windows_closed, 1);
        assert_eq!(seen.iter().filter(|(_, f, _)| *f).count(), 1);
    }
}
