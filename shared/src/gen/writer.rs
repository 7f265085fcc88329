//! Writing generated events: compact JSON objects without a DOM, event times
//! formatted once per second, ids, fixed-point numbers, hex.

use chrono::{DateTime, Datelike, Timelike};

use crate::json::write_str;

/// An open JSON object being written into a buffer; keys must need no escaping.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object (`{`).
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` (with the comma before it when needed).
    pub fn key(&mut self, key: &str) -> &mut Self {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self
    }

    /// The buffer, to write a value after [`Obj::key`].
    pub fn buf(&mut self) -> &mut Vec<u8> {
        self.out
    }

    /// A string member (escaped).
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_str(self.out, value);
        self
    }

    /// A string member the generator knows needs no escaping (its own tables,
    /// ids, addresses): copied without a scan (checked in debug builds).
    pub fn safe(&mut self, key: &str, value: &str) -> &mut Self {
        debug_assert!(value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'), "{value:?} needs escaping");
        self.key(key);
        self.out.reserve(value.len() + 2);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
        self
    }

    /// An unsigned integer member.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// A signed integer member.
    pub fn i64(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// A decimal member given in units of `10^-decimals` (`fixed("t", -5, 1)` is `-0.5`).
    pub fn fixed(&mut self, key: &str, value: i64, decimals: u32) -> &mut Self {
        self.key(key);
        push_fixed(self.out, value, decimals);
        self
    }

    /// A string member of `digits` lowercase hex digits of each of `parts`.
    pub fn hex(&mut self, key: &str, parts: &[u64], digits: usize) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(key);
        self.out.push(b'"');
        for &n in parts {
            for i in (0..digits.min(16)).rev() {
                self.out.push(HEX[((n >> (4 * i)) & 0xf) as usize]);
            }
        }
        self.out.push(b'"');
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A `null` member.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self
    }

    /// A nested object member, written by `body`.
    pub fn object(&mut self, key: &str, body: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(key);
        let mut inner = Obj::new(self.out);
        body(&mut inner);
        inner.out.push(b'}');
        self
    }

    /// Closes the object (`}`).
    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// Appends `value` as a JSON string: copied as it is when nothing in it needs
/// escaping (the generator's strings, almost always), else escaped by serde_json.
pub(crate) fn push_str(out: &mut Vec<u8>, value: &str) {
    let plain = value.bytes().fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        write_str(out, value);
    }
}

/// Appends `value * 10^-decimals` as a decimal number.
pub(crate) fn push_fixed(out: &mut Vec<u8>, value: i64, decimals: u32) {
    if decimals == 0 {
        out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        return;
    }
    let scale = 10u64.pow(decimals);
    let magnitude = value.unsigned_abs();
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(itoa::Buffer::new().format(magnitude / scale).as_bytes());
    out.push(b'.');
    let fraction = magnitude % scale;
    let mut digits = [b'0'; 20];
    let width = decimals as usize;
    let mut rest = fraction;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// Appends `prefix-` and `index` on 10 digits (`sec-0000000042`).
pub(crate) fn push_id(out: &mut String, prefix: &str, index: u64) {
    out.push_str(prefix);
    out.push('-');
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(index);
    for _ in digits.len()..10 {
        out.push('0');
    }
    out.push_str(digits);
}

/// Appends `prefix` and `n` zero-padded to `width` digits.
pub(crate) fn push_padded(out: &mut String, prefix: &str, n: u64, width: usize) {
    out.push_str(prefix);
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Appends the low `digits` hex digits of `n` (lowercase).
pub(crate) fn push_hex(out: &mut String, n: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((n >> (4 * (i % 16))) & 0xf) as usize] as char);
    }
}

/// Appends a decimal number.
pub(crate) fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Formats event times as RFC 3339 UTC with milliseconds, the date and
/// time of day rendered once per second.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    second: i64,
    prefix: [u8; 19],
}

impl Default for Clock {
    fn default() -> Self {
        Self { second: i64::MIN, prefix: *b"1970-01-01T00:00:00" }
    }
}

impl Clock {
    /// Appends `"YYYY-MM-DDTHH:MM:SS.mmmZ"` (quoted) for `ms` since the epoch.
    pub fn write(&mut self, out: &mut Vec<u8>, ms: i64) {
        let second = ms.div_euclid(1000);
        if second != self.second {
            self.second = second;
            if let Some(t) = DateTime::from_timestamp(second, 0) {
                let mut p = Vec::with_capacity(19);
                let year = t.year().clamp(0, 9999) as u32;
                for (value, width, sep) in [
                    (year, 4, b'-'),
                    (t.month(), 2, b'-'),
                    (t.day(), 2, b'T'),
                    (t.hour(), 2, b':'),
                    (t.minute(), 2, b':'),
                    (t.second(), 2, 0),
                ] {
                    push_digits(&mut p, value, width);
                    if sep != 0 {
                        p.push(sep);
                    }
                }
                self.prefix.copy_from_slice(&p);
            }
        }
        out.push(b'"');
        out.extend_from_slice(&self.prefix);
        out.push(b'.');
        push_digits(out, ms.rem_euclid(1000) as u32, 3);
        out.extend_from_slice(b"Z\"");
    }
}

fn push_digits(out: &mut Vec<u8>, value: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(b'0' + ((value / 10u32.pow(i)) % 10) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_numbers_keep_their_sign_and_zeros() {
        let f = |v, d| {
            let mut out = Vec::new();
            push_fixed(&mut out, v, d);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(214, 1), "21.4");
        assert_eq!(f(-5, 1), "-0.5");
        assert_eq!(f(-405, 1), "-40.5");
        assert_eq!(f(600, 1), "60.0");
        assert_eq!(f(1205, 2), "12.05");
        assert_eq!(f(7, 4), "0.0007");
        assert_eq!(f(42, 0), "42");
    }

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        clock.write(&mut out, 1_732_496_400_123);
        out.push(b' ');
        clock.write(&mut out, 1_732_496_461_007);
        assert_eq!(String::from_utf8(out).unwrap(), "\"2024-11-25T01:00:00.123Z\" \"2024-11-25T01:01:01.007Z\"");
    }

    #[test]
    fn strings_are_copied_or_escaped_as_json_needs() {
        for s in ["plain text", "", "quote \" here", "back\\slash", "tab\there", "caf\u{e9} \u{1f600}", "\u{7f}"] {
            let mut out = Vec::new();
            push_str(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn ids_are_padded_to_ten_digits() {
        let mut s = String::new();
        push_id(&mut s, "sec", 42);
        assert_eq!(s, "sec-0000000042");
        let mut h = String::new();
        push_hex(&mut h, 0xabc, 6);
        assert_eq!(h, "000abc");
    }
}
