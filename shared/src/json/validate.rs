//! The JSON checker the decoder runs on every payload: a non-recursive walk
//! that accepts exactly the values `serde_json` accepts (strings without raw
//! control characters and with valid escapes, numbers by the JSON grammar,
//! the three literals), up to a nesting limit, and finds where each value ends.
//!
//! It answers yes or no, nothing more: when it says no, the decoder asks
//! `serde_json` for the error and its position, so quarantine reasons read the
//! same whichever path ran. It is the fast path because payloads are almost
//! always valid; a differential property test holds it to `serde_json`.

use super::cursor::{digits_end, plain_run_end, quote_bits, skip_ws, QUOTE_WORDS};
use crate::event::MemberSpan;

/// Nesting never accepted here, whatever the configured limit: `serde_json`
/// refuses 128 levels, and deeper text goes to it for the error.
pub const MAX_FAST_DEPTH: usize = 100;

/// Checks the JSON value starting at `start` (after optional white space),
/// nested no deeper than `max_depth` (the value itself counting as one level if
/// it is an object or array); returns the offset just past it. `None` when the
/// text is not valid JSON there, or nests deeper than allowed.
pub fn value_end(b: &[u8], start: usize, max_depth: usize) -> Option<usize> {
    walk(b, start, max_depth, &mut false, |_| {})
}

/// Like [`value_end`] for an object, also noting where each of its own
/// (top-level) members sits, in order, in `members` (cleared first): the
/// index processors read fields by, without walking the text again.
///
/// Also says whether white space inside the object held a line break (`\n`
/// or `\r`): only there can a valid object have one, and only then does it
/// need mending to be one NDJSON line.
pub fn object_end(b: &[u8], start: usize, max_depth: usize, members: &mut Vec<MemberSpan>) -> Option<(usize, bool)> {
    members.clear();
    if b.get(start) == Some(&b'{') {
        let depth = max_depth.min(MAX_FAST_DEPTH);
        let mut words = [0u64; QUOTE_WORDS];
        // white space after the object (a record's final line break) is not in the map
        let compact = match quote_bits(b.trim_ascii_end(), &mut words) {
            Some(quotes) => compact_object::<true, _>(b, start, depth, members, &mut QuoteBits::new(quotes)),
            None => compact_object::<true, _>(b, start, depth, members, &mut Scan),
        };
        if let Some(end) = compact {
            return Some((end, false));
        }
        members.clear();
    }
    if b.get(skip_ws(b, start)) != Some(&b'{') {
        return None;
    }
    let mut breaks = false;
    let end = walk(b, start, max_depth, &mut breaks, |m| members.push(m))?;
    Some((end, breaks))
}

/// [`skip_ws`], noting in `breaks` whether the white space held a line break.
#[inline(always)]
fn ws(b: &[u8], i: usize, breaks: &mut bool) -> usize {
    let j = skip_ws(b, i);
    if j != i {
        *breaks |= b.get(i..j).is_some_and(|w| w.iter().any(|&c| c == b'\n' || c == b'\r'));
    }
    j
}

