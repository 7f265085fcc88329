//! `KinesisSink`: sends a batch to a Kinesis data stream with PutRecords.
//!
//! The batch is split into requests by [`KINESIS`]`.chunks` (500 records / 5 MiB),
//! an entry counting its data **plus** its partition key bytes
//! ([`kinesis_entry_bytes`]), as Kinesis does. Every record keeps its partition key.
//!
//! Chunks are sent **one after the other**, not concurrently: shards take
//! 1 MiB/s each, so parallel requests mostly buy throttling. Each chunk goes
//! through [`retry_failed_entries`](super::retry::retry_failed_entries): entries Kinesis rejects inside a successful
//! response (`ProvisionedThroughputExceededException`, `InternalFailure`) are
//! retried alone, with backoff, until the deadline is near; a request-level
//! error (already retried by the SDK) fails the chunk's entries.
//!
//! Once a chunk still has failed entries, or the deadline has passed, the later
//! chunks are not sent and their entries are reported failed too: Lambda
//! redelivers everything from the lowest failed record on, so sending them now
//! would only duplicate them.
//!
//! An entry Kinesis can never accept (over 1 MiB with its key, or a partition
//! key that is empty or over 256 characters) is reported failed without being
//! sent, so it cannot fail its neighbours' request.

use async_trait::async_trait;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::retry::{rejected_positions, send_in_chunks, AttemptResult};
use super::{SendReport, Sink, SinkBatch, SinkRecord};
use crate::deadline::Deadline;
use crate::limits::{ServiceLimits, KINESIS, KINESIS_MAX_PARTITION_KEY_CHARS};

/// The bytes Kinesis counts for one entry against its limits: data plus partition key.
pub fn kinesis_entry_bytes(record: &SinkRecord) -> usize {
    record.data.len() + record.partition_key.len()
}

/// Why Kinesis PutRecords would refuse a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutRefusal {
    /// The partition key is empty or longer than 256 characters (its length in characters).
    #[error("kinesis partition key of {0} characters; 1 to {KINESIS_MAX_PARTITION_KEY_CHARS} are allowed")]
    PartitionKey(usize),
    /// Data and key together are over 1 MiB.
    #[error("{0}")]
    TooLarge(String),
}

impl PutRefusal {
    /// A short name of the reason, for counting refusals.
    pub fn kind(&self) -> &'static str {
        match self {
            PutRefusal::PartitionKey(_) => "partition key not 1-256 characters",
            PutRefusal::TooLarge(_) => "over 1 MiB",
        }
    }
}

/// Says why Kinesis would refuse `partition_key` as a partition key (1 to 256 characters), if it would.
pub fn check_partition_key(partition_key: &str) -> Result<(), PutRefusal> {
    let key_chars = partition_key.chars().count();
    match key_chars {
        1..=KINESIS_MAX_PARTITION_KEY_CHARS => Ok(()),
        _ => Err(PutRefusal::PartitionKey(key_chars)),
    }
}

/// Says why Kinesis would refuse to put `data` under `partition_key`, if it
/// would: a key of 1 to 256 characters, at most 1 MiB of data and key together.
pub fn check_put(partition_key: &str, data: &[u8]) -> Result<(), PutRefusal> {
    check_partition_key(partition_key)?;
    KINESIS.check_record(data.len() + partition_key.len()).map_err(PutRefusal::TooLarge)
}

/// A sink putting each record into a Kinesis data stream.
#[derive(Debug, Clone)]
pub struct KinesisSink {
    client: aws_sdk_kinesis::Client,
    stream: String,
    name: String,
}

impl KinesisSink {
    /// A sink putting records into `stream`: a stream ARN when it starts with
    /// `arn:`, else a stream name. The sink is named after the stream (the part
    /// of an ARN after its last `/`); see [`KinesisSink::with_name`].
    pub fn new(client: aws_sdk_kinesis::Client, stream: impl Into<String>) -> Self {
        let stream = stream.into();
        let name = stream.rsplit('/').next().unwrap_or(&stream).to_string();
        Self { client, stream, name }
    }

    /// Renames the sink (for logs and outcome counters).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The stream name or ARN the records go to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Says why `record` can never be accepted by Kinesis, if it cannot.
    fn check(record: &SinkRecord) -> Result<(), String> {
        check_put(&record.partition_key, &record.data).map_err(|refusal| refusal.to_string())
    }

