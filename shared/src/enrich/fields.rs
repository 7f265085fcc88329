//! Reading what enrich needs from an event in one pass, and the normalised
//! fields: event time, `id`, `kind`, `source`.
//!
//! [`scan`] walks the top-level members of one JSON object once with
//! serde_json, keeping each value as borrowed raw text: the few fields enrich
//! reads are decoded from it (strings borrowed unless escaped), and the byte
//! span of every member whose name enrich writes is noted, so the output can be
//! the original text minus those members plus the added fields; no DOM is
//! built and nothing else is re-serialised.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A top-level name enrich writes; a payload member with the same name is
/// replaced by enrich's (see the policy in the module [`crate::enrich`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// `id`
    Id,
    /// `kind`
    Kind,
    /// `source`
    Source,
    /// `time`
    Time,
    /// `time_source`
    TimeSource,
    /// `geo`
    Geo,
    /// `ua`
    Ua,
    /// `service`
    Service,
}

/// Where a payload member named like an added field sits in the object text:
/// from its key's opening quote to the end of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Byte offset of the key's opening quote.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
    /// Which added field has this name.
    pub name: Added,
}

/// A scalar JSON value as found in the payload: a string (unescaped) or a number's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar<'a> {
    /// A JSON string's value.
    Str(Cow<'a, str>),
    /// A JSON number, as written.
    Number(&'a str),
}

/// The fields enrich reads from a JSON event. Where several names may carry
/// one field (`ip`, `client_ip`, ...), the first name in its list wins,
/// whatever the order in the payload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields<'a> {
    /// `id` (string or number).
    pub id: Option<Scalar<'a>>,
    /// `kind` (string).
    pub kind: Option<Cow<'a, str>>,
    /// `source` (string).
    pub source: Option<Cow<'a, str>>,
    /// `service` (string): the catalog key, before `source`.
    pub service: Option<Cow<'a, str>>,
    /// The event time: `time`, `timestamp`, `@timestamp` (string or number).
    pub time: Option<Scalar<'a>>,
    /// The client IP: `ip`, `client_ip`, `clientIp`, `source_ip`, `sourceIPAddress`, `remote_addr`, `srcaddr`.
    pub ip: Option<Cow<'a, str>>,
    /// The user agent: `ua`, `user_agent`, `userAgent`, `http_user_agent`.
    pub ua: Option<Cow<'a, str>>,
    time_rank: u8,
    ip_rank: u8,
    ua_rank: u8,
}

/// Names read as the event time, by precedence.
pub const TIME_NAMES: [&str; 3] = ["time", "timestamp", "@timestamp"];
/// Names read as the client IP, by precedence.
pub const IP_NAMES: [&str; 7] =
    ["ip", "client_ip", "clientIp", "source_ip", "sourceIPAddress", "remote_addr", "srcaddr"];
/// Names read as the user agent, by precedence.
pub const UA_NAMES: [&str; 4] = ["ua", "user_agent", "userAgent", "http_user_agent"];

/// Reads `text` (one JSON object) into [`Fields`], and appends to `members`
/// the spans of the members named like an added field, in document order.
pub fn scan<'a>(text: &'a str, members: &mut Vec<Member>) -> Result<Fields<'a>, serde_json::Error> {
    let mut fields = Fields::default();
    let mut de = serde_json::Deserializer::from_str(text);
    (&mut de).deserialize_map(ScanVisitor { base: text.as_ptr() as usize, fields: &mut fields, members })?;
    Ok(fields)
}

struct ScanVisitor<'s, 'a> {
    base: usize,
    fields: &'s mut Fields<'a>,
    members: &'s mut Vec<Member>,
}

impl<'de> Visitor<'de> for ScanVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<&'de RawValue>()? {
            let value: &'de RawValue = map.next_value()?;
            self.member(key.get(), value.get());
        }
        Ok(())
    }
}