/// The walk behind [`value_end`] and [`object_end`]: `member` is called with
/// each member of the outermost object as its value ends.
#[inline(always)]
fn walk(
    b: &[u8],
    start: usize,
    max_depth: usize,
    breaks: &mut bool,
    mut member: impl FnMut(MemberSpan),
) -> Option<usize> {
    let limit = max_depth.min(MAX_FAST_DEPTH);
    // the outermost object's member being read: (its start, key end, value
    // start, whether the key holds escapes)
    let mut open: Option<(usize, usize, usize, bool)> = None;
    // whether the string value that just ended held escapes
    let mut value_escaped = false;
    // one bit per open container, set for objects (limit <= 100 < 128 bits)
    let mut objects: u128 = 0;
    let mut depth = 0usize;
    let mut i = ws(b, start, breaks);
    loop {
        // a value starts at `i`
        match *b.get(i)? {
            b'{' | b'[' => {
                let is_object = b[i] == b'{';
                depth += 1;
                if depth > limit {
                    return None;
                }
                objects = (objects << 1) | is_object as u128;
                i = ws(b, i + 1, breaks);
                let close = if is_object { b'}' } else { b']' };
                if b.get(i) != Some(&close) {
                    if is_object {
                        if b.get(i) != Some(&b'"') {
                            return None;
                        }
                        let (key_start, (key_end, key_escaped)) = (i, string_end(b, i)?);
                        i = member_value(b, key_end, breaks)?;
                        if depth == 1 {
                            open = Some((key_start, key_end, i, key_escaped));
                        }
                    }
                    continue;
                }
                // empty container: closed below
                i += 1;
                depth -= 1;
                objects >>= 1;
            }
            b'"' => {
                let escaped;
                (i, escaped) = string_end(b, i)?;
                // only a member's own string value is flagged, not one nested in it
                value_escaped = escaped && depth == 1;
            }
            b't' => i = literal_end(b, i, b"true")?,
            b'f' => i = literal_end(b, i, b"false")?,
            b'n' => i = literal_end(b, i, b"null")?,
            _ => i = number_end(b, i)?,
        }
        // a value ended at `i`: close containers, or go on to the next member
        loop {
            if depth == 0 {
                return Some(i);
            }
            if depth == 1 {
                if let Some((start, key_end, value_start, key_escaped)) = open.take() {
                    member(MemberSpan::new(start, key_end, value_start, i)?.with_escapes(key_escaped, value_escaped));
                }
                value_escaped = false;
            }
            i = ws(b, i, breaks);
            let in_object = objects & 1 == 1;
            match (*b.get(i)?, in_object) {
                (b',', true) => {
                    let key_start = ws(b, i + 1, breaks);
                    if b.get(key_start) != Some(&b'"') {
                        return None;
                    }
                    let (key_end, key_escaped) = string_end(b, key_start)?;
                    i = member_value(b, key_end, breaks)?;
                    if depth == 1 {
                        open = Some((key_start, key_end, i, key_escaped));
                    }
                    break;
                }
                (b',', false) => {
                    i = ws(b, i + 1, breaks);
                    break;
                }
                (b'}', true) | (b']', false) => {
                    i += 1;
                    depth -= 1;
                    objects >>= 1;
                }
                _ => return None,
            }
        }
    }
}

/// The object at `i` (its `{`) when written without white space between
/// tokens, as serialisers write one line: the offset just past it, with each
/// of its own members pushed to `members` when it is the `TOP` object, and
/// the ends of its strings found by `strings`. `None` when it is not valid
/// JSON in that form (white space included), or nests deeper than
/// `depth_left` levels: [`walk`] then decides. Where this says yes, `walk`
/// gives the same end and members; without its white space checks and depth
/// bookkeeping it reads the usual payload in about half the instructions.
fn compact_object<const TOP: bool, S: StringEnds>(
    b: &[u8],
    i: usize,
    depth_left: usize,
    members: &mut Vec<MemberSpan>,
    strings: &mut S,
) -> Option<usize> {
    compact_items(b, i, depth_left, b'}', |key_start, depth_left| {
        if b.get(key_start) != Some(&b'"') {
            return None;
        }
        let (key_end, key_escaped) = strings.end(b, key_start)?;
        if b.get(key_end) != Some(&b':') {
            return None;
        }
        let value_start = key_end + 1;
        // strings and numbers, the usual values, without the call
        let (end, value_escaped) = match b.get(value_start) {
            Some(b'"') => strings.end(b, value_start)?,
            Some(b'-' | b'0'..=b'9') => (number_end(b, value_start)?, false),
            _ => compact_value(b, value_start, depth_left, strings)?,
        };
        if TOP {
            members
                .push(MemberSpan::new(key_start, key_end, value_start, end)?.with_escapes(key_escaped, value_escaped));
        }
        Some(end)
    })
}

/// The array at `i` (its `[`) without white space, as [`compact_object`] reads objects.
fn compact_array<S: StringEnds>(b: &[u8], i: usize, depth_left: usize, strings: &mut S) -> Option<usize> {
    compact_items(b, i, depth_left, b']', |start, depth_left| {
        compact_value(b, start, depth_left, strings).map(|(end, _)| end)
    })
}

/// The container opening at `i` and closed by `close`, without white space:
/// the offset just past it. `item` reads each item from where it starts,
/// with the depth left inside the container, and says where it ends; items
/// are separated by commas.
#[inline(always)]
fn compact_items(
    b: &[u8],
    i: usize,
    depth_left: usize,
    close: u8,
    mut item: impl FnMut(usize, usize) -> Option<usize>,
) -> Option<usize> {
    let inner = depth_left.checked_sub(1)?;
    let mut start = i + 1;
    if b.get(start) == Some(&close) {
        return Some(start + 1);
    }
    loop {
        let end = item(start, inner)?;
        match *b.get(end)? {
            b',' => start = end + 1,
            c if c == close => return Some(end + 1),
            _ => return None,
        }
    }
}

