//! The aggregate function's handler: a Lambda `KinesisTimeWindowEvent` in,
//! a `KinesisTimeWindowEventResponse` (`state` + `batchItemFailures`) out.
//!
//! Each invocation decodes the carried state, folds this batch's events into
//! a separate part (through the batch driver, which routes late events to the
//! late sink and quarantines undecodable records), merges the part into the
//! state and either returns the state (encoded, bounded) or, on the final
//! invoke, writes the report and returns an empty state.
//!
//! Partial failures (a late or quarantine line that did not reach its sink):
//! Lambda checkpoints at the lowest failed sequence number, redelivers every
//! record from it on, and hands the returned state to that next invocation.
//! So the returned state holds exactly the records *before* that sequence
//! number: the part is folded again from those records only (sinks discarded,
//! their lines were delivered), and the redelivered records are counted once,
//! when they come back. A final invoke is all or nothing: if a record or the
//! report fails, the invocation fails and Lambda retries it with the same
//! state (report and late objects have fixed keys, so the retry overwrites).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_lambda_events::streams::KinesisBatchItemFailure;
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::aggregate::{AggregateProcessor, Plan, Window};
use super::config::AggregateConfig;
use super::report::{report_key, report_lines, ReportContext};
use super::state::{StateError, Totals, WindowState, STATE_BUDGET_BYTES, STATE_KEY};
use crate::aws::{kinesis_client, s3_client};
use crate::batch::{compare_sequence, BatchError, Counts, Driver, InRecord};
use crate::config::ConfigError;
use crate::deadline::Deadline;
use crate::limits::KINESIS;
use crate::sink::{DirSink, KinesisSink, MemorySink, S3Sink, SendReport, Sink, SinkBatch, SinkRecord};

/// Errors that fail the invocation (Lambda retries it with the same state).
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// The payload is not a Kinesis event.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The payload has no tumbling window.
    #[error("not a tumbling-window event: {0}")]
    Window(String),
    /// The state could not be encoded within Lambda's limit.
    #[error(transparent)]
    State(#[from] StateError),
    /// A record of the final invoke failed: the window cannot be closed yet.
    #[error("final invoke of the window: record {sequence_number} did not reach its sinks; retrying the invocation")]
    FinalIncomplete {
        /// The lowest failed sequence number.
        sequence_number: String,
    },
    /// The report did not reach a sink.
    #[error("report {key} did not reach {sink}: {error}")]
    Report {
        /// The report's key.
        key: String,
        /// The sink.
        sink: String,
        /// The last error.
        error: String,
    },
}

/// The tumbling-window fields of a `KinesisTimeWindowEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowProps {
    /// The window.
    pub window: Window,
    /// The state Lambda carried from the previous invocation.
    pub state: BTreeMap<String, String>,
    /// The shard (falls back to the records' shard).
    pub shard_id: String,
    /// The stream's ARN.
    pub event_source_arn: String,
    /// Last invocation of the window.
    pub is_final: bool,
    /// The window was closed before its end (state over Lambda's limit).
    pub terminated_early: bool,
}

#[derive(Deserialize)]
struct RawProps {
    window: Option<RawWindow>,
    #[serde(default)]
    state: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "shardId", default)]
    shard_id: Option<String>,
    #[serde(rename = "eventSourceARN", default)]
    event_source_arn: Option<String>,
    #[serde(rename = "isFinalInvokeForWindow", default)]
    is_final: Option<bool>,
    #[serde(rename = "isWindowTerminatedEarly", default)]
    terminated_early: Option<bool>,
}

#[derive(Deserialize)]
struct RawWindow {
    start: String,
    end: String,
}

/// The tumbling-window members of the event.
const PROPS: [&str; 6] =
    ["window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow", "isWindowTerminatedEarly"];

/// The tumbling-window members among the event's `members` (name, raw value;
/// the last one when a name repeats), parsed.
fn read_props(event_members: &[(&[u8], &[u8])]) -> Result<RawProps, AggregateError> {
    let mut members: [Option<&[u8]>; PROPS.len()] = [None; PROPS.len()];
    for (name, raw) in event_members {
        if let Some(slot) = PROPS.iter().position(|p| p.as_bytes() == *name) {
            members[slot] = Some(raw);
        }
    }
    // a small object of just those members, for serde
    let mut text = Vec::with_capacity(256 + members.iter().flatten().map(|m| m.len()).sum::<usize>());
    text.push(b'{');
    for (name, raw) in PROPS.iter().zip(&members) {
        if let Some(raw) = raw {
            if text.len() > 1 {
                text.push(b',');
            }
            crate::json::write_key(&mut text, name);
            text.extend_from_slice(raw);
        }
    }
    text.push(b'}');
    serde_json::from_slice(&text).map_err(|e| AggregateError::Window(e.to_string()))
}

