//! `Event`: the one canonical model every processor sees, borrowed from the
//! batch it came from (no copy of the payload on the hot path).

use std::borrow::Cow;

use crate::json::cursor::digits_end;

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
    pub approximate_arrival: Arrival<'a>,
}

/// When Kinesis received a record (`approximateArrivalTimestamp`), seconds
/// since the Unix epoch. Kept as the text Lambda wrote when that is a plain
/// decimal, read as a number only when asked (most functions only copy it),
/// and written back as it came.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a>(Held<'a>);

#[derive(Debug, Clone, Copy)]
enum Held<'a> {
    /// A plain decimal (`[1-9][0-9]*` or `0`, optionally `.` and digits): valid JSON as it is.
    Text(&'a [u8]),
    /// Seconds held as a number.
    Seconds(f64),
}

impl<'a> Arrival<'a> {
    /// The arrival as written, when it is a plain decimal; else `None`
    /// (read it as a number, then [`Arrival::from`] it).
    pub fn plain(text: &'a [u8]) -> Option<Self> {
        Self::plain_prefix(text).filter(|&(_, len)| len == text.len()).map(|(arrival, _)| arrival)
    }

    /// The plain decimal `text` starts with, and its length, in one pass (as
    /// the envelope reader meets it); `None` when `text` starts with any other
    /// number form (an exponent, a sign, a leading zero, a bare dot).
    pub fn plain_prefix(text: &'a [u8]) -> Option<(Self, usize)> {
        let digits_from = |i: usize| digits_end(text, i).saturating_sub(i);
        let int = digits_from(0);
        if int == 0 || (int > 1 && text[0] == b'0') {
            return None;
        }
        let mut len = int;
        if text.get(len) == Some(&b'.') {
            let fraction = digits_from(len + 1);
            if fraction == 0 {
                return None;
            }
            len += 1 + fraction;
        }
        // more of a number (`e`, a second `.`, a sign) makes it another form
        if let Some(b'.' | b'e' | b'E' | b'+' | b'-') = text.get(len) {
            return None;
        }
        Some((Arrival(Held::Text(&text[..len])), len))
    }

    /// Seconds since the Unix epoch.
    pub fn seconds(&self) -> f64 {
        match self.0 {
            // a plain decimal always reads as a number
            Held::Text(text) => crate::json::parse_f64(text).unwrap_or_default(),
            Held::Seconds(seconds) => seconds,
        }
    }

    /// Appends the arrival as a JSON number.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self.0 {
            Held::Text(text) => out.extend_from_slice(text),
            Held::Seconds(seconds) => crate::json::write_f64(out, seconds),
        }
    }
}

impl Default for Arrival<'_> {
    fn default() -> Self {
        Arrival(Held::Seconds(0.0))
    }
}

impl From<f64> for Arrival<'_> {
    fn from(seconds: f64) -> Self {
        Arrival(Held::Seconds(seconds))
    }
}

/// The same instant, however it is held.
impl PartialEq for Arrival<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.seconds() == other.seconds()
    }
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
        let key = text.get(self.start()..self.key_end())?;
        crate::json::cursor::string_literal_known(key, self.key_escaped())
    }

    /// The member's name as written, without its quotes, when it holds no
    /// escapes (`None` otherwise: [`MemberSpan::name`] unescapes it).
    pub fn plain_name<'a>(&self, text: &'a [u8]) -> Option<&'a [u8]> {
        if self.key_escaped() {
            return None;
        }
        text.get(self.start() + 1..self.key_end().checked_sub(1)?)
    }

    /// Offset just past the key's closing quote.
    fn key_end(&self) -> usize {
        (self.key_end & !ESCAPED) as usize
    }

    /// Whether the key holds backslash escapes.
    fn key_escaped(&self) -> bool {
        self.key_end & ESCAPED != 0
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn written(arrival: Arrival<'_>) -> String {
        let mut out = Vec::new();
        arrival.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_plain_decimal_arrival_is_written_as_it_came_and_read_when_asked() {
        for text in ["1732500000.250", "1732500000", "0", "0.5", "1545084650.987"] {
            let arrival = Arrival::plain(text.as_bytes()).unwrap();
            assert_eq!(written(arrival), text);
            assert_eq!(arrival.seconds(), text.parse::<f64>().unwrap(), "{text}");
        }
        assert_eq!(Arrival::plain(b"1732500000.250").unwrap(), Arrival::from(1732500000.25));
    }

    #[test]
    fn any_other_number_text_is_not_kept_as_text() {
        for text in ["", "01", "00.5", "1.", ".5", "-1.5", "1e9", "1.5E3", "1.2.3", "12a", "+1", "١٢"] {
            assert!(Arrival::plain(text.as_bytes()).is_none(), "{text}");
        }
        assert_eq!(written(Arrival::from(1.7e9)), "1700000000.0");
    }

    #[test]
    fn a_plain_decimal_is_found_at_the_start_of_the_text_it_ends() {
        for (text, plain) in [("1732500000.250},", Some("1732500000.250")), ("7,", Some("7")), ("0}", Some("0"))] {
            let found = Arrival::plain_prefix(text.as_bytes()).map(|(arrival, len)| (written(arrival), len));
            assert_eq!(found, plain.map(|p| (p.to_string(), p.len())), "{text}");
        }
        for text in ["1.5e3}", "1.2.3,", "01}", "-1,", "1.}", "1+2", "}"] {
            assert!(Arrival::plain_prefix(text.as_bytes()).is_none(), "{text}");
        }
    }
}
