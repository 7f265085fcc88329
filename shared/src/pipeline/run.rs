//! The embedded pipeline: raw events are spread over simulated shards by
//! partition key, batched as an event source mapping would, and run through
//! the real archive, enrich, filter and aggregate handlers in-process; the
//! enrich output becomes the `enriched` stream that filter and aggregate read,
//! and aggregate gets Lambda's tumbling windows (state carried between
//! invocations, a final invoke per window and shard).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::shards::ShardMap;
use crate::archive::Archive;
use crate::batch::Counts;
use crate::deadline::Deadline;
use crate::decode::DecodeLimits;
use crate::enrich::{Enrich, Enricher};
use crate::limits::{FIREHOSE, KINESIS, LAMBDA_MAX_PAYLOAD_BYTES};
use crate::measure::Stopwatch;
use crate::rules::{Filter, Patterns, RuleSet};
use crate::sink::kinesis::{check_put, PutRefusal};
use crate::sink::{CpuMeter, DirSink, MemorySink, Sink, SinkBatch, SinkRecord, TeeSink, TimedSink};
use crate::window::{Aggregate, AggregateConfig, AggregateSinks};
use crate::workload::{
    kinesis_event_at, numbered_kinesis_event, state_bytes, test_record_bytes, with_members, TestRecord,
    EVENT_OVERHEAD_BYTES,
};

/// Errors that stop the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An event Kinesis would refuse could not be kept under `rejected/`.
    #[error("cannot keep a refused event under rejected/: {0}")]
    Rejected(String),
    /// A handler failed a whole invocation.
    #[error("{function}: {message}")]
    Handler {
        /// The function.
        function: &'static str,
        /// Its error.
        message: String,
    },
    /// A thread of a [`super::parallel::Parallel`] run could not start or stopped
    /// without its totals.
    #[error("pipeline thread {worker}: {message}")]
    Worker {
        /// The thread's index.
        worker: usize,
        /// What happened.
        message: String,
    },
}

/// How the pipeline batches.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Simulated shards of each stream.
    pub shards: u32,
    /// Records per invocation (the event source mapping's BatchSize).
    pub batch_size: usize,
    /// Tumbling window of the aggregate function, seconds.
    pub window_seconds: i64,
    /// Root of the S3-like output tree.
    pub out: PathBuf,
    /// The `FilterCriteria` of filter's event source mapping: records of
    /// `enriched` matching none of them never reach filter (as in Lambda);
    /// `None`: every record does.
    pub filter_criteria: Option<Patterns>,
}

/// One event entering the `raw` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// Its partition key.
    pub partition_key: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// When it reached the stream, milliseconds since the epoch.
    pub arrival_ms: i64,
}

/// The outcome counts of each function, added up over the run.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Events given to the pipeline (those Kinesis would refuse included).
    pub events_in: u64,
    /// Events Kinesis would refuse at PutRecords (a key of 0 or more than 256
    /// characters, over 1 MiB), per reason; each is kept under `rejected/`.
    pub rejected: BTreeMap<&'static str, u64>,
    /// The archive function.
    pub archive: Counts,
    /// The enrich function.
    pub enrich: Counts,
    /// The filter function.
    pub filter: Counts,
    /// The aggregate function.
    pub aggregate: Counts,
    /// Patterns of filter's `FilterCriteria` (0: its mapping has none).
    pub filter_patterns: usize,
    /// Records of `enriched` that filter's `FilterCriteria` kept from it
    /// (dropped by the event source mapping, before any invocation).
    pub filtered_out: u64,
    /// CPU time spent applying filter's `FilterCriteria`: the event source
    /// mapping's work (Lambda's, not the function's).
    pub criteria_cpu: Duration,
    /// Alerts raised per rule id.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Ids of the alerted events per rule (for comparison with a ground truth),
    /// up to [`MAX_ALERT_IDS`] in all.
    pub alert_ids_by_rule: BTreeMap<String, Vec<String>>,
    /// Events counted by the reports, per (event-time bucket start, `source`).
    pub report_counts: BTreeMap<(String, String), u64>,
    /// Reports written, one JSON text each (the last window's are at the end).
    pub reports_written: u64,
    /// The lines of the report of the latest window (of the highest shard
    /// among that window's reports).
    pub last_report: Vec<String>,
    /// Which report [`Totals::last_report`] is: its window start (ms) and shard index.
    pub last_report_at: Option<(i64, usize)>,
    /// Invocations per function, in order archive, enrich, filter, aggregate.
    pub invocations: [u64; 4],
    /// CPU time spent in each function's handler (its sinks included), in the
    /// same order: what the pipeline's throughput per core is made of.
    pub cpu: [Duration; 4],
    /// The part of [`Totals::cpu`] spent in the local sinks standing in for
    /// Firehose, Kinesis and S3 (gzip, files): work the services do in AWS.
    pub sink_cpu: [Duration; 4],
    /// The largest Lambda event each function got, bytes (an event source
    /// mapping keeps them within Lambda's 6 MB, and so does the pipeline).
    pub max_event_bytes: [usize; 4],
}