/// The value at `i` without white space: its end, and whether it is a string
/// holding escapes. `depth_left` is how many more containers may open.
fn compact_value<S: StringEnds>(b: &[u8], i: usize, depth_left: usize, strings: &mut S) -> Option<(usize, bool)> {
    match *b.get(i)? {
        b'"' => strings.end(b, i),
        b'{' => Some((compact_object::<false, _>(b, i, depth_left, &mut Vec::new(), strings)?, false)),
        b'[' => Some((compact_array(b, i, depth_left, strings)?, false)),
        b't' => Some((literal_end(b, i, b"true")?, false)),
        b'f' => Some((literal_end(b, i, b"false")?, false)),
        b'n' => Some((literal_end(b, i, b"null")?, false)),
        _ => Some((number_end(b, i)?, false)),
    }
}

/// How the compact walk finds where the string opening at `i` ends (just past
/// its closing quote), and whether it holds escapes.
trait StringEnds {
    fn end(&mut self, b: &[u8], i: usize) -> Option<(usize, bool)>;
}

/// By scanning its bytes: [`string_end`].
struct Scan;

impl StringEnds for Scan {
    #[inline(always)]
    fn end(&mut self, b: &[u8], i: usize) -> Option<(usize, bool)> {
        string_end(b, i)
    }
}

/// By the payload's quote map ([`quote_bits`]): there is no backslash or
/// control character in the payload, so every quote opens or closes a
/// string, and the walk meets the strings in order. The map is read as a
/// stream: a string takes the next two quotes, so where a string ends comes
/// from the bits alone, not from a load at the position the walk reached.
struct QuoteBits<'q> {
    words: &'q [u64],
    /// The word `bits` came from.
    word: usize,
    /// The quotes of `words[word]` not taken yet.
    bits: u64,
}

impl<'q> QuoteBits<'q> {
    /// A reader of `words` (from [`quote_bits`]) before its first quote.
    fn new(words: &'q [u64]) -> Self {
        Self { words, word: 0, bits: words.first().copied().unwrap_or(0) }
    }

    /// The offset of the next quote not taken yet, taking it.
    #[inline(always)]
    fn take(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            self.bits = *self.words.get(self.word)?;
        }
        let at = self.word * 64 + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }
}

impl StringEnds for QuoteBits<'_> {
    /// `None` when the next quote is not the one at `i`: the walk and the map
    /// disagree (the text is not what the compact walk reads), and the
    /// general walk decides.
    #[inline(always)]
    fn end(&mut self, _: &[u8], i: usize) -> Option<(usize, bool)> {
        if self.take()? != i {
            return None;
        }
        Some((self.take()? + 1, false))
    }
}

/// After a member's key (ending at `key_end`): its colon; returns where the value starts.
#[inline(always)]
fn member_value(b: &[u8], key_end: usize, breaks: &mut bool) -> Option<usize> {
    let i = ws(b, key_end, breaks);
    (b.get(i) == Some(&b':')).then(|| ws(b, i + 1, breaks))
}

/// The offset just past the string opening at `i`, and whether it holds
/// escapes: no raw control character, only the escapes JSON has.
#[inline(always)]
fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = plain_run_end(b, j);
        match *b.get(j)? {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {
                escaped = true;
                j = escape_end(b, j)?;
            }
            0x00..=0x1f => return None,
            _ => j += 1,
        }
    }
}

/// The offset just past the escape starting with the backslash at `j`.
fn escape_end(b: &[u8], j: usize) -> Option<usize> {
    match *b.get(j + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(j + 2),
        b'u' => b.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit).then_some(j + 6),
        _ => None,
    }
}

fn literal_end(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..)?.starts_with(word).then_some(i + word.len())
}

