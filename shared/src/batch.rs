//! The batch driver: a Kinesis event in, a partial batch response out.
//!
//! Every decoded item (an event, a quarantined unit, a CloudWatch control
//! message) ends in exactly one outcome: delivered, dropped (by the processor,
//! with a reason), quarantined (with a reason) or failed. Failed items make
//! their Kinesis record a batch item failure; the response names the lowest
//! such sequence number (the parent's, for KPL user records), never an empty one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::deadline::Deadline;
use crate::decode::{decode_record, single_object, DecodeLimits, Payload, UnitOutcome};
use crate::event::{Coords, Data, Event};
use crate::json::{write_key, write_str, write_u64};
use crate::limits::ServiceLimits;
use crate::sink::{SendReport, Sink, SinkBatch, SinkRecord};

/// Errors that fail a whole invocation (Lambda then retries the whole batch).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The invocation payload is not a Kinesis event.
    #[error("invalid Kinesis event: {0}")]
    Envelope(String),
    /// A record to report as failed has no sequence number to report.
    #[error("record {index} failed but has no sequence number to report")]
    NoSequenceNumber {
        /// Index of the record in the batch.
        index: usize,
    },
}

pub use crate::envelope::InRecord;

/// Parses a Lambda Kinesis event (or tumbling-window event) without copying
/// the records' data.
pub fn parse_kinesis_event(payload: &[u8]) -> Result<Vec<InRecord<'_>>, BatchError> {
    crate::envelope::read_records(payload).map_err(BatchError::Envelope)
}

/// Why a processor left an event out; counted per reason.
pub type DropReason = &'static str;

/// A processor: plain synchronous logic over events. It pushes outputs for the
/// sinks, or drops the event with a reason.
pub trait Processor {
    /// The function's name; quarantine objects are keyed under it, so functions
    /// reading the same stream never overwrite each other's quarantine.
    fn name(&self) -> &'static str {
        "events"
    }

    /// Handles one event.
    fn process(&mut self, event: &Event<'_>, out: &mut Outputs) -> Result<(), DropReason>;
}

/// Outputs of a batch, one list per sink slot, each entry remembering the item it came from.
#[derive(Debug)]
pub struct Outputs {
    slots: Vec<Slot>,
    item: u32,
    oversized: Option<String>,
}

/// One sink's entries. Their bytes are written straight into `chunk`, one
/// allocation per [`ARENA_CHUNK`] of output instead of one per entry, and cut
/// out of it (shared, not copied) once the chunk is full or the batch is staged.
#[derive(Debug)]
struct Slot {
    limits: Option<ServiceLimits>,
    records: Vec<SinkRecord>,
    owners: Vec<u32>,
    /// The buffer being written.
    chunk: Vec<u8>,
    /// Entries whose bytes are in `chunk`: (index in `records`, start, end).
    pending: Vec<(usize, usize, usize)>,
}

/// Bytes of sink output allocated at a time: at most mimalloc's largest
/// pooled size (512 KiB). A larger chunk is a page of its own, which mimalloc
/// returns to the OS a while after it is freed and a later batch faults in
/// again (zeroed): with 1 MiB chunks ~10% of archive's time in `eddy run`
/// went to those page faults.
const ARENA_CHUNK: usize = 256 << 10;

/// Room left in a chunk below which the next entry starts a new one (an entry
/// longer than what is left grows the chunk instead: correct, just a copy).
const CHUNK_SLACK: usize = 16 << 10;

impl Outputs {
    /// Outputs for sinks with these limits, each with room for `capacity` entries.
    fn new(limits: impl IntoIterator<Item = Option<ServiceLimits>>, capacity: usize) -> Self {
        Self {
            slots: limits
                .into_iter()
                .map(|limits| Slot {
                    limits,
                    records: Vec::with_capacity(capacity),
                    owners: Vec::with_capacity(capacity),
                    chunk: Vec::new(),
                    pending: Vec::new(),
                })
                .collect(),
            item: 0,
            oversized: None,
        }
    }

    /// Emits `data` to the sink in `slot`, with `partition_key` for streams
    /// (left out for sinks whose service has none).
    pub fn push(&mut self, slot: usize, partition_key: &str, data: Vec<u8>) {
        self.write(slot, partition_key, |out| out.extend_from_slice(&data));
    }

