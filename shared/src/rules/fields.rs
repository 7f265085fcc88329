//! Reading only the fields the rules test from an event's JSON, in one pass:
//! the reader walks the object guided by the trie of the rules' paths, keeps the values at
//! the rules' paths (strings borrowed when they hold no escapes) and skips
//! everything else without building it. Cheaper than a `serde_json::Value`
//! of the whole event (see `benches/filter.rs`). Two readers: a byte scanner
//! (`scan.rs`, the fast path) and a `serde_json` visitor (the fallback
//! for text the scanner does not take, and the reference its tests compare with).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

use super::compile::PathTrie;
use crate::event::MemberSpan;

/// A value found at a rule's path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    /// An array; its elements' objects are kept as [`Val::Object`] only.
    Array(Vec<Val<'a>>),
    /// An object (its fields are not kept unless a rule reads them by path).
    Object,
}

/// The values of every slot of the trie for one event (`None`: absent).
#[derive(Debug, Default)]
pub(crate) struct Fields<'a> {
    pub slots: Vec<Option<Val<'a>>>,
}

impl<'a> Fields<'a> {
    /// The value in `slot`, if the event had one.
    pub fn get(&self, slot: u32) -> Option<&Val<'a>> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// Extracts the trie's fields from one JSON object's text: the byte
    /// scanner ([`super::scan`]) first; `serde_json` when the scanner gives up
    /// (so invalid text gets `serde_json`'s error).
    pub fn from_json(trie: &PathTrie, json: &'a str) -> Result<Self, serde_json::Error> {
        Self::from_indexed_json(trie, json, &[])
    }

    /// Like [`Fields::from_json`], through the decoder's index of the object's
    /// top-level members (offsets into `json`) when there is one.
    pub fn from_indexed_json(trie: &PathTrie, json: &'a str, index: &[MemberSpan]) -> Result<Self, serde_json::Error> {
        let mut slots = vec![None; trie.slots];
        if super::scan::scan_indexed(trie, json, index, &mut slots).is_some() {
            return Ok(Self { slots });
        }
        Self::from_json_serde(trie, json)
    }

    /// Extracts the trie's fields with `serde_json` (a full, validating parse).
    pub fn from_json_serde(trie: &PathTrie, json: &'a str) -> Result<Self, serde_json::Error> {
        let mut slots = vec![None; trie.slots];
        let mut de = serde_json::Deserializer::from_str(json);
        NodeSeed { trie, node: 0, slots: &mut slots }.deserialize(&mut de)?;
        de.end()?;
        Ok(Self { slots })
    }

    /// The fields of a plain-text event, seen as `{"message": text}`.
    pub fn from_text(trie: &PathTrie, text: &'a str) -> Self {
        let mut slots = vec![None; trie.slots];
        if let Some(slot) = trie.child(0, "message").and_then(|n| trie.nodes[n as usize].slot) {
            slots[slot as usize] = Some(Val::Str(Cow::Borrowed(text)));
        }
        Self { slots }
    }
}

/// Walks the value at one trie node.
struct NodeSeed<'t, 's, 'de> {
    trie: &'t PathTrie,
    node: u32,
    slots: &'s mut Vec<Option<Val<'de>>>,
}

