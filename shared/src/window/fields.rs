//! Reading the few fields an aggregate needs from an event's JSON object in
//! one pass, without building a DOM: a [`FieldPlan`] is a tree of the dotted
//! paths asked for; the scanner descends only into those members and skips
//! everything else, finding the ends of strings with `memchr` (the events were
//! validated as JSON by the decoder; the scanner still fails cleanly, never
//! panics, on malformed text).

use std::borrow::Cow;

use crate::event::MemberSpan;
use crate::json::cursor::{Cursor, StrSpan};

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
            Scalar::Str(s) => crate::json::parse_f64(s.trim().as_bytes()),
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
    /// When a member repeats, the last one wins.
    pub fn extract<'a>(&self, json: &'a str, out: &mut Vec<Option<Scalar<'a>>>) -> Result<(), FieldError> {
        out.clear();
        out.resize(self.paths.len(), None);
        let mut scan = Scan::new(json, json.as_bytes());
        scan.ws();
        scan.object(&self.root, out)?;
        scan.ws();
        if !scan.c.at_end() {
            return Err(scan.error("trailing characters"));
        }
        Ok(())
    }

    /// Like [`FieldPlan::extract`] through the decoder's index of the object's
    /// top-level members: only the members the plan names are read, the
    /// others are not even skipped over. An empty index: [`FieldPlan::extract`].
    pub fn extract_indexed<'a>(
        &self,
        json: &'a str,
        members: &[MemberSpan],
        out: &mut Vec<Option<Scalar<'a>>>,
    ) -> Result<(), FieldError> {
        if members.is_empty() {
            return self.extract(json, out);
        }
        out.clear();
        out.resize(self.paths.len(), None);
        for member in members {
            let name = member.name(json).ok_or(FieldError { what: "bad key escape", at: member.start() })?;
            if let Some((_, child)) = self.root.children.iter().find(|(n, _)| n.as_ref() == name.as_ref()) {
                let mut scan = Scan { s: json, c: Cursor::at(json.as_bytes(), member.value_start()) };
                scan.value(child, out)?;
            }
        }
        Ok(())
    }
}

/// Why an event's JSON could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct FieldError {
    /// What was wrong.
    pub what: &'static str,
    /// Where.
    pub at: usize,
}

struct Scan<'a> {
    s: &'a str,
    c: Cursor<'a>,
}

impl<'a> Scan<'a> {
    fn new(s: &'a str, b: &'a [u8]) -> Self {
        Self { s, c: Cursor::new(b) }
    }

    fn error(&self, what: &'static str) -> FieldError {
        FieldError { what, at: self.c.pos() }
    }

    fn peek(&self) -> Option<u8> {
        self.c.peek()
    }

    fn ws(&mut self) {
        self.c.skip_ws();
    }