    /// Emits what `write` appends to the buffer it is lent (it must only
    /// append): like [`Outputs::push`], without a buffer of the processor's own.
    pub fn write(&mut self, slot: usize, partition_key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        let Some(s) = self.slots.get_mut(slot) else {
            self.oversized = Some(format!("no sink in slot {slot}"));
            return;
        };
        s.make_room();
        let start = s.chunk.len();
        write(&mut s.chunk);
        let end = s.chunk.len().max(start);
        // a sink whose service has no partition keys (Firehose) gets none: no copy made
        let partition_key = if s.limits.is_none_or(|limits| limits.partition_keys) { partition_key } else { "" };
        if let Some(limits) = s.limits {
            if let Err(reason) = limits.check_record(end - start + partition_key.len()) {
                s.chunk.truncate(start);
                self.oversized = Some(reason);
                return;
            }
        }
        s.pending.push((s.records.len(), start, end));
        s.records.push(SinkRecord { partition_key: partition_key.into(), data: Bytes::new() });
        s.owners.push(self.item);
    }

    /// Removes what the current item pushed (used when one of its outputs cannot be sent).
    fn retract_current(&mut self) {
        for s in &mut self.slots {
            while s.owners.last() == Some(&self.item) {
                s.owners.pop();
                s.records.pop();
            }
            while s.pending.last().is_some_and(|&(index, _, _)| index >= s.records.len()) {
                s.pending.pop();
            }
        }
    }

    /// Gives every entry its bytes: called once the batch is staged.
    fn finish(&mut self) {
        for s in &mut self.slots {
            s.cut_pending();
        }
    }
}

impl Slot {
    /// Starts a new chunk when this one is nearly full (or an entry longer
    /// than the room left made it grow).
    fn make_room(&mut self) {
        if self.chunk.capacity() - self.chunk.len() < CHUNK_SLACK || self.chunk.len() >= ARENA_CHUNK {
            self.cut_pending();
            self.chunk = Vec::with_capacity(ARENA_CHUNK);
        }
    }

    /// Hands the chunk's bytes to the entries written into it.
    fn cut_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = Bytes::from(std::mem::take(&mut self.chunk));
        for (index, start, end) in self.pending.drain(..) {
            if let Some(record) = self.records.get_mut(index) {
                record.data = chunk.slice(start..end);
            }
        }
    }
}

/// The four outcomes, counted; `delivered + dropped + quarantined + failed == items`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Kinesis records in the batch.
    pub records: usize,
    /// Decoded items: events, quarantined units and control messages.
    pub items: usize,
    /// Items whose outputs all reached their sinks.
    pub delivered: usize,
    /// Items deliberately left out, by reason.
    pub dropped: usize,
    /// Items written to the quarantine with a reason.
    pub quarantined: usize,
    /// Items of records reported back to Lambda as failed.
    pub failed: usize,
    /// Dropped items per reason.
    pub dropped_by_reason: BTreeMap<&'static str, usize>,
}

impl Counts {
    /// Adds another batch's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.records += other.records;
        self.items += other.items;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.quarantined += other.quarantined;
        self.failed += other.failed;
        for (reason, n) in &other.dropped_by_reason {
            *self.dropped_by_reason.entry(reason).or_default() += n;
        }
    }

    /// Whether the four outcomes add up to the items.
    pub fn adds_up(&self) -> bool {
        self.delivered + self.dropped + self.quarantined + self.failed == self.items
    }
}

