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
//!
//! Consecutive NDJSON lines are **packed** into one Firehose record, up to the
//! per-record limit ([`packs`]): Firehose bills every record as at least 5 KB
//! ([`FIREHOSE_BILLING_INCREMENT_BYTES`]), so a record per ~500-byte event would
//! be billed ten times its bytes. S3 gets the same bytes (Firehose concatenates
//! a delivery's records), and a pack Firehose rejects fails every line in it.

use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_firehose::error::DisplayErrorContext;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use super::retry::{rejected_positions, send_in_chunks, AttemptResult};
use super::{SendReport, Sink, SinkBatch, SinkRecord};
use crate::deadline::Deadline;
#[cfg(doc)]
use crate::limits::FIREHOSE_BILLING_INCREMENT_BYTES;
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
        let packs = packs(batch.records);
        let records: Vec<SinkRecord> = packs.iter().map(|p| packed(&batch.records[p.clone()])).collect();
        let report = send_in_chunks(
            FIREHOSE,
            &records,
            |r| r.data.len(),
            |_, size| FIREHOSE.check_record(size),
            deadline,
            |p| self.put(&records, p),
        )
        .await;
        let failed = report.failed.iter().filter_map(|&p| packs.get(p)).flat_map(Range::clone).collect();
        SendReport { failed, last_error: report.last_error }
    }
}

/// Groups consecutive entries into packs of at most the per-record limit (S3
/// gets the same bytes: Firehose concatenates records as they are); an entry
/// over the limit stands alone and fails alone.
pub fn packs(records: &[SinkRecord]) -> Vec<Range<usize>> {
    let mut packs: Vec<Range<usize>> = Vec::new();
    let mut bytes = 0;
    for (i, record) in records.iter().enumerate() {
        let size = record.data.len();
        match packs.last_mut() {
            Some(pack) if bytes + size <= FIREHOSE.max_record_bytes => {
                pack.end = i + 1;
                bytes += size;
            }
            _ => {
                packs.push(i..i + 1);
                bytes = size;
            }
        }
    }
    packs
}

