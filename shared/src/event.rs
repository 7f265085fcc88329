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

    /// The same data, borrowed from this value (no copy of owned text).
    pub fn reborrow(&self) -> Data<'_> {
        match self {
            Data::Json(c) => Data::Json(Cow::Borrowed(c.as_ref())),
            Data::Text(c) => Data::Text(Cow::Borrowed(c.as_ref())),
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

/// Where one top-level member of a JSON event sits in its text, as the decoder
/// found it while checking the JSON: processors read fields through this index
/// instead of walking the text again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberSpan {
    start: u32,
    /// The key's end, its top bit set when the key holds a backslash escape.
    key_end: u32,
    value_start: u32,
    /// The value's end, its top bit set when the value is a string holding an escape.
    end: u32,
}

/// The flag bit of [`MemberSpan`]'s ends: "this string holds escapes".
const ESCAPED: u32 = 1 << 31;

impl MemberSpan {
    /// A member from its key's opening quote (`start`), the end of the key
    /// (past its closing quote), and its value's start and end; `None` past 2 GiB.
    pub fn new(start: usize, key_end: usize, value_start: usize, end: usize) -> Option<Self> {
        let n = |v: usize| u32::try_from(v).ok().filter(|&v| v < ESCAPED);
        Some(Self { start: n(start)?, key_end: n(key_end)?, value_start: n(value_start)?, end: n(end)? })
    }

    /// The member with whether its key, and its value (if a string), hold
    /// backslash escapes: unescaped ones are then read without a search.
    pub fn with_escapes(self, key: bool, value: bool) -> Self {
        let flag = |on: bool| if on { ESCAPED } else { 0 };
        Self { key_end: self.key_end | flag(key), end: self.end | flag(value), ..self }
    }

    /// Offset of the key's opening quote.
    pub fn start(&self) -> usize {
        self.start as usize
    }

    /// Offset of the value's first byte.
    pub fn value_start(&self) -> usize {
        self.value_start as usize
    }

    /// Offset just past the value.
    pub fn end(&self) -> usize {
        (self.end & !ESCAPED) as usize
    }

    /// The member's name, unescaped (borrowed unless it holds escapes).
    pub fn name<'a>(&self, text: &'a str) -> Option<Cow<'a, str>> {
        let key = text.get(self.start()..(self.key_end & !ESCAPED) as usize)?;
        crate::json::cursor::string_literal_known(key, self.key_end & ESCAPED != 0)
    }

    /// The value's raw text.
    pub fn value<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.get(self.value_start()..self.end())
    }

    /// Whether the value is a string holding backslash escapes.
    pub fn value_escaped(&self) -> bool {
        self.end & ESCAPED != 0
    }
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
    /// The top-level members of a JSON object, in order, when the decoder
    /// indexed them (empty otherwise: readers then walk the text themselves).
    pub members: &'a [MemberSpan],
}
