//! A cursor that finds the boundaries of JSON values in text, the one scanner
//! behind every reader that takes a few fields out of an event without a DOM
//! (the Lambda envelope, enrich's members, the rules' paths, aggregate's fields).
//!
//! It trusts the text to be valid JSON (the decoder checked it with
//! [`super::validate`], or Lambda wrote it): it only finds where strings,
//! containers and scalars end, so it is fast. On text that is not valid JSON it
//! still never panics and never loops: it stops with `None` or returns
//! boundaries that the caller's own checks reject.

use std::borrow::Cow;

/// A position in JSON text and the primitives that move it.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Where a string's content sits (without its quotes), and whether it holds escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrSpan {
    /// Offset of the first byte after the opening quote.
    pub start: usize,
    /// Offset of the closing quote.
    pub end: usize,
    /// Whether the content holds a backslash escape (so it must be unescaped to be read).
    pub escaped: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// A cursor at offset `pos` of `bytes`.
    pub fn at(bytes: &'a [u8], pos: usize) -> Self {
        Self { bytes, pos }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The text the cursor moves over.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Moves `n` bytes on (past a byte the caller has looked at).
    pub fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    /// Whether every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The byte at the cursor.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Moves past white space.
    pub fn skip_ws(&mut self) {
        self.pos = skip_ws(self.bytes, self.pos);
    }

    /// Moves past white space and returns the byte there.
    pub fn peek_token(&mut self) -> Option<u8> {
        self.skip_ws();
        self.peek()
    }

    /// Moves past white space, then past `c` if it is there; says whether it was.
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek_token() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Moves past `word` if the text continues with it.
    pub fn literal(&mut self, word: &[u8]) -> bool {
        if self.bytes.get(self.pos..).is_some_and(|rest| rest.starts_with(word)) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Moves past the string whose opening quote is at the cursor.
    pub fn string(&mut self) -> Option<StrSpan> {
        self.string_by(find_quote_or_backslash)
    }

    /// [`Cursor::string`] for a string expected to be long (base64 data,
    /// hundreds of bytes): searched with memchr from its first byte. A
    /// sequence number (56 digits) is shorter than [`Cursor::string`]'s
    /// inline scan of 64 bytes, which ends it sooner than a call.
    pub fn long_string(&mut self) -> Option<StrSpan> {
        self.string_by(|b, from| memchr::memchr2(b'"', b'\\', b.get(from..)?).map(|k| from + k))
    }

    #[inline(always)]
    fn string_by(&mut self, find: impl Fn(&[u8], usize) -> Option<usize>) -> Option<StrSpan> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let k = find(self.bytes, i)?;
            if self.bytes[k] == b'"' {
                self.pos = k + 1;
                return Some(StrSpan { start, end: k, escaped });
            }
            // a backslash and the character it escapes (`\uXXXX` goes on with hex digits)
            escaped = true;
            i = k + 2;
        }
    }

    /// Moves past the number at the cursor; returns its text (not checked against the grammar).
    pub fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.bytes[start..self.pos])
    }

    /// Moves past the value starting at the cursor (containers by counting
    /// brackets outside strings, without recursion).
    pub fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => self.skip_container(),
            b't' => self.literal(b"true").then_some(()),
            b'f' => self.literal(b"false").then_some(()),
            b'n' => self.literal(b"null").then_some(()),
            _ => self.number().map(drop),
        }
    }

    fn skip_container(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.pos += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
}

impl StrSpan {
    /// The content's bytes (escapes left as they are).
    pub fn raw<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.start..self.end]
    }

    /// The string's value from the text it was found in: borrowed when it holds
    /// no escapes; `None` for an escape JSON does not allow.
    pub fn value<'a>(&self, text: &'a str) -> Option<Cow<'a, str>> {
        if self.escaped {
            unescape(text.get(self.start - 1..self.end + 1)?).map(Cow::Owned)
        } else {
            // quotes are ASCII, so these offsets are character boundaries
            text.get(self.start..self.end).map(Cow::Borrowed)
        }
    }

    /// Like [`StrSpan::value`] for bytes (unescaped bytes, not checked as UTF-8 when not escaped).
    pub fn value_bytes<'a>(&self, bytes: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        if self.escaped {
            let quoted = bytes.get(self.start - 1..self.end + 1)?;
            serde_json::from_slice::<String>(quoted).ok().map(|s| Cow::Owned(s.into_bytes()))
        } else {
            bytes.get(self.start..self.end).map(Cow::Borrowed)
        }
    }
}

