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
