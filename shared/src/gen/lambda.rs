//! Generated events as Lambda would receive them: Kinesis records (one event
//! each, KPL aggregates, or CloudWatch Logs subscription payloads), grouped
//! into Lambda Kinesis events by batch size and the 6 MB payload limit.
//!
//! ```
//! use eddy::gen::{Generator, LambdaBatcher, Packer, Packing, Scenario};
//!
//! let mut packer = Packer::new(Packing::Kpl);
//! let mut batcher = LambdaBatcher::new(100);
//! let (mut records, mut batches) = (Vec::new(), Vec::new());
//! for event in Generator::new(Scenario::Iot, 1, 2_000) {
//!     packer.push(event, &mut records);
//!     batches.extend(records.drain(..).filter_map(|r| batcher.push(r)));
//! }
//! packer.finish(&mut records);
//! batches.extend(records.drain(..).filter_map(|r| batcher.push(r)));
//! batches.extend(batcher.finish());
//! let events: u32 = batches.iter().flatten().map(|r| r.events).sum();
//! assert_eq!(events, 2_000);
//! let payload = eddy::gen::lambda::lambda_event(batches.remove(0), 1);
//! assert!(eddy::batch::parse_kinesis_event(&payload).is_ok());
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::GeneratedEvent;
use crate::decode::kpl;
use crate::json::{write_i64, write_str};
use crate::workload::{kinesis_event_at, test_record_bytes, TestRecord, EVENT_OVERHEAD_BYTES};

/// Most bytes the KPL puts in one aggregated record (its `AggregationMaxSize` default).
pub const KPL_MAX_BYTES: usize = 51_200;
/// Most log events in one CloudWatch Logs payload the generator writes.
pub const CLOUDWATCH_MAX_EVENTS: usize = 50;
/// How long (event time, ms) a log event waits for others of its stream before its payload goes out.
pub const CLOUDWATCH_MAX_WAIT_MS: i64 = 2_000;
pub use crate::limits::LAMBDA_MAX_PAYLOAD_BYTES;
/// Lambda's default batch size for Kinesis event sources.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// The shard of the generated Lambda events.
pub const SHARD_ID: &str = "shardId-000000000000";
/// The stream of the generated Lambda events.
pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/raw";
/// The account in generated CloudWatch Logs payloads.
pub const CLOUDWATCH_OWNER: &str = "123456789012";

/// How events become Kinesis records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// One record per event, `data` as it is.
    Plain,
    /// KPL aggregated records of up to [`KPL_MAX_BYTES`] (one user record per event).
    Kpl,
    /// gzip CloudWatch Logs `DATA_MESSAGE`s, one per log stream and flush,
    /// each log event's message the event's [`GeneratedEvent::log_message`].
    CloudWatch,
}

/// A Kinesis record ready to put in a Lambda event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedRecord {
    /// The partition key and bytes.
    pub record: TestRecord,
    /// When it reached the stream: the time of its newest event, ms.
    pub arrival_ms: i64,
    /// How many generated events it holds.
    pub events: u32,
}

struct Stream {
    group: Arc<str>,
    stream: Arc<str>,
    events: Vec<(String, i64, Vec<u8>)>,
}

/// Turns events into Kinesis records; holds at most one KPL aggregate, or
/// [`CLOUDWATCH_MAX_EVENTS`] log events per log stream, in between.
pub struct Packer {
    packing: Packing,
    kpl: Vec<(String, Vec<u8>)>,
    kpl_bytes: usize,
    kpl_arrival: i64,
    streams: Vec<Stream>,
    by_name: HashMap<(Arc<str>, Arc<str>), usize>,
    pushed: u64,
    default_origin: (Arc<str>, Arc<str>),
}

impl Packer {
    /// A packer for `packing`.
    pub fn new(packing: Packing) -> Self {
        Self {
            packing,
            kpl: Vec::new(),
            kpl_bytes: 0,
            kpl_arrival: 0,
            streams: Vec::new(),
            by_name: HashMap::new(),
            pushed: 0,
            default_origin: (Arc::from("/eddy/events"), Arc::from("events")),
        }
    }

    /// Takes one event; appends to `out` the records it completes.
    pub fn push(&mut self, event: GeneratedEvent, out: &mut Vec<PackedRecord>) {
        match self.packing {
            Packing::Plain => out.push(PackedRecord {
                record: TestRecord { partition_key: event.partition_key, data: event.data },
                arrival_ms: event.time_ms,
                events: 1,
            }),
            Packing::Kpl => {
                let size = event.data.len() + event.partition_key.len() + 16;
                if !self.kpl.is_empty() && self.kpl_bytes + size > KPL_MAX_BYTES {
                    self.flush_kpl(out);
                }
                self.kpl_bytes += size;
                self.kpl_arrival = event.time_ms;
                self.kpl.push((event.partition_key, event.data));
            }
            Packing::CloudWatch => self.push_log(event, out),
        }
    }

    /// Appends the records still held.
    pub fn finish(&mut self, out: &mut Vec<PackedRecord>) {
        self.flush_kpl(out);
        for i in 0..self.streams.len() {
            self.flush_stream(i, out);
        }
    }

    /// Events held, not yet in a record.
    pub fn held(&self) -> usize {
        self.kpl.len() + self.streams.iter().map(|s| s.events.len()).sum::<usize>()
    }

