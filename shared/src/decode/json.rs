//! Rule 5: text that starts with `{` or `[` is one JSON object, NDJSON objects,
//! or an array of objects. Parsed once to validate and bound nesting; the
//! objects' own text is kept (compacted to one line), never re-serialised.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::DecodeError;

/// Whether the text, after white space, starts with `{` or `[`.
pub fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// The JSON objects in `text`: a single object, several (NDJSON or concatenated),
/// or the elements of one top-level array. Each is returned as single-line text.
pub fn objects(text: &str, max_depth: usize) -> Result<Vec<Cow<'_, str>>, DecodeError> {
    if text.trim_start().starts_with('[') {
        array_objects(text, max_depth)
    } else {
        stream_objects(text, max_depth)
    }
}

fn stream_objects(text: &str, max_depth: usize) -> Result<Vec<Cow<'_, str>>, DecodeError> {
    // the common case, one object per record, without the stream machinery
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => return Ok(vec![object_text(raw.get(), 0, max_depth)?]),
        Err(e) if !e.to_string().starts_with("trailing characters") => return Err(error_at(&e, max_depth)),
        Err(_) => {}
    }
    let mut out = Vec::new();
    for (index, raw) in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>().enumerate() {
        let raw = raw.map_err(|e| error_at(&e, max_depth))?;
        out.push(object_text(raw.get(), index, max_depth)?);
    }
    Ok(out)
}

fn array_objects(text: &str, max_depth: usize) -> Result<Vec<Cow<'_, str>>, DecodeError> {
    let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| error_at(&e, max_depth))?;
    elements
        .into_iter()
        .enumerate()
        .map(|(index, raw)| object_text(raw.get(), index, max_depth.saturating_sub(1)))
        .collect()
}

/// One validated value's text as an event, if it is an object within the depth limit.
fn object_text(raw: &str, index: usize, max_depth: usize) -> Result<Cow<'_, str>, DecodeError> {
    if !raw.starts_with('{') {
        return Err(DecodeError::NotAnObject { index });
    }
    check_depth(raw, max_depth)?;
    Ok(one_line(raw))
}

/// Checks that `text` (one valid JSON value) nests no deeper than `max_depth`.
/// Nesting can be no deeper than the count of `{` and `[` bytes, which SIMD
/// counts quickly; only when that count is over the limit is the value walked.
fn check_depth(text: &str, max_depth: usize) -> Result<(), DecodeError> {
    if memchr::memchr2_iter(b'{', b'[', text.as_bytes()).count() <= max_depth {
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    DepthSeed { left: max_depth }.deserialize(&mut de).map(|_| ()).map_err(|e| error_at(&e, max_depth))
}

/// JSON text may hold newlines only as insignificant white space (inside strings
/// they are escaped), so replacing them keeps the value and makes it one line.
fn one_line(raw: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_some() {
        Cow::Owned(raw.replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(raw)
    }
}

const TOO_DEEP: &str = "eddy: nesting limit";

fn error_at(e: &serde_json::Error, max_depth: usize) -> DecodeError {
    let message = e.to_string();
    if message.starts_with(TOO_DEEP) || message.starts_with("recursion limit exceeded") {
        return DecodeError::TooDeep { limit: max_depth, line: e.line(), column: e.column() };
    }
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    DecodeError::Json { message, line: e.line(), column: e.column() }
}

/// Walks (and discards) one value, failing once nesting passes `left`.
struct DepthSeed {
    left: usize,
}

impl<'de> DeserializeSeed<'de> for DepthSeed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(DepthVisitor { left: self.left })
    }
}

struct DepthVisitor {
    left: usize,
}

impl DepthVisitor {
    fn enter<E: serde::de::Error>(&self) -> Result<usize, E> {
        self.left.checked_sub(1).ok_or_else(|| E::custom(TOO_DEEP))
    }
}

impl<'de> Visitor<'de> for DepthVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let left = self.enter()?;
        while seq.next_element_seed(DepthSeed { left })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let left = self.enter()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(DepthSeed { left })?;
        }
        Ok(())
    }
}
