//! `eddy local put`: a producer putting events into a stream with PutRecords,
//! in requests within Kinesis's limits, failed entries retried (by
//! [`KinesisSink`], the one owner of entry retries), one event per record or
//! KPL-aggregated or in CloudWatch Logs subscription payloads.

use std::io::BufRead;
use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::gen::{GeneratedEvent, Generator, PackedRecord, Packer, Packing};
use eddy::limits::KINESIS;
use eddy::sink::{KinesisSink, Sink, SinkBatch, SinkRecord};

use super::LocalError;

/// How long the retries of one request's failed entries may go on.
const PUT_DEADLINE: Duration = Duration::from_secs(60);

/// What a put did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutSummary {
    /// Events read or generated.
    pub events: u64,
    /// Kinesis records put (aggregates and log payloads hold several events).
    pub records: u64,
    /// Records that still failed after the retries.
    pub failed: u64,
    /// Bytes of record data put.
    pub bytes: u64,
    /// Input lines left out, with why (`line 7: ...`).
    pub skipped: Vec<String>,
}

/// Puts records into one stream, [`KINESIS`]`.max_records` at a time.
pub struct Producer {
    sink: KinesisSink,
    packer: Packer,
    pending: Vec<SinkRecord>,
    packed: Vec<PackedRecord>,
    summary: PutSummary,
}

impl Producer {
    /// A producer into `stream`, packing events by `packing`.
    pub fn new(client: aws_sdk_kinesis::Client, stream: &str, packing: Packing) -> Self {
        Self {
            sink: KinesisSink::new(client, stream),
            packer: Packer::new(packing),
            pending: Vec::with_capacity(KINESIS.max_records),
            packed: Vec::new(),
            summary: PutSummary::default(),
        }
    }

    /// Takes one event; puts a request's worth of records when there is one.
    pub async fn push(&mut self, event: GeneratedEvent) -> Result<(), LocalError> {
        self.summary.events += 1;
        self.packer.push(event, &mut self.packed);
        self.take_packed();
        if self.pending.len() >= KINESIS.max_records {
            self.flush().await?;
        }
        Ok(())
    }

    /// Notes an input line left out.
    pub fn skip(&mut self, why: String) {
        tracing::warn!("{why}");
        self.summary.skipped.push(why);
    }

    /// Puts what is left and says what was done.
    pub async fn finish(mut self) -> Result<PutSummary, LocalError> {
        self.packer.finish(&mut self.packed);
        self.take_packed();
        self.flush().await?;
        Ok(self.summary)
    }

    fn take_packed(&mut self) {
        for packed in self.packed.drain(..) {
            self.pending.push(SinkRecord::new(packed.record.partition_key, packed.record.data));
        }
    }

    async fn flush(&mut self) -> Result<(), LocalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.pending);
        let report = self.sink.send(SinkBatch { key: "", records: &records }, Deadline::after(PUT_DEADLINE)).await;
        if report.failed.len() == records.len() {
            let error = report.last_error.unwrap_or_default();
            if error.contains("ResourceNotFound") {
                return Err(LocalError::Missing { what: format!("Kinesis stream {}", self.sink.stream()) });
            }
            return Err(LocalError::Aws { call: "PutRecords", target: self.sink.stream().to_string(), message: error });
        }
        self.summary.records += records.len() as u64;
        self.summary.failed += report.failed.len() as u64;
        self.summary.bytes += records.iter().map(|r| r.data.len() as u64).sum::<u64>();
        Ok(())
    }
}

/// Puts every event of `generator`.
pub async fn put_generated(mut producer: Producer, generator: &mut Generator) -> Result<PutSummary, LocalError> {
    for event in generator {
        producer.push(event).await?;
    }
    producer.finish().await
}

/// Puts each JSON line of `input` as one event; its partition key is the
/// value at `key_field` (a dotted path) when the line has one, else the line
/// number. A line that is not a JSON object (or not UTF-8) is left out and said so.
pub async fn put_ndjson(
    mut producer: Producer,
    input: impl BufRead,
    key_field: Option<&str>,
    time_ms: i64,
) -> Result<PutSummary, LocalError> {
    for (index, line) in crate::ndjson::lines(input) {
        let number = index + 1;
        let line = line.map_err(|source| LocalError::Io { path: format!("input line {number}"), source })?;
        match line_event(&line, number, key_field, time_ms) {
            Ok(event) => producer.push(event).await?,
            Err(why) => producer.skip(why),
        }
    }
    producer.finish().await
}

/// The event of one NDJSON line (number `number`, from 1).
pub fn line_event(line: &[u8], number: usize, key_field: Option<&str>, time_ms: i64) -> Result<GeneratedEvent, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("line {number}: not JSON ({e}): skipped"))?;
    if !value.is_object() {
        return Err(format!("line {number}: not a JSON object: skipped"));
    }
    let key = key_field
        .and_then(|path| path.split('.').try_fold(&value, |v, k| v.get(k)))
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| number.to_string());
    Ok(GeneratedEvent {
        index: number as u64 - 1,
        id: number.to_string(),
        partition_key: key.chars().take(eddy::limits::KINESIS_MAX_PARTITION_KEY_CHARS).collect(),
        data: line.trim_ascii().to_vec(),
        time_ms,
        log: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_become_events_keyed_by_a_field_or_their_line_number() {
        let e = line_event(br#" {"user":{"id":"u7"},"n":1} "#, 3, Some("user.id"), 5).unwrap();
        assert_eq!(
            (e.partition_key.as_str(), e.data.as_slice(), e.time_ms),
            ("u7", br#"{"user":{"id":"u7"},"n":1}"#.as_slice(), 5)
        );
        let e = line_event(br#"{"n":1}"#, 3, Some("user.id"), 5).unwrap();
        assert_eq!(e.partition_key, "3");
        let e = line_event(br#"{"n":12}"#, 4, Some("n"), 5).unwrap();
        assert_eq!(e.partition_key, "12");
    }

    #[test]
    fn bad_lines_say_which_line_and_why() {
        let err = line_event(br#"{"n":"#, 9, None, 0).unwrap_err();
        assert!(err.starts_with("line 9: not JSON ("), "{err}");
        let err = line_event(b"[1,2]", 10, None, 0).unwrap_err();
        assert_eq!(err, "line 10: not a JSON object: skipped");
        let err = line_event(b"\xff\xfe{}", 11, None, 0).unwrap_err();
        assert!(err.starts_with("line 11: not JSON ("), "a line that is not UTF-8 is skipped, not fatal: {err}");
    }
}
