//! Bytes of one Kinesis record -> events, or a quarantine reason.
//!
//! The rules, in this order (DESIGN.md, "Decoding rules"): empty -> quarantine;
//! KPL magic -> deaggregate, each user record decoded by the rules below;
//! gzip magic -> bounded decompression, CloudWatch Logs subscription messages
//! become log events; invalid UTF-8 -> quarantine; `{` or `[` -> JSON object(s),
//! errors quarantined with their position; other text -> one event per line.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::event::{Data, LogContext, MemberSpan};
use crate::json::cursor::skip_ws;
use crate::json::validate::object_end;
use crate::limits::{DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_JSON_DEPTH};

pub mod cwlogs;
pub mod gzip;
pub mod json;
pub mod kpl;
pub mod text;
pub mod vpc;

/// Guards applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most bytes one gzip record may decompress to.
    pub max_decompressed_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES, max_json_depth: DEFAULT_MAX_JSON_DEPTH }
    }
}

/// Why a record (or a KPL user record) cannot be decoded. The `Display` text is
/// the quarantine reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all, or only white space.
    #[error("empty record")]
    Empty,
    /// The record's `data` field is not valid base64.
    #[error("data is not valid base64")]
    Base64,
    /// Bytes that are not UTF-8 text.
    #[error("not UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Text that starts like JSON but does not parse.
    #[error("invalid JSON: {message} at line {line} column {column}")]
    Json {
        /// serde_json's message, without its position.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// JSON nested deeper than allowed.
    #[error("JSON nested deeper than {limit} levels at line {line} column {column}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// 1-based line where the limit was passed.
        line: usize,
        /// 1-based column where the limit was passed.
        column: usize,
    },
    /// A JSON value that is not an object where events must be objects.
    #[error("JSON value {index} is not an object")]
    NotAnObject {
        /// 0-based position of the value in the record (or in the array).
        index: usize,
    },
    /// gzip data that does not decompress.
    #[error("corrupt gzip: {0}")]
    Gzip(String),
    /// gzip data that decompresses past the limit.
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A KPL aggregated record that is short, has a bad checksum or bad protobuf.
    #[error("corrupt KPL aggregated record: {0}")]
    Kpl(String),
    /// A CloudWatch Logs subscription message that is not as documented.
    #[error("invalid CloudWatch Logs message: {0}")]
    CloudWatch(String),
}

/// One event's payload as decoded, before coordinates are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The data.
    pub data: Data<'a>,
    /// Index into [`Unit::logs`] when the payload is a CloudWatch log event.
    pub log: Option<usize>,
    /// The top-level members of a JSON object, when the decoder indexed them.
    pub members: Vec<MemberSpan>,
}

impl Payload<'_> {
    /// The payload with its data made owned.
    pub fn into_owned<'b>(self) -> Payload<'b> {
        Payload { data: self.data.into_owned(), log: self.log, members: self.members }
    }
}

/// The payloads of one unit: inline for the usual one, on the heap past it.
pub type Payloads<'a> = SmallVec<[Payload<'a>; 1]>;

/// The units of one record: inline for the usual one (no KPL), on the heap past it.
pub type Units<'a> = SmallVec<[Unit<'a>; 1]>;

/// What became of one decoding unit (a record, or one KPL user record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitOutcome<'a> {
    /// Zero or more events (zero only for a CloudWatch Logs control message).
    Events(Payloads<'a>),
    /// Not decodable: the reason, and the unit's bytes for the quarantine.
    Quarantined {
        /// Why.
        reason: DecodeError,
        /// The raw bytes of the unit.
        raw: Cow<'a, [u8]>,
    },
    /// A CloudWatch Logs `CONTROL_MESSAGE`: deliberately skipped, counted.
    Control,
}

/// The KPL coordinates of a user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubRecord {
    /// The user record's own partition key.
    pub partition_key: String,
    /// Its position in the aggregated record.
    pub subsequence_number: u64,
}

/// One decoding unit: a whole record, or one user record of a KPL aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit<'a> {
    /// KPL coordinates, for user records.
    pub sub: Option<SubRecord>,
    /// The decoded events, or why not.
    pub outcome: UnitOutcome<'a>,
    /// CloudWatch Logs contexts the payloads point into.
    pub logs: Vec<LogContext>,
}

impl<'a> Unit<'a> {
    fn plain(outcome: UnitOutcome<'a>) -> Self {
        Self { sub: None, outcome, logs: Vec::new() }
    }
}