impl Totals {
    /// CPU time of each function's own work: [`Totals::cpu`] less [`Totals::sink_cpu`].
    pub fn handler_cpu(&self) -> [Duration; 4] {
        std::array::from_fn(|i| self.cpu[i].saturating_sub(self.sink_cpu[i]))
    }

    /// Adds the totals of a run over other shards (another thread's) to these:
    /// counts and CPU times add up, alert ids join (up to [`MAX_ALERT_IDS`] in
    /// all), the later window's report is kept as the last.
    pub fn merge(&mut self, other: Totals) {
        self.events_in += other.events_in;
        for (reason, n) in other.rejected {
            *self.rejected.entry(reason).or_default() += n;
        }
        self.archive.merge(&other.archive);
        self.enrich.merge(&other.enrich);
        self.filter.merge(&other.filter);
        self.aggregate.merge(&other.aggregate);
        self.filter_patterns = self.filter_patterns.max(other.filter_patterns);
        self.filtered_out += other.filtered_out;
        self.criteria_cpu += other.criteria_cpu;
        for (rule, n) in other.alerts_by_rule {
            *self.alerts_by_rule.entry(rule).or_default() += n;
        }
        let mut room = MAX_ALERT_IDS.saturating_sub(self.alert_ids_by_rule.values().map(Vec::len).sum());
        for (rule, mut ids) in other.alert_ids_by_rule {
            ids.truncate(room);
            room -= ids.len();
            self.alert_ids_by_rule.entry(rule).or_default().extend(ids);
        }
        for (key, n) in other.report_counts {
            *self.report_counts.entry(key).or_default() += n;
        }
        self.reports_written += other.reports_written;
        if other.last_report_at > self.last_report_at {
            self.last_report = other.last_report;
            self.last_report_at = other.last_report_at;
        }
        for i in 0..FUNCTIONS.len() {
            self.invocations[i] += other.invocations[i];
            self.cpu[i] += other.cpu[i];
            self.sink_cpu[i] += other.sink_cpu[i];
            self.max_event_bytes[i] = self.max_event_bytes[i].max(other.max_event_bytes[i]);
        }
    }
}

/// Index of each function in [`Totals::invocations`] and [`Totals::cpu`].
pub const FUNCTIONS: [&str; 4] = ["archive", "enrich", "filter", "aggregate"];

struct Shard {
    id: String,
    pending: Vec<TestRecord>,
    /// What `pending` takes in the `raw` event, at most.
    pending_bytes: usize,
    arrivals: Vec<f64>,
    raw_seq: u64,
    enriched_seq: u64,
    window_start_ms: Option<i64>,
    state: BTreeMap<String, String>,
    last_arrival_ms: i64,
}

/// `sink`, its sends timed on `meter`, boxed for a function.
fn timed_sink<S: Sink + 'static>(sink: S, meter: &CpuMeter) -> Box<dyn Sink> {
    Box::new(TimedSink::new(sink, meter))
}

/// The four functions wired together over local folders.
pub struct Pipeline {
    settings: Settings,
    map: ShardMap,
    shards: Vec<Shard>,
    archive: Archive,
    enrich: Enrich,
    filter: Filter,
    aggregate: Aggregate,
    enriched: Arc<MemorySink>,
    alerts: Arc<MemorySink>,
    reports: Arc<MemorySink>,
    rejected: DirSink,
    /// CPU time in each function's local sinks, in [`FUNCTIONS`] order.
    meters: [CpuMeter; 4],
    totals: Totals,
}

/// A line of `rejected/`.
#[derive(serde::Serialize)]
struct RejectedLine<'a> {
    reason: &'a str,
    partition_key: &'a str,
    arrival_ms: i64,
    data_base64: &'a str,
}

