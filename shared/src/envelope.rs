//! A fast reader of Lambda's Kinesis event JSON that borrows the fields the
//! batch driver needs and skips the rest.
//!
//! The event is written by Lambda, so it is well-formed JSON; this reader
//! still checks its structure and fails with a clear error (never a panic) on
//! anything unexpected. Strings are found with SIMD (`memchr`), so the long
//! base64 `data` fields cost little more than a memory scan — the generic
//! serde path spends most of an invocation there (see DESIGN.md, Performance).

use std::borrow::Cow;

use crate::event::Arrival;
use crate::json::cursor::{Cursor, StrSpan};

/// One Kinesis record of a Lambda event, borrowed from the event's JSON where
/// no unescaping was needed: the fields the batch driver needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InRecord<'a> {
    /// The shard, from the `eventID` (`shardId-...:seq`), taken while the
    /// record is being read (its bytes are in cache then, not once the whole event is).
    pub shard_id: Cow<'a, str>,
    /// `kinesis.sequenceNumber`.
    pub sequence_number: Cow<'a, str>,
    /// `kinesis.partitionKey`.
    pub partition_key: Cow<'a, str>,
    /// `kinesis.approximateArrivalTimestamp` (seconds since the epoch).
    pub approximate_arrival: Arrival<'a>,
    /// `kinesis.data`: the record's bytes, base64-encoded as Lambda sends them
    /// (not checked for UTF-8 here: the base64 decoder refuses anything outside its alphabet).
    pub data: Cow<'a, [u8]>,
}

/// Reads the `Records` of a Lambda Kinesis event (plain or tumbling-window).
pub fn read_records(json: &[u8]) -> Result<Vec<InRecord<'_>>, String> {
    read_event(json).map(|event| event.records)
}

/// A Lambda Kinesis event read in one pass: its records, and where its other
/// top-level members are (a tumbling-window event's `window`, `state`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventParts<'a> {
    /// The `Records`.
    pub records: Vec<InRecord<'a>>,
    /// The other members in order: name as written (escapes not undone), raw value.
    pub members: Vec<(&'a [u8], &'a [u8])>,
}

/// Reads a Lambda Kinesis event: its records, and the raw text of its other
/// members (skipped over, not checked: whoever reads them parses them).
pub fn read_event(json: &[u8]) -> Result<EventParts<'_>, String> {
    let mut r = Reader::at(json, 0);
    let mut event = EventParts::default();
    r.object(|r, key| {
        if key == b"Records" {
            event.records.reserve(json.len() / 900);
            r.array(|r| {
                event.records.push(r.record()?);
                Ok(())
            })
        } else {
            let start = r.c.pos();
            r.skip_value()?;
            event.members.push((key, &json[start..r.c.pos()]));
            Ok(())
        }
    })?;
    r.c.skip_ws();
    if !r.c.at_end() {
        return Err(r.error("trailing characters"));
    }
    Ok(event)
}

/// The shard of an `eventID` (`shardId-000000000000:4959...` -> `shardId-000000000000`).
fn shard_of(event_id: Cow<'_, str>) -> Cow<'_, str> {
    match event_id {
        Cow::Borrowed(id) => Cow::Borrowed(shard_part(id)),
        Cow::Owned(id) => Cow::Owned(shard_part(&id).to_string()),
    }
}

/// The part of `event_id` before its first colon (a short scan: it comes early).
fn shard_part(event_id: &str) -> &str {
    let end = memchr::memchr(b':', event_id.as_bytes()).unwrap_or(event_id.len());
    &event_id[..end]
}

struct Reader<'a> {
    c: Cursor<'a>,
    /// Where the last record read straight through ends, from after its
    /// `eventID`: the event source's members, the same in every record of a batch.
    last_source: Option<std::ops::Range<usize>>,
    /// The shard the last record read straight through came from (Lambda's
    /// batches are of one shard).
    last_shard: Option<&'a str>,
}

/// A string's text when it holds no escape and is UTF-8 (as Lambda writes
/// the fields of its layout); `None` otherwise.
fn unescaped_text(bytes: &[u8], span: StrSpan) -> Option<&str> {
    (!span.escaped).then(|| std::str::from_utf8(span.raw(bytes)).ok()).flatten()
}

