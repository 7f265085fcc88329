//! The archive handler on every fixture in `events/`, with in-memory sinks:
//! the outcome counts match `events/expected.json`, and the lines say what
//! DESIGN.md's decoding rules say they must.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use eddy::archive::Archive;
use eddy::batch::BatchReport;
use eddy::deadline::Deadline;
use eddy::decode::DecodeLimits;
use eddy::limits::FIREHOSE;
use eddy::sink::MemorySink;
use serde_json::Value;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(name)).unwrap()
}

struct Run {
    report: BatchReport,
    archive: Vec<Value>,
    quarantine: Vec<Value>,
}

async fn run(name: &str) -> Run {
    let archive = std::sync::Arc::new(MemorySink::new("archive").with_limits(FIREHOSE));
    let quarantine = std::sync::Arc::new(MemorySink::new("quarantine"));
    let app = Archive {
        archive: Box::new(archive.clone()),
        quarantine: Box::new(quarantine.clone()),
        limits: DecodeLimits::default(),
    };
    let report = app.run(&fixture(name), Deadline::after(Duration::from_secs(30))).await.unwrap();
    let parse = |lines: Vec<String>| lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
    Run { report, archive: parse(archive.lines()), quarantine: parse(quarantine.lines()) }
}

#[tokio::test]
async fn every_fixture_decodes_to_its_expected_counts() {
    let expected: Value = serde_json::from_slice(&fixture("expected.json")).unwrap();
    let expected = expected.as_object().unwrap();
    let on_disk: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("kinesis-") && n.ends_with(".json"))
        .collect();
    for name in &on_disk {
        assert!(expected.contains_key(name), "{name} has no entry in expected.json");
    }
    for (name, want) in expected {
        let got = run(name).await;
        let c = &got.report.counts;
        assert_eq!(c.records as u64, want["records"].as_u64().unwrap(), "{name}: records");
        assert_eq!(c.delivered as u64, want["events"].as_u64().unwrap(), "{name}: events");
        assert_eq!(c.quarantined as u64, want["quarantined"].as_u64().unwrap(), "{name}: quarantined");
        assert_eq!(c.dropped as u64, want["control_messages"].as_u64().unwrap(), "{name}: control messages");
        assert_eq!(c.failed, 0, "{name}");
        assert_eq!(c.delivered + c.dropped + c.quarantined + c.failed, c.items, "{name}: outcomes add up");
        assert_eq!(got.archive.len(), c.delivered, "{name}: one archive line per event");
        assert_eq!(got.quarantine.len(), c.quarantined, "{name}: one quarantine line per quarantined unit");
        assert!(got.report.response.batch_item_failures.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn json_events_are_archived_as_objects_with_their_coordinates() {
    let got = run("kinesis-json.json").await;
    let line = &got.archive[0];
    assert!(line["data"].is_object(), "JSON is never archived as text: {line}");
    assert_eq!(line["data"]["kind"], "access");
    assert_eq!(line["shard_id"], "shardId-000000000000");
    assert!(line["sequence_number"].as_str().unwrap().len() >= 20);
    assert!(line["approximate_arrival"].as_f64().unwrap() > 1.6e9);
    assert!(line["partition_key"].is_string());
    assert!(line.get("subsequence_number").is_none());
    // stream order is kept
    let seqs: Vec<&str> = got.archive.iter().map(|l| l["sequence_number"].as_str().unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort_by(|a, b| eddy::batch::compare_sequence(a, b));
    assert_eq!(seqs, sorted);
}

#[tokio::test]
async fn ndjson_and_arrays_give_one_line_per_object() {
    let got = run("kinesis-ndjson.json").await;
    assert_eq!(got.archive.len(), 5);
    assert!(got.archive.iter().all(|l| l["data"].is_object()));
    let first_seq = &got.archive[0]["sequence_number"];
    assert_eq!(got.archive.iter().filter(|l| &l["sequence_number"] == first_seq).count(), 3);
}

#[tokio::test]
async fn text_lines_are_archived_as_strings() {
    let got = run("kinesis-text.json").await;
    assert_eq!(got.archive.len(), 2);
    assert!(got.archive.iter().all(|l| l["data"].is_string() && !l["data"].as_str().unwrap().is_empty()));
}

#[tokio::test]
async fn kpl_user_records_keep_their_keys_and_subsequence_numbers() {
    let got = run("kinesis-kpl.json").await;
    let kpl: Vec<&Value> = got.archive.iter().filter(|l| l.get("subsequence_number").is_some()).collect();
    assert_eq!(kpl.len(), 5);
    let first: Vec<(&str, u64)> = kpl[..3]
        .iter()
        .map(|l| (l["partition_key"].as_str().unwrap(), l["subsequence_number"].as_u64().unwrap()))
        .collect();
    assert_eq!(first.iter().map(|(_, s)| *s).collect::<Vec<_>>(), vec![0, 1, 2]);
    let keys: std::collections::BTreeSet<&str> = first.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys.len(), 3, "distinct user partition keys: {first:?}");
    // user records of one aggregate share the parent's sequence number
    assert!(kpl[..3].iter().all(|l| l["sequence_number"] == kpl[0]["sequence_number"]));
    assert!(kpl.iter().all(|l| l["data"].is_object()));
}

#[tokio::test]
async fn corrupt_kpl_containers_are_quarantined_whole_with_the_reason() {
    let got = run("kinesis-kpl-corrupt.json").await;
    let reasons: Vec<&str> = got.quarantine.iter().map(|q| q["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0].contains("MD5 mismatch"), "{reasons:?}");
    assert!(reasons[1].contains("too short"), "{reasons:?}");
    assert!(got.quarantine.iter().all(|q| q["data_base64"].as_str().unwrap().len() > 4));
}

#[tokio::test]
async fn cloudwatch_logs_become_log_events_and_control_messages_are_counted() {
    let got = run("kinesis-cwlogs.json").await;
    assert_eq!(got.report.counts.dropped_by_reason.get(eddy::batch::CONTROL_MESSAGE), Some(&1));
    let app: Vec<&Value> = got.archive.iter().filter(|l| l["log_group"] == "/aws/lambda/checkout").collect();
    assert_eq!(app.len(), 3);
    assert_eq!(app.iter().filter(|l| l["data"].is_object()).count(), 1);
    assert_eq!(app.iter().filter(|l| l["data"].is_string()).count(), 2);
    assert!(app.iter().all(|l| l["timestamp"].as_i64().unwrap() > 1_600_000_000_000 && l["log_stream"].is_string()));
    let flows: Vec<&Value> = got.archive.iter().filter(|l| l["log_group"] == "vpc-flow-logs").collect();
    assert_eq!(flows.len(), 3);
    let actions: Vec<&Value> = flows.iter().map(|l| &l["data"]["action"]).collect();
    assert!(actions.contains(&&Value::from("ACCEPT")) && actions.contains(&&Value::from("REJECT")));
    assert!(flows.iter().any(|l| l["data"]["srcaddr"].is_null() && l["data"]["log_status"] == "NODATA"));
    assert!(flows.iter().any(|l| l["data"]["dstport"].is_u64()));
}

#[tokio::test]
async fn each_poison_record_is_quarantined_with_its_own_reason() {
    let got = run("kinesis-malformed.json").await;
    let reasons: Vec<String> = got.quarantine.iter().map(|q| q["reason"].as_str().unwrap().to_string()).collect();
    let want = [
        "empty record",
        "invalid JSON: EOF while parsing",
        "not UTF-8",
        "JSON nested deeper than 64 levels",
        "corrupt gzip",
        "decompressed size exceeds the limit of 8388608 bytes",
        "JSON value 1 is not an object",
    ];
    assert_eq!(reasons.len(), want.len(), "{reasons:?}");
    for (got, want) in reasons.iter().zip(want) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
    assert!(reasons[1].contains("line 1 column"), "{}", reasons[1]);
    // the bad record's raw bytes survive, beside its coordinates
    let not_utf8 = &got.quarantine[2];
    assert_eq!(not_utf8["data_base64"], "//5B");
    assert!(not_utf8["sequence_number"].is_string() && not_utf8["shard_id"].is_string());
    // the good records around them go on
    assert_eq!(got.archive.len(), 2);
}

#[tokio::test]
async fn a_mixed_batch_archives_the_good_and_quarantines_the_bad() {
    let got = run("kinesis-mixed.json").await;
    assert_eq!(got.archive.len(), 11);
    assert_eq!(got.quarantine.len(), 2);
}

#[tokio::test]
async fn tumbling_window_events_are_kinesis_events_to_the_archive() {
    for name in ["kinesis-window.json", "kinesis-window-final.json"] {
        let got = run(name).await;
        assert_eq!(got.archive.len(), 4, "{name}");
    }
}