    fn eat(&mut self, c: u8, what: &'static str) -> Result<(), FieldError> {
        if self.peek() == Some(c) {
            self.c.advance(1);
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// Moves past the string starting here.
    fn skip_string(&mut self) -> Result<StrSpan, FieldError> {
        self.c.string().ok_or_else(|| self.error("expected a string"))
    }

    /// The string starting here, borrowed unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, FieldError> {
        let span = self.skip_string()?;
        span.value(self.s).ok_or_else(|| self.error("bad string escape"))
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), FieldError> {
        if self.c.literal(word) {
            Ok(())
        } else {
            Err(self.error("unexpected character"))
        }
    }

    fn number(&mut self) -> Result<f64, FieldError> {
        self.c.number().and_then(crate::json::parse_f64).ok_or_else(|| self.error("bad number"))
    }

    /// Moves past the value starting here (objects and arrays without recursion).
    fn skip_value(&mut self) -> Result<(), FieldError> {
        self.c.skip_value().ok_or_else(|| self.error("expected a value"))
    }

    /// Reads the value starting here into `node`'s slot, or descends into it.
    fn value(&mut self, node: &Node, out: &mut [Option<Scalar<'a>>]) -> Result<(), FieldError> {
        let value = match self.peek() {
            Some(b'{') if !node.children.is_empty() => return self.object(node, out),
            Some(b'{' | b'[') => return self.skip_value(),
            Some(b'"') => Scalar::Str(self.string()?),
            Some(b't') => {
                self.literal(b"true")?;
                Scalar::Bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Scalar::Bool(false)
            }
            Some(b'n') => return self.literal(b"null"),
            Some(_) => Scalar::Num(self.number()?),
            None => return Err(self.error("expected a value")),
        };
        if let Some(cell) = node.slot.and_then(|slot| out.get_mut(slot)) {
            *cell = Some(value);
        }
        Ok(())
    }

    /// Reads an object's members: the plan's children are read, the rest skipped.
    fn object(&mut self, node: &Node, out: &mut [Option<Scalar<'a>>]) -> Result<(), FieldError> {
        self.eat(b'{', "expected an object")?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.c.advance(1);
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.eat(b':', "expected `:`")?;
            self.ws();
            match node.children.iter().find(|(name, _)| name.as_ref() == key.as_ref()) {
                Some((_, child)) => self.value(child, out)?,
                None => self.skip_value()?,
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.c.advance(1),
                Some(b'}') => {
                    self.c.advance(1);
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
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
    fn given_odd_but_valid_json_when_extracting_then_the_scanner_follows_it() {
        let p = plan(&["a.b", "c", "d", "e\"q"]);
        let json = " { \"x\" : [ {\"a\":\"}\"} , \"]\\\"\" ] , \"a\" : { \"b\" : -1.5e2 } ,\"c\":\"\\u00e9t\\u00e9\",\"d\":false,\"d\":true,\"e\\\"q\":null } ";
        let mut out = Vec::new();
        p.extract(json, &mut out).unwrap();
        assert_eq!(out[0], Some(Scalar::Num(-150.0)));
        assert_eq!(out[1], Some(Scalar::Str(Cow::Owned("\u{e9}t\u{e9}".into()))));
        assert_eq!(out[2], Some(Scalar::Bool(true)), "the last of repeated members wins");
        assert_eq!(out[3], None);
    }

    fn oracle<'v>(value: &'v serde_json::Value, path: &str) -> Option<Scalar<'v>> {
        let mut v = value;
        for part in path.split('.') {
            v = v.as_object()?.get(part)?;
        }
        match v {
            serde_json::Value::String(s) => Some(Scalar::Str(Cow::Borrowed(s))),
            serde_json::Value::Number(n) => n.as_f64().map(Scalar::Num),
            serde_json::Value::Bool(b) => Some(Scalar::Bool(*b)),
            _ => None,
        }
    }

    fn same(a: &Option<Scalar<'_>>, b: &Option<Scalar<'_>>) -> bool {
        match (a, b) {
            // serde_json's float parsing may differ from Rust's in the last bit
            (Some(Scalar::Num(x)), Some(Scalar::Num(y))) => x == y || ((x - y) / x).abs() < 1e-12,
            (Some(Scalar::Str(x)), Some(Scalar::Str(y))) => x == y,
            _ => a == b,
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec!["a", "b", "c", "http", "status", "é\"\\", "x y"]);
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e12f64..1e12).prop_map(|n| serde_json::json!(n)),
            "\\PC{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|members| {
                    serde_json::Value::Object(members.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_result_never_a_panic(text in "[{}\\[\\]\":,\\\\a-c0-9.e -]{0,40}") {
            let p = plan(&["a", "a.b", "c"]);
            let _ = p.extract(&text, &mut Vec::new());
        }

        #[test]
        fn the_scanner_reads_what_a_json_parser_reads(
            members in proptest::collection::vec((proptest::sample::select(vec!["a", "b", "c", "http", "status", "é\"\\"]), json_value()), 0..8),
            pretty in proptest::bool::ANY,
        ) {
            let object = serde_json::Value::Object(members.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            let text = if pretty { serde_json::to_string_pretty(&object).unwrap() } else { object.to_string() };
            let paths = ["a", "b", "c.a", "http.status", "http.b.c", "status", "é\"\\", "a.é\"\\"];
            let p = plan(&paths);
            let mut out = Vec::new();
            p.extract(&text, &mut out).unwrap();
            for (i, path) in paths.iter().enumerate() {
                let want = oracle(&object, path);
                proptest::prop_assert!(same(&out[i], &want), "{path}: {:?} vs {:?} in {text}", out[i], want);
            }
            // and through the validator's index of the top-level members, the same
            let mut index = Vec::new();
            crate::json::validate::object_end(text.as_bytes(), 0, 64, &mut index).unwrap();
            let mut indexed = Vec::new();
            p.extract_indexed(&text, &index, &mut indexed).unwrap();
            proptest::prop_assert_eq!(&indexed, &out, "{}", text);
        }
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
