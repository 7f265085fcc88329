//! JSON at the byte level, without a DOM: writers for output lines ([`write_str`],
//! ...), a [`cursor::Cursor`] that finds the boundaries of values in text known
//! to be valid, and [`validate`], the checker the decoder runs on every payload.

pub mod cursor;
pub mod validate;

/// Appends `s` as a JSON string literal (quoted and escaped as `serde_json` does).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // serde_json's escaping is correct; writing to a Vec cannot fail
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    // the usual case (keys, ids, names, base64) is copied as it is
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// The bytes [`write_str`] writes for `s`, quotes included.
pub fn quoted_len(s: &str) -> usize {
    let escaped = |c: u8| match c {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0..0x20 => 6,
        _ => 1,
    };
    s.bytes().map(escaped).sum::<usize>() + 2
}

/// Whether a byte of `b` must be escaped in a JSON string: a quote, a
/// backslash or a control character.
fn needs_escape(b: &[u8]) -> bool {
    let plain = cursor::plain_run_end(b, 0);
    b.get(plain..).is_some_and(|rest| rest.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\'))
}

/// Appends `"key":` (the key must need no escaping).
pub fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a signed integer.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a float as JSON (`null` when not finite).
pub fn write_f64(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &x);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A number's text as `f64`, exactly as `str::parse` reads it: a short plain
/// decimal (at most 15 digits, no exponent: the arrival times and most event
/// values) by one exact division, anything else by the standard parser.
pub fn parse_f64(text: &[u8]) -> Option<f64> {
    short_decimal(text).or_else(|| std::str::from_utf8(text).ok()?.parse().ok())
}

/// `-?digits(.digits)?` with at most 15 digits: the digits read as an integer
/// (below 2^53, so exact) divided by an exact power of ten, which IEEE
/// rounds correctly, as the standard parser does.
fn short_decimal(text: &[u8]) -> Option<f64> {
    const MAX_DIGITS: usize = 15;
    const POW10: [f64; MAX_DIGITS + 1] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > MAX_DIGITS + 1 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut fraction: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                fraction = fraction.map(|n| n + 1);
            }
            // a digit on each side of the point
            b'.' if fraction.is_none() && i > 0 && i + 1 < digits.len() => fraction = Some(0),
            _ => return None,
        }
    }
    if digits.len() - usize::from(fraction.is_some()) > MAX_DIGITS {
        return None;
    }
    let x = mantissa as f64 / POW10[fraction.unwrap_or(0)];
    Some(if negative { -x } else { x })
}

/// The JSON object `raw` with `"alert": alert` as its last member: spliced in
/// before the closing brace without reparsing, or, when the object already has
/// an `alert` member (`has_alert_key`), rewritten with it replaced. Text that
/// is not an object becomes `{"message": raw, "alert": ..}`.
pub fn with_alert(raw: &str, alert: &[u8], has_alert_key: bool) -> Vec<u8> {
    if has_alert_key {
        rewrite(raw, alert)
    } else {
        splice(raw, alert)
    }
}

/// Adds `"alert":{..}` before the object's closing brace, without reparsing.
fn splice(raw: &str, alert: &[u8]) -> Vec<u8> {
    let Some(inner) = raw.trim().strip_prefix('{').and_then(|b| b.strip_suffix('}')) else {
        return rewrite(raw, alert);
    };
    let mut out = Vec::with_capacity(raw.len() + alert.len() + 16);
    out.push(b'{');
    out.extend_from_slice(inner.as_bytes());
    if !inner.trim().is_empty() {
        out.push(b',');
    }
    write_key(&mut out, "alert");
    out.extend_from_slice(alert);
    out.push(b'}');
    out
}

/// The slow path, for events that already have an `alert` key: a full rewrite.
fn rewrite(raw: &str, alert: &[u8]) -> Vec<u8> {
    let parsed: Result<serde_json::Map<String, serde_json::Value>, _> = serde_json::from_str(raw);
    let alert_value: serde_json::Value = serde_json::from_slice(alert).unwrap_or_default();
    match parsed {
        Ok(mut object) => {
            object.insert("alert".into(), alert_value);
            serde_json::to_vec(&object).unwrap_or_default()
        }
        Err(_) => serde_json::to_vec(&serde_json::json!({ "message": raw, "alert": alert_value })).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn numbers_read_as_the_standard_parser_reads_them(text in "-?[0-9]{0,17}(\\.[0-9]{0,17})?([eE][+-]?[0-9]{1,3})?|[-+.0-9eE]{0,8}") {
            prop_assert_eq!(
                parse_f64(text.as_bytes()).map(f64::to_bits),
                text.parse::<f64>().ok().map(f64::to_bits),
                "{}", text
            );
        }

        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in any::<String>(), plain in "[ -~]{0,40}") {
            for s in [s, plain] {
                let mut out = Vec::new();
                write_str(&mut out, &s);
                prop_assert_eq!(quoted_len(&s), out.len(), "{:?}", s);
                prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
            }
        }

        #[test]
        fn any_float_written_reads_back(x in any::<f64>().prop_filter("finite", |x| x.is_finite()), digits in 0usize..16) {
            for text in [x.to_string(), format!("{x:.digits$}"), format!("{:.3}", x / 1e300)] {
                prop_assert_eq!(parse_f64(text.as_bytes()).map(f64::to_bits), text.parse::<f64>().ok().map(f64::to_bits), "{}", text);
            }
        }
    }

    #[test]
    fn short_decimals_take_the_quick_path() {
        // the quick path reads what it should, and leaves the rest to the standard parser
        assert_eq!(short_decimal(b"1732496400.125"), Some(1732496400.125));
        assert_eq!(short_decimal(b"-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(short_decimal(b"0.1"), Some(0.1));
        for other in [&b"1e5"[..], b"1.", b".5", b"+1", b"1234567890123456", b"1.2.3", b"", b"-"] {
            assert_eq!(short_decimal(other), None, "{}", String::from_utf8_lossy(other));
        }
        assert_eq!(parse_f64(b"1e5"), Some(1e5));
        assert_eq!(parse_f64(b"x"), None);
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\n\u{1}");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\n\u0001""#);
        for (plain, escaped) in [("x\\y", r#""x\\y""#), ("\u{1f}", r#""\u001f""#), ("é \u{7f}", "\"é \u{7f}\"")] {
            let mut out = Vec::new();
            write_str(&mut out, plain);
            assert_eq!(String::from_utf8(out).unwrap(), escaped);
        }
    }

    #[test]
    fn a_character_to_escape_is_found_wherever_it_falls_in_the_scan_s_steps() {
        for len in 1..40 {
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
                    let mut chars = vec!['a'; len];
                    chars[at] = special;
                    let s: String = chars.into_iter().collect();
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn numbers_are_plain() {
        let mut out = Vec::new();
        write_u64(&mut out, 42);
        out.push(b',');
        write_i64(&mut out, -7);
        out.push(b',');
        write_f64(&mut out, 1732500000.123);
        out.push(b',');
        write_f64(&mut out, f64::NAN);
        assert_eq!(String::from_utf8(out).unwrap(), "42,-7,1732500000.123,null");
    }
}