/// The offset just past the number at `i`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
/// not followed by another digit.
#[inline(always)]
fn number_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + usize::from(b.get(i) == Some(&b'-'));
    match *b.get(j)? {
        b'0' => j += 1,
        b'1'..=b'9' => j = digits_end(b, j + 1),
        _ => return None,
    }
    if b.get(j) == Some(&b'.') {
        j = at_least_one_digit(b, j + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(j) {
        j += 1;
        if let Some(b'+' | b'-') = b.get(j) {
            j += 1;
        }
        j = at_least_one_digit(b, j)?;
    }
    (!b.get(j).is_some_and(u8::is_ascii_digit)).then_some(j)
}

fn at_least_one_digit(b: &[u8], j: usize) -> Option<usize> {
    let end = digits_end(b, j);
    (end > j).then_some(end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What serde_json says of `text` as one value (trailing white space allowed).
    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    fn ours_accepts(text: &str) -> bool {
        value_end(text.as_bytes(), 0, 64).is_some_and(|end| skip_ws(text.as_bytes(), end) == text.len())
    }

    #[test]
    fn valid_values_end_where_they_end() {
        for (text, end) in [
            (r#"{"a":[1,2,{"b":null}],"c":"d\"e"} x"#, 33),
            ("  [] ,", 4),
            ("-0.5e+10,", 8),
            ("\"\\u00e9\\n\"", 10),
            ("true", 4),
            ("{ \"a\" : { } }", 13),
        ] {
            assert_eq!(value_end(text.as_bytes(), 0, 64), Some(end), "{text}");
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        for text in [
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "01",
            "1.",
            "1e",
            "-",
            ".5",
            "tru",
            "nul",
            "\"a\u{1}b\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"abc",
            "[1 2]",
            "{\"a\":1]",
            "[}",
            "+1",
            "",
        ] {
            assert!(!ours_accepts(text), "{text:?}");
            assert!(!serde_accepts(text), "serde accepts {text:?}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(value_end(nested(5).as_bytes(), 0, 5).is_some());
        assert!(value_end(nested(6).as_bytes(), 0, 5).is_none());
        assert!(value_end(nested(MAX_FAST_DEPTH + 1).as_bytes(), 0, 1000).is_none());
        let objects = format!("{}1{}", "{\"a\":".repeat(3), "}".repeat(3));
        assert_eq!(value_end(objects.as_bytes(), 0, 3), Some(objects.len()));
        assert_eq!(value_end(objects.as_bytes(), 0, 2), None);
    }

    /// The walk's end and members for the object `text`, at most `depth` deep.
    fn walked(text: &str, depth: usize) -> (Option<usize>, Vec<MemberSpan>) {
        let mut members = Vec::new();
        let end = walk(text.as_bytes(), 0, depth, &mut false, |m| members.push(m));
        (end, members)
    }

    /// The compact reading's end and members for the object `text`; where
    /// the text has a quote map, read with it too, and the two agree.
    fn read_compactly(text: &str, depth: usize) -> (Option<usize>, Vec<MemberSpan>) {
        let mut members = Vec::new();
        let end = compact_object::<true, _>(text.as_bytes(), 0, depth, &mut members, &mut Scan);
        let mut words = [0; QUOTE_WORDS];
        if let Some(quotes) = quote_bits(text.as_bytes(), &mut words) {
            let mut by_map = Vec::new();
            let end_by_map =
                compact_object::<true, _>(text.as_bytes(), 0, depth, &mut by_map, &mut QuoteBits::new(quotes));
            assert_eq!((end_by_map, &by_map), (end, &members), "{text}");
        }
        (end, members)
    }

    #[test]
    fn the_quote_map_has_a_bit_for_each_quote_and_none_with_escapes_or_control_characters() {
        for len in [1, 15, 16, 17, 63, 64, 65, 200, 1024] {
            for at in [0, len / 2, len - 1] {
                let mut text = vec![b'a'; len];
                text[at] = b'"';
                let mut words = [u64::MAX; QUOTE_WORDS]; // whatever the words held before
                let map = quote_bits(&text, &mut words).map(<[u64]>::to_vec);
                if cfg!(target_arch = "x86_64") {
                    let mut want = vec![0u64; len.div_ceil(64)];
                    want[at / 64] = 1 << (at % 64);
                    assert_eq!(map, Some(want), "len {len} at {at}");
                    for other in [b'\\', b'\n', 0x1f] {
                        text[at] = other;
                        assert_eq!(quote_bits(&text, &mut [0; QUOTE_WORDS]), None, "len {len} at {at}");
                    }
                } else {
                    assert_eq!(map, None);
                }
            }
        }
        assert_eq!(quote_bits(&[b'"'; 1025], &mut [0; QUOTE_WORDS]), None, "longer than the map");
    }

    #[test]
    fn the_map_gives_each_string_the_next_two_quotes_and_refuses_a_string_out_of_step() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        // strings across the first 64-byte word's edge, and a word with no quote
        let text = format!("\"ab\"{}\"cd\"{}\"\"", "x".repeat(60), "y".repeat(70));
        let b = text.as_bytes();
        let mut words = [0; QUOTE_WORDS];
        let quotes = quote_bits(b, &mut words).unwrap();
        let mut map = QuoteBits::new(quotes);
        assert_eq!(map.end(b, 0), Some((4, false)));
        assert_eq!(map.end(b, 64), Some((68, false)));
        assert_eq!(map.end(b, 138), Some((140, false)));
        assert_eq!(map.end(b, 140), None, "no quote left");
        // a string the walk reached without taking the one before it
        let mut map = QuoteBits::new(quotes);
        assert_eq!(map.end(b, 64), None);
    }

    #[test]
    fn a_string_s_end_is_found_wherever_it_falls_in_the_sixteen_or_eight_byte_steps() {
        for run in 0..40 {
            let plain = "é".repeat(run / 2) + &"a".repeat(run % 2);
            for (rest, want) in [
                ("\"", Some(false)),
                ("\\\"x\"", Some(true)),
                ("\\u00e9\"", Some(true)),
                ("\u{1}\"", None),
                ("\\q\"", None),
            ] {
                for tail in ["", ",\"k\":\"0123456789abcdefghij\"}"] {
                    let text = format!("\"{plain}{rest}{tail}");
                    let end = 1 + plain.len() + rest.len();
                    assert_eq!(string_end(text.as_bytes(), 0), want.map(|escaped| (end, escaped)), "{text:?}");
                }
            }
            // unterminated
            assert_eq!(string_end(format!("\"{plain}").as_bytes(), 0), None);
        }
    }

    #[test]
    fn white_space_and_nesting_past_the_limit_are_left_to_the_walk() {
        let nested = r#"{"a":{"b":[1,{"c":"d"}]},"e":"f\"g"}"#;
        assert_eq!(read_compactly(nested, 4), walked(nested, 4));
        assert_eq!(read_compactly(nested, 4).0, Some(nested.len()));
        assert_eq!(read_compactly(nested, 3).0, None);
        assert_eq!(walked(nested, 3).0, None);
        for spaced in [r#"{ "a":1}"#, r#"{"a" :1}"#, r#"{"a": 1}"#, r#"{"a":1 }"#, "{\"a\":[1,\n2]}"] {
            assert_eq!(read_compactly(spaced, 4).0, None, "{spaced}");
            assert!(walked(spaced, 4).0.is_some(), "{spaced}");
        }
        // a member's escape flag is its own string's, not one nested in it
        let (_, members) = read_compactly(nested, 4);
        assert_eq!(members.iter().map(MemberSpan::value_escaped).collect::<Vec<_>>(), [false, true]);
    }

    proptest! {
        #[test]
        fn objects_written_without_white_space_are_read_compactly_as_the_walk_reads_them(
            v in crate::json::cursor::tests::any_json(),
            at in any::<prop::sample::Index>(),
            by in "[\\[\\]{}\",:0-9.eE+\\-\\\\ a\u{1}]",
            depth in 1usize..6,
        ) {
            // with an escape (read by scanning) and without (read by the quote map, where v has no escape either)
            for object in [format!("{{\"v\":{v},\"w\":[{v}],\"x\":\"a\\\"b\"}}"), format!("{{\"v\":{v},\"w\":[{v}]}}")] {
                let (end, members) = read_compactly(&object, 64);
                prop_assert_eq!(end, Some(object.len()));
                prop_assert_eq!((end, members), walked(&object, 64));
                // changed by one byte, or limited in depth: where the compact reading says yes, the walk says the same
                let mut mangled = object.clone();
                let pos = at.index(mangled.len() + 1);
                let pos = (0..=pos).rev().find(|&p| mangled.is_char_boundary(p)).unwrap_or(0);
                mangled.insert_str(pos, &by);
                for (text, depth) in [(&mangled, 64), (&object, depth)] {
                    let compact = read_compactly(text, depth);
                    if compact.0.is_some() {
                        prop_assert_eq!(&compact, &walked(text, depth), "{}", text);
                    }
                }
            }
        }

        #[test]
        fn agrees_with_serde_on_serialised_values(v in crate::json::cursor::tests::any_json()) {
            prop_assert!(ours_accepts(&v), "{}", v);
        }

        #[test]
        fn agrees_with_serde_on_mangled_values(v in crate::json::cursor::tests::any_json(), at in any::<prop::sample::Index>(), by in "[\\[\\]{}\",:0-9.eE+\\-\\\\ a\u{1}]") {
            // replace or insert one byte of a valid value: often invalid, sometimes not
            let mut text = v.clone();
            let pos = at.index(text.len() + 1);
            let pos = (0..=pos).rev().find(|&p| text.is_char_boundary(p)).unwrap_or(0);
            text.insert_str(pos, &by);
            prop_assert_eq!(ours_accepts(&text), serde_accepts(&text), "{}", text);
            let mut cut = v;
            let end = (0..=pos.min(cut.len())).rev().find(|&p| cut.is_char_boundary(p)).unwrap_or(0);
            cut.truncate(end);
            prop_assert_eq!(ours_accepts(&cut), serde_accepts(&cut), "{}", cut);
        }
    }
}
