//! The archive function through the real AWS SDK against the emulators: events
//! go to a Firehose delivery stream, land in S3, and are read back; the
//! quarantine lands in S3 too; failures of either sink come back to Lambda as
//! batch item failures, never as silent drops.
//!
//! Skipped (with a message) without emulators, unless `EDDY_EMULATORS=1` or `CI`
//! is set: see `eddy_tests::emulators`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy::archive::Archive;
use eddy::batch::{compare_sequence, BatchReport};
use eddy::config::{ArchiveConfig, QuarantineConfig};
use eddy::deadline::Deadline;
use eddy::decode::DecodeLimits;
use eddy::limits::FIREHOSE;
use eddy::sink::MemorySink;
use eddy_tests::{fixture, Env, DELIVERY_TIMEOUT};
use serde_json::Value;

const ARCHIVE_PREFIX: &str = "raw/";
const QUARANTINE_PREFIX: &str = "quarantine/";

/// A bucket and a delivery stream writing to it under `raw/`.
struct Stack {
    bucket: String,
    delivery_stream: String,
}

impl Stack {
    async fn create(env: &Env) -> Stack {
        let bucket = env.create_bucket("eddy-it").await.unwrap();
        let delivery_stream = env.create_delivery_stream("eddy-it", &bucket, ARCHIVE_PREFIX).await.unwrap();
        Stack { bucket, delivery_stream }
    }

    async fn delete(self, env: &Env) {
        env.delete_delivery_stream(&self.delivery_stream).await;
        env.delete_bucket(&self.bucket).await;
    }
}

fn config(delivery_stream: &str, quarantine_bucket: &str) -> ArchiveConfig {
    ArchiveConfig {
        delivery_stream: Some(delivery_stream.to_string()),
        quarantine: Some(QuarantineConfig { bucket: quarantine_bucket.to_string(), prefix: QUARANTINE_PREFIX.into() }),
        limits: DecodeLimits::default(),
    }
}

async fn run_with_aws(env: &Env, config: &ArchiveConfig, name: &str) -> BatchReport {
    let app = Archive::with_aws(config, &env.sdk).unwrap();
    app.run(&fixture(name).unwrap(), Deadline::after(Duration::from_secs(30))).await.unwrap()
}

/// What the same handler produces with in-memory sinks: the reference lines.
struct Reference {
    archive: Vec<String>,
    quarantine: Vec<String>,
}

async fn reference(name: &str) -> Reference {
    let archive = Arc::new(MemorySink::new("archive").with_limits(FIREHOSE));
    let quarantine = Arc::new(MemorySink::new("quarantine"));
    let app = Archive {
        archive: Box::new(archive.clone()),
        quarantine: Box::new(quarantine.clone()),
        limits: DecodeLimits::default(),
    };
    app.run(&fixture(name).unwrap(), Deadline::after(Duration::from_secs(30))).await.unwrap();
    let trim = |lines: Vec<String>| lines.into_iter().map(|l| l.trim_end().to_string()).collect();
    Reference { archive: trim(archive.lines()), quarantine: trim(quarantine.lines()) }
}

/// `events/expected.json`'s entry for a fixture.
fn expected(name: &str) -> Value {
    let all: Value = serde_json::from_slice(&fixture("expected.json").unwrap()).unwrap();
    all[name].clone()
}

fn count(want: &Value, field: &str) -> usize {
    want[field].as_u64().unwrap() as usize
}

fn parse(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// The sequence numbers of a fixture's records, as given in the event.
fn fixture_sequence_numbers(name: &str) -> Vec<String> {
    let event: Value = serde_json::from_slice(&fixture(name).unwrap()).unwrap();
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().into())
        .collect()
}

fn lowest(seqs: impl IntoIterator<Item = String>) -> String {
    seqs.into_iter().min_by(|a, b| compare_sequence(a, b)).unwrap()
}

/// Lines of one shard are in stream order: sequence numbers never go back, and
/// KPL user records of one parent keep their sub-sequence order.
fn assert_stream_order(name: &str, lines: &[Value]) {
    let mut by_shard: BTreeMap<&str, Vec<(&str, Option<u64>)>> = BTreeMap::new();
    for l in lines {
        by_shard
            .entry(l["shard_id"].as_str().unwrap())
            .or_default()
            .push((l["sequence_number"].as_str().unwrap(), l.get("subsequence_number").map(|s| s.as_u64().unwrap())));
    }
    for (shard, seqs) in by_shard {
        for pair in seqs.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let order = compare_sequence(a.0, b.0).then(a.1.cmp(&b.1));
            assert!(order.is_le(), "{name}: shard {shard} out of order: {a:?} before {b:?}");
        }
    }
}

