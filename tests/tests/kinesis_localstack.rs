//! `KinesisSink` through the real AWS SDK against the emulators: what it sends
//! can be read back from the stream, with partition keys and in order; a stream
//! that does not exist fails every entry instead of dropping them.
//!
//! Skipped (with a message) without emulators, unless `EDDY_EMULATORS=1` or `CI`
//! is set: see `eddy_tests::emulators`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::sink::{KinesisSink, Sink, SinkBatch, SinkRecord};

fn records(n: usize) -> Vec<SinkRecord> {
    (0..n).map(|i| SinkRecord::new(format!("user-{}", i % 3), format!("{{\"n\":{i}}}\n").into_bytes())).collect()
}

#[tokio::test]
async fn given_a_stream_when_the_sink_sends_records_then_they_are_read_back_in_order_with_their_keys() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let stream = env.create_kinesis_stream("eddy-it", 1).await.unwrap();
    let sent = records(7);

    let sink = KinesisSink::new(eddy::aws::kinesis_client(&env.sdk), &stream);
    let report = sink.send(SinkBatch { key: "k", records: &sent }, Deadline::after(Duration::from_secs(30))).await;

    assert!(report.is_ok(), "{report:?}");
    let got = env.read_stream(&stream, sent.len(), Duration::from_secs(30)).await.unwrap();
    let got: Vec<(String, Vec<u8>)> = got.into_iter().map(|(_, key, data)| (key, data)).collect();
    let want: Vec<(String, Vec<u8>)> = sent.into_iter().map(|r| (r.partition_key.into(), r.data.into())).collect();
    assert_eq!(got, want);
    env.delete_kinesis_stream(&stream).await;
}

#[tokio::test]
async fn given_a_stream_that_does_not_exist_when_the_sink_sends_then_every_entry_is_reported_failed() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let missing = eddy_tests::unique_name("eddy-it-missing");
    let sent = records(4);

    let sink = KinesisSink::new(eddy::aws::kinesis_client(&env.sdk), &missing);
    let report = sink.send(SinkBatch { key: "k", records: &sent }, Deadline::after(Duration::from_secs(30))).await;

    assert_eq!(report.failed, [0, 1, 2, 3]);
    let error = report.last_error.unwrap();
    assert!(error.contains("ResourceNotFound"), "{error}");
}