    /// One PutRecords of the entries at `pending` (indices into `records`);
    /// answers the positions (in `pending`) Kinesis rejected.
    async fn put(&self, records: &[SinkRecord], pending: Vec<usize>) -> AttemptResult {
        let entries = pending
            .iter()
            .map(|&i| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(records[i].data.clone()))
                    .partition_key(records[i].partition_key.to_string())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("kinesis: cannot build a record: {e}"))?;
        let request = self.client.put_records().set_records(Some(entries));
        let request = if self.stream.starts_with("arn:") {
            request.stream_arn(&self.stream)
        } else {
            request.stream_name(&self.stream)
        };
        let output = request
            .send()
            .await
            .map_err(|e| format!("kinesis PutRecords to {}: {}", self.stream, DisplayErrorContext(&e)))?;
        let results = output.records();
        let failed = rejected_positions(results.iter().map(|r| r.error_code().is_some()), pending.len());
        if let Some(first) = results.iter().find(|r| r.error_code().is_some()) {
            tracing::warn!(
                sink = %self.name,
                stream = %self.stream,
                failed = failed.len(),
                sent = pending.len(),
                error_code = first.error_code().unwrap_or_default(),
                error_message = first.error_message().unwrap_or_default(),
                "kinesis rejected entries"
            );
        }
        Ok(failed)
    }
}

