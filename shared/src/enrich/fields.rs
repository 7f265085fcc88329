//! Reading what enrich needs from an event in one pass, and the normalised
//! fields: event time, `id`, `kind`, `source`.
//!
//! [`scan`] walks the top-level members of one JSON object once, keeping each
//! value as borrowed raw text: the few fields enrich reads are decoded from it
//! (strings borrowed unless escaped), and the byte span of every member enrich
//! writes over is noted, so the output can be the original text minus those
//! members plus the added fields; no DOM is built and nothing else is
//! re-serialised.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

use crate::event::MemberSpan;
use crate::json::cursor::{string_literal, string_literal_known, Cursor};

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

/// Reads `text` (one JSON object, as [`crate::event::Data::Json`] holds) into
/// [`Fields`], and appends to `members` the spans of the members enrich will
/// write over: those named like an added field, except `id`, `kind` and
/// `source` holding strings (which stay in place as they are), in document
/// order. `None` if `text` is not a JSON object (never a panic).
pub fn scan<'a>(text: &'a str, members: &mut Vec<Member>) -> Option<Fields<'a>> {
    scan_indexed(text, &[], members)
}

/// Like [`scan`], reading the members through the decoder's `index` of them
/// when there is one (an empty index: the text is walked).
pub fn scan_indexed<'a>(text: &'a str, index: &[MemberSpan], members: &mut Vec<Member>) -> Option<Fields<'a>> {
    let mut fields = Fields::default();
    scan_into(text, index, members, &mut fields)?;
    Some(fields)
}

/// Like [`scan_indexed`], reading into `fields` (fresh from
/// [`Fields::default`]; partly filled when this says `None`): the hot path's
/// form, without moving the fields around.
pub fn scan_into<'a>(
    text: &'a str,
    index: &[MemberSpan],
    members: &mut Vec<Member>,
    fields: &mut Fields<'a>,
) -> Option<()> {
    let mut read = |start, name: &[u8], value, end| {
        if let Some(name) = fields.read(name, value) {
            members.push(Member { start, end, name });
        }
    };
    if index.is_empty() {
        for_each_member(text, |start, name, value, end| {
            read(start, name.as_bytes(), Raw { text: value, escaped: None }, end)
        })?;
    } else {
        for m in index {
            let value = Raw { text: m.value(text)?, escaped: Some(m.value_escaped()) };
            match m.plain_name(text.as_bytes()) {
                Some(name) => read(m.start(), name, value, m.end()),
                None => read(m.start(), m.name(text)?.as_bytes(), value, m.end()),
            }
        }
    }
    Some(())
}

/// Walks the top-level members of the object `text`, calling `member(start,
/// name, value, end)` with each member's name (unescaped), raw value text and
/// their byte span. The text is known to be valid JSON (the decoder checked
/// it), so this only finds boundaries: strings are skipped with SIMD search for
/// their closing quote, nested values by counting brackets outside strings.
/// Malformed text gives `None`.
fn for_each_member<'a>(text: &'a str, mut member: impl FnMut(usize, Cow<'a, str>, &'a str, usize)) -> Option<()> {
    let mut c = Cursor::new(text.as_bytes());
    if !c.eat(b'{') {
        return None;
    }
    if c.eat(b'}') {
        return Some(());
    }
    loop {
        c.skip_ws();
        let start = c.pos();
        let key = c.string()?;
        if !c.eat(b':') {
            return None;
        }
        c.skip_ws();
        let value_start = c.pos();
        c.skip_value()?;
        let end = c.pos();
        member(start, key.value(text)?, text.get(value_start..end)?, end);
        match c.peek_token() {
            Some(b',') => c.advance(1),
            Some(b'}') => return Some(()),
            _ => return None,
        }
    }
}

impl<'a> Fields<'a> {
    /// Takes what it needs from one member; returns the added field it is to
    /// give way to, if any.
    fn read(&mut self, name: &[u8], value: Raw<'a>) -> Option<Added> {
        match name {
            b"id" => {
                self.id = scalar(value);
                (!matches!(self.id, Some(Scalar::Str(_)))).then_some(Added::Id)
            }
            b"kind" => {
                self.kind = value.string();
                self.kind.is_none().then_some(Added::Kind)
            }
            b"source" => {
                self.source = value.string();
                self.source.is_none().then_some(Added::Source)
            }
            b"service" => {
                self.service = value.string();
                Some(Added::Service)
            }
            b"time" => {
                self.offer_time(0, value);
                Some(Added::Time)
            }
            b"timestamp" => {
                self.offer_time(1, value);
                None
            }
            b"@timestamp" => {
                self.offer_time(2, value);
                None
            }
            b"time_source" => Some(Added::TimeSource),
            b"geo" => Some(Added::Geo),
            b"ua" => {
                offer(&mut self.ua, &mut self.ua_rank, 0, value);
                Some(Added::Ua)
            }
            b"user_agent" => offer(&mut self.ua, &mut self.ua_rank, 1, value),
            b"userAgent" => offer(&mut self.ua, &mut self.ua_rank, 2, value),
            b"http_user_agent" => offer(&mut self.ua, &mut self.ua_rank, 3, value),
            b"ip" => offer(&mut self.ip, &mut self.ip_rank, 0, value),
            b"client_ip" => offer(&mut self.ip, &mut self.ip_rank, 1, value),
            b"clientIp" => offer(&mut self.ip, &mut self.ip_rank, 2, value),
            b"source_ip" => offer(&mut self.ip, &mut self.ip_rank, 3, value),
            b"sourceIPAddress" => offer(&mut self.ip, &mut self.ip_rank, 4, value),
            b"remote_addr" => offer(&mut self.ip, &mut self.ip_rank, 5, value),
            b"srcaddr" => offer(&mut self.ip, &mut self.ip_rank, 6, value),
            _ => None,
        }
    }

