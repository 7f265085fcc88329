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
