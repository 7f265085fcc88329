//! Rule 5: text that starts with `{` or `[` is one JSON object, NDJSON objects,
//! or an array of objects. Parsed once to validate and bound nesting; the
//! objects' own text is kept (compacted to one line), never re-serialised.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use smallvec::SmallVec;

use super::DecodeError;
use crate::event::MemberSpan;
use crate::json::cursor::skip_ws;
use crate::json::validate;

/// Whether the text, after white space, starts with `{` or `[`.
pub fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// Members an event's index has room for before it grows (typical events have 5-15).
const MEMBERS_CAPACITY: usize = 16;

/// One JSON object of a payload: its text on one line, and the index of its
/// top-level members when the fast path made one (empty otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonObject<'a> {
    /// The object's text (newlines, only possible as white space, made spaces).
    pub text: Cow<'a, str>,
    /// Its top-level members, in order (offsets into `text`).
    pub members: Vec<MemberSpan>,
}

/// The objects of one payload: inline for the usual one, on the heap past it.
pub type JsonObjects<'a> = SmallVec<[JsonObject<'a>; 1]>;

/// The JSON objects in `text`: a single object, several (NDJSON or concatenated),
/// or the elements of one top-level array. Each is returned as single-line text.
pub fn objects(text: &str, max_depth: usize) -> Result<JsonObjects<'_>, DecodeError> {
    if let Some(objects) = valid_objects(text, max_depth) {
        return Ok(objects);
    }
    let unindexed = |text| JsonObject { text, members: Vec::new() };
    Ok(serde_objects(text, max_depth)?.into_iter().map(unindexed).collect())
}

/// The objects as serde_json reads them: the reference, and the path that
/// explains what is wrong, and where, when the fast path says no.
fn serde_objects(text: &str, max_depth: usize) -> Result<Vec<Cow<'_, str>>, DecodeError> {
    if text.trim_start().starts_with('[') {
        array_objects(text, max_depth)
    } else {
        stream_objects(text, max_depth)
    }
}

/// The fast path, for text that is all valid objects within the nesting limit
/// (almost every payload): [`validate::value_end`] walks each once; `None` for
/// anything else, which the serde_json path then explains.
fn valid_objects(text: &str, max_depth: usize) -> Option<JsonObjects<'_>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    let (in_array, depth) = if b.get(i) == Some(&b'[') {
        i = skip_ws(b, i + 1);
        (true, max_depth.checked_sub(1)?)
    } else {
        (false, max_depth)
    };
    let mut out = JsonObjects::new();
    if in_array && b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'{') {
                return None;
            }
            // room for the members of a typical event: one allocation
            let mut members = Vec::with_capacity(MEMBERS_CAPACITY);
            // offsets relative to the object's own text
            let (len, breaks) = validate::object_end(b.get(i..)?, 0, depth, &mut members)?;
            let (object, end) = (text.get(i..i + len)?, i + len);
            // line breaks can only be white space here: made spaces, the object is one line
            let line = if breaks { Cow::Owned(object.replace(['\n', '\r'], " ")) } else { Cow::Borrowed(object) };
            out.push(JsonObject { text: line, members });
            i = skip_ws(b, end);
            match (in_array, b.get(i)) {
                (false, None) => return Some(out),
                (false, Some(_)) => {}
                (true, Some(b',')) => i = skip_ws(b, i + 1),
                (true, Some(b']')) => {
                    i += 1;
                    break;
                }
                (true, _) => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(out)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_fast_path_takes_objects_ndjson_and_arrays() {
        let text = "{\"a\":1}\n{\"b\":\n[2]}  {\"c\":{}}\n";
        let texts =
            |t: &str| valid_objects(t, 64).unwrap().into_iter().map(|o| o.text.into_owned()).collect::<Vec<_>>();
        assert_eq!(texts(text), vec!["{\"a\":1}", "{\"b\": [2]}", "{\"c\":{}}"]);
        assert_eq!(texts(" [ {\"a\":1} , {} ] "), vec!["{\"a\":1}", "{}"]);
        assert_eq!(texts("[]"), Vec::<String>::new());
        for other in ["[1]", "{\"a\":1} 2", "{\"a\":}", "[{}", "{\"a\":[[1]]}"] {
            assert_eq!(valid_objects(other, 2), None, "{other}");
        }
    }

    #[test]
    fn what_the_fast_path_refuses_is_explained_by_serde() {
        let err = objects("{\"a\":1,}", 64).unwrap_err();
        assert!(matches!(err, DecodeError::Json { line: 1, column: 8, .. }), "{err:?}");
        let deep = format!("{}{}", "[".repeat(10), "]".repeat(10));
        let err = objects(&format!("{{\"a\":{deep}}}"), 5).unwrap_err();
        assert!(matches!(err, DecodeError::TooDeep { limit: 5, .. }), "{err:?}");
    }

    /// NDJSON or an array of generated objects, sometimes mangled by one byte.
    fn payloads() -> impl Strategy<Value = String> {
        let object = crate::json::cursor::tests::any_json().prop_map(|v| format!("{{\"v\":{v}}}"));
        (prop::collection::vec(object, 1..4), any::<bool>(), any::<prop::sample::Index>(), "[\\[\\]{}\",:0-9 \n]?")
            .prop_map(|(objects, array, at, junk)| {
                let mut text = if array { format!("[{}]", objects.join(",")) } else { objects.join("\n") };
                let pos = at.index(text.len() + 1);
                let pos = (0..=pos).rev().find(|&p| text.is_char_boundary(p)).unwrap_or(0);
                text.insert_str(pos, &junk);
                text
            })
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_serde(text in payloads(), depth in 1usize..6) {
            let reference = serde_objects(&text, depth);
            match valid_objects(&text, depth) {
                Some(fast) => {
                    for object in &fast {
                        let names: Vec<String> = object.members.iter().map(|m| m.name(&object.text).unwrap().into_owned()).collect();
                        let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&object.text).unwrap();
                        prop_assert_eq!(names.len(), value.len(), "{}", object.text);
                        for m in &object.members {
                            let v: serde_json::Value = serde_json::from_str(m.value(&object.text).unwrap()).unwrap();
                            prop_assert_eq!(Some(&v), value.get(m.name(&object.text).unwrap().as_ref()));
                            // a string value read through the index's escape flag
                            if let serde_json::Value::String(s) = &v {
                                let read = crate::json::cursor::string_literal_known(m.value(&object.text).unwrap(), m.value_escaped());
                                prop_assert_eq!(read.as_deref(), Some(s.as_str()));
                            }
                        }
                    }
                    prop_assert_eq!(Ok(fast.into_iter().map(|o| o.text).collect::<Vec<_>>()), reference)
                }
                // refused: serde must refuse too, unless the text is only deeper than the fast path goes
                None => prop_assert!(reference.is_err(), "{}", text),
            }
        }
    }
}
