//! `Event`: the one canonical model every processor sees, borrowed from the
//! batch it came from (no copy of the payload on the hot path).

use std::borrow::Cow;

/// Where an event came from: the Kinesis record (and KPL user record) coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coords<'a> {
    /// Index of the source record in the Lambda batch.
    pub record: usize,
    /// The shard, e.g. `shardId-000000000000`.
    pub shard_id: &'a str,
    /// The Kinesis record's sequence number (the parent's, for a KPL user record).
    pub sequence_number: &'a str,
    /// The KPL user record's position in its aggregated record; `None` for plain records.
    pub subsequence_number: Option<u64>,
    /// The partition key (a KPL user record's own key).
    pub partition_key: &'a str,
    /// When Kinesis received the record, in seconds since the Unix epoch (milliseconds in the fraction).
    pub approximate_arrival: f64,
}

/// The payload of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    /// One JSON object as compact single-line text (never contains a newline).
    Json(Cow<'a, str>),
    /// A line of plain text (or a non-JSON log message).
    Text(Cow<'a, str>),
}

impl Data<'_> {
    /// The data as a JSON value's text: the object itself, or the text as a JSON string.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Data::Json(raw) => out.extend_from_slice(raw.as_bytes()),
            Data::Text(text) => crate::json::write_str(out, text),
        }
    }

    /// The data as an owned, `'static` value.
    pub fn into_owned(self) -> Data<'static> {
        match self {
            Data::Json(c) => Data::Json(Cow::Owned(c.into_owned())),
            Data::Text(c) => Data::Text(Cow::Owned(c.into_owned())),
        }
    }
}

/// CloudWatch Logs context of an event that arrived as a log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogContext {
    /// The log group, e.g. `/aws/lambda/checkout`.
    pub log_group: String,
    /// The log stream.
    pub log_stream: String,
    /// The log event's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The log event's id.
    pub id: String,
}

/// One event: a decoded unit of a Kinesis record, with its coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// Where it came from.
    pub coords: Coords<'a>,
    /// What it says.
    pub data: Data<'a>,
    /// Present for events decoded from CloudWatch Logs subscription messages.
    pub log: Option<&'a LogContext>,
}
