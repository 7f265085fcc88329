//! `FirehoseSink`: sends a batch to a Firehose delivery stream with PutRecordBatch.
//!
//! The batch is split into requests by [`FIREHOSE`]`.chunks` (500 records / 4 MiB;
//! an entry counts its data bytes). Chunks are sent **one after the other**, not
//! concurrently: a Lambda batch is at most a few dozen requests and the stream's
//! throughput quota is shared anyway. Each chunk goes through
//! [`retry_failed_entries`](super::retry::retry_failed_entries): entries Firehose rejects inside a successful
//! response are retried alone, with backoff, until the deadline is near; a
//! request-level error (already retried by the SDK) fails the chunk's entries.
//!
//! Once a chunk still has failed entries, or the deadline has passed, the later
//! chunks are not sent and their entries are reported failed too: Lambda
//! redelivers everything from the lowest failed record on, so sending them now
//! would only duplicate them, and the invocation is out of time or the service
//! is refusing work.
//!
//! An entry over the per-record limit (the batch driver should have quarantined
//! it) is reported failed without being sent, so it cannot fail its neighbours'
//! request.

use async_trait::async_trait;
use aws_sdk_firehose::error::DisplayErrorContext;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use super::retry::{rejected_positions, send_in_chunks, AttemptResult};
use super::{SendReport, Sink, SinkBatch, SinkRecord};
use crate::deadline::Deadline;
use crate::limits::{ServiceLimits, FIREHOSE};

/// A sink writing each record to a Firehose delivery stream.
#[derive(Debug, Clone)]
pub struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    delivery_stream: String,
    name: String,
}

impl FirehoseSink {
    /// A sink named `archive` putting records into `delivery_stream` (its name).
    pub fn new(client: aws_sdk_firehose::Client, delivery_stream: impl Into<String>) -> Self {
        Self { client, delivery_stream: delivery_stream.into(), name: "archive".to_string() }
    }

    /// Renames the sink (for logs and outcome counters).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The delivery stream the records go to.
    pub fn delivery_stream(&self) -> &str {
        &self.delivery_stream
    }

    /// One PutRecordBatch of the entries at `pending` (indices into `records`);
    /// answers the positions (in `pending`) Firehose rejected.
    async fn put(&self, records: &[SinkRecord], pending: Vec<usize>) -> AttemptResult {
        let entries = pending
            .iter()
            .map(|&i| Record::builder().data(Blob::new(records[i].data.clone())).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("firehose: cannot build a record: {e}"))?;
        let output = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.delivery_stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| format!("firehose PutRecordBatch to {}: {}", self.delivery_stream, DisplayErrorContext(&e)))?;
        let responses = output.request_responses();
        let failed = rejected_positions(responses.iter().map(|r| r.error_code().is_some()), pending.len());
        if let Some(first) = responses.iter().find(|r| r.error_code().is_some()) {
            tracing::warn!(
                sink = %self.name,
                delivery_stream = %self.delivery_stream,
                failed = failed.len(),
                sent = pending.len(),
                error_code = first.error_code().unwrap_or_default(),
                error_message = first.error_message().unwrap_or_default(),
                "firehose rejected entries"
            );
        }
        Ok(failed)
    }
}

