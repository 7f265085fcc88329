//! Building Lambda `KinesisTimeWindowEvent`s for tests, fixtures and benchmarks.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::report::rfc3339;
use crate::workload::{kinesis_event, TestRecord};

/// The tumbling-window fields to add to a Kinesis event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window start, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// Window end.
    pub end_ms: i64,
    /// The state carried from the previous invocation.
    pub state: BTreeMap<String, String>,
    /// The shard.
    pub shard_id: String,
    /// The stream's ARN.
    pub stream_arn: String,
    /// `isFinalInvokeForWindow`.
    pub is_final: bool,
    /// `isWindowTerminatedEarly`.
    pub terminated_early: bool,
}

impl WindowSpec {
    /// A first (non-final) invocation of the window `[start_ms, end_ms)` on shard 0 of the `enriched` stream.
    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Self {
            start_ms,
            end_ms,
            state: BTreeMap::new(),
            shard_id: "shardId-000000000000".into(),
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/enriched".into(),
            is_final: false,
            terminated_early: false,
        }
    }

    /// The same window, final invoke.
    pub fn last(mut self) -> Self {
        self.is_final = true;
        self
    }

    /// The same window, carrying `state`.
    pub fn carrying(mut self, state: BTreeMap<String, String>) -> Self {
        self.state = state;
        self
    }
}

/// Adds the tumbling-window fields of `spec` to `event` (a Lambda Kinesis event's JSON).
pub fn with_window(event: &[u8], spec: &WindowSpec) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(event).unwrap_or_else(|_| json!({"Records": []}));
    if let Value::Object(map) = &mut value {
        map.insert("window".into(), json!({"start": rfc3339(spec.start_ms), "end": rfc3339(spec.end_ms)}));
        map.insert("state".into(), json!(spec.state));
        map.insert("shardId".into(), json!(spec.shard_id));
        map.insert("eventSourceARN".into(), json!(spec.stream_arn));
        map.insert("isFinalInvokeForWindow".into(), json!(spec.is_final));
        map.insert("isWindowTerminatedEarly".into(), json!(spec.terminated_early));
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

/// A tumbling-window event holding `records` (sequence numbers from `first_seq`,
/// arriving from `arrival` seconds since the epoch, 1 ms apart).
pub fn window_event(records: &[TestRecord], first_seq: u64, arrival: f64, spec: &WindowSpec) -> Vec<u8> {
    with_window(&kinesis_event(records, &spec.shard_id, &spec.stream_arn, first_seq, arrival), spec)
}