/// Decodes one Kinesis record's bytes into units (one, or one per KPL user record).
pub fn decode_record<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Units<'a> {
    if bytes.is_empty() {
        return smallvec::smallvec![Unit::plain(quarantine(DecodeError::Empty, Cow::Borrowed(bytes)))];
    }
    if kpl::is_aggregated(bytes) {
        return match kpl::deaggregate(bytes) {
            Ok(users) => users
                .into_iter()
                .map(|user| {
                    let (outcome, logs) = decode_unit(Cow::Owned(user.data), limits);
                    Unit {
                        sub: Some(SubRecord {
                            partition_key: user.partition_key,
                            subsequence_number: user.subsequence_number,
                        }),
                        outcome: outcome.into_owned(),
                        logs,
                    }
                })
                .collect(),
            Err(reason) => smallvec::smallvec![Unit::plain(quarantine(reason, Cow::Borrowed(bytes)))],
        };
    }
    let (outcome, logs) = decode_unit(Cow::Borrowed(bytes), limits);
    smallvec::smallvec![Unit { sub: None, outcome, logs }]
}

/// The usual record, read without building [`Units`]: one JSON object (white
/// space around it allowed, no line break inside), valid UTF-8, within the
/// nesting limit. Returns the object's text, its members indexed into
/// `members` (cleared first, its capacity reused); `None` for anything else,
/// which [`decode_record`] decodes. Where this says yes, [`decode_record`]
/// gives the same one event.
pub fn single_object<'a>(bytes: &'a [u8], limits: &DecodeLimits, members: &mut Vec<MemberSpan>) -> Option<&'a str> {
    // `{` after JSON white space: neither KPL's magic nor gzip's, and not empty
    let start = skip_ws(bytes, 0);
    let object = bytes.get(start..).filter(|rest| rest.first() == Some(&b'{'))?;
    let (len, breaks) = object_end(object, 0, limits.max_json_depth, members)?;
    if breaks || skip_ws(bytes, start + len) != bytes.len() {
        return None;
    }
    // the object starts and ends with ASCII braces: char boundaries; simdutf8
    // checks a payload-sized text ~1.3% of a batch faster than the standard library
    simdutf8::basic::from_utf8(bytes).ok()?.get(start..start + len)
}

fn quarantine(reason: DecodeError, raw: Cow<'_, [u8]>) -> UnitOutcome<'_> {
    UnitOutcome::Quarantined { reason, raw }
}

impl UnitOutcome<'_> {
    /// The outcome with every borrow made owned (of any lifetime: the lists are invariant).
    pub fn into_owned<'b>(self) -> UnitOutcome<'b> {
        match self {
            UnitOutcome::Events(payloads) => {
                UnitOutcome::Events(payloads.into_iter().map(Payload::into_owned).collect())
            }
            UnitOutcome::Quarantined { reason, raw } => {
                UnitOutcome::Quarantined { reason, raw: Cow::Owned(raw.into_owned()) }
            }
            UnitOutcome::Control => UnitOutcome::Control,
        }
    }
}

/// Rules 3-6 on one unit's bytes (no KPL inside).
fn decode_unit<'a>(bytes: Cow<'a, [u8]>, limits: &DecodeLimits) -> (UnitOutcome<'a>, Vec<LogContext>) {
    if bytes.is_empty() {
        return (quarantine(DecodeError::Empty, bytes), Vec::new());
    }
    if gzip::is_gzip(&bytes) {
        let inflated = match gzip::decompress(&bytes, limits.max_decompressed_bytes) {
            Ok(inflated) => inflated,
            Err(reason) => return (quarantine(reason, bytes), Vec::new()),
        };
        if let Some(message) = cwlogs::parse(&inflated) {
            return match message {
                Ok(cwlogs::Message::Control) => (UnitOutcome::Control, Vec::new()),
                Ok(cwlogs::Message::Data { logs, payloads }) => {
                    (UnitOutcome::Events(Payloads::from_vec(payloads)), logs)
                }
                Err(reason) => (quarantine(reason, bytes), Vec::new()),
            };
        }
        return match decode_text(&inflated, limits) {
            Ok(payloads) => (UnitOutcome::Events(owned(payloads)), Vec::new()),
            Err(reason) => (quarantine(reason, bytes), Vec::new()),
        };
    }
    match bytes {
        Cow::Borrowed(b) => match decode_text(b, limits) {
            Ok(payloads) => (UnitOutcome::Events(payloads), Vec::new()),
            Err(reason) => (quarantine(reason, Cow::Borrowed(b)), Vec::new()),
        },
        Cow::Owned(b) => match decode_text(&b, limits).map(owned) {
            Ok(payloads) => (UnitOutcome::Events(payloads), Vec::new()),
            Err(reason) => (quarantine(reason, Cow::Owned(b)), Vec::new()),
        },
    }
}