/// Most alert ids kept for the comparison with a ground truth.
pub const MAX_ALERT_IDS: usize = 2_000_000;

const RAW_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/raw";
const ENRICHED_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/enriched";
/// Local invocations get Lambda's maximum timeout as their budget.
const BUDGET: Duration = Duration::from_secs(900);

impl Pipeline {
    /// Builds the functions with local sinks under `settings.out`:
    /// `archive/` (gzip NDJSON, by hour), `enriched/`, `alerts/`, `reports/`,
    /// `late/` and `quarantine/`, and `rejected/` for events Kinesis would
    /// refuse. The folders standing in for Firehose and Kinesis keep those
    /// services' record limits: what they would refuse is quarantined, as in AWS.
    pub fn new(
        settings: Settings,
        enricher: impl Into<Arc<Enricher>>,
        rules: RuleSet,
        aggregate: AggregateConfig,
    ) -> Self {
        let out = settings.out.as_path();
        let limits = DecodeLimits::default();
        let enriched = Arc::new(MemorySink::new("enriched"));
        let alerts = Arc::new(MemorySink::new("alerts"));
        let reports = Arc::new(MemorySink::new("reports"));
        let meters: [CpuMeter; 4] = Default::default();
        let dir = |name: &str, gzip: bool| DirSink::new(out, name, gzip);
        let tee = |dir: DirSink, memory: &Arc<MemorySink>| TeeSink::new(dir, memory.clone());
        let archive = Archive {
            archive: timed_sink(dir("archive", true).with_limits(FIREHOSE), &meters[0]),
            quarantine: timed_sink(dir("quarantine", false), &meters[0]),
            limits,
        };
        let enrich = Enrich::new(
            enricher,
            timed_sink(tee(dir("enriched", true).with_limits(KINESIS), &enriched), &meters[1]),
            timed_sink(dir("quarantine", false), &meters[1]),
            limits,
            crate::enrich::config::DEFAULT_CACHE_ENTRIES,
        );
        let filter = Filter {
            rules,
            alerts: timed_sink(tee(dir("alerts", false).with_limits(KINESIS), &alerts), &meters[2]),
            quarantine: timed_sink(dir("quarantine", false), &meters[2]),
            limits,
        };
        let aggregate = Aggregate::new(
            aggregate,
            AggregateSinks {
                reports: timed_sink(tee(dir("reports", false), &reports), &meters[3]),
                stream: None,
                late: timed_sink(dir("late", false), &meters[3]),
                quarantine: timed_sink(dir("quarantine", false), &meters[3]),
            },
        );
        let rejected = rejected_sink(out);
        let totals =
            Totals { filter_patterns: settings.filter_criteria.as_ref().map_or(0, Patterns::len), ..Totals::default() };
        let map = ShardMap::new(settings.shards);
        let shards = (0..map.len())
            .map(|i| Shard {
                id: ShardMap::shard_id(i),
                pending: Vec::with_capacity(settings.batch_size),
                pending_bytes: 0,
                arrivals: Vec::with_capacity(settings.batch_size),
                raw_seq: 1,
                enriched_seq: 1,
                window_start_ms: None,
                state: BTreeMap::new(),
                last_arrival_ms: i64::MIN,
            })
            .collect();
        Self {
            settings,
            map,
            shards,
            archive,
            enrich,
            filter,
            aggregate,
            enriched,
            alerts,
            reports,
            rejected,
            meters,
            totals,
        }
    }

    /// The root of the output tree.
    pub fn out(&self) -> &Path {
        &self.settings.out
    }

    /// The counts so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Puts one event into `raw`; runs the functions when its shard's batch is
    /// full (`batch_size` records, or 6 MB of Lambda event with this one) or
    /// its arrival opens a new window.
    /// An event Kinesis would refuse is not put: it is counted and kept under `rejected/`.
    pub async fn push(&mut self, event: RawEvent) -> Result<(), PipelineError> {
        self.totals.events_in += 1;
        if let Err(refusal) = check_put(&event.partition_key, &event.data) {
            return self.reject(event, refusal).await;
        }
        let index = self.map.shard_for(&event.partition_key);
        self.push_to(index, event).await
    }