/// The value of a quoted JSON string literal with escapes (`"a\nb"` -> `a`, newline, `b`).
pub fn unescape(quoted: &str) -> Option<String> {
    serde_json::from_str::<String>(quoted).ok()
}

/// The value of a JSON string literal given whole, quotes included (borrowed
/// when it holds no escapes); `None` for any other value.
pub fn string_literal(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if find_quote_or_backslash(inner.as_bytes(), 0).is_none() {
        Some(Cow::Borrowed(inner))
    } else {
        unescape(raw).map(Cow::Owned)
    }
}

/// Like [`string_literal`] when whether `raw` holds escapes is already known
/// (the validator noted it): without escapes, borrowed without a search.
pub fn string_literal_known(raw: &str, escaped: bool) -> Option<Cow<'_, str>> {
    if escaped {
        return string_literal(raw);
    }
    raw.strip_prefix('"')?.strip_suffix('"').map(Cow::Borrowed)
}

/// The offset of the first non-white-space byte at or after `i`.
#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Flags (high bit of each byte) the bytes of `x` equal to the byte in `pattern`
/// (`LO * c`); the lowest flag is exact, the ones above it may not be.
#[inline(always)]
pub(crate) fn swar_eq(x: u64, pattern: u64) -> u64 {
    let y = x ^ pattern;
    y.wrapping_sub(LO) & !y & HI
}

/// Flags the bytes of `x` below `n` (n <= 128); the lowest flag is exact.
#[inline(always)]
pub(crate) fn swar_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(LO * n as u64) & !x & HI
}

/// The 8 bytes at `i` as a little-endian word, if there are 8.
#[inline(always)]
pub(crate) fn word_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 8).and_then(|w| w.try_into().ok()).map(u64::from_le_bytes)
}