impl<'de> ScanVisitor<'_, 'de> {
    fn member(&mut self, key: &'de str, value: &'de str) {
        let name = json_string(key).unwrap_or(Cow::Borrowed(""));
        let f = &mut *self.fields;
        let added = match name.as_ref() {
            "id" => {
                f.id = scalar(value);
                Some(Added::Id)
            }
            "kind" => {
                f.kind = json_string(value);
                Some(Added::Kind)
            }
            "source" => {
                f.source = json_string(value);
                Some(Added::Source)
            }
            "service" => {
                f.service = json_string(value);
                Some(Added::Service)
            }
            "time" => Some(Added::Time),
            "time_source" => Some(Added::TimeSource),
            "geo" => Some(Added::Geo),
            "ua" => Some(Added::Ua),
            _ => None,
        };
        if let Some(rank) = rank_of(&TIME_NAMES, &name) {
            if f.time.is_none() || rank < f.time_rank {
                if let Some(v) = scalar(value) {
                    (f.time, f.time_rank) = (Some(v), rank);
                }
            }
        } else if let Some(rank) = rank_of(&IP_NAMES, &name) {
            if f.ip.is_none() || rank < f.ip_rank {
                if let Some(v) = json_string(value) {
                    (f.ip, f.ip_rank) = (Some(v), rank);
                }
            }
        } else if let Some(rank) = rank_of(&UA_NAMES, &name) {
            if f.ua.is_none() || rank < f.ua_rank {
                if let Some(v) = json_string(value) {
                    (f.ua, f.ua_rank) = (Some(v), rank);
                }
            }
        }
        if let Some(name) = added {
            let start = key.as_ptr() as usize - self.base;
            let end = value.as_ptr() as usize - self.base + value.len();
            self.members.push(Member { start, end, name });
        }
    }
}

fn rank_of(names: &[&str], name: &str) -> Option<u8> {
    names.iter().position(|n| *n == name).map(|i| i as u8)
}

/// The value of a JSON string literal (borrowed when it holds no escapes); `None` for other values.
pub fn json_string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        Some(Cow::Borrowed(inner))
    } else {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    }
}

fn scalar(raw: &str) -> Option<Scalar<'_>> {
    match raw.as_bytes().first() {
        Some(b'"') => json_string(raw).map(Scalar::Str),
        Some(b'-' | b'0'..=b'9') => Some(Scalar::Number(raw)),
        _ => None,
    }
}

/// Where an event's normalised time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The event's own time (a payload field, or a CloudWatch log event's timestamp).
    Event,
    /// The record's arrival time in Kinesis (no usable time in the event).
    Arrival,
}

impl TimeSource {
    /// The value written as `time_source`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::Event => "event",
            TimeSource::Arrival => "arrival",
        }
    }
}

/// Parses an event time: RFC 3339 (any offset, `T` or space), an ISO date-time
/// without offset (taken as UTC), RFC 2822, the common log format
/// (`25/Nov/2024:01:02:03 +0000`), or epoch seconds, milliseconds,
/// microseconds or nanoseconds (told apart by magnitude), as a number or a
/// string of digits. Years outside 0..=9999 are refused.
pub fn parse_time(value: &Scalar<'_>) -> Option<DateTime<Utc>> {
    let time = match value {
        Scalar::Number(n) => parse_epoch(n),
        Scalar::Str(s) => parse_time_text(s.trim()),
    }?;
    (0..=9999).contains(&time.year()).then_some(time)
}