    fn offer_time(&mut self, rank: u8, value: Raw<'a>) {
        if self.time.is_none() || rank < self.time_rank {
            if let Some(v) = scalar(value) {
                (self.time, self.time_rank) = (Some(v), rank);
            }
        }
    }
}

/// Keeps a string `value` in `slot` when no better-ranked name filled it.
fn offer<'a>(slot: &mut Option<Cow<'a, str>>, slot_rank: &mut u8, rank: u8, value: Raw<'a>) -> Option<Added> {
    if slot.is_none() || rank < *slot_rank {
        if let Some(v) = value.string() {
            (*slot, *slot_rank) = (Some(v), rank);
        }
    }
    None
}

fn scalar(raw: Raw<'_>) -> Option<Scalar<'_>> {
    match raw.text.as_bytes().first() {
        Some(b'"') => raw.string().map(Scalar::Str),
        Some(b'-' | b'0'..=b'9') => Some(Scalar::Number(raw.text)),
        _ => None,
    }
}

/// A member's raw value text, and whether it is a string known to hold
/// escapes (`None`: not known, searched for).
#[derive(Debug, Clone, Copy)]
struct Raw<'a> {
    text: &'a str,
    escaped: Option<bool>,
}

impl<'a> Raw<'a> {
    /// The value as a string, if it is one (unescaped; borrowed unless it holds escapes).
    fn string(self) -> Option<Cow<'a, str>> {
        match self.escaped {
            Some(escaped) => string_literal_known(self.text, escaped),
            None => string_literal(self.text),
        }
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
    if let Some(t) = parse_utc(s) {
        return Some(t);
    }
    let first = *s.as_bytes().first()?;
    if first.is_ascii_digit() || first == b'-' {
        if s.bytes().all(|c| c.is_ascii_digit() || c == b'.' || c == b'-') {
            return parse_epoch(s);
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

/// The common case quickly: `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (`T` or space);
/// anything else is left to chrono's parsers.
fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    if !matches!(b.get(i..), Some(b"Z" | b"z")) {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    date.and_hms_nano_opt(hour, minute, second, nanos).map(|t| t.and_utc())
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

/// `text` when it is already the form [`write_time`] writes
/// (`2024-11-25T01:02:03.456Z`) and a real UTC time: the usual event time,
/// copied as it came instead of being parsed and written again.
pub fn canonical_time(text: &str) -> Option<&str> {
    let b: &[u8; 24] = text.as_bytes().try_into().ok()?;
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    num(20, 23)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let real = (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60;
    (shape && real).then_some(text)
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
        // `id` and `kind` hold strings: they stay in place, so they are not listed
        assert_eq!(
            spans,
            vec![
                (r#""geo":{"x":[1,{"y":2}]}"#, Added::Geo),
                (r#""time":1732496400"#, Added::Time),
                (r#""ua":"curl/8""#, Added::Ua),
            ]
        );
    }

    #[test]
    fn given_white_space_and_escapes_when_scanned_then_values_are_unescaped_and_spans_exact() {
        let text =
            "{ \"so\\u0075rce\" : \"a\\\"b\" ,\n \"user_agent\":\"x\", \"ua\": \"y\" , \"ti\\u006de\" :\t[1, \"]\"] }";
        let mut members = Vec::new();
        let f = scan(text, &mut members).unwrap();
        assert_eq!(f.source.as_deref(), Some("a\"b"), "escaped key and value");
        assert_eq!(f.ua.as_deref(), Some("y"), "`ua` wins over `user_agent` whatever the order");
        assert_eq!(&text[members[0].start..members[0].end], "\"ua\": \"y\"");
        assert_eq!(&text[members[1].start..members[1].end], "\"ti\\u006de\" :\t[1, \"]\"]");
        assert_eq!(members.len(), 2);
    }

    #[test]
    fn given_text_that_is_not_an_object_when_scanned_then_none_and_no_panic() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1",
            "{\"a\":\"x}",
            "{\"a\":1 \"b\":2}",
            "{a:1}",
            "{\"a\":[1}",
            "{\"a\":]}",
        ] {
            assert_eq!(scan(bad, &mut Vec::new()), None, "{bad:?}");
        }
    }

    /// Every top-level member serde_json sees, as (key, value) raw text.
    fn serde_members(text: &str) -> Vec<(String, String)> {
        let map: Vec<(&serde_json::value::RawValue, &serde_json::value::RawValue)> = {
            use serde::de::{Deserializer, MapAccess, Visitor};
            struct Pairs;
            impl<'de> Visitor<'de> for Pairs {
                type Value = Vec<(&'de serde_json::value::RawValue, &'de serde_json::value::RawValue)>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some(k) = map.next_key()? {
                        out.push((k, map.next_value()?));
                    }
                    Ok(out)
                }
            }
            serde_json::Deserializer::from_str(text).deserialize_map(Pairs).unwrap()
        };
        map.into_iter().map(|(k, v)| (serde_json::from_str::<String>(k.get()).unwrap(), v.get().to_string())).collect()
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(serde_json::Value::from),
            "[ -~\\PC]{0,12}".prop_map(serde_json::Value::from),
            "[a-z\"\\\\\u{e9}\u{1F600}]{0,100}".prop_map(serde_json::Value::from),
            prop::sample::select(vec!["{", "}", "[", "]", "\\", "\"", ",", ":"]).prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_@\"\\\\]{0,6}", inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn a_time_already_in_the_written_form_is_kept_only_when_real() {
        for text in [
            "2024-11-25T01:02:03.456Z",
            "2024-02-29T23:59:59.999Z",
            "0000-01-01T00:00:00.000Z",
            "2000-02-29T00:00:00.000Z",
        ] {
            assert_eq!(canonical_time(text), Some(text));
            assert_eq!(time_text(Scalar::Str(text.into())).as_deref(), Some(format!("\"{text}\"").as_str()));
        }
        for text in [
            "2023-02-29T00:00:00.000Z",
            "1900-02-29T00:00:00.000Z",
            "2024-04-31T00:00:00.000Z",
            "2024-13-01T00:00:00.000Z",
            "2024-00-01T00:00:00.000Z",
            "2024-01-00T00:00:00.000Z",
            "2024-01-01T24:00:00.000Z",
            "2024-01-01T00:60:00.000Z",
            "2024-01-01T00:00:60.000Z",
            "2024-01-01t00:00:00.000Z",
            "2024-01-01T00:00:00.000z",
            "2024-01-01 00:00:00.000Z",
            "2024-01-01T00:00:00.00Z",
            "2024-01-01T00:00:00.0000Z",
            "2024-01-01T00:00:00.00aZ",
            "+024-01-01T00:00:00.000Z",
            " 2024-01-01T00:00:00.000Z",
        ] {
            assert_eq!(canonical_time(text), None, "{text}");
        }
    }

    proptest::proptest! {
        /// The copy is taken exactly where parsing and writing again give the
        /// same text (a leap second parses, but is written as `:59.999`).
        #[test]
        fn a_kept_time_is_what_parsing_and_writing_give(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, s in 0u32..62, ms in 0u32..1000,
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z");
            let slow = time_text(Scalar::Str(text.as_str().into()));
            let same = slow.is_some_and(|slow| slow == format!("\"{text}\""));
            proptest::prop_assert_eq!(canonical_time(&text).is_some(), same, "{}", text);
        }
    }

    proptest::proptest! {
        #[test]
        fn the_member_walk_finds_what_serde_json_finds(
            members in proptest::collection::btree_map("[a-z_@\"\\\\]{0,8}", json_value(), 0..8),
            pretty in proptest::bool::ANY,
        ) {
            let object = serde_json::Value::Object(members.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&object).unwrap() } else { object.to_string() };
            let mut found = Vec::new();
            for_each_member(&text, |start, name, value, end| {
                assert!(text[start..end].starts_with('"') && text[start..end].ends_with(value));
                found.push((name.into_owned(), value.to_string()));
            })
            .unwrap();
            proptest::prop_assert_eq!(found, serde_members(&text));
        }

        #[test]
        fn reading_through_the_decoders_index_finds_what_the_walk_finds(
            members in proptest::collection::btree_map("[a-z_@\"\\\\]{0,8}|ip|ua|time|id|kind|source|service", json_value(), 0..8),
            pretty in proptest::bool::ANY,
        ) {
            let object = serde_json::Value::Object(members.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&object).unwrap() } else { object.to_string() };
            let decoded = crate::decode::json::objects(&text, 64).unwrap();
            let one = &decoded[0];
            let (mut walked, mut indexed) = (Vec::new(), Vec::new());
            let by_walk = scan(&one.text, &mut walked);
            let by_index = scan_indexed(&one.text, &one.members, &mut indexed);
            proptest::prop_assert_eq!(by_index, by_walk);
            proptest::prop_assert_eq!(indexed, walked);
        }
    }

    #[test]
    fn given_non_string_values_when_scanned_then_they_are_ignored_but_still_replaced() {
        let mut members = Vec::new();
        let f = scan(r#"{"kind":7,"ip":null,"id":true,"time":{"a":1}}"#, &mut members).unwrap();
        assert_eq!((f.kind, f.ip, f.id, f.time), (None, None, None, None));
        assert_eq!(members.len(), 3, "kind, id and time are replaced: their values are not strings");
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