/// Runs a fixture through Firehose and S3 and checks what arrives.
/// `None` when the emulators are not there (skipped).
async fn archive_fixture_through_the_emulators(name: &str) -> Option<Vec<Value>> {
    let env = eddy_tests::emulators().await?;
    let stack = Stack::create(&env).await;
    let want = expected(name);

    let started = Instant::now();
    let report = run_with_aws(&env, &config(&stack.delivery_stream, &stack.bucket), name).await;
    let handled = started.elapsed();

    // the response: nothing failed
    assert!(report.response.batch_item_failures.is_empty(), "{name}: {:?}", report.response);
    let c = &report.counts;
    assert_eq!(c.failed, 0, "{name}: {c:?}");
    assert_eq!(c.records, count(&want, "records"), "{name}: {c:?}");
    assert_eq!(c.delivered, count(&want, "events"), "{name}: {c:?}");
    assert_eq!(c.quarantined, count(&want, "quarantined"), "{name}: {c:?}");
    assert_eq!(c.dropped, count(&want, "control_messages"), "{name}: {c:?}");

    // the archive: exactly the expected lines, as the handler makes them with in-memory sinks
    let lines = env.wait_for_lines(&stack.bucket, ARCHIVE_PREFIX, c.delivered, DELIVERY_TIMEOUT).await.unwrap();
    let delivered = started.elapsed();
    let reference = reference(name).await;
    assert_eq!(lines.len(), count(&want, "events"), "{name}: {lines:#?}");
    assert_eq!(lines, reference.archive, "{name}: S3 holds other lines than the handler produced");
    let archived = parse(&lines);
    for line in &archived {
        assert!(line.get("data").is_some_and(|d| d.is_object() || d.is_string()), "{name}: {line}");
        assert!(line["sequence_number"].as_str().is_some_and(|s| s.len() >= 20), "{name}: {line}");
        assert!(line["shard_id"].as_str().is_some_and(|s| s.starts_with("shardId-")), "{name}: {line}");
    }
    assert_stream_order(name, &archived);

    // the quarantine: one line per quarantined record, with its reason
    let quarantined = env.wait_for_lines(&stack.bucket, QUARANTINE_PREFIX, c.quarantined, DELIVERY_TIMEOUT).await;
    let quarantined = quarantined.unwrap();
    assert_eq!(quarantined.len(), count(&want, "quarantined"), "{name}: {quarantined:#?}");
    assert_eq!(quarantined, reference.quarantine, "{name}");
    for q in parse(&quarantined) {
        assert!(q["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}: {q}");
        assert!(q["data_base64"].is_string() && q["sequence_number"].is_string(), "{name}: {q}");
    }
    eprintln!("{name}: handled in {handled:?}, archive and quarantine read back from S3 after {delivered:?}");
    stack.delete(&env).await;
    Some(archived)
}

#[tokio::test]
async fn given_a_mixed_batch_when_archived_through_firehose_then_s3_holds_its_11_events_and_2_quarantined() {
    let Some(archived) = archive_fixture_through_the_emulators("kinesis-mixed.json").await else { return };
    // one line per kind of record, in the fixture's order: JSON, NDJSON x3, text x2, KPL x2, logs x3
    let kinds: Vec<&str> = archived
        .iter()
        .map(|l| match (&l["data"], l.get("subsequence_number"), l.get("log_group")) {
            (_, _, Some(_)) => "log",
            (_, Some(_), _) => "kpl",
            (Value::String(_), _, _) => "text",
            _ => "json",
        })
        .collect();
    assert_eq!(kinds, ["json", "json", "json", "json", "text", "text", "kpl", "kpl", "log", "log", "log"]);
}

#[tokio::test]
async fn given_kpl_aggregates_when_archived_through_firehose_then_user_records_carry_subsequence_numbers() {
    let Some(archived) = archive_fixture_through_the_emulators("kinesis-kpl.json").await else { return };
    let subs: Vec<Option<u64>> =
        archived.iter().map(|l| l.get("subsequence_number").map(|s| s.as_u64().unwrap())).collect();
    assert_eq!(subs, [Some(0), Some(1), Some(2), None, Some(0), Some(1)]);
    // user records keep their own partition keys
    let keys: std::collections::BTreeSet<&str> =
        archived[..3].iter().map(|l| l["partition_key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 3, "{archived:#?}");
}

#[tokio::test]
async fn given_cloudwatch_logs_when_archived_through_firehose_then_log_events_carry_group_stream_and_time() {
    let Some(archived) = archive_fixture_through_the_emulators("kinesis-cwlogs.json").await else { return };
    assert!(archived.iter().all(|l| l["log_group"].is_string() && l["log_stream"].is_string()));
    assert!(archived.iter().all(|l| l["timestamp"].as_i64().is_some_and(|t| t > 1_600_000_000_000)));
    let flows = archived.iter().filter(|l| l["log_group"] == "vpc-flow-logs").count();
    assert_eq!(flows, 3);
}

#[tokio::test]
async fn given_a_delivery_stream_that_does_not_exist_when_archiving_then_every_record_comes_back_as_failed() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let bucket = env.create_bucket("eddy-it").await.unwrap();
    let missing = eddy_tests::unique_name("eddy-it-missing");
    let name = "kinesis-json.json";

    let report = run_with_aws(&env, &config(&missing, &bucket), name).await;

    let c = &report.counts;
    assert_eq!((c.records, c.items, c.failed, c.delivered), (3, 3, 3, 0), "{c:?}");
    let failures: Vec<Option<&str>> =
        report.response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref()).collect();
    let first = lowest(fixture_sequence_numbers(name));
    assert_eq!(failures, [Some(first.as_str())], "Lambda must retry from the lowest sequence number");
    env.delete_bucket(&bucket).await;
}

#[tokio::test]
async fn given_a_missing_delivery_stream_and_a_mixed_batch_then_the_quarantine_still_arrives_and_counts_add_up() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let bucket = env.create_bucket("eddy-it").await.unwrap();
    let missing = eddy_tests::unique_name("eddy-it-missing");
    let name = "kinesis-mixed.json";
    let want = expected(name);

    let report = run_with_aws(&env, &config(&missing, &bucket), name).await;

    let c = &report.counts;
    assert_eq!(c.delivered, 0, "{c:?}");
    assert_eq!(c.failed, count(&want, "events"), "every event failed: {c:?}");
    assert_eq!(c.quarantined, count(&want, "quarantined"), "{c:?}");
    assert_eq!(c.dropped, count(&want, "control_messages"), "{c:?}");
    assert_eq!(c.delivered + c.dropped + c.quarantined + c.failed, c.items, "outcomes add up: {c:?}");
    // the lowest record that had an event to archive is where Lambda must retry from
    let reference = reference(name).await;
    let first = lowest(parse(&reference.archive).iter().map(|l| l["sequence_number"].as_str().unwrap().to_string()));
    let failures: Vec<Option<&str>> =
        report.response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref()).collect();
    assert_eq!(failures, [Some(first.as_str())]);
    // what the report calls quarantined is in S3
    let quarantined = env.wait_for_lines(&bucket, QUARANTINE_PREFIX, c.quarantined, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(quarantined, reference.quarantine);
    env.delete_bucket(&bucket).await;
}

#[tokio::test]
async fn given_a_quarantine_bucket_that_does_not_exist_then_poison_records_are_reported_not_lost() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let stack = Stack::create(&env).await;
    let missing_bucket = eddy_tests::unique_name("eddy-it-missing");
    let name = "kinesis-mixed.json";
    let want = expected(name);

    let report = run_with_aws(&env, &config(&stack.delivery_stream, &missing_bucket), name).await;

    let c = &report.counts;
    assert_eq!(c.quarantined, 0, "nothing reached the quarantine: {c:?}");
    assert_eq!(c.failed, count(&want, "quarantined"), "{c:?}");
    assert_eq!(c.delivered, count(&want, "events"), "{c:?}");
    assert_eq!(c.delivered + c.dropped + c.quarantined + c.failed, c.items, "outcomes add up: {c:?}");
    let reference = reference(name).await;
    let first = lowest(parse(&reference.quarantine).iter().map(|l| l["sequence_number"].as_str().unwrap().to_string()));
    let failures: Vec<Option<&str>> =
        report.response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref()).collect();
    assert_eq!(failures, [Some(first.as_str())]);
    // the events did reach the archive
    let lines = env.wait_for_lines(&stack.bucket, ARCHIVE_PREFIX, c.delivered, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(lines, reference.archive);
    stack.delete(&env).await;
}