fn parse_time_text(s: &str) -> Option<DateTime<Utc>> {
    let first = *s.as_bytes().first()?;
    if first.is_ascii_digit() || first == b'-' {
        if let Some(t) = parse_epoch(s) {
            return Some(t);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
                return Some(t.and_utc());
            }
        }
        if let Ok(t) = DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z") {
            return Some(t.with_timezone(&Utc));
        }
    }
    DateTime::parse_from_rfc2822(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Epoch time as integer or decimal text; the unit comes from the magnitude:
/// under 1e11 seconds, under 1e14 milliseconds, under 1e17 microseconds, else
/// nanoseconds. Plain decimals are read exactly; exponent forms through `f64`.
fn parse_epoch(s: &str) -> Option<DateTime<Utc>> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if let (Ok(n), true) = (whole.parse::<i64>(), fraction.bytes().all(|b| b.is_ascii_digit())) {
        let unit_nanos: i128 = match n.unsigned_abs() {
            0..100_000_000_000 => 1_000_000_000,
            100_000_000_000..100_000_000_000_000 => 1_000_000,
            100_000_000_000_000..100_000_000_000_000_000 => 1_000,
            _ => 1,
        };
        // the fraction's first 9 digits, in billionths of the unit
        let mut billionths: i128 = 0;
        for i in 0..9 {
            billionths = billionths * 10 + fraction.as_bytes().get(i).map_or(0, |b| i128::from(b - b'0'));
        }
        let sign = if whole.starts_with('-') { -1 } else { 1 };
        let nanos = i128::from(n) * unit_nanos + sign * billionths * unit_nanos / 1_000_000_000;
        let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
        return DateTime::from_timestamp(secs, nanos.rem_euclid(1_000_000_000) as u32);
    }
    let x: f64 = s.parse().ok().filter(|x: &f64| x.is_finite())?;
    let scale = match x.abs() {
        a if a < 1e11 => 1.0,
        a if a < 1e14 => 1e3,
        a if a < 1e17 => 1e6,
        _ => 1e9,
    };
    from_epoch_seconds(x / scale)
}

/// A time from seconds since the epoch (the Kinesis arrival time), to the
/// nearest microsecond (what an `f64` of today's epoch seconds can hold).
pub fn from_epoch_seconds(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() || secs.abs() > 1e13 {
        return None;
    }
    let mut whole = secs.floor();
    let mut micros = ((secs - whole) * 1e6).round();
    if micros >= 1e6 {
        whole += 1.0;
        micros -= 1e6;
    }
    DateTime::from_timestamp(whole as i64, micros as u32 * 1000)
}

/// Appends `time` as a quoted RFC 3339 UTC timestamp with milliseconds:
/// `"2024-11-25T01:02:03.456Z"` (fixed width, so it sorts as text).
pub fn write_time(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    let year = time.year().clamp(0, 9999) as u32;
    let millis = time.timestamp_subsec_millis().min(999);
    out.push(b'"');
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, time.month(), 2);
    out.push(b'-');
    push_digits(out, time.day(), 2);
    out.push(b'T');
    push_digits(out, time.hour(), 2);
    out.push(b':');
    push_digits(out, time.minute(), 2);
    out.push(b':');
    push_digits(out, time.second().min(59), 2);
    out.push(b'.');
    push_digits(out, millis, 3);
    out.extend_from_slice(b"Z\"");
}

