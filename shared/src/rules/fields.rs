//! Reading only the fields the rules test from an event's JSON, in one pass:
//! the parser walks the object guided by the [`PathTrie`], keeps the values at
//! the rules' paths (strings borrowed when they hold no escapes) and skips
//! everything else without building it. Cheaper than a `serde_json::Value`
//! of the whole event (see `benches/filter.rs`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

use super::compile::PathTrie;

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

    /// Extracts the trie's fields from one JSON object's text.
    pub fn from_json(trie: &PathTrie, json: &'a str) -> Result<Self, serde_json::Error> {
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