    /// Puts an event Kinesis takes into shard `index` of `raw` (< the shard
    /// count: the shard its key maps to, as [`Pipeline::push`] finds it).
    pub(crate) async fn push_to(&mut self, index: usize, event: RawEvent) -> Result<(), PipelineError> {
        let window_ms = self.settings.window_seconds.max(1) * 1000;
        let arrival_ms = event.arrival_ms.max(self.shards[index].last_arrival_ms);
        let window_start = arrival_ms.div_euclid(window_ms) * window_ms;
        if self.shards[index].window_start_ms.is_some_and(|w| w != window_start) {
            self.flush(index).await?;
            self.close_window(index).await?;
        }
        let record = TestRecord { partition_key: event.partition_key, data: event.data };
        let size = test_record_bytes(&record, &self.shards[index].id, RAW_ARN);
        let shard = &self.shards[index];
        if !shard.pending.is_empty() && EVENT_OVERHEAD_BYTES + shard.pending_bytes + size > LAMBDA_MAX_PAYLOAD_BYTES {
            self.flush(index).await?;
        }
        let shard = &mut self.shards[index];
        shard.window_start_ms = Some(window_start);
        shard.last_arrival_ms = arrival_ms;
        shard.pending_bytes += size;
        shard.pending.push(record);
        shard.arrivals.push(arrival_ms as f64 / 1000.0);
        if shard.pending.len() >= self.settings.batch_size {
            self.flush(index).await?;
        }
        Ok(())
    }

    /// Keeps an event Kinesis would refuse under `rejected/` (one file per
    /// event: `reason`, `partition_key`, `data_base64`) and counts it.
    async fn reject(&mut self, event: RawEvent, refusal: PutRefusal) -> Result<(), PipelineError> {
        *self.totals.rejected.entry(refusal.kind()).or_default() += 1;
        keep_rejected(&self.rejected, self.totals.events_in, event, &refusal).await
    }

    /// Runs what is still buffered and closes every open window.
    pub async fn finish(&mut self) -> Result<&Totals, PipelineError> {
        for index in 0..self.shards.len() {
            self.flush(index).await?;
            self.close_window(index).await?;
        }
        Ok(&self.totals)
    }

    /// Adds what `watch` measured to function `f`'s CPU time, and brings its
    /// local sinks' share ([`Totals::sink_cpu`]) up to date.
    fn add_cpu(&mut self, f: usize, watch: Stopwatch) {
        self.totals.cpu[f] += watch.elapsed();
        self.totals.sink_cpu[f] = self.meters[f].total();
    }

    /// One invocation of archive and enrich on the shard's pending records;
    /// then filter and aggregate on what enrich wrote, in batches an event
    /// source mapping would make of it (`batch_size` records, 6 MB of event).
    async fn flush(&mut self, index: usize) -> Result<(), PipelineError> {
        if self.shards[index].pending.is_empty() {
            return Ok(());
        }
        let shard = &mut self.shards[index];
        let records = std::mem::take(&mut shard.pending);
        let arrivals = std::mem::take(&mut shard.arrivals);
        shard.pending_bytes = 0;
        let raw = kinesis_event_at(&records, &arrivals, &shard.id, RAW_ARN, shard.raw_seq, &[]);
        shard.raw_seq += records.len() as u64;
        let deadline = Deadline::after(BUDGET);
        self.note_event(0, raw.len());
        self.note_event(1, raw.len());

        let watch = Stopwatch::start();
        let archived = self.archive.run(&raw, deadline).await.map_err(|e| handler("archive", e))?;
        self.add_cpu(0, watch);
        self.totals.archive.merge(&archived.counts);
        let watch = Stopwatch::start();
        let enriched = self.enrich.run(&raw, deadline).await.map_err(|e| handler("enrich", e))?;
        self.add_cpu(1, watch);
        self.totals.enrich.merge(&enriched.counts);
        self.totals.invocations[0] += 1;
        self.totals.invocations[1] += 1;

        let records: Vec<TestRecord> = self.enriched.take().into_iter().map(to_test_record).collect();
        let arrival = arrivals.last().copied().unwrap_or_default();
        let mut rest = &records[..];
        while !rest.is_empty() {
            let n = self.enriched_batch_len(index, rest);
            let (batch, after) = rest.split_at(n);
            self.filter_and_aggregate(index, batch, arrival, deadline).await?;
            rest = after;
        }
        Ok(())
    }

