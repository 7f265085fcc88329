//! `S3Sink`: writes a whole batch as one NDJSON object (optionally gzip) with PutObject.
//!
//! The object key is `{prefix}{batch.key}.ndjson` (`.ndjson.gz` when gzip), and
//! the batch key is derived from the source batch, so a retried batch
//! overwrites its object instead of duplicating it. The body is built by
//! [`ndjson_bytes`], the same bytes [`DirSink`](super::DirSink) writes locally.
//!
//! One object is all or nothing: an error (already retried by the SDK) fails
//! every entry of the batch. An empty batch writes no object.

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use super::{ndjson_bytes, SendReport, Sink, SinkBatch};
use crate::deadline::Deadline;

/// A sink writing each batch as one object in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    name: String,
    gzip: bool,
}

impl S3Sink {
    /// A sink writing objects `{prefix}{key}.ndjson[.gz]` into `bucket`,
    /// gzip-compressed when `gzip`. `prefix` is used as given: end it with `/`
    /// for a folder. The sink is named after the prefix's last folder
    /// (`quarantine/` -> `quarantine`, as [`DirSink`](super::DirSink) lays out
    /// its files), or `s3` without one; see [`S3Sink::with_name`].
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: impl Into<String>, gzip: bool) -> Self {
        let prefix = prefix.into();
        let name = prefix.split('/').rfind(|s| !s.is_empty()).unwrap_or("s3").to_string();
        Self { client, bucket: bucket.into(), prefix, name, gzip }
    }

    /// Renames the sink (for logs and outcome counters).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The bucket objects are written to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key a batch with `key` is written to.
    pub fn object_key(&self, key: &str) -> String {
        let ext = if self.gzip { "ndjson.gz" } else { "ndjson" };
        format!("{}{key}.{ext}", self.prefix)
    }

    async fn put(&self, batch: SinkBatch<'_>) -> Result<(), String> {
        let key = self.object_key(batch.key);
        let body = ndjson_bytes(batch.records, self.gzip)
            .map_err(|e| format!("s3: cannot encode s3://{}/{key}: {e}", self.bucket))?;
        let content_type = if self.gzip { "application/gzip" } else { "application/x-ndjson" };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| format!("s3 PutObject s3://{}/{key}: {}", self.bucket, DisplayErrorContext(&e)))?;
        Ok(())
    }
}

#[async_trait]
impl Sink for S3Sink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, batch: SinkBatch<'_>, _deadline: Deadline) -> SendReport {
        if batch.records.is_empty() {
            return SendReport::default();
        }
        match self.put(batch).await {
            Ok(()) => SendReport::default(),
            Err(e) => SendReport::all_failed(batch.records.len(), e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sink::SinkRecord;
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::types::error::InvalidRequest;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    /// Bucket, key, content type and body of every PutObject.
    type Puts = Arc<Mutex<Vec<(String, String, String, Vec<u8>)>>>;

    fn records() -> Vec<SinkRecord> {
        vec![SinkRecord::new("a", b"{\"x\":1}\n".to_vec()), SinkRecord::new("b", b"{\"x\":2}".to_vec())]
    }

    fn recording_rule() -> (Rule, Puts) {
        let puts: Puts = Arc::default();
        let seen = puts.clone();
        let rule = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |req| {
            seen.lock().unwrap().push((
                req.bucket().unwrap_or_default().to_string(),
                req.key().unwrap_or_default().to_string(),
                req.content_type().unwrap_or_default().to_string(),
                req.body().bytes().expect("an in-memory body").to_vec(),
            ));
            PutObjectOutput::builder().e_tag("\"etag\"").build()
        });
        (rule, puts)
    }

    fn sink(rule: &Rule, gzip: bool) -> S3Sink {
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [rule]);
        S3Sink::new(client, "eddy-data", "quarantine/", gzip)
    }

    fn second() -> Deadline {
        Deadline::after(Duration::from_secs(1))
    }

    #[test]
    fn names_come_from_the_prefix() {
        let (rule, _) = recording_rule();
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let named = |prefix: &str| S3Sink::new(client.clone(), "b", prefix, false).name().to_string();
        assert_eq!(named("quarantine/"), "quarantine");
        assert_eq!(named("reports/minute/"), "minute");
        assert_eq!(named("raw"), "raw");
        assert_eq!(named(""), "s3");
        let s = S3Sink::new(client, "b", "", true).with_name("reports");
        assert_eq!((s.name(), s.bucket()), ("reports", "b"));
        assert_eq!(s.object_key("2024/x"), "2024/x.ndjson.gz");
        assert_eq!(s.limits(), None);
    }

    #[tokio::test]
    async fn writes_the_batch_as_one_ndjson_object_at_prefix_key() {
        let (rule, puts) = recording_rule();
        let recs = records();
        let report = sink(&rule, false)
            .send(SinkBatch { key: "2024/05/01/13/shardId-000000000000-4954", records: &recs }, second())
            .await;
        assert_eq!(report, SendReport::default());
        let puts = puts.lock().unwrap();
        assert_eq!(puts.len(), 1);
        let (bucket, key, content_type, body) = &puts[0];
        assert_eq!(bucket, "eddy-data");
        assert_eq!(key, "quarantine/2024/05/01/13/shardId-000000000000-4954.ndjson");
        assert_eq!(content_type, "application/x-ndjson");
        assert_eq!(String::from_utf8_lossy(body), "{\"x\":1}\n{\"x\":2}\n");
    }

    #[tokio::test]
    async fn gzip_objects_decompress_to_the_lines() {
        let (rule, puts) = recording_rule();
        let recs = records();
        let report = sink(&rule, true).send(SinkBatch { key: "k/1", records: &recs }, second()).await;
        assert!(report.is_ok());
        let puts = puts.lock().unwrap();
        let (_, key, content_type, body) = &puts[0];
        assert_eq!(key, "quarantine/k/1.ndjson.gz");
        assert_eq!(content_type, "application/gzip");
        assert_eq!(&body[..2], &[0x1f, 0x8b]);
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).unwrap();
        assert_eq!(text, "{\"x\":1}\n{\"x\":2}\n");
    }

    #[tokio::test]
    async fn an_error_fails_every_entry() {
        let rule = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::InvalidRequest(InvalidRequest::builder().message("no such bucket").build()));
        let recs = records();
        let report = sink(&rule, false).send(SinkBatch { key: "k", records: &recs }, second()).await;
        assert_eq!(report.failed, vec![0, 1]);
        let error = report.last_error.unwrap();
        assert!(error.contains("s3://eddy-data/quarantine/k.ndjson"), "{error}");
        assert!(error.contains("no such bucket"), "{error}");
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_empty_batch_writes_no_object() {
        let (rule, puts) = recording_rule();
        let report = sink(&rule, true).send(SinkBatch { key: "k", records: &[] }, second()).await;
        assert!(report.is_ok());
        assert!(puts.lock().unwrap().is_empty());
        assert_eq!(rule.num_calls(), 0);
    }
}
