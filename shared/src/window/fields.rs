//! Reading the few fields an aggregate needs from an event's JSON object in
//! one pass, without building a DOM: a [`FieldPlan`] is a tree of the dotted
//! paths asked for; everything else is skipped by the parser.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A scalar read from an event: strings are borrowed from the event when they
/// need no unescaping.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A JSON string.
    Str(Cow<'a, str>),
    /// A JSON number.
    Num(f64),
    /// A JSON boolean.
    Bool(bool),
}

impl Scalar<'_> {
    /// The value as a number: a JSON number, or a string holding one (`"12.5"`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Num(n) => Some(*n),
            Scalar::Str(s) => s.trim().parse::<f64>().ok(),
            Scalar::Bool(_) => None,
        }
        .filter(|n| n.is_finite())
    }

    /// The value as text, as grouping and counting see it: strings as they
    /// are, integral numbers without a fraction (`404`), booleans as `true`/`false`.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Str(s) => Cow::Borrowed(s.as_ref()),
            Scalar::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                Cow::Owned(itoa::Buffer::new().format(*n as i64).to_string())
            }
            Scalar::Num(n) => Cow::Owned(n.to_string()),
            Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

/// The dotted paths to read (`http.status`, `geo.country`), compiled into a tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldPlan {
    paths: Vec<String>,
    root: Node,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    children: Vec<(Box<str>, Node)>,
    slot: Option<usize>,
}

impl FieldPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot `path` is read into, adding the path if it is new.
    pub fn slot(&mut self, path: &str) -> usize {
        if let Some(i) = self.paths.iter().position(|p| p == path) {
            return i;
        }
        let slot = self.paths.len();
        self.paths.push(path.to_string());
        let mut node = &mut self.root;
        for part in path.split('.') {
            let i = match node.children.iter().position(|(name, _)| name.as_ref() == part) {
                Some(i) => i,
                None => {
                    node.children.push((part.into(), Node::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[i].1;
        }
        node.slot = Some(slot);
        slot
    }

    /// How many slots the plan fills.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether the plan reads nothing.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Reads the plan's paths from `json` (one JSON object): `out[slot]` is the
    /// scalar found there, `None` when absent, null, an object or an array.
    pub fn extract<'a>(&self, json: &'a str, out: &mut Vec<Option<Scalar<'a>>>) -> Result<(), serde_json::Error> {
        out.clear();
        out.resize(self.paths.len(), None);
        let mut de = serde_json::Deserializer::from_str(json);
        NodeSeed { node: &self.root, out }.deserialize(&mut de)?;
        de.end()
    }
}

struct NodeSeed<'p, 'o, 'a> {
    node: &'p Node,
    out: &'o mut Vec<Option<Scalar<'a>>>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.store(Scalar::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.store(Scalar::Num(v as f64));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.store(Scalar::Num(v as f64));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.store(Scalar::Num(v));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.store(Scalar::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.store(Scalar::Str(Cow::Owned(v.to_string())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.store(Scalar::Str(Cow::Owned(v)));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.node.children.iter().find(|(name, _)| name.as_ref() == key.as_ref()) {
                Some((_, child)) => map.next_value_seed(NodeSeed { node: child, out: &mut *self.out })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl<'a> NodeSeed<'_, '_, 'a> {
    fn store(self, value: Scalar<'a>) {
        if let Some(slot) = self.node.slot {
            if let Some(cell) = self.out.get_mut(slot) {
                *cell = Some(value);
            }
        }
    }
}

/// Reads an object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(paths: &[&str]) -> FieldPlan {
        let mut p = FieldPlan::new();
        for path in paths {
            p.slot(path);
        }
        p
    }

    #[test]
    fn given_nested_paths_when_extracting_then_scalars_land_in_their_slots() {
        let p = plan(&["source", "http.status", "http.latency_ms", "geo.country", "ok"]);
        let json = r#"{"source":"svc-a","pad":{"x":[1,2,{"y":3}]},"http":{"status":503,"latency_ms":12.5,"path":"/a"},"ok":true}"#;
        let mut out = Vec::new();
        p.extract(json, &mut out).unwrap();
        assert_eq!(out[0], Some(Scalar::Str(Cow::Borrowed("svc-a"))));
        assert_eq!(out[1], Some(Scalar::Num(503.0)));
        assert_eq!(out[2], Some(Scalar::Num(12.5)));
        assert_eq!(out[3], None, "absent path");
        assert_eq!(out[4], Some(Scalar::Bool(true)));
    }

    #[test]
    fn given_escaped_strings_and_non_scalars_when_extracting_then_strings_unescape_and_others_are_absent() {
        let p = plan(&["a", "b", "c", "d"]);
        let mut out = Vec::new();
        p.extract(r#"{"a":"x\"y","b":null,"c":{"z":1},"d":[1]}"#, &mut out).unwrap();
        assert_eq!(out[0].as_ref().unwrap().as_text(), "x\"y");
        assert_eq!(&out[1..], &[None, None, None]);
    }

    #[test]
    fn given_a_repeated_path_when_adding_then_the_same_slot_is_returned() {
        let mut p = FieldPlan::new();
        assert_eq!(p.slot("http.status"), 0);
        assert_eq!(p.slot("http.path"), 1);
        assert_eq!(p.slot("http.status"), 0);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn given_bad_json_when_extracting_then_an_error_not_a_panic() {
        let p = plan(&["a"]);
        let mut out = Vec::new();
        assert!(p.extract(r#"{"a":"#, &mut out).is_err());
        assert!(p.extract(r#"{"a":1} x"#, &mut out).is_err());
    }

    #[test]
    fn numbers_and_booleans_read_as_text_and_numeric_strings_as_numbers() {
        assert_eq!(Scalar::Num(404.0).as_text(), "404");
        assert_eq!(Scalar::Num(1.5).as_text(), "1.5");
        assert_eq!(Scalar::Bool(false).as_text(), "false");
        assert_eq!(Scalar::Str("12.5".into()).as_f64(), Some(12.5));
        assert_eq!(Scalar::Str("fast".into()).as_f64(), None);
        assert_eq!(Scalar::Bool(true).as_f64(), None);
    }
}