    /// How many of `records` (at least one) the next `enriched` batch of the
    /// shard takes: `batch_size` at most, and no more than fit in 6 MB of
    /// aggregate's event beside the window state it carries.
    fn enriched_batch_len(&self, index: usize, records: &[TestRecord]) -> usize {
        let shard = &self.shards[index];
        let mut bytes = EVENT_OVERHEAD_BYTES + state_bytes(&shard.state);
        let mut n = 0;
        for record in records.iter().take(self.settings.batch_size) {
            bytes += test_record_bytes(record, &shard.id, ENRICHED_ARN);
            if n > 0 && bytes > LAMBDA_MAX_PAYLOAD_BYTES {
                break;
            }
            n += 1;
        }
        n.max(1)
    }

    /// A batch of the `enriched` stream: one invocation of filter on the
    /// records its `FilterCriteria` let through (none when no record does),
    /// and one of aggregate on them all.
    async fn filter_and_aggregate(
        &mut self,
        index: usize,
        records: &[TestRecord],
        arrival: f64,
        deadline: Deadline,
    ) -> Result<(), PipelineError> {
        let shard = &mut self.shards[index];
        let first = shard.enriched_seq;
        shard.enriched_seq += records.len() as u64;
        let arrivals = vec![arrival; records.len()];
        let payload = kinesis_event_at(records, &arrivals, &shard.id, ENRICHED_ARN, first, &[]);
        match self.criteria_pass(records, first) {
            None => self.invoke_filter(&payload, deadline).await?,
            Some(passed) if passed.is_empty() => {}
            Some(passed) => {
                let shard_id = &self.shards[index].id;
                let event = numbered_kinesis_event(&passed, &arrivals, shard_id, ENRICHED_ARN, &[]);
                self.invoke_filter(&event, deadline).await?;
            }
        }

        // the same records for aggregate, with its tumbling-window members
        let payload = with_members(payload, &self.window_members(index, false));
        self.invoke_aggregate(index, &payload).await
    }

