//! JSON at the byte level, without a DOM: writers for output lines ([`write_str`],
//! ...), a [`cursor::Cursor`] that finds the boundaries of values in text known
//! to be valid, and [`validate`], the checker the decoder runs on every payload.

pub mod cursor;
pub mod validate;

/// Appends `s` as a JSON string literal (quoted and escaped).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is correct and fast; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\n\u{1}");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\n\u0001""#);
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