fn parse_time(name: &str, text: &str) -> Result<i64, AggregateError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| AggregateError::Window(format!("window.{name} {text:?} is not an RFC 3339 time: {e}")))
}

/// Parses a Lambda `KinesisTimeWindowEvent`: its records (borrowed, as the
/// batch driver takes them) and its window properties.
pub fn parse_window_event(payload: &[u8]) -> Result<(Vec<InRecord<'_>>, WindowProps), AggregateError> {
    let event = crate::envelope::read_event(payload).map_err(BatchError::Envelope)?;
    let raw = read_props(&event.members)?;
    let records = event.records;
    let window =
        raw.window.ok_or_else(|| AggregateError::Window("no `window` (is the tumbling window set?)".into()))?;
    let window = Window { start_ms: parse_time("start", &window.start)?, end_ms: parse_time("end", &window.end)? };
    if window.end_ms <= window.start_ms {
        return Err(AggregateError::Window(format!(
            "window ends ({}) before it starts ({})",
            window.end_ms, window.start_ms
        )));
    }
    // state values are strings when we wrote them; anything else is kept as its JSON text
    let state = raw
        .state
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    let shard_id = raw
        .shard_id
        .filter(|s| !s.is_empty())
        .or_else(|| records.first().map(|r| r.shard_id.to_string()))
        .unwrap_or_default();
    Ok((
        records,
        WindowProps {
            window,
            state,
            shard_id,
            event_source_arn: raw.event_source_arn.unwrap_or_default(),
            is_final: raw.is_final.unwrap_or(false),
            terminated_early: raw.terminated_early.unwrap_or(false),
        },
    ))
}

/// The answer to Lambda: the state to carry and the lowest failed record
/// (`KinesisTimeWindowEventResponse`; aws_lambda_events 1.2.1 lacks its
/// `batchItemFailures`, hence this type).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowResponse {
    /// The state for the next invocation of the window (empty after the final one).
    pub state: BTreeMap<String, String>,
    /// At most one entry: the lowest sequence number to redeliver from.
    #[serde(default)]
    pub batch_item_failures: Vec<KinesisBatchItemFailure>,
}

/// What one invocation did.
#[derive(Debug, Clone)]
pub struct WindowOutcome {
    /// The response for Lambda.
    pub response: WindowResponse,
    /// The batch driver's outcome counts for this invocation.
    pub counts: Counts,
    /// The window's counters after this invocation (before the state was
    /// cleared on the final invoke).
    pub totals: Totals,
    /// Groups in the state after this invocation.
    pub groups: usize,
    /// The encoded state's size in bytes (0 on the final invoke).
    pub state_bytes: usize,
    /// The report's key and lines, on the final invoke.
    pub report: Option<(String, Vec<SinkRecord>)>,
}

/// The sinks of the aggregate function.
pub struct AggregateSinks {
    /// Where reports go as objects (S3 `reports/`, or a local folder).
    pub reports: Box<dyn Sink>,
    /// The reports stream, when configured.
    pub stream: Option<Box<dyn Sink>>,
    /// Where late events go (S3 `late/`).
    pub late: Box<dyn Sink>,
    /// Where undecodable records go.
    pub quarantine: Box<dyn Sink>,
}

/// The aggregate function: its configuration (compiled) and sinks, built once at init.
pub struct Aggregate {
    config: AggregateConfig,
    plan: Plan,
    sinks: AggregateSinks,
    last_states: Mutex<HashMap<String, LastState>>,
}

/// Shards whose last returned state a warm function keeps decoded (each up to
/// [`STATE_BUDGET_BYTES`] encoded, about as much again decoded).
pub const MAX_REMEMBERED_STATES: usize = 4;

/// The state an invocation returned for a shard: the text Lambda will hand
/// back with the shard's next invocation, and the state it encodes.
struct LastState {
    text: String,
    state: WindowState,
}

/// A sink that accepts and forgets everything (re-folding a batch prefix).
struct Discard;

#[async_trait]
impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }

    async fn send(&self, _batch: SinkBatch<'_>, _deadline: Deadline) -> SendReport {
        SendReport::default()
    }
}