/// One record of the entries' bytes, one after the other (no copy for one entry).
fn packed(entries: &[SinkRecord]) -> SinkRecord {
    match entries {
        [one] => one.clone(),
        _ => {
            let mut data = Vec::with_capacity(entries.iter().map(|e| e.data.len()).sum());
            entries.iter().for_each(|e| data.extend_from_slice(&e.data));
            SinkRecord::new(String::new(), data)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::limits::FIREHOSE_BILLING_INCREMENT_BYTES;
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

    /// Bytes of the entries of [`records`]: too big for two to share a pack,
    /// so each is a Firehose record of its own (six fill a request).
    const ALONE: usize = 600 * 1024;

    /// `n` lines `r0`, `r1`, ... padded to [`ALONE`] bytes.
    fn records(n: usize) -> Vec<SinkRecord> {
        (0..n).map(|i| SinkRecord::new(format!("k{i}"), padded(&format!("r{i}"), ALONE))).collect()
    }

    /// `label`, spaces, a newline: `size` bytes.
    fn padded(label: &str, size: usize) -> Vec<u8> {
        let mut line = label.as_bytes().to_vec();
        line.resize(size - 1, b' ');
        line.push(b'\n');
        line
    }

    /// The label a record of [`records`] starts with.
    fn label(data: &[u8]) -> String {
        String::from_utf8_lossy(data).split(' ').next().unwrap_or_default().to_string()
    }

    fn data_of(req: &PutRecordBatchInput) -> Vec<Vec<u8>> {
        req.records().iter().map(|r| r.data().as_ref().to_vec()).collect()
    }

    fn strings(requests: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
        requests.iter().map(|r| r.iter().map(|d| label(d)).collect()).collect()
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

    /// What Firehose bills for records of these sizes: each rounded up to 5 KB.
    fn billed_bytes(sizes: impl Iterator<Item = usize>) -> usize {
        sizes.map(|n| n.div_ceil(FIREHOSE_BILLING_INCREMENT_BYTES) * FIREHOSE_BILLING_INCREMENT_BYTES).sum()
    }

    #[tokio::test]
    async fn a_batch_of_small_lines_goes_as_one_record_billed_for_its_bytes() {
        let (rule, requests) = rule(|_, _| false);
        let recs: Vec<SinkRecord> = (0..1001).map(|i| SinkRecord::new("", padded(&format!("r{i}"), 300))).collect();
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report, SendReport::default());
        let requests = requests.lock().unwrap();
        let sent: Vec<&Vec<u8>> = requests.iter().flatten().collect();
        assert_eq!(sent.len(), 1, "one record of 1001 lines");
        let lines: Vec<u8> = recs.iter().flat_map(|r| r.data.to_vec()).collect();
        assert_eq!(sent[0], &lines, "the lines in order, as S3 will hold them");
        let one_per_line = billed_bytes(recs.iter().map(|r| r.data.len()));
        let packed = billed_bytes(sent.iter().map(|d| d.len()));
        assert!(packed * 15 < one_per_line, "billed {packed} bytes packed, {one_per_line} one line per record");
    }

    #[tokio::test(start_paused = true)]
    async fn packs_hold_at_most_1000_kib_and_a_rejected_pack_fails_each_of_its_lines() {
        // 400 KiB lines: two to a pack; the pack holding r3 is refused every time
        let (rule, requests) = rule(|_, d| String::from_utf8_lossy(d).contains("r3 "));
        let recs: Vec<SinkRecord> = (0..5).map(|i| SinkRecord::new("", padded(&format!("r{i}"), 400 * 1024))).collect();
        let report =
            sink(&rule).send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(2))).await;
        assert_eq!(report.failed, vec![2, 3], "both lines of the refused pack, by their index");
        let requests = requests.lock().unwrap();
        let first: Vec<usize> = requests[0].iter().map(Vec::len).collect();
        assert_eq!(first, vec![800 * 1024, 800 * 1024, 400 * 1024]);
        assert!(first.iter().all(|&n| n <= FIREHOSE.max_record_bytes));
        assert!(requests[1..].iter().all(|r| r.len() == 1 && label(&r[0]) == "r2"), "only the refused pack is retried");
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
        let (rule, requests) = rule(|call, d| call == 0 && (label(d) == "r1" || label(d) == "r3"));
        let recs = records(5);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert!(report.is_ok(), "{report:?}");
        // the rejection of the first attempt is kept for the logs
        assert_eq!(report.last_error.as_deref(), Some("2 entries failed in a successful response"));
        assert_eq!(strings(&requests.lock().unwrap()), vec![vec!["r0", "r1", "r2", "r3", "r4"], vec!["r1", "r3"]]);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_rejected_until_the_deadline_are_reported_by_index() {
        let (rule, requests) = rule(|_, d| label(d) == "r2" || label(d) == "r5");
        let recs = records(6);
        let started = tokio::time::Instant::now();
        let report =
            sink(&rule).send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(5))).await;
        assert_eq!(report.failed, vec![2, 5]);
        assert!(report.last_error.is_some());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let requests = strings(&requests.lock().unwrap());
        assert!(requests.len() > 2, "retried only {} times", requests.len());
        assert_eq!(requests[0].len(), 6);
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
        // 8 records, 6 to a request: the first request gets a request-level error; the second is not sent
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let rule = mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_response(move |req| {
            let data = data_of(req);
            seen.lock().unwrap().push(data.clone());
            if label(&data[0]) == "r0" {
                MockResponse::Error(PutRecordBatchError::ServiceUnavailableException(
                    ServiceUnavailableException::builder().message("try later").build(),
                ))
            } else {
                MockResponse::Output(respond(&data, 1, &|_, _| false))
            }
        });
        let recs = records(8);
        let report = sink(&rule).send(SinkBatch { key: "k", records: &recs }, minute()).await;
        assert_eq!(report.failed, (0..8).collect::<Vec<_>>());
        assert!(report.last_error.unwrap().contains("ServiceUnavailableException"));
        let sizes: Vec<usize> = requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![6]);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_still_rejected_at_the_deadline_stop_later_chunks() {
        // r0 is always rejected, so the first chunk retries it until the deadline
        let (rule, requests) = rule(|_, d| label(d) == "r0");
        let recs = records(8);
        let report =
            sink(&rule).send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(3))).await;
        assert_eq!(report.failed, vec![0, 6, 7]);
        let requests = strings(&requests.lock().unwrap());
        assert_eq!(requests[0].len(), 6);
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

    static ZEROS: [u8; 1_100_000] = [0; 1_100_000];

    proptest::proptest! {
        #[test]
        fn packs_take_every_entry_once_in_order_within_the_record_limit(
            sizes in proptest::collection::vec(proptest::prop_oneof![0usize..2_000, 0usize..1_100_000], 0..40)
        ) {
            let recs: Vec<SinkRecord> =
                sizes.iter().map(|&n| SinkRecord::new("", bytes::Bytes::from_static(&ZEROS[..n]))).collect();
            let packs = packs(&recs);
            let covered: Vec<usize> = packs.iter().cloned().flatten().collect();
            proptest::prop_assert_eq!(covered, (0..recs.len()).collect::<Vec<_>>());
            for (k, pack) in packs.iter().enumerate() {
                let bytes: usize = sizes[pack.clone()].iter().sum();
                proptest::prop_assert!(bytes <= FIREHOSE.max_record_bytes || pack.len() == 1, "{pack:?}: {bytes}");
                // a pack closes only when the next entry would not fit
                if let Some(next) = packs.get(k + 1) {
                    proptest::prop_assert!(bytes + sizes[next.start] > FIREHOSE.max_record_bytes, "{pack:?} then {next:?}");
                }
            }
        }
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