/// What a batch came to.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// The outcome counts.
    pub counts: Counts,
    /// Index of the lowest failed record, if any.
    pub first_failed_record: Option<usize>,
    /// The response for Lambda.
    pub response: KinesisEventResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemState {
    Delivered,
    Dropped(&'static str),
    Quarantined,
}

/// Reason counted for CloudWatch Logs control messages.
pub const CONTROL_MESSAGE: &str = "cloudwatch logs control message";
/// Reason counted for data messages that carry no log events.
pub const NO_LOG_EVENTS: &str = "cloudwatch logs message without log events";

/// Runs batches: decodes, processes, sends and answers.
pub struct Driver<'s> {
    /// The processor's output sinks, by slot.
    pub sinks: Vec<&'s dyn Sink>,
    /// Where undecodable items go.
    pub quarantine: &'s dyn Sink,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

/// Everything decided before any sink is called: the items and their outputs.
struct Staged {
    outputs: Outputs,
    quarantine: Vec<SinkRecord>,
    quarantine_owners: Vec<u32>,
    items: Vec<(u32, ItemState)>,
}

impl Staged {
    fn add(&mut self, record: usize, state: ItemState) -> u32 {
        self.items.push((record as u32, state));
        (self.items.len() - 1) as u32
    }

    fn quarantine(&mut self, item: u32, coords: &Coords<'_>, reason: &str, raw: &[u8]) {
        self.items[item as usize].1 = ItemState::Quarantined;
        self.quarantine.push(quarantine_line(coords, reason, raw));
        self.quarantine_owners.push(item);
    }

    /// Runs the processor on one event, keeping its outputs, or quarantining the
    /// event when an output can never be accepted by its sink.
    fn process<P: Processor>(&mut self, processor: &mut P, event: &Event<'_>) {
        let item = self.add(event.coords.record, ItemState::Delivered);
        self.outputs.item = item;
        let verdict = processor.process(event, &mut self.outputs);
        if let Some(reason) = self.outputs.oversized.take() {
            self.outputs.retract_current();
            let mut raw = Vec::new();
            event.data.write_json(&mut raw);
            self.quarantine(item, &event.coords, &reason, &raw);
        } else if let Err(reason) = verdict {
            self.outputs.retract_current();
            self.items[item as usize].1 = ItemState::Dropped(reason);
        }
    }
}

impl Driver<'_> {
    /// Runs one batch of records through `processor` and the sinks.
    pub async fn run<P: Processor>(
        &self,
        records: &[InRecord<'_>],
        processor: &mut P,
        deadline: Deadline,
    ) -> Result<BatchReport, BatchError> {
        self.run_until_answer(records, processor, deadline).await.answer(records)
    }

    /// Like [`Driver::run`], stopping before the answer: work that must also
    /// succeed for a record to count as done (detect's state writes) can then
    /// fail more records ([`Sent::fail_record`]) before [`Sent::answer`].
    pub async fn run_until_answer<P: Processor>(
        &self,
        records: &[InRecord<'_>],
        processor: &mut P,
        deadline: Deadline,
    ) -> Sent {
        let staged = self.stage(records, processor);
        let failed_records = self.send(records, &staged, processor.name(), deadline).await;
        Sent { items: staged.items, failed_records }
    }

    /// Decodes every record and runs the processor: synchronous, no I/O.
    fn stage<P: Processor>(&self, records: &[InRecord<'_>], processor: &mut P) -> Staged {
        let mut staged = Staged {
            outputs: Outputs::new(self.sinks.iter().map(|s| s.limits()), records.len()),
            quarantine: Vec::new(),
            quarantine_owners: Vec::new(),
            items: Vec::with_capacity(records.len()),
        };
        let mut scratch = Vec::new();
        let mut members = Vec::new();
        for (index, record) in records.iter().enumerate() {
            if let Some(ahead) = records.get(index + PREFETCH_AHEAD) {
                prefetch(&ahead.data);
            }
            let base = Coords {
                record: index,
                shard_id: &record.shard_id,
                sequence_number: &record.sequence_number,
                subsequence_number: None,
                partition_key: &record.partition_key,
                approximate_arrival: record.approximate_arrival,
            };
            if decode_base64(&record.data, &mut scratch).is_err() {
                let item = staged.add(index, ItemState::Quarantined);
                staged.quarantine(item, &base, "data is not valid base64", &record.data);
                continue;
            }
            if let Some(text) = single_object(&scratch, &self.limits, &mut members) {
                let event = Event { coords: base, data: Data::Json(Cow::Borrowed(text)), log: None, members: &members };
                staged.process(processor, &event);
                continue;
            }
            // walked in place: a unit is large, moving each out of the list costs a copy
            let units = decode_record(&scratch, &self.limits);
            for unit in &units {
                let coords = match &unit.sub {
                    Some(sub) => Coords {
                        subsequence_number: Some(sub.subsequence_number),
                        partition_key: &sub.partition_key,
                        ..base
                    },
                    None => base,
                };
                match &unit.outcome {
                    UnitOutcome::Events(payloads) if payloads.is_empty() => {
                        staged.add(index, ItemState::Dropped(NO_LOG_EVENTS));
                    }
                    UnitOutcome::Events(payloads) => {
                        for Payload { data, log, members } in payloads {
                            let event = Event {
                                coords,
                                data: data.reborrow(),
                                log: log.and_then(|i| unit.logs.get(i)),
                                members,
                            };
                            staged.process(processor, &event);
                        }
                    }
                    UnitOutcome::Quarantined { reason, raw } => {
                        let item = staged.add(index, ItemState::Quarantined);
                        staged.quarantine(item, &coords, &reason.to_string(), raw);
                    }
                    UnitOutcome::Control => {
                        staged.add(index, ItemState::Dropped(CONTROL_MESSAGE));
                    }
                }
            }
        }
        staged.outputs.finish();
        staged
    }

    /// Sends every sink's entries at once; returns which records had an entry fail.
    async fn send(&self, records: &[InRecord<'_>], staged: &Staged, function: &str, deadline: Deadline) -> Vec<bool> {
        let key = object_key(records);
        let quarantine_key = format!("{function}/{key}");
        let sends = self
            .sinks
            .iter()
            .zip(&staged.outputs.slots)
            .map(|(sink, slot)| (*sink, slot.records.as_slice(), slot.owners.as_slice()))
            .map(|(sink, recs, owners)| (sink, recs, owners, key.as_str()))
            .chain(std::iter::once((
                self.quarantine,
                staged.quarantine.as_slice(),
                staged.quarantine_owners.as_slice(),
                quarantine_key.as_str(),
            )))
            .filter(|(_, recs, _, _)| !recs.is_empty())
            .map(|(sink, recs, owners, key)| async move {
                let report = sink.send(SinkBatch { key, records: recs }, deadline).await;
                (sink.name().to_string(), report, owners)
            });
        let results = futures_util::future::join_all(sends).await;
        let mut failed_records = vec![false; records.len()];
        for (sink, report, owners) in &results {
            log_send(sink, report);
            for &entry in &report.failed {
                if let Some(&item) = owners.get(entry) {
                    failed_records[staged.items[item as usize].0 as usize] = true;
                }
            }
        }
        failed_records
    }
}

/// A batch whose outputs went to the sinks, not yet answered (see [`Driver::run_until_answer`]).
#[derive(Debug)]
pub struct Sent {
    items: Vec<(u32, ItemState)>,
    failed_records: Vec<bool>,
}

impl Sent {
    /// Makes record `index` a failure: its items count as failed, and it is
    /// reported if it has the lowest sequence number of the failures.
    pub fn fail_record(&mut self, index: usize) {
        if let Some(failed) = self.failed_records.get_mut(index) {
            *failed = true;
        }
    }

    /// The failed record with the lowest sequence number, if any: Lambda
    /// redelivers it and every record after it.
    pub fn first_failed_record(&self, records: &[InRecord<'_>]) -> Option<usize> {
        lowest_failed(records, &self.failed_records)
    }

    /// Counts the outcomes and builds Lambda's response.
    pub fn answer(self, records: &[InRecord<'_>]) -> Result<BatchReport, BatchError> {
        answer(records, &self.items, &self.failed_records)
    }
}

/// Counts the outcomes and builds Lambda's response.
fn answer(
    records: &[InRecord<'_>],
    items: &[(u32, ItemState)],
    failed_records: &[bool],
) -> Result<BatchReport, BatchError> {
    let counts = tally(records.len(), items, failed_records);
    let first_failed_record = lowest_failed(records, failed_records);
    let mut response = KinesisEventResponse::default();
    if let Some(index) = first_failed_record {
        let seq = &records[index].sequence_number;
        if seq.is_empty() {
            return Err(BatchError::NoSequenceNumber { index });
        }
        let mut failure = KinesisBatchItemFailure::default();
        failure.item_identifier = Some(seq.to_string());
        response.batch_item_failures.push(failure);
    }
    tracing::info!(
        records = counts.records,
        items = counts.items,
        delivered = counts.delivered,
        dropped = counts.dropped,
        quarantined = counts.quarantined,
        failed = counts.failed,
        "batch done"
    );
    Ok(BatchReport { counts, first_failed_record, response })
}

fn log_send(sink: &str, report: &SendReport) {
    if !report.is_ok() {
        tracing::warn!(
            sink,
            failed = report.failed.len(),
            error = report.last_error.as_deref().unwrap_or(""),
            "entries did not reach the sink"
        );
    }
}

fn tally(records: usize, items: &[(u32, ItemState)], failed_records: &[bool]) -> Counts {
    let mut counts = Counts { records, items: items.len(), ..Counts::default() };
    for &(record, state) in items {
        if failed_records[record as usize] {
            counts.failed += 1;
            continue;
        }
        match state {
            ItemState::Delivered => counts.delivered += 1,
            ItemState::Quarantined => counts.quarantined += 1,
            ItemState::Dropped(reason) => {
                counts.dropped += 1;
                *counts.dropped_by_reason.entry(reason).or_default() += 1;
            }
        }
    }
    counts
}

/// The failed record with the lowest sequence number (compared as numbers).
fn lowest_failed(records: &[InRecord<'_>], failed: &[bool]) -> Option<usize> {
    (0..records.len())
        .filter(|&i| failed[i])
        .min_by(|&a, &b| compare_sequence(&records[a].sequence_number, &records[b].sequence_number))
}

/// Orders Kinesis sequence numbers (decimal strings of up to 128 bits and more) numerically.
pub fn compare_sequence(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// How many records ahead of the one being processed the driver asks for a
/// record's bytes to be loaded ([`prefetch`]).
const PREFETCH_AHEAD: usize = 4;

/// Asks the CPU to start loading `data` into its caches without waiting for
/// it: its first KiB and its last byte (which base64's padding check reads
/// first). An event at Lambda's limit is larger than the caches near the core,
/// so each record's bytes were a miss at their first touch, ~5% of a batch.
/// A hint only: nothing on targets other than x86-64 (stable Rust has no safe
/// prefetch for aarch64).
#[inline(always)]
fn prefetch(data: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        const MAX_BYTES: usize = 1024;
        const CACHE_LINE: usize = 64;
        for byte in data[..data.len().min(MAX_BYTES)].iter().step_by(CACHE_LINE) {
            safe_arch::prefetch_t0(byte);
        }
        if let Some(last) = data.last() {
            safe_arch::prefetch_t0(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Decodes a record's base64 `data` into `out` (cleared first, its capacity
/// reused: appended in place, no zero-filling), as the driver does.
pub fn decode_base64(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), base64_simd::Error> {
    out.clear();
    base64_simd::STANDARD.decode_append(bytes, out)
}

/// The object key of a batch: the hour of its first record's arrival, then the
/// shard and first sequence number, so a retried batch overwrites its own objects.
pub fn object_key(records: &[InRecord<'_>]) -> String {
    let Some(first) = records.first() else {
        return "empty".to_string();
    };
    let time = DateTime::<Utc>::from_timestamp(first.approximate_arrival.seconds() as i64, 0).unwrap_or_default();
    format!(
        "{:04}/{:02}/{:02}/{:02}/{}-{}",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        safe_key_part(&first.shard_id),
        safe_key_part(&first.sequence_number)
    )
}

fn safe_key_part(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if cleaned.is_empty() {
        "unknown".to_string()
    } else {
        cleaned
    }
}

/// One quarantine line: the reason, the coordinates, and the raw bytes in base64.
pub fn quarantine_line(coords: &Coords<'_>, reason: &str, raw: &[u8]) -> SinkRecord {
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 256);
    out.push(b'{');
    write_key(&mut out, "reason");
    write_str(&mut out, reason);
    write_coords(&mut out, coords);
    out.push(b',');
    write_key(&mut out, "data_base64");
    out.push(b'"');
    out.extend_from_slice(base64_simd::STANDARD.encode_to_string(raw).as_bytes());
    out.extend_from_slice(b"\"}\n");
    SinkRecord::new(coords.partition_key, out)
}

/// Appends `,"partition_key":..,"sequence_number":..,["subsequence_number":..,]"approximate_arrival":..,"shard_id":..`.
pub fn write_coords(out: &mut Vec<u8>, coords: &Coords<'_>) {
    out.extend_from_slice(b",\"partition_key\":");
    write_str(out, coords.partition_key);
    out.extend_from_slice(b",\"sequence_number\":");
    write_str(out, coords.sequence_number);
    if let Some(sub) = coords.subsequence_number {
        out.extend_from_slice(b",\"subsequence_number\":");
        write_u64(out, sub);
    }
    out.extend_from_slice(b",\"approximate_arrival\":");
    coords.approximate_arrival.write_json(out);
    out.extend_from_slice(b",\"shard_id\":");
    write_str(out, coords.shard_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::KINESIS;

    fn line(item: u32, n: usize, size: usize) -> Vec<u8> {
        format!("{item}:{n}:{}", "z".repeat(size)).into_bytes()
    }

    #[test]
    fn given_entries_across_chunks_and_retracted_items_then_each_kept_entry_has_exactly_its_bytes() {
        let mut out = Outputs::new([Some(KINESIS), None], 4);
        let mut want: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(), Vec::new()];
        for item in 0..60u32 {
            out.item = item;
            // entries of a few bytes to ~300 KB: many chunks, some entries longer than a chunk's slack
            let size = [1, 70_000, 300_000, 10, 20_000][item as usize % 5];
            for n in 0..3 {
                let data = line(item, n, size);
                if n == 1 {
                    out.write(1, "other", |buf| buf.extend_from_slice(&data));
                    want[1].push(("other".into(), data));
                } else {
                    out.push(0, &format!("k{item}"), data.clone());
                    want[0].push((format!("k{item}"), data));
                }
            }
            let retract = match item % 7 {
                // an entry over Kinesis's record limit: the whole item goes (late: it grows the chunk)
                3 if item > 50 => {
                    out.write(0, "k", |buf| buf.resize(buf.len() + KINESIS.max_record_bytes + 1, b'x'));
                    out.oversized.take().is_some()
                }
                // the processor changed its mind (a drop after pushing)
                5 => true,
                _ => false,
            };
            if retract {
                out.retract_current();
                let ours = format!("{item}:");
                for w in &mut want {
                    w.retain(|(_, d)| !d.starts_with(ours.as_bytes()));
                }
            }
        }
        // some entries of slot 0 were cut from full chunks before the end
        let cut_early = out.slots[0].records.len() - out.slots[0].pending.len();
        assert!(cut_early > 0, "one chunk only: the test would prove little");
        out.finish();
        for (slot, want) in out.slots.iter().zip(&want) {
            let got: Vec<(String, Vec<u8>)> =
                slot.records.iter().map(|r| (r.partition_key.to_string(), r.data.to_vec())).collect();
            assert_eq!(got.len(), want.len());
            assert!(got == *want, "entries differ");
            assert!(slot.pending.is_empty());
        }
    }

    #[test]
    fn a_partition_key_counts_toward_a_kinesis_record_and_is_left_out_of_a_firehose_one() {
        let mut out = Outputs::new([Some(KINESIS), Some(crate::limits::FIREHOSE)], 2);
        let key = "device-42";
        let fill = |n: usize| move |buf: &mut Vec<u8>| buf.resize(buf.len() + n, b'x');
        out.write(0, key, fill(KINESIS.max_record_bytes - key.len()));
        out.write(1, key, fill(crate::limits::FIREHOSE.max_record_bytes));
        assert!(out.oversized.is_none());
        out.write(0, key, fill(KINESIS.max_record_bytes - key.len() + 1));
        assert!(out.oversized.take().is_some_and(|reason| reason.contains("kinesis")));
        out.finish();
        let keys: Vec<&str> = out.slots.iter().flat_map(|s| &s.records).map(|r| r.partition_key.as_str()).collect();
        assert_eq!(keys, [key, ""]);
    }
}