#[async_trait]
impl Sink for KinesisSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Option<ServiceLimits> {
        Some(KINESIS)
    }

    async fn send(&self, batch: SinkBatch<'_>, deadline: Deadline) -> SendReport {
        let records = batch.records;
        send_in_chunks(KINESIS, records, kinesis_entry_bytes, |r, _| Self::check(r), deadline, |p| self.put(records, p))
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsInput, PutRecordsOutput};
    use aws_sdk_kinesis::types::error::ProvisionedThroughputExceededException;
    use aws_sdk_kinesis::types::PutRecordsResultEntry;
    use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};

    /// What one request held: the stream name, the stream ARN, and (key, data) per entry.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Sent {
        name: Option<String>,
        arn: Option<String>,
        entries: Vec<(String, String)>,
    }

    type Requests = Arc<Mutex<Vec<Sent>>>;

    fn records(n: usize) -> Vec<SinkRecord> {
        (0..n).map(|i| SinkRecord::new(format!("user-{}", i % 3), format!("r{i}").into_bytes())).collect()
    }

    fn sent(req: &PutRecordsInput) -> Sent {
        Sent {
            name: req.stream_name().map(str::to_string),
            arn: req.stream_arn().map(str::to_string),
            entries: req
                .records()
                .iter()
                .map(|r| {
                    (
                        r.partition_key().unwrap_or_default().to_string(),
                        String::from_utf8_lossy(r.data().as_ref()).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// A 200 response for `req`, rejecting the entries `reject(call, data)` says.
    fn respond(req: &Sent, call: usize, reject: &dyn Fn(usize, &str) -> bool) -> PutRecordsOutput {
        let mut failed = 0;
        let mut builder = PutRecordsOutput::builder();
        for (i, (_, data)) in req.entries.iter().enumerate() {
            let entry = if reject(call, data) {
                failed += 1;
                PutRecordsResultEntry::builder()
                    .error_code("ProvisionedThroughputExceededException")
                    .error_message("Rate exceeded for shard shardId-000000000001")
                    .build()
            } else {
                PutRecordsResultEntry::builder()
                    .shard_id("shardId-000000000000")
                    .sequence_number(format!("4954{call:04}{i:04}"))
                    .build()
            };
            builder = builder.records(entry);
        }
        builder.failed_record_count(failed).build().unwrap()
    }

    fn rule(reject: impl Fn(usize, &str) -> bool + Send + Sync + 'static) -> (Rule, Requests) {
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |req| {
            let req = sent(req);
            let mut seen = seen.lock().unwrap();
            let call = seen.len();
            seen.push(req.clone());
            respond(&req, call, &reject)
        });
        (rule, requests)
    }

    fn sink(rule: &Rule, stream: &str) -> KinesisSink {
        KinesisSink::new(mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [rule]), stream)
    }

    fn minute() -> Deadline {
        Deadline::after(Duration::from_secs(60))
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, d)| (k.to_string(), d.to_string())).collect()
    }

    #[test]
    fn entry_bytes_count_data_and_partition_key() {
        let r = SinkRecord::new("héllo", vec![0; 10]);
        assert_eq!(kinesis_entry_bytes(&r), 16);
    }

    #[test]
    fn names_limits_and_stream() {
        let (rule, _) = rule(|_, _| false);
        let s = sink(&rule, "enriched");
        assert_eq!(s.name(), "enriched");
        assert_eq!(s.limits(), Some(KINESIS));
        let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/alerts";
        let s = sink(&rule, arn);
        assert_eq!((s.name(), s.stream()), ("alerts", arn));
        assert_eq!(s.with_name("out").name(), "out");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_rejected_entries_and_keeps_their_partition_keys() {
        // first call: r1 and r4 are rejected (FailedRecordCount = 2); then everything succeeds
        let (rule, requests) = rule(|call, d| call == 0 && (d == "r1" || d == "r4"));
        let recs = records(5);
        let report = sink(&rule, "enriched").send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok(), "{report:?}");
        // the rejection of the first attempt is kept for the logs
        assert_eq!(report.last_error.as_deref(), Some("2 entries failed in a successful response"));
        let requests = requests.lock().unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            requests[0].entries,
            pairs(&[("user-0", "r0"), ("user-1", "r1"), ("user-2", "r2"), ("user-0", "r3"), ("user-1", "r4"),])
        );
        assert_eq!(requests[1].entries, pairs(&[("user-1", "r1"), ("user-1", "r4")]));
        for r in requests.iter() {
            assert_eq!((r.name.as_deref(), r.arn.as_deref()), (Some("enriched"), None));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_rejected_until_the_deadline_are_reported_by_index() {
        let (rule, requests) = rule(|_, d| d == "r0" || d == "r3");
        let recs = records(6);
        let started = tokio::time::Instant::now();
        let report = sink(&rule, "enriched")
            .send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(4)))
            .await;
        assert_eq!(report.failed, vec![0, 3]);
        assert!(started.elapsed() < Duration::from_secs(4));
        let requests = requests.lock().unwrap();
        assert!(requests.len() > 2);
        for retry in &requests[1..] {
            assert_eq!(retry.entries, pairs(&[("user-0", "r0"), ("user-0", "r3")]));
        }
    }

    #[tokio::test]
    async fn an_arn_is_sent_as_stream_arn() {
        let (rule, requests) = rule(|_, _| false);
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/alerts";
        let recs = records(2);
        let report = sink(&rule, arn).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok());
        let requests = requests.lock().unwrap();
        assert_eq!(requests[0].arn.as_deref(), Some(arn));
        assert_eq!(requests[0].name, None);
    }

    #[tokio::test]
    async fn chunks_count_partition_key_bytes() {
        // six entries whose data alone (5,242,878 bytes) fits the 5 MiB request
        // limit, but whose data plus keys (6 x 2 bytes more) does not.
        let (rule, requests) = rule(|_, _| false);
        let recs: Vec<SinkRecord> =
            (0..6).map(|i| SinkRecord::new(format!("k{i}"), vec![b'a' + i as u8; 873_813])).collect();
        assert!(recs.iter().map(|r| r.data.len()).sum::<usize>() <= KINESIS.max_request_bytes);
        assert!(recs.iter().map(kinesis_entry_bytes).sum::<usize>() > KINESIS.max_request_bytes);
        let report = sink(&rule, "enriched").send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok(), "{report:?}");
        let requests = requests.lock().unwrap();
        let keys: Vec<Vec<&str>> =
            requests.iter().map(|r| r.entries.iter().map(|(k, _)| k.as_str()).collect()).collect();
        assert_eq!(keys, vec![vec!["k0", "k1", "k2", "k3", "k4"], vec!["k5"]]);
    }

    #[tokio::test]
    async fn splits_1001_records_into_500_500_1() {
        let (rule, requests) = rule(|_, _| false);
        let recs = records(1001);
        let report = sink(&rule, "enriched").send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok());
        let sizes: Vec<usize> = requests.lock().unwrap().iter().map(|r| r.entries.len()).collect();
        assert_eq!(sizes, vec![500, 500, 1]);
    }

    #[tokio::test]
    async fn entries_kinesis_can_never_accept_fail_unsent() {
        let (rule, requests) = rule(|_, _| false);
        let mut recs = records(4);
        recs[1].partition_key = Default::default();
        recs[2].partition_key = "k".repeat(KINESIS_MAX_PARTITION_KEY_CHARS + 1).into();
        recs[3].data = vec![b'x'; KINESIS.max_record_bytes - recs[3].partition_key.len() + 1].into();
        let report = sink(&rule, "enriched").send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report.failed, vec![1, 2, 3]);
        let requests = requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].entries, pairs(&[("user-0", "r0")]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_error_fails_the_chunk_without_a_sink_retry() {
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_response(move |req| {
            seen.lock().unwrap().push(sent(req));
            MockResponse::<PutRecordsOutput, _>::Error(PutRecordsError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder().message("Rate exceeded").build(),
            ))
        });
        let recs = records(3);
        let report = sink(&rule, "enriched").send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report.failed, vec![0, 1, 2]);
        let error = report.last_error.unwrap();
        assert!(error.contains("ProvisionedThroughputExceeded"), "{error}");
        assert_eq!(requests.lock().unwrap().len(), 1);
    }
}