fn owned<'b>(payloads: Payloads<'_>) -> Payloads<'b> {
    payloads.into_iter().map(Payload::into_owned).collect()
}

/// Rules 4-6: UTF-8, then JSON or plain text lines.
pub fn decode_text<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Payloads<'a>, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8 { offset: e.valid_up_to() })?;
    let payloads: Payloads<'a> = if json::looks_like_json(text) {
        json::objects(text, limits.max_json_depth)?
            .into_iter()
            .map(|object| Payload { data: Data::Json(object.text), log: None, members: object.members })
            .collect()
    } else {
        text::lines(text)
            .map(|line| Payload { data: Data::Text(Cow::Borrowed(line)), log: None, members: Vec::new() })
            .collect()
    };
    if payloads.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(payloads)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the driver does with `bytes` through the general path, when that
    /// is one JSON event read in place: its text and members.
    fn one_event_in_place(bytes: &[u8], limits: &DecodeLimits) -> Option<(String, Vec<MemberSpan>)> {
        let units = decode_record(bytes, limits);
        let [Unit { sub: None, outcome: UnitOutcome::Events(payloads), logs }] = units.as_slice() else {
            return None;
        };
        let [Payload { data: Data::Json(Cow::Borrowed(text)), log: None, members }] = payloads.as_slice() else {
            return None;
        };
        logs.is_empty().then(|| (text.to_string(), members.clone()))
    }

    /// Checks that the fast path gives what the general path gives, and that
    /// it takes every record the general path reads as one object in place.
    fn agrees(bytes: &[u8], limits: &DecodeLimits) -> Result<bool, TestCaseError> {
        let mut members = vec![MemberSpan::new(0, 1, 2, 3).unwrap()];
        let fast = single_object(bytes, limits, &mut members).map(|text| (text.to_string(), members.clone()));
        let general = one_event_in_place(bytes, limits);
        let whole_input = general.as_ref().is_some_and(|(text, _)| {
            let trimmed = bytes.trim_ascii();
            trimmed == text.as_bytes() && trimmed.first() == Some(&b'{')
        });
        if fast.is_some() || whole_input {
            prop_assert_eq!(&fast, &general, "{}", String::from_utf8_lossy(bytes));
        }
        Ok(fast.is_some())
    }

    #[test]
    fn the_usual_record_is_read_in_place_and_anything_else_left_to_the_rules() {
        let limits = DecodeLimits { max_json_depth: 3, ..DecodeLimits::default() };
        let taken = [
            &b"{\"a\":1,\"b\":\"x\\\"y\"}"[..],
            b" \t{\"a\":{\"b\":[1]}} \n",
            b"{}",
            "{\"caf\u{e9}\":\"\u{1f600}\"}".as_bytes(),
        ];
        for bytes in taken {
            assert!(agrees(bytes, &limits).unwrap(), "{}", String::from_utf8_lossy(bytes));
        }
        let left = [
            &b""[..],
            b"   ",
            b"{\"a\":\n1}",
            b"{\"a\":1}\n{\"b\":2}",
            b"[{\"a\":1}]",
            b"{\"a\":[[[1]]]}",
            b"{\"a\":1",
            b"{\"a\":\"\xff\"}",
            b"plain text",
            b"\x1f\x8b\x08\x00",
            b"\xf3\x89\x9a\xc2{}",
            "\u{a0}{}".as_bytes(),
        ];
        for bytes in left {
            assert!(!agrees(bytes, &limits).unwrap(), "{}", String::from_utf8_lossy(bytes));
        }
    }

    /// A generated object, sometimes padded, doubled, broken across lines, or
    /// with one byte changed (to any byte: non-UTF-8 included).
    fn records() -> impl Strategy<Value = Vec<u8>> {
        let object = crate::json::cursor::tests::any_json().prop_map(|v| format!("{{\"v\":{v},\"w\":[{v}]}}"));
        (object, "[ \t\n]{0,2}", 0..4u8, any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(object, pad, change, at, byte)| {
                let mut bytes = format!("{pad}{object}{pad}").into_bytes();
                match change {
                    0 => {}
                    1 => bytes.extend_from_slice(object.as_bytes()),
                    2 => bytes.insert(at.index(bytes.len() + 1), b'\n'),
                    _ => {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                }
                bytes
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_fast_path_gives_what_the_decoding_rules_give(bytes in records(), depth in 1usize..6) {
            let limits = DecodeLimits { max_json_depth: depth, ..DecodeLimits::default() };
            agrees(&bytes, &limits)?;
        }
    }
}