impl<'a> Reader<'a> {
    /// A reader at offset `pos` of `json`, remembering nothing of earlier records.
    fn at(json: &'a [u8], pos: usize) -> Self {
        Reader { c: Cursor::at(json, pos), last_source: None, last_shard: None }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.c.pos())
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.c.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    /// Calls `field` for each key of an object; `field` must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Result<(), String>) -> Result<(), String> {
        self.expect(b'{')?;
        if self.c.eat(b'}') {
            return Ok(());
        }
        loop {
            self.c.skip_ws();
            let key = self.c.string().ok_or_else(|| self.error("expected a key"))?;
            self.expect(b':')?;
            self.c.skip_ws();
            field(self, key.raw(self.c.bytes()))?;
            match self.c.peek_token() {
                Some(b',') => self.c.advance(1),
                Some(b'}') => {
                    self.c.advance(1);
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// Calls `item` for each element of an array; `item` must consume the element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.expect(b'[')?;
        if self.c.eat(b']') {
            return Ok(());
        }
        loop {
            self.c.skip_ws();
            item(self)?;
            match self.c.peek_token() {
                Some(b',') => self.c.advance(1),
                Some(b']') => {
                    self.c.advance(1);
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// One record: in the layout Lambda writes, read straight through; in any
    /// other (members reordered, white space), by the general object walk.
    fn record(&mut self) -> Result<InRecord<'a>, String> {
        let start = self.c.pos();
        if let Some(rec) = self.lambda_layout() {
            return Ok(rec);
        }
        self.c = Cursor::at(self.c.bytes(), start);
        self.any_layout()
    }

    /// A record exactly as Lambda lays it out (members in its order, no white
    /// space, no escapes in the fields read); `None` at the first difference.
    fn lambda_layout(&mut self) -> Option<InRecord<'a>> {
        let c = &mut self.c;
        let bytes = c.bytes();
        let text = |span: StrSpan| unescaped_text(bytes, span);
        let mut rec = InRecord::default();
        c.literal(br#"{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"#).then_some(())?;
        rec.partition_key = Cow::Borrowed(text(c.string()?)?);
        c.literal(br#","sequenceNumber":"#).then_some(())?;
        rec.sequence_number = Cow::Borrowed(text(c.string()?)?);
        c.literal(br#","data":"#).then_some(())?;
        let data = c.long_string()?;
        (!data.escaped).then_some(())?;
        rec.data = Cow::Borrowed(data.raw(bytes));
        c.literal(br#","approximateArrivalTimestamp":"#).then_some(())?;
        let (arrival, len) = Arrival::plain_prefix(c.bytes().get(c.pos()..)?)?;
        c.advance(len);
        rec.approximate_arrival = arrival;
        c.literal(br#"},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"#).then_some(())?;
        rec.shard_id = Cow::Borrowed(self.event_id_shard(&rec.sequence_number)?);
        self.event_source_members()?;
        Some(rec)
    }

    /// The shard of the `eventID` at the cursor, which Lambda writes as
    /// `<shard>:<sequence number>`: when that is the last record's shard and
    /// `sequence_number`, found by comparing instead of searching.
    fn event_id_shard(&mut self, sequence_number: &str) -> Option<&'a str> {
        let rest = self.c.bytes().get(self.c.pos()..)?;
        if let Some(shard) = self.last_shard {
            let after = rest
                .strip_prefix(b"\"")
                .and_then(|r| r.strip_prefix(shard.as_bytes()))
                .and_then(|r| r.strip_prefix(b":"))
                .and_then(|r| r.strip_prefix(sequence_number.as_bytes()))
                .and_then(|r| r.strip_prefix(b"\""));
            if let Some(after) = after {
                self.c.advance(rest.len() - after.len());
                return Some(shard);
            }
        }
        let span = self.c.long_string()?;
        let shard = shard_part(unescaped_text(self.c.bytes(), span)?);
        self.last_shard = Some(shard);
        Some(shard)
    }

    /// The members after `eventID` in Lambda's layout, up to the record's
    /// closing brace: compared whole with the last record's (the same role,
    /// region and stream for a whole batch), read one by one otherwise.
    fn event_source_members(&mut self) -> Option<()> {
        let bytes = self.c.bytes();
        let start = self.c.pos();
        let last = self.last_source.clone().and_then(|range| bytes.get(range));
        if let Some(last) = last.filter(|last| bytes[start..].starts_with(last)) {
            self.c.advance(last.len());
            return Some(());
        }
        let c = &mut self.c;
        c.literal(br#","eventName":"aws:kinesis:record","invokeIdentityArn":"#).then_some(())?;
        c.string()?;
        c.literal(br#","awsRegion":"#).then_some(())?;
        c.string()?;
        c.literal(br#","eventSourceARN":"#).then_some(())?;
        c.string()?;
        c.literal(b"}").then_some(())?;
        self.last_source = Some(start..c.pos());
        Some(())
    }

    /// A record in any member order and spacing.
    fn any_layout(&mut self) -> Result<InRecord<'a>, String> {
        let mut rec = InRecord::default();
        self.object(|r, key| match key {
            b"eventID" => r.string().map(|s| rec.shard_id = shard_of(s)),
            b"kinesis" => r.object(|r, key| match key {
                b"data" => r.raw_string().map(|s| rec.data = s),
                b"partitionKey" => r.string().map(|s| rec.partition_key = s),
                b"sequenceNumber" => r.string().map(|s| rec.sequence_number = s),
                b"approximateArrivalTimestamp" => r.arrival().map(|n| rec.approximate_arrival = n),
                _ => r.skip_value(),
            }),
            _ => r.skip_value(),
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
        let span = self.c.string().ok_or_else(|| self.error("expected a string"))?;
        span.value_bytes(self.c.bytes()).ok_or_else(|| self.error("bad string escape"))
    }

    /// The arrival time: as written when a plain decimal, else read as a number.
    fn arrival(&mut self) -> Result<Arrival<'a>, String> {
        let text = self.c.number().ok_or_else(|| self.error("expected a number"))?;
        Arrival::plain(text)
            .or_else(|| crate::json::parse_f64(text).map(Arrival::from))
            .ok_or_else(|| self.error("expected a number"))
    }

    /// Moves past a value Eddy does not read (without recursion, so any nesting is safe).
    fn skip_value(&mut self) -> Result<(), String> {
        self.c.skip_value().ok_or_else(|| self.error("expected a value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_members_besides_records_are_kept_raw_in_order() {
        let json = br#"{"Records":[{"kinesis":{"data":"e30=","x":"]}"}}],"window":{"start":"a","end":"b"},
            "state":{}, "isFinalInvokeForWindow":true,"state":{"k":"v"}}"#;
        let event = read_event(json).unwrap();
        assert_eq!(event.records.len(), 1);
        let members: Vec<(&str, &str)> = event
            .members
            .iter()
            .map(|(k, v)| (std::str::from_utf8(k).unwrap(), std::str::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            members,
            [
                ("window", r#"{"start":"a","end":"b"}"#),
                ("state", "{}"),
                ("isFinalInvokeForWindow", "true"),
                ("state", r#"{"k":"v"}"#)
            ]
        );
        for bad in [&b"[1]"[..], br#"{"a":"#, br#"{"Records":[],"a":1} x"#] {
            assert!(read_event(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_arrival_is_kept_as_written_when_plain_and_read_as_a_number_otherwise() {
        let event = |arrival: &str| {
            format!(
                r#"{{"Records":[{{"kinesis":{{"kinesisSchemaVersion":"1.0","partitionKey":"k","sequenceNumber":"49","data":"e30=","approximateArrivalTimestamp":{arrival}}},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:49","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:r","awsRegion":"us-east-1","eventSourceARN":"arn:s"}}]}}"#
            )
        };
        let written = |arrival: &str| {
            let text = event(arrival);
            let records = read_records(text.as_bytes()).unwrap();
            let mut out = Vec::new();
            records[0].approximate_arrival.write_json(&mut out);
            (records[0].approximate_arrival.seconds(), String::from_utf8(out).unwrap())
        };
        assert_eq!(written("1732496400.50"), (1732496400.5, "1732496400.50".to_string()));
        assert_eq!(written("1.7324964005E9"), (1732496400.5, "1732496400.5".to_string()));
        assert!(read_records(event("1.2.3").as_bytes()).is_err());
        assert!(read_records(event("\"1\"").as_bytes()).is_err());
    }

    #[test]
    fn reads_the_fields_and_skips_the_rest() {
        let json = br#"{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk\"1","sequenceNumber":"49","data":"eyJ9","approximateArrivalTimestamp":1732500000.25,"extra":{"a":[1,true,null,{"b":"c"}]}},"eventSource":"aws:kinesis","eventID":"shardId-000000000003:49","awsRegion":"us-east-1"}],"window":{"start":"x"},"isFinalInvokeForWindow":false}"#;
        let recs = read_records(json).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].partition_key, "pk\"1");
        assert_eq!(recs[0].sequence_number, "49");
        assert_eq!(recs[0].data.as_ref(), b"eyJ9");
        assert_eq!(recs[0].shard_id, "shardId-000000000003");
        assert_eq!(recs[0].approximate_arrival.seconds(), 1732500000.25);
    }

    #[test]
    fn lambda_s_layout_and_any_other_read_the_same() {
        let records = vec![
            crate::workload::TestRecord { partition_key: "plain".into(), data: b"{\"a\":1}".to_vec() },
            // an escaped key: the straight read gives way to the general one mid-record
            crate::workload::TestRecord { partition_key: "k\"1".into(), data: b"x".to_vec() },
        ];
        let lambda = crate::workload::kinesis_event(&records, "shardId-000000000001", "arn:s", 7, 1.5);
        let value: serde_json::Value = serde_json::from_slice(&lambda).unwrap();
        let reordered = serde_json::to_vec_pretty(&value).unwrap(); // keys sorted, white space
        let (a, b) = (read_records(&lambda).unwrap(), read_records(&reordered).unwrap());
        assert_eq!(a, b);
        assert_eq!(a[1].partition_key, "k\"1");
        assert!(matches!(a[0].partition_key, Cow::Borrowed("plain")));
        assert_eq!(a[1].shard_id, "shardId-000000000001");
        // the first record of Lambda's layout is read straight through; the second is not
        let first = lambda.iter().position(|&b| b == b'[').unwrap() + 1;
        let mut r = Reader::at(&lambda, first);
        assert_eq!(r.lambda_layout().as_ref(), Some(&a[0]));
        r.c.eat(b',');
        assert_eq!(r.lambda_layout(), None);
    }

    /// A Lambda event of `n` small records from `shardId-000000000002` of the stream `s`.
    fn small_batch(n: usize) -> String {
        let records: Vec<_> = (0..n)
            .map(|i| crate::workload::TestRecord { partition_key: format!("pk-{i}"), data: b"{}".to_vec() })
            .collect();
        let lambda = crate::workload::kinesis_event(
            &records,
            "shardId-000000000002",
            "arn:aws:kinesis:us-east-1:1:stream/s",
            1,
            1.5,
        );
        String::from_utf8(lambda).unwrap()
    }

    /// The records of `text` as read, after checking that the same event
    /// reordered and spaced out (read by the general walk) gives the same.
    fn read_as_any_layout_would(text: &str) -> Vec<InRecord<'_>> {
        let reordered = serde_json::to_vec_pretty(&serde_json::from_str::<serde_json::Value>(text).unwrap()).unwrap();
        let ours = read_records(text.as_bytes()).unwrap();
        assert_eq!(ours, read_records(&reordered).unwrap());
        ours
    }

    #[test]
    fn records_whose_event_source_changes_mid_batch_are_each_read_whole() {
        // the third record comes from another stream, with a longer ARN: no prefix of the others'
        let text = small_batch(4);
        let third = text.match_indices("stream/s\"}").nth(2).unwrap().0;
        let changed = format!("{}stream/other\"}}{}", &text[..third], &text[third + "stream/s\"}".len()..]);
        let value: serde_json::Value = serde_json::from_str(&changed).unwrap();
        assert_eq!(value["Records"][2]["eventSourceARN"], "arn:aws:kinesis:us-east-1:1:stream/other");
        let ours = read_as_any_layout_would(&changed);
        assert_eq!(ours.len(), 4);
        assert_eq!(ours[3].partition_key, "pk-3");
        // a record cut short where the others' members are is an error, not a match
        let cut = changed.rsplit_once("\"awsRegion\"").unwrap().0.to_string() + "}]}";
        assert!(read_records(cut.as_bytes()).is_err());
    }

    #[test]
    fn each_record_s_shard_comes_from_its_own_event_id() {
        let text = small_batch(5);
        // the third record from another shard, the fourth with an event ID not
        // of its own sequence number, the fifth back to the first shard
        let mut ids = text.match_indices("\"eventID\":\"shardId-000000000002:").map(|(i, _)| i).collect::<Vec<_>>();
        ids.reverse();
        let mut changed = text.clone();
        for (n, at) in ids.iter().enumerate() {
            let record = ids.len() - 1 - n;
            let from = at + "\"eventID\":\"".len();
            match record {
                2 => changed.replace_range(from..from + "shardId-000000000002".len(), "shardId-000000000017"),
                3 => changed.replace_range(from..from + "shardId-000000000002:".len(), "shardId-000000000002:9"),
                _ => {}
            }
        }
        let ours = read_as_any_layout_would(&changed);
        let shards: Vec<&str> = ours.iter().map(|r| r.shard_id.as_ref()).collect();
        assert_eq!(
            shards,
            [
                "shardId-000000000002",
                "shardId-000000000002",
                "shardId-000000000017",
                "shardId-000000000002",
                "shardId-000000000002"
            ]
        );
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
        // parts Eddy skips may nest deeply: they are skipped without recursion
        let deep = format!("{{\"a\":{}{},\"Records\":[]}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(read_records(deep.as_bytes()).unwrap().is_empty());
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
            prop_assert_eq!(ours[0].approximate_arrival.seconds(), t as f64 + 0.5);
            prop_assert_eq!(&ours[0].shard_id, "shardId-1");
        }
    }
}