fn push_digits(out: &mut Vec<u8>, mut n: u32, width: usize) {
    let mut buf = [b'0'; 4];
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time_text(value: Scalar<'_>) -> Option<String> {
        parse_time(&value).map(|t| {
            let mut out = Vec::new();
            write_time(&mut out, &t);
            String::from_utf8(out).unwrap()
        })
    }

    fn s(text: &str) -> Scalar<'_> {
        Scalar::Str(Cow::Borrowed(text))
    }

    #[test]
    fn given_an_object_when_scanned_then_fields_and_added_name_spans_are_found() {
        let text =
            r#"{"id":"e-1","kind":"access","geo":{"x":[1,{"y":2}]},"ip":"192.0.2.1","time":1732496400,"ua":"curl/8"}"#;
        let mut members = Vec::new();
        let f = scan(text, &mut members).unwrap();
        assert_eq!(f.id, Some(s("e-1")));
        assert_eq!(f.kind.as_deref(), Some("access"));
        assert_eq!(f.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(f.ua.as_deref(), Some("curl/8"));
        assert_eq!(f.time, Some(Scalar::Number("1732496400")));
        let spans: Vec<(&str, Added)> = members.iter().map(|m| (&text[m.start..m.end], m.name)).collect();
        assert_eq!(
            spans,
            vec![
                (r#""id":"e-1""#, Added::Id),
                (r#""kind":"access""#, Added::Kind),
                (r#""geo":{"x":[1,{"y":2}]}"#, Added::Geo),
                (r#""time":1732496400"#, Added::Time),
                (r#""ua":"curl/8""#, Added::Ua),
            ]
        );
    }

    #[test]
    fn given_white_space_and_escapes_when_scanned_then_values_are_unescaped_and_spans_exact() {
        let text = "{ \"so\\u0075rce\" : \"a\\\"b\" ,\n \"user_agent\":\"x\", \"ua\": \"y\" }";
        let mut members = Vec::new();
        let f = scan(text, &mut members).unwrap();
        assert_eq!(f.source.as_deref(), Some("a\"b"));
        assert_eq!(f.ua.as_deref(), Some("y"), "`ua` wins over `user_agent` whatever the order");
        assert_eq!(&text[members[0].start..members[0].end], "\"so\\u0075rce\" : \"a\\\"b\"");
        assert_eq!(&text[members[1].start..members[1].end], "\"ua\": \"y\"");
    }

    #[test]
    fn given_non_string_values_when_scanned_then_they_are_ignored_but_still_replaced() {
        let mut members = Vec::new();
        let f = scan(r#"{"kind":7,"ip":null,"id":true,"time":{"a":1}}"#, &mut members).unwrap();
        assert_eq!((f.kind, f.ip, f.id, f.time), (None, None, None, None));
        assert_eq!(members.len(), 3, "kind, id and time members are still named like added fields");
    }

    #[test]
    fn given_time_variants_when_parsed_then_they_are_normalised_to_utc_millis() {
        let want = Some("\"2024-11-25T01:00:00.123Z\"".to_string());
        assert_eq!(time_text(s("2024-11-25T01:00:00.123Z")), want);
        assert_eq!(time_text(s("2024-11-25T02:00:00.123+01:00")), want);
        assert_eq!(time_text(s("2024-11-25 01:00:00.123456Z")), want);
        assert_eq!(time_text(s("2024-11-25T01:00:00.123")), want, "no offset: UTC");
        assert_eq!(time_text(Scalar::Number("1732496400123")), want, "epoch millis");
        assert_eq!(time_text(Scalar::Number("1732496400.123")), want, "epoch seconds with fraction");
        assert_eq!(time_text(s("1732496400123")), want, "millis as a string");
        assert_eq!(time_text(Scalar::Number("1732496400123000")), want, "micros");
        assert_eq!(time_text(Scalar::Number("1732496400123000000")), want, "nanos");
        let whole = Some("\"2024-11-25T01:00:00.000Z\"".to_string());
        assert_eq!(time_text(Scalar::Number("1732496400")), whole, "epoch seconds");
        assert_eq!(time_text(s("Mon, 25 Nov 2024 01:00:00 +0000")), whole, "RFC 2822");
        assert_eq!(time_text(s("25/Nov/2024:02:00:00 +0100")), whole, "common log format");
    }

    #[test]
    fn given_unusable_times_when_parsed_then_none() {
        for bad in ["", "yesterday", "2024-13-45T00:00:00Z", "12:00"] {
            assert_eq!(time_text(s(bad)), None, "{bad:?}");
        }
        assert_eq!(time_text(Scalar::Number("1e400")), None);
        assert_eq!(time_text(Scalar::Number("-99999999999999")), None, "before year 0");
    }

    #[test]
    fn arrival_times_keep_their_milliseconds() {
        let t = from_epoch_seconds(1_732_496_400.5).unwrap();
        let mut out = Vec::new();
        write_time(&mut out, &t);
        assert_eq!(String::from_utf8(out).unwrap(), "\"2024-11-25T01:00:00.500Z\"");
        assert_eq!(from_epoch_seconds(f64::NAN), None);
    }
}