impl NodeSeed<'_, '_, '_> {
    fn slot(&self) -> Option<u32> {
        self.trie.nodes[self.node as usize].slot
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> NodeSeed<'_, '_, 'de> {
    fn keep(self, v: Val<'de>) {
        if let Some(slot) = self.slot() {
            self.slots[slot as usize] = Some(v);
        }
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.keep(Val::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.keep(Val::Num(v as f64));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.keep(Val::Num(v as f64));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.keep(Val::Num(v));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.keep(Val::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.keep(Val::Str(Cow::Owned(v.to_string())));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.keep(Val::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.slot().is_none() {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(ValSeed)? {
            items.push(v);
        }
        self.keep(Val::Array(items));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let NodeSeed { trie, node, slots } = self;
        let has_children = !trie.nodes[node as usize].children.is_empty();
        while let Some(child) = map.next_key_seed(KeySeed { trie, node, has_children })? {
            match child {
                Some(child) => map.next_value_seed(NodeSeed { trie, node: child, slots: &mut *slots })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(slot) = trie.nodes[node as usize].slot {
            slots[slot as usize] = Some(Val::Object);
        }
        Ok(())
    }
}

/// Reads a key and answers which child of the node it names, without allocating.
struct KeySeed<'t> {
    trie: &'t PathTrie,
    node: u32,
    has_children: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<u32>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<u32>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<u32>, E> {
        Ok(if self.has_children { self.trie.child(self.node, key) } else { None })
    }
}

/// An array element, kept as a [`Val`].
struct ValSeed;

impl<'de> DeserializeSeed<'de> for ValSeed {
    type Value = Val<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(Val::Num(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::Num(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Val<'de>, E> {
        Ok(Val::Num(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(ValSeed)? {
            items.push(v);
        }
        Ok(Val::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// A trie of the given dotted paths.
    fn trie(paths: &[&str]) -> PathTrie {
        let mut t = PathTrie::new();
        for p in paths {
            let segments: Vec<&str> = p.split('.').collect();
            t.insert(&segments);
        }
        t
    }

    /// Slots equal, numbers within rounding (serde_json's fast float parsing
    /// may differ from the correctly rounded one in the last digit).
    fn same(a: &[Option<Val<'_>>], b: &[Option<Val<'_>>]) -> bool {
        fn val(a: &Val<'_>, b: &Val<'_>) -> bool {
            match (a, b) {
                (Val::Num(x), Val::Num(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                (Val::Array(x), Val::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| val(x, y)),
                (x, y) => x == y,
            }
        }
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => val(x, y),
                (None, None) => true,
                _ => false,
            })
    }

    fn both<'a>(t: &PathTrie, text: &'a str) -> (Fields<'a>, Fields<'a>) {
        let mut slots = vec![None; t.slots];
        super::super::scan::scan(t, text, &mut slots).unwrap_or_else(|| panic!("the scanner gave up on {text}"));
        let slow = Fields::from_json_serde(t, text).unwrap();
        assert_indexed_scan_reads_what_serde_reads(t, text);
        (Fields { slots }, slow)
    }

    /// The fields read through the decoder's member index, as the filter reads
    /// them, equal serde_json's reading of the same (decoded, one-line) text.
    fn assert_indexed_scan_reads_what_serde_reads(t: &PathTrie, text: &str) {
        let objects = crate::decode::json::objects(text, 64).unwrap();
        assert_eq!(objects.len(), 1, "{text}");
        let object = &objects[0];
        assert!(!object.members.is_empty() || object.text.trim() == "{}", "no index for {text}");
        let mut slots = vec![None; t.slots];
        super::super::scan::scan_indexed(t, &object.text, &object.members, &mut slots).unwrap();
        let slow = Fields::from_json_serde(t, &object.text).unwrap();
        assert!(same(&slots, &slow.slots), "{text}: indexed {:?} vs {:?}", slots, slow.slots);
    }

    #[test]
    fn given_tricky_text_when_scanned_then_the_scanner_reads_what_serde_reads() {
        let t = trie(&["a", "a.b", "s", "n", "arr", "e", "k\"q", "deep.x.y"]);
        for text in [
            r#"{"a":{"b":1,"c":[1,{"b":2}]},"s":"x\"y\\","n":-1.5e3,"arr":[1,"two",[3,{"x":1}],null,true],"e":"\u00e9\n"}"#,
            r#" { "a" : 7 , "s" : "}{][\\" , "k\"q" : false , "z" : { "a" : { "b" : 9 } } } "#,
            r#"{"deep":{"x":{"y":[]}},"a":{"b":{"c":1}},"a":{"b":"last wins"}}"#,
            r#"{"x":"\\","n":0,"arr":[],"s":""}"#,
            "{}",
        ] {
            let (fast, slow) = both(&t, text);
            assert!(same(&fast.slots, &slow.slots), "{text}: {:?} vs {:?}", fast.slots, slow.slots);
        }
    }

    #[test]
    fn given_invalid_text_when_read_then_it_is_an_error_and_no_panic() {
        let t = trie(&["a", "a.b", "s"]);
        for text in [
            "",
            "{",
            "[1]",
            r#"{"a":}"#,
            r#"{"a":1"#,
            r#"{"s":"open}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":tru}"#,
            r#"{"a" 1}"#,
            r#"{"a":1}x"#,
            r#"{"a":{"b":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"#,
        ] {
            let _ = Fields::from_json(&t, text);
        }
        assert!(Fields::from_json(&t, r#"{"a":}"#).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1.0e12f64..1.0e12).prop_map(|f| json!(f)),
            "[a-c\\\\\"\\}{\\]\\[ :,é\\n]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[abc]{1,2}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_scanner_and_serde_extract_the_same_fields(
            fields in prop::collection::vec(("[abc]{1,2}", json_value()), 0..6),
            pretty in any::<bool>(),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&object).unwrap() } else { object.to_string() };
            let t = trie(&["a", "b", "a.a", "a.b", "b.c", "c.a.b", "ab", "ab.c"]);
            let (fast, slow) = both(&t, &text);
            prop_assert!(same(&fast.slots, &slow.slots), "{}: {:?} vs {:?}", text, fast.slots, slow.slots);
        }
    }
}
