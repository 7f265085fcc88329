//! The on-failure destination: where a mapping sends what it gives up on,
//! as Lambda does. The record is a JSON document: `requestContext` (the
//! condition, the function, the approximate invoke count), `responseContext`
//! (for invoked batches), `version`, `timestamp` and `KinesisBatchInfo` (shard,
//! first and last sequence numbers and arrivals, batch size, stream ARN). An
//! S3 destination also gets the whole invocation payload (`payload`), under
//! `aws/lambda/<mapping-uuid>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>`;
//! an SQS queue gets the record only (the records stay in the stream).

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use eddy::limits::SQS_MAX_MESSAGE_BYTES;
use serde_json::{json, Value as Json};

use super::event::{records_payload, rfc3339};
use super::shard::{Discard, Source};

/// A failed batch as it is sent to a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedBatch {
    /// The shard.
    pub shard_id: String,
    /// The on-failure record (without the payload).
    pub record: Json,
    /// The invocation payload (the Lambda event of the records).
    pub payload: Vec<u8>,
    /// When the mapping gave up, ms.
    pub at_ms: i64,
    /// How many records.
    pub records: usize,
}

impl FailedBatch {
    /// The failed batch of `discard`, read from `source` by the function `function_arn`.
    pub fn new(discard: &Discard, source: &Source, function_arn: &str, now_ms: i64) -> Self {
        let first = discard.records.first();
        let last = discard.records.last();
        let mut record = json!({
            "requestContext": {
                "requestId": random_uuid(),
                "functionArn": function_arn,
                "condition": discard.condition.as_str(),
                "approximateInvokeCount": discard.invocations,
            },
            "version": "1.0",
            "timestamp": rfc3339_millis(now_ms),
            "KinesisBatchInfo": {
                "shardId": source.shard_id,
                "startSequenceNumber": first.map(|r| r.sequence_number.as_str()),
                "endSequenceNumber": last.map(|r| r.sequence_number.as_str()),
                "approximateArrivalOfFirstRecord": first.map(|r| rfc3339_millis(r.arrival_ms)),
                "approximateArrivalOfLastRecord": last.map(|r| rfc3339_millis(r.arrival_ms)),
                "batchSize": discard.records.len(),
                "streamArn": source.stream_arn,
            },
        });
        if discard.invocations > 0 {
            record["responseContext"] = json!({
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
                "error": discard.error,
            });
        }
        Self {
            shard_id: source.shard_id.clone(),
            record,
            payload: records_payload(&discard.records, None, source),
            at_ms: now_ms,
            records: discard.records.len(),
        }
    }

    /// The record with the payload, as an S3 destination stores it.
    pub fn with_payload(&self) -> Json {
        let mut record = self.record.clone();
        record["payload"] = Json::String(String::from_utf8_lossy(&self.payload).into_owned());
        record
    }
}

/// Where failed batches go.
#[async_trait]
pub trait OnFailure: Send + Sync {
    /// Sends one failed batch; says where it went.
    async fn send(&self, failed: &FailedBatch) -> Result<String, String>;
}

/// An S3 bucket: one object per failed batch, payload included.
#[derive(Debug, Clone)]
pub struct S3OnFailure {
    client: aws_sdk_s3::Client,
    bucket: String,
    mapping_id: String,
}

impl S3OnFailure {
    /// Objects in `bucket` under `aws/lambda/<mapping_id>/`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, mapping_id: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), mapping_id: mapping_id.into() }
    }

    /// The object key of a failed batch.
    pub fn key(&self, failed: &FailedBatch) -> String {
        let time = DateTime::<Utc>::from_timestamp_millis(failed.at_ms).unwrap_or_default();
        format!(
            "aws/lambda/{}/{}/{}/{}-{}",
            self.mapping_id,
            failed.shard_id,
            time.format("%Y/%m/%d"),
            time.format("%Y-%m-%dT%H.%M.%S"),
            random_uuid()
        )
    }
}

