//! Batch driver semantics: which sequence number is reported, KPL parents,
//! never an empty identifier, outcomes that add up, limits quarantined.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use eddy::archive::Archive;
use eddy::batch::BatchReport;
use eddy::deadline::Deadline;
use eddy::decode::kpl;
use eddy::decode::DecodeLimits;
use eddy::limits::FIREHOSE;
use eddy::sink::MemorySink;
use serde_json::{json, Value};

const SEQ: [&str; 4] = [
    "49590338271490256608559692538361571095921575989136588801",
    "49590338271490256608559692538361571095921575989136588802",
    "49590338271490256608559692538361571095921575989136588803",
    "49590338271490256608559692538361571095921575989136588804",
];

fn b64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

fn event(records: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let records: Vec<Value> = records
        .iter()
        .map(|(seq, data)| {
            json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "pk", "sequenceNumber": seq,
                            "data": b64(data), "approximateArrivalTimestamp": 1732500000.5},
                "eventSource": "aws:kinesis", "eventID": format!("shardId-000000000007:{seq}"),
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/raw", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

struct Setup {
    archive: Arc<MemorySink>,
    quarantine: Arc<MemorySink>,
    app: Archive,
}

fn setup() -> Setup {
    let archive = Arc::new(MemorySink::new("archive").with_limits(FIREHOSE));
    let quarantine = Arc::new(MemorySink::new("quarantine"));
    let app = Archive {
        archive: Box::new(archive.clone()),
        quarantine: Box::new(quarantine.clone()),
        limits: DecodeLimits::default(),
    };
    Setup { archive, quarantine, app }
}

async fn run(s: &Setup, payload: &[u8]) -> BatchReport {
    s.app.run(payload, Deadline::after(Duration::from_secs(5))).await.unwrap()
}

fn reported(r: &BatchReport) -> Vec<String> {
    r.response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect()
}

fn assert_adds_up(r: &BatchReport) {
    let c = &r.counts;
    assert_eq!(c.delivered + c.dropped + c.quarantined + c.failed, c.items, "{c:?}");
}

#[tokio::test]
async fn given_two_failed_records_when_answering_then_the_lowest_sequence_is_reported() {
    let s = setup();
    s.archive.fail_containing(b"\"n\":3", 1);
    s.archive.fail_containing(b"\"n\":1", 1);
    let payload = event(&[
        (SEQ[0], br#"{"n":0}"#.to_vec()),
        (SEQ[1], br#"{"n":1}"#.to_vec()),
        (SEQ[2], br#"{"n":2}"#.to_vec()),
        (SEQ[3], br#"{"n":3}"#.to_vec()),
    ]);
    let r = run(&s, &payload).await;
    assert_eq!(reported(&r), vec![SEQ[1].to_string()]);
    assert_eq!(r.counts.failed, 2);
    assert_eq!(r.counts.delivered, 2);
    assert_adds_up(&r);
}

#[tokio::test]
async fn given_records_out_of_order_then_the_numerically_lowest_is_reported() {
    let s = setup();
    s.archive.fail_containing(b"fail", 2);
    // a shorter sequence number is a smaller number, whatever its digits say
    let payload = event(&[("9", br#"{"fail":1}"#.to_vec()), ("10", br#"{"fail":2}"#.to_vec())]);
    assert_eq!(reported(&run(&s, &payload).await), vec!["9".to_string()]);
}

#[tokio::test]
async fn given_a_failed_kpl_user_record_then_its_parent_sequence_is_reported() {
    let s = setup();
    let agg = kpl::aggregate(&[
        ("a".into(), br#"{"u":0}"#.to_vec()),
        ("b".into(), br#"{"u":1}"#.to_vec()),
        ("c".into(), br#"{"u":2}"#.to_vec()),
    ]);
    s.archive.fail_containing(b"\"u\":1", 1);
    let payload = event(&[(SEQ[0], br#"{"n":0}"#.to_vec()), (SEQ[1], agg), (SEQ[2], br#"{"n":2}"#.to_vec())]);
    let r = run(&s, &payload).await;
    assert_eq!(reported(&r), vec![SEQ[1].to_string()]);
    // all three user records of the failed parent count as failed: the parent is retried whole
    assert_eq!(r.counts.failed, 3);
    assert_adds_up(&r);
}

#[tokio::test]
async fn given_a_failed_record_without_sequence_number_then_the_invocation_fails_instead_of_reporting_empty() {
    let s = setup();
    s.archive.fail_containing(b"x", 1);
    let payload = event(&[("", br#"{"x":1}"#.to_vec())]);
    let err = s.app.run(&payload, Deadline::after(Duration::from_secs(5))).await.unwrap_err();
    assert!(err.to_string().contains("no sequence number"), "{err}");
}

#[tokio::test]
async fn given_poison_records_then_they_are_quarantined_not_reported() {
    let s = setup();
    let payload = event(&[(SEQ[0], b"{\"a\":".to_vec()), (SEQ[1], vec![]), (SEQ[2], br#"{"ok":true}"#.to_vec())]);
    let r = run(&s, &payload).await;
    assert!(r.response.batch_item_failures.is_empty());
    assert_eq!(r.counts.quarantined, 2);
    assert_eq!(s.quarantine.count(), 2);
    assert_eq!(s.archive.count(), 1);
}

#[tokio::test]
async fn given_the_quarantine_fails_then_the_poison_record_is_reported_for_retry() {
    let s = setup();
    s.quarantine.fail_containing(b"empty record", 1);
    let payload = event(&[(SEQ[0], br#"{"ok":1}"#.to_vec()), (SEQ[1], vec![]), (SEQ[2], br#"{"ok":2}"#.to_vec())]);
    let r = run(&s, &payload).await;
    assert_eq!(reported(&r), vec![SEQ[1].to_string()]);
    assert_eq!(r.counts.failed, 1);
    assert_adds_up(&r);
}

#[tokio::test]
async fn given_an_event_over_the_firehose_record_limit_then_it_is_quarantined_with_the_limit() {
    let s = setup();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(FIREHOSE.max_record_bytes));
    let payload = event(&[(SEQ[0], big.into_bytes()), (SEQ[1], br#"{"ok":1}"#.to_vec())]);
    let r = run(&s, &payload).await;
    assert_eq!(r.counts.quarantined, 1);
    assert_eq!(r.counts.delivered, 1);
    let reason: Value = serde_json::from_str(&s.quarantine.lines()[0]).unwrap();
    assert!(reason["reason"].as_str().unwrap().contains("firehose limit"), "{reason}");
}

#[tokio::test]
async fn given_invalid_base64_then_the_record_is_quarantined() {
    let s = setup();
    let mut payload: Value = serde_json::from_slice(&event(&[(SEQ[0], b"{}".to_vec())])).unwrap();
    payload["Records"][0]["kinesis"]["data"] = json!("not base64 at all!");
    let r = run(&s, &serde_json::to_vec(&payload).unwrap()).await;
    assert_eq!(r.counts.quarantined, 1);
    assert!(s.quarantine.lines()[0].contains("not valid base64"));
}

#[tokio::test]
async fn given_a_payload_that_is_not_a_kinesis_event_then_a_clear_error() {
    let s = setup();
    let err = s.app.run(b"[1,2", Deadline::after(Duration::from_secs(1))).await.unwrap_err();
    assert!(err.to_string().starts_with("invalid Kinesis event"), "{err}");
}

#[tokio::test]
async fn object_sinks_get_a_key_from_the_function_hour_shard_and_first_sequence() {
    let s = setup();
    run(&s, &event(&[(SEQ[0], b"".to_vec())])).await;
    assert_eq!(s.quarantine.keys(), vec![format!("archive/2024/11/25/02/shardId-000000000007-{}", SEQ[0])]);
}

#[tokio::test]
async fn given_an_envelope_broken_after_good_records_when_run_then_the_event_fails_and_nothing_is_sent() {
    // records are decoded as the envelope reader reaches them: a break further
    // on must still fail the whole event before any sink is called
    let s = setup();
    let whole = event(&[(SEQ[0], br#"{"n":0}"#.to_vec()), (SEQ[1], br#"{"n":1}"#.to_vec())]);
    let second = whole.windows(SEQ[1].len()).position(|w| w == SEQ[1].as_bytes()).unwrap();
    let broken = &whole[..second + 5]; // cut inside the second record's sequence number

    let err = s.app.run(broken, Deadline::after(Duration::from_secs(5))).await.unwrap_err();

    assert!(err.to_string().contains("at byte"), "the error says where: {err}");
    assert_eq!(s.archive.count(), 0, "nothing archived from a rejected event");
    assert_eq!(s.quarantine.count(), 0);
    let fine = run(&s, &whole).await;
    assert_eq!((fine.counts.records, fine.counts.delivered), (2, 2));
}

#[tokio::test]
async fn given_outputs_larger_than_the_drivers_buffer_chunks_then_every_line_arrives_whole_and_in_order() {
    let s = setup();
    // 300 KB events between small ones: the outputs cross several 1 MiB chunks
    let sizes = [10usize, 300_000, 20, 300_000, 300_000, 5, 300_000, 700_000, 1, 300_000];
    let bodies: Vec<Value> = sizes.iter().enumerate().map(|(i, &n)| json!({"n": i, "pad": "y".repeat(n)})).collect();
    let records: Vec<(&str, Vec<u8>)> =
        bodies.iter().zip(SEQ.iter().cycle()).map(|(b, seq)| (*seq, serde_json::to_vec(b).unwrap())).collect();
    let r = run(&s, &event(&records)).await;
    assert_eq!(r.counts.delivered, sizes.len());
    let lines = s.archive.lines();
    assert_eq!(lines.len(), bodies.len());
    for (i, (line, body)) in lines.iter().zip(&bodies).enumerate() {
        let archived: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i} is not JSON: {e}"));
        assert!(archived["data"] == *body, "line {i} differs from event {i}");
    }
}