impl Aggregate {
    /// The function with the given sinks.
    pub fn new(config: AggregateConfig, sinks: AggregateSinks) -> Self {
        Self { plan: Plan::new(&config), config, sinks, last_states: Mutex::new(HashMap::new()) }
    }

    /// As deployed: S3 for reports, late events and the quarantine, Kinesis
    /// for the reports stream when `EDDY_REPORTS_STREAM` is set.
    pub fn with_aws(config: AggregateConfig, sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let bucket = config.require_reports_bucket()?.to_string();
        let s3 = s3_client(sdk);
        let (q_bucket, q_prefix) = match &config.quarantine {
            Some(q) => (q.bucket.clone(), q.prefix.clone()),
            None => (bucket.clone(), "quarantine/".to_string()),
        };
        let sinks = AggregateSinks {
            reports: Box::new(S3Sink::new(s3.clone(), &bucket, &config.reports_prefix, false).with_name("reports")),
            stream: config.reports_stream.as_ref().map(|s| {
                Box::new(KinesisSink::new(kinesis_client(sdk), s).with_name("reports-stream")) as Box<dyn Sink>
            }),
            late: Box::new(S3Sink::new(s3.clone(), &bucket, &config.late_prefix, false).with_name("late")),
            quarantine: Box::new(S3Sink::new(s3, q_bucket, q_prefix, false).with_name("quarantine")),
        };
        Ok(Self::new(config, sinks))
    }

    /// Writing under a local folder: `root/reports/`, `root/late/`, `root/quarantine/`.
    pub fn with_dir(config: AggregateConfig, root: &Path) -> Self {
        let sinks = AggregateSinks {
            reports: Box::new(DirSink::new(root, "reports", false)),
            stream: None,
            late: Box::new(DirSink::new(root, "late", false)),
            quarantine: Box::new(DirSink::new(root, "quarantine", false)),
        };
        Self::new(config, sinks)
    }

    /// With counting in-memory sinks (benchmarks, `--repeat`).
    pub fn in_memory(config: AggregateConfig) -> Self {
        let sinks = AggregateSinks {
            reports: Box::new(MemorySink::counting("reports")),
            stream: Some(Box::new(MemorySink::counting("reports-stream").with_limits(KINESIS))),
            late: Box::new(MemorySink::counting("late")),
            quarantine: Box::new(MemorySink::counting("quarantine")),
        };
        Self::new(config, sinks)
    }

    /// The configuration.
    pub fn config(&self) -> &AggregateConfig {
        &self.config
    }

    /// Handles one `KinesisTimeWindowEvent` given as its raw JSON.
    pub async fn handle(&self, payload: &[u8], deadline: Deadline) -> Result<WindowResponse, AggregateError> {
        self.run(payload, deadline).await.map(|o| o.response)
    }