/// The offset of the first byte at or after `from` that is not an ASCII
/// digit (or the end): eight bytes at a time while eight remain, so a run
/// costs a test per word instead of a branch per digit.
#[inline]
pub(crate) fn digits_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(x) = word_at(b, i) {
        let others = non_digits(x);
        if others != 0 {
            return i + (others.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Flags (high bit of each byte) the bytes of `x` that are not ASCII digits,
/// every flag exact: each test runs on a byte's low seven bits, so no carry
/// or borrow crosses into the next byte.
#[inline(always)]
fn non_digits(x: u64) -> u64 {
    let low = x & !HI;
    let above_nine = (low + LO * 0x46) & HI; // low >= 0x3a
    let below_zero = !((low | HI) - LO * 0x30) & HI; // low < 0x30
    (x & HI) | above_nine | below_zero
}

/// The offset of the first `"` or `\` at or after `from`: sixteen bytes at
/// a time (SSE2, on x86-64; else eight, SWAR) over the first 64, where most
/// keys and values end; memchr's search past them.
#[inline]
pub fn find_quote_or_backslash(b: &[u8], from: usize) -> Option<usize> {
    const QUOTES: u64 = LO * b'"' as u64;
    const BACKSLASHES: u64 = LO * b'\\' as u64;
    let limit = from.saturating_add(64);
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    while i < limit {
        match stops16::<false>(b, i) {
            Some(0) => i += 16,
            Some(found) => return Some(i + found.trailing_zeros() as usize),
            None => break,
        }
    }
    while i < limit {
        let Some(x) = word_at(b, i) else {
            return b.get(i..)?.iter().position(|&c| c == b'"' || c == b'\\').map(|k| i + k);
        };
        let found = swar_eq(x, QUOTES) | swar_eq(x, BACKSLASHES);
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr2(b'"', b'\\', b.get(i..)?).map(|k| i + k)
}

/// Where the run of string bytes from `j` on that need no look (no quote,
/// backslash or control character) ends: sixteen bytes at a time (SSE2, on
/// x86-64) while there are sixteen, then eight (SWAR). Within the last eight
/// bytes it stops at once, and the caller reads byte by byte.
#[inline(always)]
pub(crate) fn plain_run_end(b: &[u8], mut j: usize) -> usize {
    const QUOTES: u64 = LO * b'"' as u64;
    const BACKSLASHES: u64 = LO * b'\\' as u64;
    #[cfg(target_arch = "x86_64")]
    while let Some(stop) = stops16::<true>(b, j) {
        if stop != 0 {
            return j + stop.trailing_zeros() as usize;
        }
        j += 16;
    }
    while let Some(x) = word_at(b, j) {
        let stop = swar_eq(x, QUOTES) | swar_eq(x, BACKSLASHES) | swar_below(x, 0x20);
        if stop != 0 {
            return j + (stop.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    j
}

/// Words of [`quote_bits`]' map: payloads up to 1 KiB get one.
pub(crate) const QUOTE_WORDS: usize = 16;

/// Where the quotes of `b` are (byte k is bit k % 64 of word k / 64), written
/// to the first words of `words`, when `b` has no backslash and no control
/// character and fits the map; `None` otherwise (and always without SSE2).
#[inline]
pub(crate) fn quote_bits<'w>(b: &[u8], words: &'w mut [u64; QUOTE_WORDS]) -> Option<&'w [u64]> {
    #[cfg(target_arch = "x86_64")]
    {
        if b.len() > QUOTE_WORDS * 64 {
            return None;
        }
        let mut special = 0u64;
        let mut blocks = b.chunks_exact(64);
        for (word, block) in words.iter_mut().zip(blocks.by_ref()) {
            let (stops, quotes) = classify64(block)?;
            special |= stops & !quotes;
            *word = quotes;
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let (stops, quotes) = match b.len().checked_sub(64) {
                // the last 64 bytes, the ones already mapped shifted out:
                // no copy to a buffer, which would stall the loads from it
                Some(from) => {
                    let (stops, quotes) = classify64(b.get(from..)?)?;
                    let seen = 64 - rest.len();
                    (stops >> seen, quotes >> seen)
                }
                None => {
                    // padded with spaces: neither quotes nor stops
                    let mut padded = [b' '; 64];
                    padded[..rest.len()].copy_from_slice(rest);
                    classify64(&padded)?
                }
            };
            special |= stops & !quotes;
            *words.get_mut(b.len() / 64)? = quotes;
        }
        (special == 0).then_some(&words[..b.len().div_ceil(64)])
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (b, words);
        None
    }
}

/// [`classify16`] over the first 64 bytes of `block` (`None` if fewer): bit k for byte k.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify64(block: &[u8]) -> Option<(u64, u64)> {
    let (mut stops, mut quotes) = (0u64, 0u64);
    for k in 0..4 {
        let (s, q) = classify16::<true>(block, 16 * k)?;
        stops |= u64::from(s) << (16 * k);
        quotes |= u64::from(q) << (16 * k);
    }
    Some((stops, quotes))
}

/// Flags (bit k for byte k) which of the 16 bytes at `i` are a quote or a
/// backslash, or with `CONTROL` a control character; `None` when fewer than 16 remain.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stops16<const CONTROL: bool>(b: &[u8], i: usize) -> Option<u32> {
    classify16::<CONTROL>(b, i).map(|(stops, _)| stops)
}

/// [`stops16`]'s flags, and which of those bytes are quotes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify16<const CONTROL: bool>(b: &[u8], i: usize) -> Option<(u32, u32)> {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let chunk: &[u8; 16] = b.get(i..i.checked_add(16)?)?.try_into().ok()?;
    let x = load_unaligned_m128i(chunk);
    let quote = cmp_eq_mask_i8_m128i(x, set_splat_i8_m128i(b'"' as i8));
    let backslash = cmp_eq_mask_i8_m128i(x, set_splat_i8_m128i(b'\\' as i8));
    let mut stops = bitor_m128i(quote, backslash);
    if CONTROL {
        // x <= 0x1f, unsigned
        stops = bitor_m128i(stops, cmp_eq_mask_i8_m128i(min_u8_m128i(x, set_splat_i8_m128i(0x1f)), x));
    }
    Some((move_mask_i8_m128i(stops) as u32, move_mask_i8_m128i(quote) as u32))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_digit_run_ends_at_the_first_other_byte_whatever_it_is_and_wherever_it_falls() {
        for other in 0..=255u8 {
            for run in 0..20 {
                let mut text = vec![b'7'; run];
                text.push(other);
                text.extend_from_slice(b"12345678");
                let want = if other.is_ascii_digit() { run + 9 } else { run };
                assert_eq!(digits_end(&text, 0), want, "{other:#x} after {run} digits");
                assert_eq!(digits_end(&text[..run], 0), run, "{run} digits to the end");
            }
        }
        assert_eq!(digits_end(b"12", 5), 5, "from past the end");
    }

    #[test]
    fn strings_end_at_their_closing_quote() {
        let text = br#""a\"b\\" , "c""#;
        let mut c = Cursor::new(text);
        let span = c.string().unwrap();
        assert_eq!(span, StrSpan { start: 1, end: 7, escaped: true });
        assert_eq!(span.value(std::str::from_utf8(text).unwrap()).unwrap(), "a\"b\\");
        assert!(c.eat(b','));
        c.skip_ws();
        let span = c.string().unwrap();
        assert!(!span.escaped);
        assert_eq!(span.raw(text), b"c");
        assert!(c.at_end());
    }

    #[test]
    fn values_are_skipped_whole() {
        let text = br#"{"a":[1,{"b":"]}"}],"c":null} true -1.5e3 "x""#;
        let mut c = Cursor::new(text);
        c.skip_value().unwrap();
        assert_eq!(c.pos(), 29);
        for expect in [34, 41, 45] {
            c.skip_ws();
            c.skip_value().unwrap();
            assert_eq!(c.pos(), expect);
        }
    }

    #[test]
    fn broken_text_stops_without_a_panic() {
        for bad in [&b"\"abc"[..], b"{\"a\":[1,2}", b"", b"tru", b"]", b"\"\\"] {
            let mut c = Cursor::new(bad);
            let _ = c.skip_value();
            assert!(c.pos() <= bad.len());
        }
    }

    #[test]
    fn the_first_quote_or_backslash_is_found_at_every_offset_and_length() {
        for len in 0..100 {
            for at in 0..len {
                for special in [b'"', b'\\'] {
                    let mut text = "é".repeat(len).into_bytes(); // multi-byte, high bits set
                    text.truncate(len);
                    text[at] = special;
                    if at > 0 {
                        text[at - 1] = 0x1f; // a control character is not looked for
                    }
                    if at + 3 < len {
                        text[at + 3] = b'"';
                    }
                    for from in [0, at / 2, at] {
                        assert_eq!(find_quote_or_backslash(&text, from), Some(at), "len {len} at {at} from {from}");
                    }
                }
            }
            assert_eq!(find_quote_or_backslash(&vec![b'x'; len], 0), None);
        }
        assert_eq!(find_quote_or_backslash(b"ab", 5), None);
    }

    #[test]
    fn string_literals_are_borrowed_unless_escaped() {
        assert!(matches!(string_literal(r#""plain""#), Some(Cow::Borrowed("plain"))));
        assert_eq!(string_literal(r#""a\u0041""#).unwrap(), "aA");
        assert_eq!(string_literal("12"), None);
    }

    proptest! {
        #[test]
        fn the_quote_search_agrees_with_a_plain_scan(s in "[a-z\"\\\\ ]{0,200}", from in 0usize..210) {
            let b = s.as_bytes();
            let plain = b.get(from..).and_then(|r| r.iter().position(|&c| c == b'"' || c == b'\\')).map(|k| from + k);
            prop_assert_eq!(find_quote_or_backslash(b, from), plain);
        }

        #[test]
        fn a_long_string_is_read_as_any_string(s in "[a-z\"\\\\/ ]{0,150}") {
            let text = serde_json::to_string(&s).unwrap() + ",";
            let (mut short, mut long) = (Cursor::new(text.as_bytes()), Cursor::new(text.as_bytes()));
            prop_assert_eq!(short.string(), long.long_string());
            prop_assert_eq!(short.pos(), long.pos());
            prop_assert_eq!(long.peek(), Some(b','));
        }

        #[test]
        fn any_serialised_value_is_skipped_to_its_end(v in any_json(), pad in "[ \t\n]{0,3}") {
            let text = format!("{pad}{v}{pad},");
            let mut c = Cursor::new(text.as_bytes());
            c.skip_ws();
            c.skip_value().unwrap();
            c.skip_ws();
            prop_assert_eq!(c.peek(), Some(b','));
        }
    }

    /// Any JSON value, serialised by serde_json.
    pub(crate) fn any_json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e9f64..1e9).prop_map(|n| serde_json::json!(n)),
            ".{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
        .prop_map(|v| v.to_string())
    }
}
