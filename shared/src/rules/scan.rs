//! The fast path of [`super::fields`]: a byte scanner that walks one JSON
//! object along the [`PathTrie`], keeps the values at the rules' paths and
//! skips the rest (strings to their closing quote, containers by counting
//! brackets) without building or fully validating them: 20-30% faster than
//! the serde visitor on the benchmark's events.
//!
//! Events reach the filter already validated by the decoder, so the scanner
//! only has to be right on valid JSON (the tests compare it with the serde
//! reader on generated JSON); on anything it does not understand it
//! gives up (`None`) and the caller falls back to `serde_json`, which reports
//! the error. It never panics and never recurses deeper than the trie or
//! [`MAX_ARRAY_DEPTH`].

use std::borrow::Cow;

use crate::event::MemberSpan;
use crate::json::cursor::Cursor;

use super::compile::PathTrie;
use super::fields::Val;

/// Nesting of arrays kept inside a value before the scanner gives up.
const MAX_ARRAY_DEPTH: usize = 64;

/// Like [`scan`] through the decoder's index of the object's top-level members:
/// only the members the trie names are read, the others are not even skipped
/// over. An empty index: [`scan`].
pub(crate) fn scan_indexed<'a>(
    trie: &PathTrie,
    json: &'a str,
    index: &[MemberSpan],
    slots: &mut [Option<Val<'a>>],
) -> Option<()> {
    if index.is_empty() {
        return scan(trie, json, slots);
    }
    for member in index {
        if let Some(child) = trie.child(0, &member.name(json)?) {
            let mut s = Scanner { text: json, c: Cursor::at(json.as_bytes(), member.value_start()) };
            s.node(trie, child, slots)?;
        }
    }
    Some(())
}

/// Fills `slots` from `json`; `None` when the text is not what the scanner expects.
pub(crate) fn scan<'a>(trie: &PathTrie, json: &'a str, slots: &mut [Option<Val<'a>>]) -> Option<()> {
    let mut s = Scanner { text: json, c: Cursor::new(json.as_bytes()) };
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.node(trie, 0, slots)?;
    s.ws();
    s.c.at_end().then_some(())
}

struct Scanner<'a> {
    text: &'a str,
    c: Cursor<'a>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.c.peek()
    }

    fn ws(&mut self) {
        self.c.skip_ws();
    }

    /// The value at trie `node` (the scanner at its first byte).
    fn node(&mut self, trie: &PathTrie, node: u32, slots: &mut [Option<Val<'a>>]) -> Option<()> {
        let n = trie.nodes.get(node as usize)?;
        match (self.peek()?, n.slot) {
            (b'{', slot) if !n.children.is_empty() => {
                self.object(trie, node, slots)?;
                if let Some(slot) = slot {
                    *slots.get_mut(slot as usize)? = Some(Val::Object);
                }
            }
            (_, None) => self.skip()?,
            (_, Some(slot)) => *slots.get_mut(slot as usize)? = Some(self.value(0)?),
        }
        Some(())
    }

    /// An object whose keys may lead further down the trie.
    fn object(&mut self, trie: &PathTrie, node: u32, slots: &mut [Option<Val<'a>>]) -> Option<()> {
        self.c.advance(1);
        self.ws();
        if self.peek()? == b'}' {
            self.c.advance(1);
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.c.advance(1);
            self.ws();
            match trie.child(node, &key) {
                Some(child) => self.node(trie, child, slots)?,
                None => self.skip()?,
            }
            self.ws();
            match self.peek()? {
                b',' => self.c.advance(1),
                b'}' => {
                    self.c.advance(1);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A value kept whole: scalars, arrays (of kept values), objects as [`Val::Object`].
    fn value(&mut self, depth: usize) -> Option<Val<'a>> {
        Some(match self.peek()? {
            b'"' => Val::Str(self.string()?),
            b'{' => {
                self.skip()?;
                Val::Object
            }
            b'[' => {
                if depth >= MAX_ARRAY_DEPTH {
                    return None;
                }
                self.c.advance(1);
                let mut items = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.c.advance(1);
                    return Some(Val::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.c.advance(1),
                        b']' => {
                            self.c.advance(1);
                            break Val::Array(items);
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal("true", Val::Bool(true))?,
            b'f' => self.literal("false", Val::Bool(false))?,
            b'n' => self.literal("null", Val::Null)?,
            _ => {
                let n = crate::json::parse_f64(self.c.number()?)?;
                Val::Num(n)
            }
        })
    }

    fn literal(&mut self, word: &str, v: Val<'a>) -> Option<Val<'a>> {
        self.c.literal(word.as_bytes()).then_some(v)
    }

    /// A string (the scanner at its opening quote): borrowed unless it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.c.string()?.value(self.text)
    }

    /// Moves past any value without keeping it.
    fn skip(&mut self) -> Option<()> {
        self.c.skip_value()
    }
}