#[async_trait]
impl Sink for FirehoseSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Option<ServiceLimits> {
        Some(FIREHOSE)
    }

    async fn send(&self, batch: SinkBatch<'_>, deadline: Deadline) -> SendReport {
        let records = batch.records;
        send_in_chunks(
            FIREHOSE,
            records,
            |r| r.data.len(),
            |_, size| FIREHOSE.check_record(size),
            deadline,
            |p| self.put(records, p),
        )
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_sdk_firehose::operation::put_record_batch::{
        PutRecordBatchError, PutRecordBatchInput, PutRecordBatchOutput,
    };
    use aws_sdk_firehose::types::error::ServiceUnavailableException;
    use aws_sdk_firehose::types::PutRecordBatchResponseEntry;
    use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};

    /// The data of every record of every request, in the order sent.
    type Requests = Arc<Mutex<Vec<Vec<Vec<u8>>>>>;

    fn records(n: usize) -> Vec<SinkRecord> {
        (0..n).map(|i| SinkRecord::new(format!("k{i}"), format!("r{i}").into_bytes())).collect()
    }

    fn data_of(req: &PutRecordBatchInput) -> Vec<Vec<u8>> {
        req.records().iter().map(|r| r.data().as_ref().to_vec()).collect()
    }

    fn strings(requests: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
        requests.iter().map(|r| r.iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect()).collect()
    }

    /// A 200 response for `data`, rejecting the entries `reject(call, data)` says.
    fn respond(data: &[Vec<u8>], call: usize, reject: &dyn Fn(usize, &[u8]) -> bool) -> PutRecordBatchOutput {
        let mut failed = 0;
        let mut builder = PutRecordBatchOutput::builder();
        for (i, d) in data.iter().enumerate() {
            let entry = if reject(call, d) {
                failed += 1;
                PutRecordBatchResponseEntry::builder()
                    .error_code("ServiceUnavailableException")
                    .error_message("Slow down.")
                    .build()
            } else {
                PutRecordBatchResponseEntry::builder().record_id(format!("id-{call}-{i}")).build()
            };
            builder = builder.request_responses(entry);
        }
        builder.failed_put_count(failed).build().unwrap()
    }

    /// A rule answering every PutRecordBatch with `reject`, recording the requests.
    fn rule(reject: impl Fn(usize, &[u8]) -> bool + Send + Sync + 'static) -> (Rule, Requests) {
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let rule = mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_output(move |req| {
            assert_eq!(req.delivery_stream_name(), Some("raw-archive"));
            let data = data_of(req);
            let mut seen = seen.lock().unwrap();
            let call = seen.len();
            seen.push(data.clone());
            respond(&data, call, &reject)
        });
        (rule, requests)
    }

    fn sink(rule: &Rule) -> FirehoseSink {
        FirehoseSink::new(mock_client!(aws_sdk_firehose, RuleMode::MatchAny, [rule]), "raw-archive")
    }

    fn minute() -> Deadline {
        Deadline::after(Duration::from_secs(60))
    }

    #[test]
    fn defaults_and_limits() {
        let (rule, _) = rule(|_, _| false);
        let s = sink(&rule);
        assert_eq!(s.name(), "archive");
        assert_eq!(s.delivery_stream(), "raw-archive");
        assert_eq!(s.limits(), Some(FIREHOSE));
        assert_eq!(s.with_name("copy").name(), "copy");
    }

    #[test]
    fn missing_response_entries_count_as_rejected() {
        assert_eq!(rejected_positions([false, true, false].into_iter(), 3), vec![1]);
        assert_eq!(rejected_positions([false, true].into_iter(), 4), vec![1, 2, 3]);
        assert_eq!(rejected_positions([true, false, true].into_iter(), 2), vec![0]);
    }

    #[tokio::test]
    async fn splits_1001_records_into_500_500_1_in_order() {
        let (rule, requests) = rule(|_, _| false);
        let recs = records(1001);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report, SendReport::default());
        let requests = requests.lock().unwrap();
        let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500, 500, 1]);
        let sent: Vec<Vec<u8>> = requests.iter().flatten().cloned().collect();
        let expected: Vec<Vec<u8>> = recs.iter().map(|r| r.data.to_vec()).collect();
        assert_eq!(sent, expected);
    }

    #[tokio::test]
    async fn splits_a_chunk_at_the_4_mib_request_limit() {
        let (rule, requests) = rule(|_, _| false);
        // five records of exactly the 1,000 KiB per-record limit: four fit in 4 MiB, the fifth does not
        let recs: Vec<SinkRecord> =
            (0..5u8).map(|i| SinkRecord::new(String::new(), vec![b'a' + i; FIREHOSE.max_record_bytes])).collect();
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok(), "{report:?}");
        let requests = requests.lock().unwrap();
        let shape: Vec<(usize, usize)> = requests.iter().map(|r| (r.len(), r.iter().map(Vec::len).sum())).collect();
        assert_eq!(shape, vec![(4, 4 * 1_024_000), (1, 1_024_000)]);
        // the first request is as full as the limit allows: one more record would not fit
        assert!(shape[0].1 <= FIREHOSE.max_request_bytes);
        assert!(shape[0].1 + shape[1].1 > FIREHOSE.max_request_bytes);
        assert_eq!(requests[1][0][0], b'e');
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_the_entries_rejected_in_a_200_response() {
        // first call: r1 and r3 are rejected (FailedPutCount = 2); then everything succeeds
        let (rule, requests) = rule(|call, d| call == 0 && (d == b"r1" || d == b"r3"));
        let recs = records(5);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok(), "{report:?}");
        // the rejection of the first attempt is kept for the logs
        assert_eq!(report.last_error.as_deref(), Some("2 entries failed in a successful response"));
        assert_eq!(strings(&requests.lock().unwrap()), vec![vec!["r0", "r1", "r2", "r3", "r4"], vec!["r1", "r3"]]);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_rejected_until_the_deadline_are_reported_by_index() {
        let (rule, requests) = rule(|_, d| d == b"r2" || d == b"r5");
        let recs = records(8);
        let started = tokio::time::Instant::now();
        let report =
            sink(&rule).send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(5))).await;
        assert_eq!(report.failed, vec![2, 5]);
        assert!(report.last_error.is_some());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let requests = strings(&requests.lock().unwrap());
        assert!(requests.len() > 2, "retried only {} times", requests.len());
        assert_eq!(requests[0].len(), 8);
        for retry in &requests[1..] {
            assert_eq!(retry, &vec!["r2", "r5"]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_error_fails_the_chunk_without_a_sink_retry() {
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let rule = mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_response(move |req| {
            seen.lock().unwrap().push(data_of(req));
            MockResponse::<PutRecordBatchOutput, _>::Error(PutRecordBatchError::ServiceUnavailableException(
                ServiceUnavailableException::builder().message("try later").build(),
            ))
        });
        let recs = records(7);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report.failed, (0..7).collect::<Vec<_>>());
        let error = report.last_error.unwrap();
        assert!(error.contains("ServiceUnavailableException"), "{error}");
        assert!(error.contains("raw-archive"), "{error}");
        assert_eq!(requests.lock().unwrap().len(), 1, "the sink retried a request-level error");
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_chunk_fails_later_chunks_are_reported_unsent() {
        // 501 records: the first chunk gets a request-level error; the second is not sent
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let rule = mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_response(move |req| {
            let data = data_of(req);
            seen.lock().unwrap().push(data.clone());
            if data[0] == b"r0" {
                MockResponse::Error(PutRecordBatchError::ServiceUnavailableException(
                    ServiceUnavailableException::builder().message("try later").build(),
                ))
            } else {
                MockResponse::Output(respond(&data, 1, &|_, _| false))
            }
        });
        let recs = records(501);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report.failed, (0..501).collect::<Vec<_>>());
        assert!(report.last_error.unwrap().contains("ServiceUnavailableException"));
        let sizes: Vec<usize> = requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500]);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_still_rejected_at_the_deadline_stop_later_chunks() {
        // r0 is always rejected, so the first chunk retries it until the deadline
        let (rule, requests) = rule(|_, d| d == b"r0");
        let recs = records(501);
        let report =
            sink(&rule).send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(3))).await;
        assert_eq!(report.failed, vec![0, 500]);
        let requests = strings(&requests.lock().unwrap());
        assert_eq!(requests[0].len(), 500);
        assert!(requests.len() > 1);
        assert!(requests[1..].iter().all(|r| r == &vec!["r0"]), "{:?}", &requests[1..]);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_sent_once_the_deadline_has_passed() {
        let (rule, requests) = rule(|_, _| false);
        let recs = records(3);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::ZERO)).await;
        assert_eq!(report.failed, vec![0, 1, 2]);
        assert!(report.last_error.unwrap().contains("deadline"));
        assert!(requests.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_oversized_entry_fails_unsent_and_its_neighbours_arrive() {
        let (rule, requests) = rule(|_, _| false);
        let mut recs = records(3);
        recs[1].data = vec![b'x'; FIREHOSE.max_record_bytes + 1].into();
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report.failed, vec![1]);
        assert!(report.last_error.unwrap().contains("exceeds"));
        let sent: Vec<String> = strings(&requests.lock().unwrap()).concat();
        assert_eq!(sent, vec!["r0", "r2"]);
    }

    #[tokio::test]
    async fn an_empty_batch_sends_nothing() {
        let (rule, requests) = rule(|_, _| false);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &[] }, minute()).await;
        assert!(report.is_ok());
        assert!(requests.lock().unwrap().is_empty());
        assert_eq!(rule.num_calls(), 0);
    }
}