    fn flush_kpl(&mut self, out: &mut Vec<PackedRecord>) {
        if self.kpl.is_empty() {
            return;
        }
        let partition_key = self.kpl[0].0.clone();
        let data = kpl::aggregate(&self.kpl);
        out.push(PackedRecord {
            record: TestRecord { partition_key, data },
            arrival_ms: self.kpl_arrival,
            events: self.kpl.len() as u32,
        });
        self.kpl.clear();
        self.kpl_bytes = 0;
    }

    fn push_log(&mut self, event: GeneratedEvent, out: &mut Vec<PackedRecord>) {
        let now = event.time_ms;
        let message = match event.log.as_ref().and_then(|l| l.message.as_ref()) {
            Some(m) => m.clone(),
            None => event.data,
        };
        let (group, stream) = match &event.log {
            Some(origin) => (origin.group.clone(), origin.stream.clone()),
            None => self.default_origin.clone(),
        };
        let i = match self.by_name.get(&(group.clone(), stream.clone())) {
            Some(&i) => i,
            None => {
                self.streams.push(Stream { group: group.clone(), stream: stream.clone(), events: Vec::new() });
                self.by_name.insert((group, stream), self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        self.streams[i].events.push((event.id, now, message));
        if self.streams[i].events.len() >= CLOUDWATCH_MAX_EVENTS {
            self.flush_stream(i, out);
        }
        self.pushed += 1;
        if self.pushed % 256 == 0 {
            for j in 0..self.streams.len() {
                if self.streams[j].events.first().is_some_and(|(_, t, _)| now - t >= CLOUDWATCH_MAX_WAIT_MS) {
                    self.flush_stream(j, out);
                }
            }
        }
    }

    fn flush_stream(&mut self, i: usize, out: &mut Vec<PackedRecord>) {
        let Some(s) = self.streams.get_mut(i) else { return };
        if s.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut s.events);
        let arrival_ms = events.iter().map(|(_, t, _)| *t).max().unwrap_or(0);
        let data = cloudwatch_payload(&s.group, &s.stream, &events);
        out.push(PackedRecord {
            record: TestRecord { partition_key: s.stream.to_string(), data },
            arrival_ms,
            events: events.len() as u32,
        });
    }
}

/// A gzip CloudWatch Logs subscription `DATA_MESSAGE` with `events` (id, timestamp ms, message).
pub fn cloudwatch_payload(group: &str, stream: &str, events: &[(String, i64, Vec<u8>)]) -> Vec<u8> {
    let size: usize = events.iter().map(|(id, _, m)| id.len() + m.len() + 64).sum();
    let mut json = Vec::with_capacity(size + 256);
    json.extend_from_slice(b"{\"messageType\":\"DATA_MESSAGE\",\"owner\":");
    write_str(&mut json, CLOUDWATCH_OWNER);
    json.extend_from_slice(b",\"logGroup\":");
    write_str(&mut json, group);
    json.extend_from_slice(b",\"logStream\":");
    write_str(&mut json, stream);
    json.extend_from_slice(b",\"subscriptionFilters\":[\"eddy\"],\"logEvents\":[");
    for (i, (id, timestamp, message)) in events.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(b"{\"id\":");
        write_str(&mut json, id);
        json.extend_from_slice(b",\"timestamp\":");
        write_i64(&mut json, *timestamp);
        json.extend_from_slice(b",\"message\":");
        write_str(&mut json, &String::from_utf8_lossy(message));
        json.push(b'}');
    }
    json.extend_from_slice(b"]}");
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

/// Groups records into Lambda batches: at most `batch_size` records and
/// [`LAMBDA_MAX_PAYLOAD_BYTES`] of Lambda event JSON each.
pub struct LambdaBatcher {
    batch_size: usize,
    pending: Vec<PackedRecord>,
    bytes: usize,
}

/// What `record` takes in the Lambda event [`lambda_event`] builds, at most.
fn event_bytes(record: &PackedRecord) -> usize {
    test_record_bytes(&record.record, SHARD_ID, STREAM_ARN)
}

impl LambdaBatcher {
    /// Batches of up to `batch_size` records (at least 1).
    pub fn new(batch_size: usize) -> Self {
        Self { batch_size: batch_size.max(1), pending: Vec::new(), bytes: EVENT_OVERHEAD_BYTES }
    }

    /// Takes one record; returns the batch it closed, if any.
    pub fn push(&mut self, record: PackedRecord) -> Option<Vec<PackedRecord>> {
        let size = event_bytes(&record);
        let full = !self.pending.is_empty()
            && (self.pending.len() >= self.batch_size || self.bytes + size > LAMBDA_MAX_PAYLOAD_BYTES);
        let closed = if full { self.finish() } else { None };
        self.bytes += size;
        self.pending.push(record);
        closed
    }

    /// The last batch, if records are pending.
    pub fn finish(&mut self) -> Option<Vec<PackedRecord>> {
        self.bytes = EVENT_OVERHEAD_BYTES;
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

/// The Lambda Kinesis event of `batch` from [`SHARD_ID`] of [`STREAM_ARN`],
/// sequence numbers from `first_seq`, arrival times from the records.
pub fn lambda_event(batch: Vec<PackedRecord>, first_seq: u64) -> Vec<u8> {
    let arrivals: Vec<f64> = batch.iter().map(|r| r.arrival_ms as f64 / 1000.0).collect();
    let records: Vec<TestRecord> = batch.into_iter().map(|r| r.record).collect();
    kinesis_event_at(&records, &arrivals, SHARD_ID, STREAM_ARN, first_seq, &[])
}