    /// The records (numbered from `first`) that filter's `FilterCriteria` let
    /// through, the others counted as filtered out; `None` without criteria.
    fn criteria_pass<'r>(&mut self, records: &'r [TestRecord], first: u64) -> Option<Vec<(u64, &'r TestRecord)>> {
        let criteria = self.settings.filter_criteria.as_ref()?;
        let watch = Stopwatch::start();
        let passed: Vec<(u64, &TestRecord)> =
            (first..).zip(records).filter(|(_, record)| criteria.matches(&record.data)).collect();
        self.totals.criteria_cpu += watch.elapsed();
        self.totals.filtered_out += (records.len() - passed.len()) as u64;
        Some(passed)
    }

    /// One invocation of filter on an event of the `enriched` stream.
    async fn invoke_filter(&mut self, payload: &[u8], deadline: Deadline) -> Result<(), PipelineError> {
        self.note_event(2, payload.len());
        let watch = Stopwatch::start();
        let filtered = self.filter.run(payload, deadline).await.map_err(|e| handler("filter", e))?;
        self.add_cpu(2, watch);
        self.totals.filter.merge(&filtered.counts);
        self.totals.invocations[2] += 1;
        self.count_alerts();
        Ok(())
    }

    /// Notes the size of an event function `f` got.
    fn note_event(&mut self, f: usize, bytes: usize) {
        self.totals.max_event_bytes[f] = self.totals.max_event_bytes[f].max(bytes);
    }

    /// The final invoke of the shard's open window: the report is written and the state cleared.
    async fn close_window(&mut self, index: usize) -> Result<(), PipelineError> {
        if self.shards[index].window_start_ms.is_none() {
            return Ok(());
        }
        let window = self.window_members(index, true);
        let at = self.shards[index].window_start_ms.map(|start| (start, index));
        let payload = kinesis_event_at(&[], &[], &self.shards[index].id, ENRICHED_ARN, 1, &window);
        self.invoke_aggregate(index, &payload).await?;
        self.shards[index].window_start_ms = None;
        let lines: Vec<String> =
            self.reports.take().iter().map(|r| String::from_utf8_lossy(&r.data).into_owned()).collect();
        for line in &lines {
            self.count_report_row(line);
        }
        if !lines.is_empty() {
            self.totals.reports_written += 1;
            if at >= self.totals.last_report_at {
                self.totals.last_report = lines;
                self.totals.last_report_at = at;
            }
        }
        Ok(())
    }

    async fn invoke_aggregate(&mut self, index: usize, payload: &[u8]) -> Result<(), PipelineError> {
        self.note_event(3, payload.len());
        let watch = Stopwatch::start();
        let outcome =
            self.aggregate.run(payload, Deadline::after(BUDGET)).await.map_err(|e| handler("aggregate", e))?;
        self.add_cpu(3, watch);
        self.totals.aggregate.merge(&outcome.counts);
        self.totals.invocations[3] += 1;
        self.shards[index].state = outcome.response.state;
        Ok(())
    }

    /// The tumbling-window members of a `KinesisTimeWindowEvent` for the shard.
    fn window_members(&self, index: usize, is_final: bool) -> Vec<(&'static str, String)> {
        let shard = &self.shards[index];
        let start = shard.window_start_ms.unwrap_or_default();
        let end = start + self.settings.window_seconds.max(1) * 1000;
        let state = serde_json::to_string(&shard.state).unwrap_or_else(|_| "{}".into());
        vec![
            ("window", format!(r#"{{"start":"{}","end":"{}"}}"#, rfc3339(start), rfc3339(end))),
            ("state", state),
            ("shardId", format!("\"{}\"", shard.id)),
            ("eventSourceARN", format!("\"{ENRICHED_ARN}\"")),
            ("isFinalInvokeForWindow", is_final.to_string()),
            ("isWindowTerminatedEarly", "false".into()),
        ]
    }

    fn count_alerts(&mut self) {
        let mut kept: usize = self.totals.alert_ids_by_rule.values().map(Vec::len).sum();
        for alert in self.alerts.take() {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&alert.data) else { continue };
            let id = value["id"].as_str();
            for rule in value["alert"]["rules"].as_array().into_iter().flatten() {
                let Some(rule) = rule.as_str() else { continue };
                *self.totals.alerts_by_rule.entry(rule.to_string()).or_default() += 1;
                if let (Some(id), true) = (id, kept < MAX_ALERT_IDS) {
                    self.totals.alert_ids_by_rule.entry(rule.to_string()).or_default().push(id.to_string());
                    kept += 1;
                }
            }
        }
    }

    /// Adds a report row's count to the (bucket, source) totals.
    fn count_report_row(&mut self, line: &str) {
        let Ok(row) = serde_json::from_str::<serde_json::Value>(line) else { return };
        let (Some(bucket), Some(count)) = (row["bucket"].as_str(), row["count"].as_u64()) else { return };
        let source = row["key"]["source"].as_str().unwrap_or("").to_string();
        *self.totals.report_counts.entry((bucket.to_string(), source)).or_default() += count;
    }
}

/// The sink of `rejected/` under `out`.
pub(crate) fn rejected_sink(out: &Path) -> DirSink {
    DirSink::new(out, "rejected", false)
}

/// Keeps event number `number` (from 1, in input order), which Kinesis would
/// refuse, as one file of `rejected/`: its `reason`, `partition_key`, arrival
/// and `data_base64`.
pub(crate) async fn keep_rejected(
    sink: &DirSink,
    number: u64,
    event: RawEvent,
    refusal: &PutRefusal,
) -> Result<(), PipelineError> {
    let line = RejectedLine {
        reason: &format!("Kinesis PutRecords would refuse it: {refusal}"),
        partition_key: &event.partition_key,
        arrival_ms: event.arrival_ms,
        data_base64: &base64_simd::STANDARD.encode_to_string(&event.data),
    };
    let mut data = serde_json::to_vec(&line).map_err(|e| PipelineError::Rejected(e.to_string()))?;
    data.push(b'\n');
    let key = format!("event-{number:010}");
    let records = [SinkRecord::new(event.partition_key, data)];
    let report = sink.send(SinkBatch { key: &key, records: &records }, Deadline::after(BUDGET)).await;
    match report.is_ok() {
        true => Ok(()),
        false => Err(PipelineError::Rejected(report.last_error.unwrap_or_default())),
    }
}

fn to_test_record(r: SinkRecord) -> TestRecord {
    let mut data = r.data;
    if data.last() == Some(&b'\n') {
        data.truncate(data.len() - 1);
    }
    TestRecord { partition_key: r.partition_key.into(), data: data.into() }
}

fn handler(function: &'static str, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Handler { function, message: e.to_string() }
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}