    /// Like [`Aggregate::handle`], returning what the invocation did.
    pub async fn run(&self, payload: &[u8], deadline: Deadline) -> Result<WindowOutcome, AggregateError> {
        let (records, props) = parse_window_event(payload)?;
        let mut state = self.carried_state(&props);

        let driver = Driver {
            sinks: vec![self.sinks.late.as_ref()],
            quarantine: self.sinks.quarantine.as_ref(),
            limits: self.config.limits,
        };
        let mut processor = AggregateProcessor::new(&self.plan, props.window);
        let batch = driver.run(&records, &mut processor, deadline).await?;
        let mut part = processor.into_state();
        let mut done_counts = batch.counts.clone();
        let mut done: &[InRecord<'_>] = &records;
        let kept: Vec<InRecord<'_>>;
        if let Some(index) = batch.first_failed_record {
            let failed = &records[index].sequence_number;
            if props.is_final {
                return Err(AggregateError::FinalIncomplete { sequence_number: failed.to_string() });
            }
            // Lambda redelivers from `failed` on: keep only the records before it
            kept = records.iter().filter(|r| compare_sequence(&r.sequence_number, failed).is_lt()).cloned().collect();
            let replay = Driver { sinks: vec![&Discard], quarantine: &Discard, limits: self.config.limits };
            let mut processor = AggregateProcessor::new(&self.plan, props.window);
            done_counts = replay.run(&kept, &mut processor, deadline).await?.counts;
            part = processor.into_state();
            done = &kept;
            tracing::warn!(
                failed_sequence = failed.as_ref(),
                kept = kept.len(),
                records = records.len(),
                "records failed: the state keeps the records before the first failure"
            );
        }
        part.totals.invocations = 1;
        part.totals.records = done_counts.records as u64;
        part.totals.dropped = done_counts.dropped as u64;
        part.totals.quarantined = done_counts.quarantined as u64;
        part.first_sequence = done
            .iter()
            .map(|r| r.sequence_number.as_ref())
            .filter(|s| !s.is_empty())
            .min_by(|a, b| compare_sequence(a, b))
            .map(str::to_string);
        state.merge(part);

        if props.is_final {
            let ctx = ReportContext {
                shard_id: &props.shard_id,
                stream_arn: &props.event_source_arn,
                terminated_early: props.terminated_early,
            };
            let key = report_key(&state, &ctx);
            let lines = self.send_report(&state, &ctx, &key, deadline).await?;
            tracing::info!(
                report = key.as_str(),
                lines = lines.len(),
                events = state.totals.events,
                "window report written"
            );
            return Ok(WindowOutcome {
                response: WindowResponse::default(),
                counts: batch.counts,
                groups: state.groups.len(),
                totals: state.totals,
                state_bytes: 0,
                report: Some((key, lines)),
            });
        }
        let encoded = state.encode(STATE_BUDGET_BYTES)?;
        let (totals, groups, state_bytes) = (state.totals.clone(), state.groups.len(), encoded.len());
        let mut response =
            WindowResponse { state: BTreeMap::new(), batch_item_failures: batch.response.batch_item_failures };
        self.remember(&props.shard_id, &encoded, state);
        response.state.insert(STATE_KEY.to_string(), encoded);
        Ok(WindowOutcome { response, counts: batch.counts, totals, groups, state_bytes, report: None })
    }

    /// The state carried in `props`, or an empty one (counting a reset when a
    /// carried state cannot be read: the window goes on rather than blocking the shard).
    fn carried_state(&self, props: &WindowProps) -> WindowState {
        let remembered = self.lock_last_states().remove(&props.shard_id);
        let Some(text) = props.state.get(STATE_KEY) else {
            return self.plan.empty_state(props.window);
        };
        if let Some(last) = remembered {
            let same_window =
                (last.state.window_start_ms, last.state.window_end_ms) == (props.window.start_ms, props.window.end_ms);
            if last.text == *text && same_window {
                // what this function returned last time for the shard: no need to decode it again
                return last.state;
            }
        }
        let decoded = WindowState::decode(
            text,
            self.plan.shape(),
            self.plan.fingerprint(),
            props.window.start_ms,
            props.window.end_ms,
        );
        decoded.unwrap_or_else(|e| {
            tracing::error!(error = %e, shard = props.shard_id.as_str(), "window state unreadable: the window restarts empty");
            let mut state = self.plan.empty_state(props.window);
            state.totals.state_resets = 1;
            state
        })
    }

    /// Keeps the state just returned for `shard`, decoded, for the shard's next
    /// invocation (a warm function usually gets it back unchanged); at most
    /// [`MAX_REMEMBERED_STATES`] shards are kept.
    fn remember(&self, shard: &str, text: &str, state: WindowState) {
        let mut last = self.lock_last_states();
        if last.len() >= MAX_REMEMBERED_STATES {
            last.clear();
        }
        last.insert(shard.to_string(), LastState { text: text.to_string(), state });
    }

    fn lock_last_states(&self) -> std::sync::MutexGuard<'_, HashMap<String, LastState>> {
        self.last_states.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send_report(
        &self,
        state: &WindowState,
        ctx: &ReportContext<'_>,
        key: &str,
        deadline: Deadline,
    ) -> Result<Vec<SinkRecord>, AggregateError> {
        let partition_key = super::report::report_id(state, ctx);
        let lines: Vec<SinkRecord> = report_lines(state, &self.config, ctx)
            .into_iter()
            .map(|line| {
                let mut data = serde_json::to_vec(&line).unwrap_or_default();
                data.push(b'\n');
                SinkRecord::new(partition_key.clone(), data)
            })
            .collect();
        let batch = SinkBatch { key, records: &lines };
        let sinks = std::iter::once(self.sinks.reports.as_ref()).chain(self.sinks.stream.as_deref());
        for sink in sinks {
            let sent = sink.send(batch, deadline).await;
            if !sent.is_ok() {
                return Err(AggregateError::Report {
                    key: key.to_string(),
                    sink: sink.name().to_string(),
                    error: sent.last_error.unwrap_or_else(|| format!("{} lines failed", sent.failed.len())),
                });
            }
        }
        Ok(lines)
    }
}
