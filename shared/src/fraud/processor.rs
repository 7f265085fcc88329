//! The detect processor: plain synchronous code over the batch's events and
//! the state read for their keys before it runs. Each login or transaction is
//! applied, in batch order, to the state of each of its keys; what the
//! detectors find becomes one alert for the event.

use std::collections::HashMap;
use std::sync::Arc;

use super::alert::alert_json;
use super::commit::KeyWork;
use super::detect::{apply, keys_of, Detector, Thresholds};
use super::event::{parse, KEY_TOO_LONG, NOT_JSON};
use super::state::Key;
use super::store::Stored;
use crate::batch::{decode_base64, DropReason, InRecord, Outputs, Processor};
use crate::decode::{decode_record, DecodeLimits, UnitOutcome};
use crate::event::{Coords, Data, Event};
use crate::json::with_alert;
use crate::limits::DYNAMODB_MAX_PARTITION_KEY_BYTES;

/// The alerts sink's slot in the processor's outputs.
pub const ALERTS_SLOT: usize = 0;
/// Drop reason: the detectors found nothing.
pub const NO_FINDING: &str = "no detector fired";
/// Drop reason: every key of the event had applied it already (a replayed batch).
pub const ALREADY_APPLIED: &str = "already applied (replayed record)";

/// Applies each event to its keys' state and emits alerts.
#[derive(Debug)]
pub struct DetectProcessor<'t> {
    thresholds: &'t Thresholds,
    work: HashMap<Key, KeyWork>,
    failed_records: Vec<usize>,
    findings: HashMap<Detector, usize>,
    ordinal: Option<(usize, Option<u64>, u32)>,
}

impl<'t> DetectProcessor<'t> {
    /// A processor over the state read for the batch's keys (the events of
    /// keys not in `states` fail their records).
    pub fn new(thresholds: &'t Thresholds, states: HashMap<Key, Stored>) -> Self {
        let work = states
            .into_iter()
            .map(|(key, read)| {
                let state = read.state.clone();
                (key.clone(), KeyWork { key, read, state, events: Vec::new() })
            })
            .collect();
        Self { thresholds, work, failed_records: Vec::new(), findings: HashMap::new(), ordinal: None }
    }

    /// Records whose events need a key that could not be read: to report as failed.
    pub fn failed_records(&self) -> &[usize] {
        &self.failed_records
    }

    /// Findings per detector so far.
    pub fn findings(&self) -> &HashMap<Detector, usize> {
        &self.findings
    }

    /// The keys' work, for the writes.
    pub fn into_work(self) -> Vec<KeyWork> {
        self.work.into_values().filter(|w| !w.events.is_empty()).collect()
    }

    /// The n-th event (from 0) of its record, so events without an id get distinct ones.
    fn ordinal(&mut self, coords: &Coords<'_>) -> u32 {
        let n = match self.ordinal {
            Some((record, sub, n)) if record == coords.record && sub == coords.subsequence_number => n + 1,
            _ => 0,
        };
        self.ordinal = Some((coords.record, coords.subsequence_number, n));
        n
    }
}

/// The id of an event without one: `shard:sequence:subsequence:n`.
fn coords_id(coords: &Coords<'_>, ordinal: u32) -> String {
    format!(
        "{}:{}:{}:{ordinal}",
        coords.shard_id,
        coords.sequence_number,
        coords.subsequence_number.unwrap_or_default()
    )
}

impl Processor for DetectProcessor<'_> {
    fn name(&self) -> &'static str {
        "detect"
    }

    fn process(&mut self, event: &Event<'_>, out: &mut Outputs) -> Result<(), DropReason> {
        let Data::Json(raw) = &event.data else {
            return Err(NOT_JSON);
        };
        let ordinal = self.ordinal(&event.coords);
        let arrival_ms = (event.coords.approximate_arrival.seconds() * 1000.0) as i64;
        let parsed = parse(raw, || coords_id(&event.coords, ordinal), arrival_ms)?;
        let keys = keys_of(&parsed.event);
        if keys.iter().any(|k| k.pk().len() > DYNAMODB_MAX_PARTITION_KEY_BYTES) {
            return Err(KEY_TOO_LONG);
        }
        if keys.iter().any(|k| !self.work.contains_key(k)) {
            // its state could not be read: Lambda retries the record
            self.failed_records.push(event.coords.record);
            return Ok(());
        }
        let record = event.coords.record;
        let shared = Arc::new(parsed.event);
        let mut findings = Vec::new();
        let mut applied = false;
        for key in &keys {
            if let Some(work) = self.work.get_mut(key) {
                if apply(&mut work.state, &shared, self.thresholds, &mut findings) {
                    work.events.push((record, shared.clone()));
                    applied = true;
                }
            }
        }
        if !applied {
            return Err(ALREADY_APPLIED);
        }
        if findings.is_empty() {
            return Err(NO_FINDING);
        }
        for finding in &findings {
            *self.findings.entry(finding.detector).or_default() += 1;
        }
        out.push(
            ALERTS_SLOT,
            event.coords.partition_key,
            with_alert(raw, &alert_json(&findings), parsed.has_alert_key),
        );
        Ok(())
    }
}

/// The keys of every login and transaction in the batch, each once, decoded
/// as the driver will decode them; events that do not parse have none.
pub fn batch_keys(records: &[InRecord<'_>], limits: &DecodeLimits) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut scratch = Vec::new();
    for record in records {
        if decode_base64(&record.data, &mut scratch).is_err() {
            continue;
        }
        for unit in decode_record(&scratch, limits) {
            let UnitOutcome::Events(payloads) = &unit.outcome else { continue };
            for payload in payloads {
                if let Data::Json(raw) = &payload.data {
                    if let Ok(parsed) = parse(raw, String::new, 0) {
                        keys.extend(keys_of(&parsed.event));
                    }
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys.retain(|k| k.pk().len() <= DYNAMODB_MAX_PARTITION_KEY_BYTES);
    keys
}