#[async_trait]
impl OnFailure for S3OnFailure {
    async fn send(&self, failed: &FailedBatch) -> Result<String, String> {
        let key = self.key(failed);
        let body = serde_json::to_vec(&failed.with_payload()).map_err(|e| e.to_string())?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| format!("s3://{}/{key}: {}", self.bucket, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}

/// An SQS queue: one message per failed batch (the record, no payload).
#[derive(Debug, Clone)]
pub struct SqsOnFailure {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsOnFailure {
    /// Messages to the queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl OnFailure for SqsOnFailure {
    async fn send(&self, failed: &FailedBatch) -> Result<String, String> {
        let mut body = failed.record.to_string();
        if body.len() > SQS_MAX_MESSAGE_BYTES {
            body = json!({ "KinesisBatchInfo": failed.record["KinesisBatchInfo"] }).to_string();
        }
        let sent = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| format!("{}: {}", self.queue_url, aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        Ok(format!("{} (message {})", self.queue_url, sent.message_id().unwrap_or_default()))
    }
}

/// No destination (or one the emulators do not run): the batch is logged and dropped, as Lambda drops it.
#[derive(Debug, Clone, Default)]
pub struct LogOnFailure {
    /// Why there is no real destination.
    pub why: String,
}

#[async_trait]
impl OnFailure for LogOnFailure {
    async fn send(&self, failed: &FailedBatch) -> Result<String, String> {
        tracing::warn!(record = %failed.record, why = %self.why, "batch discarded without a destination");
        Ok(format!("nowhere ({})", self.why))
    }
}

/// Keeps failed batches in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryOnFailure {
    batches: Mutex<Vec<FailedBatch>>,
}

impl MemoryOnFailure {
    /// The batches sent so far.
    pub fn batches(&self) -> Vec<FailedBatch> {
        self.batches.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl OnFailure for MemoryOnFailure {
    async fn send(&self, failed: &FailedBatch) -> Result<String, String> {
        self.batches.lock().unwrap_or_else(|p| p.into_inner()).push(failed.clone());
        Ok("memory".into())
    }
}

fn rfc3339_millis(ms: i64) -> String {
    let text = rfc3339(ms);
    if text.contains('.') {
        text
    } else {
        text.replace('Z', ".000Z")
    }
}

/// A random version-4 UUID.
pub fn random_uuid() -> String {
    uuid_text(fastrand::u64(..), fastrand::u64(..))
}

/// A stable UUID-shaped id for `name` (an event source mapping's id from its function and event).
pub fn stable_uuid(name: &str) -> String {
    let hash = |seed: u64| name.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    uuid_text(hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4))
}

fn uuid_text(a: u64, b: u64) -> String {
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::esm::shard::{Condition, StreamRecord};

    fn source() -> Source {
        Source {
            shard_id: "shardId-000000000001".into(),
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/raw".into(),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::000000000000:role/archive".into(),
        }
    }

    fn discard(invocations: u32) -> Discard {
        let records = (0..3)
            .map(|i| StreamRecord {
                sequence_number: format!("4960{i}"),
                partition_key: "k".into(),
                data: vec![b'a' + i as u8],
                arrival_ms: 1_795_978_506_000 + i64::from(i),
            })
            .collect();
        Discard { records, condition: Condition::RetryAttemptsExhausted, invocations, error: Some("boom".into()) }
    }

    #[test]
    fn given_a_discarded_batch_then_the_record_is_shaped_as_lambdas() {
        let failed = FailedBatch::new(
            &discard(6),
            &source(),
            "arn:aws:lambda:us-east-1:000000000000:function:archive",
            1_795_978_600_000,
        );
        let r = &failed.record;
        assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 6);
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
        assert_eq!(r["KinesisBatchInfo"]["startSequenceNumber"], "49600");
        assert_eq!(r["KinesisBatchInfo"]["endSequenceNumber"], "49602");
        assert_eq!(r["KinesisBatchInfo"]["batchSize"], 3);
        assert_eq!(r["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"], "2026-11-29T18:55:06.000Z");
        assert_eq!(r["timestamp"], "2026-11-29T18:56:40.000Z");
        let with_payload = failed.with_payload();
        let event: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_str(with_payload["payload"].as_str().unwrap()).unwrap();
        assert_eq!(event.records.len(), 3);
        assert_eq!(event.records[2].kinesis.data.0, b"c");
        // never invoked (record age): no response context
        let aged =
            FailedBatch::new(&Discard { condition: Condition::RecordAgeExceeded, ..discard(0) }, &source(), "f", 0);
        assert!(aged.record.get("responseContext").is_none());
        assert_eq!(aged.record["requestContext"]["condition"], "RecordAgeExceeded");
    }

    #[test]
    fn s3_keys_follow_lambdas_layout_and_ids_look_like_uuids() {
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder().behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build(),
        );
        let destination = S3OnFailure::new(client, "b", stable_uuid("archive/Raw"));
        let failed = FailedBatch::new(&discard(1), &source(), "f", 1_795_978_600_000);
        let key = destination.key(&failed);
        let prefix =
            format!("aws/lambda/{}/shardId-000000000001/2026/11/29/2026-11-29T18.56.40-", stable_uuid("archive/Raw"));
        assert!(key.starts_with(&prefix), "{key}");
        assert_eq!(stable_uuid("archive/Raw"), stable_uuid("archive/Raw"));
        assert_ne!(stable_uuid("archive/Raw"), stable_uuid("enrich/Raw"));
        let id = random_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4', "{id}");
        assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }
}
