//! A fast reader of Lambda's Kinesis event JSON that borrows the fields the
//! batch driver needs and skips the rest.
//!
//! The event is written by Lambda, so it is well-formed JSON; this reader
//! still checks its structure and fails with a clear error (never a panic) on
//! anything unexpected. Strings are found with SIMD (`memchr`), so the long
//! base64 `data` fields cost little more than a memory scan — the generic
//! serde path spends most of an invocation there (see DESIGN.md, Performance).

use std::borrow::Cow;

/// Deepest nesting skipped in parts of the event Eddy does not read.
const MAX_SKIP_DEPTH: usize = 128;

/// One record's fields, borrowed from the event JSON where no unescaping was needed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRecord<'a> {
    /// `eventID`: `shardId-...:sequence`.
    pub event_id: Cow<'a, str>,
    /// `kinesis.data` (base64 text; not checked for UTF-8 here: the base64
    /// decoder refuses anything outside its alphabet).
    pub data: Cow<'a, [u8]>,
    /// `kinesis.partitionKey`.
    pub partition_key: Cow<'a, str>,
    /// `kinesis.sequenceNumber`.
    pub sequence_number: Cow<'a, str>,
    /// `kinesis.approximateArrivalTimestamp` (seconds since the epoch).
    pub approximate_arrival: f64,
}

/// Reads the `Records` of a Lambda Kinesis event (plain or tumbling-window).
pub fn read_records(json: &[u8]) -> Result<Vec<RawRecord<'_>>, String> {
    let mut r = Reader { b: json, i: 0 };
    let mut records = Vec::new();
    r.object(|r, key| {
        if key == b"Records" {
            records.reserve(json.len() / 900);
            r.array(|r| {
                records.push(r.record()?);
                Ok(())
            })
        } else {
            r.skip_value(0)
        }
    })?;
    r.ws();
    if r.i != json.len() {
        return Err(r.error("trailing characters"));
    }
    Ok(records)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.i)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    /// Calls `field` for each key of an object; `field` must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &[u8]) -> Result<(), String>) -> Result<(), String> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            let key = self.raw_string()?;
            self.eat(b':')?;
            field(self, &key)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// Calls `item` for each element of an array; `item` must consume the element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn record(&mut self) -> Result<RawRecord<'a>, String> {
        let mut rec = RawRecord::default();
        self.object(|r, key| match key {
            b"eventID" => r.string().map(|s| rec.event_id = s),
            b"kinesis" => r.object(|r, key| match key {
                b"data" => r.raw_string().map(|s| rec.data = s),
                b"partitionKey" => r.string().map(|s| rec.partition_key = s),
                b"sequenceNumber" => r.string().map(|s| rec.sequence_number = s),
                b"approximateArrivalTimestamp" => r.number().map(|n| rec.approximate_arrival = n),
                _ => r.skip_value(0),
            }),
            _ => r.skip_value(0),
        })?;
        Ok(rec)
    }

    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        match self.raw_string()? {
            Cow::Borrowed(b) => {
                std::str::from_utf8(b).map(Cow::Borrowed).map_err(|_| self.error("string is not UTF-8"))
            }
            Cow::Owned(b) => String::from_utf8(b).map(Cow::Owned).map_err(|_| self.error("string is not UTF-8")),
        }
    }

    /// A string's bytes, unescaped (UTF-8 is checked only where the string is used as text).
    fn raw_string(&mut self) -> Result<Cow<'a, [u8]>, String> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = &self.b[start..];
        let end = memchr::memchr2(b'"', b'\\', rest).ok_or_else(|| self.error("unterminated string"))?;
        if rest[end] == b'"' {
            self.i = start + end + 1;
            return Ok(Cow::Borrowed(&rest[..end]));
        }
        // escapes: find the real end, then let serde_json unescape (rare in Lambda events)
        let mut j = start + end;
        loop {
            match self.b.get(j) {
                Some(b'\\') => j += 2,
                Some(b'"') => break,
                Some(_) => j += 1,
                None => return Err(self.error("unterminated string")),
            }
        }
        let quoted = &self.b[start - 1..=j];
        self.i = j + 1;
        serde_json::from_slice::<String>(quoted)
            .map(|s| Cow::Owned(s.into_bytes()))
            .map_err(|e| self.error(&format!("bad string: {e}")))
    }

    fn number(&mut self) -> Result<f64, String> {
        self.ws();
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| self.error("expected a number"))
    }

    fn skip_value(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_SKIP_DEPTH {
            return Err(self.error("nested too deep"));
        }
        match self.peek() {
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b'{') => self.object(|r, _| r.skip_value(depth + 1)),
            Some(b'[') => self.array(|r| r.skip_value(depth + 1)),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error(&format!("expected {word}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_fields_and_skips_the_rest() {
        let json = br#"{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk\"1","sequenceNumber":"49","data":"eyJ9","approximateArrivalTimestamp":1732500000.25,"extra":{"a":[1,true,null,{"b":"c"}]}},"eventSource":"aws:kinesis","eventID":"shardId-000000000003:49","awsRegion":"us-east-1"}],"window":{"start":"x"},"isFinalInvokeForWindow":false}"#;
        let recs = read_records(json).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].partition_key, "pk\"1");
        assert_eq!(recs[0].sequence_number, "49");
        assert_eq!(recs[0].data.as_ref(), b"eyJ9");
        assert_eq!(recs[0].event_id, "shardId-000000000003:49");
        assert_eq!(recs[0].approximate_arrival, 1732500000.25);
    }

    #[test]
    fn escaped_slashes_in_base64_are_unescaped() {
        let json = br#"{"Records":[{"kinesis":{"data":"a\/b+"}}]}"#;
        assert_eq!(read_records(json).unwrap()[0].data.as_ref(), b"a/b+");
    }

    #[test]
    fn broken_events_are_errors_with_a_position() {
        for bad in [
            &b"{\"Records\":[{\"kinesis\":{\"data\":\"abc"[..],
            b"[1,2]",
            b"{\"Records\":[1]}",
            b"{\"Records\":[]} x",
            b"",
        ] {
            let err = read_records(bad).unwrap_err();
            assert!(err.contains("at byte"), "{err}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(500), "]".repeat(500));
        assert!(read_records(deep.as_bytes()).unwrap_err().contains("nested too deep"));
    }

    #[test]
    fn an_event_without_records_has_none() {
        assert!(read_records(b"{}").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn agrees_with_aws_lambda_events_on_any_strings(pk in ".{0,20}", seq in "[0-9]{1,56}", data in "[A-Za-z0-9+/]{0,40}", t in 0u32..2_000_000_000) {
            let record = serde_json::json!({"kinesis": {"partitionKey": pk, "sequenceNumber": seq, "data": data, "approximateArrivalTimestamp": t as f64 + 0.5}, "eventID": format!("shardId-1:{seq}")});
            let json = serde_json::to_vec(&serde_json::json!({"Records": [record]})).unwrap();
            let ours = read_records(&json).unwrap();
            prop_assert_eq!(&ours[0].partition_key, &pk);
            prop_assert_eq!(&ours[0].sequence_number, &seq);
            prop_assert_eq!(ours[0].data.as_ref(), data.as_bytes());
            prop_assert_eq!(ours[0].approximate_arrival, t as f64 + 0.5);
        }
    }
}
