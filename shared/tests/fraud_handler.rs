//! The detect handler with the in-memory state twin and in-memory sinks:
//! alerts and outcome counts; state carried between invocations, one load per
//! batch, TTL on every write; and the failure paths: an alert that cannot be
//! sent, a key that cannot be read or written, write conflicts, replays and
//! concurrent invocations. The replay tests redeliver from the reported
//! record as Lambda does and check the final state equals a clean run's:
//! every event applied exactly once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::fraud::processor::{ALREADY_APPLIED, NO_FINDING};
use eddy::fraud::state::{Key, KeyState, Profile};
use eddy::fraud::{Detect, DetectConfig, DetectReport, MemoryUserState};
use eddy::limits::KINESIS;
use eddy::sink::MemorySink;
use eddy::workload::{kinesis_event, sequence_number, TestRecord};
use serde_json::{json, Value};

const NOW_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const SHARD: &str = "shardId-000000000000";
const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/enriched";

struct Rig {
    detect: Detect,
    state: Arc<MemoryUserState>,
    alerts: Arc<MemorySink>,
}

fn rig(config: DetectConfig) -> Rig {
    let state = Arc::new(MemoryUserState::new());
    let alerts = Arc::new(MemorySink::new("alerts").with_limits(KINESIS));
    let detect = Detect {
        config,
        state: Box::new(state.clone()),
        alerts: Box::new(alerts.clone()),
        quarantine: Box::new(MemorySink::new("quarantine")),
    };
    Rig { detect, state, alerts }
}

fn time(second: i64) -> String {
    chrono::DateTime::from_timestamp(1_732_496_400 + second, 0).unwrap().to_rfc3339()
}

fn login(id: &str, user: &str, second: i64, outcome: &str, city: (&str, f64, f64)) -> Value {
    json!({"id": id, "kind": "login", "source": "web-login", "time": time(second), "user": user,
           "ip": "198.51.100.7", "device_id": "dev-1", "outcome": outcome,
           "location": {"country": "XX", "city": city.0, "lat": city.1, "lon": city.2}})
}

fn spend(id: &str, card: &str, second: i64, amount: f64) -> Value {
    json!({"id": id, "kind": "transaction", "source": "card-processor", "time": time(second), "user": "u-card",
           "card_id": card, "amount": amount})
}

const NYC: (&str, f64, f64) = ("New York", 40.7128, -74.006);
const LONDON: (&str, f64, f64) = ("London", 51.5074, -0.1278);

/// Records from `events`, one event each, keyed by their user (or card).
fn records(events: &[Value]) -> Vec<TestRecord> {
    events
        .iter()
        .map(|e| TestRecord {
            partition_key: e["user"].as_str().unwrap_or("k").to_string(),
            data: e.to_string().into_bytes(),
        })
        .collect()
}

/// The Lambda event of `records[from..]`, with the sequence numbers they had in the whole batch.
fn batch(records: &[TestRecord], from: usize) -> Vec<u8> {
    kinesis_event(&records[from..], SHARD, ARN, from as u64, 1_732_496_400.0)
}

fn minute() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

async fn run(rig: &Rig, payload: &[u8]) -> DetectReport {
    rig.detect.run(payload, minute(), NOW_MS).await.unwrap()
}

/// Runs `records` as one batch, then redelivers from each reported failure (as
/// Lambda does) until none is reported; returns the reports.
async fn run_until_done(rig: &Rig, records: &[TestRecord]) -> Vec<DetectReport> {
    let mut reports = Vec::new();
    let mut from = 0;
    loop {
        let report = run(rig, &batch(records, from)).await;
        let failure = report.batch.response.batch_item_failures.first().map(|f| f.item_identifier.clone());
        reports.push(report);
        let Some(Some(seq)) = failure else { return reports };
        from = (0..records.len()).find(|&i| sequence_number(i as u64) == seq).unwrap();
        assert!(reports.len() < 10, "no progress");
    }
}

fn alerted(rig: &Rig) -> Vec<(String, Vec<String>)> {
    rig.alerts
        .lines()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let detectors = v["alert"]["detectors"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().into());
            (v["id"].as_str().unwrap().to_string(), detectors.collect())
        })
        .collect()
}

fn state_of(rig: &Rig, key: &Key) -> KeyState {
    rig.state.get(key).unwrap().state
}

fn user(id: &str) -> Key {
    Key::User(id.into())
}

/// A mixed batch: a user travelling too fast, a brute-forced user, a card burst, and noise.
fn mixed() -> Vec<Value> {
    let mut events = vec![
        login("a1", "u-a", 0, "success", NYC),
        json!({"id": "n1", "kind": "page_view", "user": "u-a", "time": time(1)}),
        login("b1", "u-b", 2, "failure", NYC),
        login("b2", "u-b", 3, "failure", NYC),
        login("a2", "u-a", 300, "success", LONDON),
        login("b3", "u-b", 301, "failure", NYC),
        login("b4", "u-b", 302, "failure", NYC),
        login("b5", "u-b", 303, "failure", NYC),
    ];
    for i in 0..7 {
        events.push(spend(&format!("c{i}"), "card-1", 400 + i, 25.0));
    }
    events
}

#[tokio::test]
async fn given_a_mixed_batch_when_handled_then_each_detector_alerts_once_and_the_counts_add_up() {
    let rig = rig(DetectConfig::default());

    let report = run(&rig, &batch(&records(&mixed()), 0)).await;

    assert_eq!(
        alerted(&rig),
        [
            ("a2".to_string(), vec!["impossible-travel".to_string()]),
            ("b5".to_string(), vec!["brute-force".to_string()]),
            ("c5".to_string(), vec!["card-velocity".to_string()]),
        ]
    );
    let c = &report.batch.counts;
    assert!(c.adds_up(), "{c:?}");
    assert_eq!((c.records, c.delivered, c.dropped, c.quarantined, c.failed), (15, 3, 12, 0, 0));
    assert_eq!(c.dropped_by_reason["not a login or transaction"], 1);
    assert_eq!(c.dropped_by_reason[NO_FINDING], 11);
    assert!(report.batch.response.batch_item_failures.is_empty());
    assert_eq!(report.findings.values().sum::<usize>(), 3);
    // one load for the whole batch: users a and b, the IP of b's failures, the card
    let calls = rig.state.calls();
    assert_eq!((calls.loads, calls.keys_loaded, calls.saves), (1, 4, 4));
    assert_eq!(rig.state.get(&user("u-a")).unwrap().version, 1);
    let ttl = rig.state.expires_at(&Key::Card("card-1".into())).unwrap();
    assert_eq!(ttl, NOW_MS / 1000 + 90 * 86_400);
    // the alert is the event with `alert` added last
    let line: Value = serde_json::from_str(&rig.alerts.lines()[0]).unwrap();
    assert_eq!(line["location"]["city"], "London");
    assert_eq!(line["alert"]["findings"][0]["evidence"]["from"]["city"], "New York");
    assert_eq!(line["alert"]["severity"], "critical");
}

#[tokio::test]
async fn given_state_from_an_earlier_invocation_when_the_next_login_comes_then_it_is_judged_against_it() {
    let rig = rig(DetectConfig::default());
    run(&rig, &batch(&records(&[login("a1", "u-a", 0, "success", NYC)]), 0)).await;

    let next = kinesis_event(&records(&[login("a2", "u-a", 300, "success", LONDON)]), SHARD, ARN, 1, 0.0);
    let second = run(&rig, &next).await;

    assert_eq!(second.batch.counts.delivered, 1);
    assert_eq!(alerted(&rig), [("a2".to_string(), vec!["impossible-travel".to_string()])]);
    assert_eq!(rig.state.get(&user("u-a")).unwrap().version, 2);
}

#[tokio::test]
async fn given_a_batch_already_applied_when_it_is_delivered_again_then_nothing_is_applied_or_alerted_twice() {
    let rig = rig(DetectConfig::default());
    let recs = records(&mixed());
    run(&rig, &batch(&recs, 0)).await;
    let before = state_of(&rig, &user("u-b"));

    let again = run(&rig, &batch(&recs, 0)).await;

    assert_eq!(again.batch.counts.delivered, 0);
    assert_eq!(again.batch.counts.dropped_by_reason[ALREADY_APPLIED], 14);
    assert_eq!(rig.alerts.count(), 3);
    assert_eq!(state_of(&rig, &user("u-b")), before);
    assert_eq!(rig.state.calls().saves, 4, "nothing new to write");
}

/// The state of every key of `events` after a clean run.
async fn clean_states(events: &[Value]) -> Vec<(Key, KeyState)> {
    let rig = rig(DetectConfig::default());
    run(&rig, &batch(&records(events), 0)).await;
    let keys = [user("u-a"), user("u-b"), Key::Ip("198.51.100.7".into()), Key::Card("card-1".into())];
    keys.into_iter().map(|k| (k.clone(), state_of(&rig, &k))).collect()
}

async fn assert_same_states(rig: &Rig, events: &[Value]) {
    for (key, clean) in clean_states(events).await {
        assert_eq!(state_of(rig, &key), clean, "{key:?}");
    }
}

#[tokio::test]
async fn given_an_alert_that_cannot_be_sent_when_handled_then_its_record_is_retried_and_nothing_is_lost_or_doubled() {
    let rig = rig(DetectConfig::default());
    rig.alerts.fail_containing(b"\"id\":\"b5\"", 1);
    let events = mixed();

    let reports = run_until_done(&rig, &records(&events)).await;

    let first = &reports[0];
    let failure = first.batch.response.batch_item_failures[0].item_identifier.clone();
    assert_eq!(failure.as_deref(), Some(sequence_number(7).as_str()), "b5 is record 7");
    assert!(first.batch.counts.adds_up() && first.batch.counts.failed == 1);
    assert_eq!(reports.len(), 2);
    let ids: Vec<String> = alerted(&rig).into_iter().map(|(id, _)| id).collect();
    // c5 was sent in the first attempt and again on the redelivery: at least once
    assert_eq!(ids, ["a2", "c5", "b5", "c5"]);
    assert_same_states(&rig, &events).await;
}

#[tokio::test]
async fn given_a_key_that_cannot_be_read_when_handled_then_its_records_fail_and_a_retry_applies_them_once() {
    let rig = rig(DetectConfig::default());
    rig.state.make_unavailable(&user("u-b"));
    let events = mixed();
    let recs = records(&events);

    let first = run(&rig, &batch(&recs, 0)).await;

    assert_eq!(first.keys_unavailable, 1);
    let c = &first.batch.counts;
    assert!(c.adds_up(), "{c:?}");
    assert_eq!(c.failed, 5, "u-b's five records");
    let failure = first.batch.response.batch_item_failures[0].item_identifier.clone();
    assert_eq!(failure.as_deref(), Some(sequence_number(2).as_str()));
    // nothing from the first failed record on was written: u-a kept only a1
    let Profile::User(a) = state_of(&rig, &user("u-a")).profile else { panic!() };
    assert_eq!(a.logins, 1);

    rig.state.heal();
    run(&rig, &batch(&recs, 2)).await;
    assert_same_states(&rig, &events).await;
}

#[tokio::test]
async fn given_a_key_whose_write_fails_when_handled_then_its_records_fail_and_the_other_keys_skip_them_on_replay() {
    let rig = rig(DetectConfig::default());
    rig.state.fail_saves(&Key::Card("card-1".into()), 1);
    let events = mixed();

    let reports = run_until_done(&rig, &records(&events)).await;

    let first = &reports[0];
    assert_eq!(first.writes.failed.len(), 1);
    assert_eq!(first.batch.counts.failed, 7, "the card's seven records");
    let second = &reports[1];
    assert_eq!(second.batch.counts.dropped_by_reason.get(ALREADY_APPLIED), None, "only card records redelivered");
    assert_eq!(second.writes.written, 1);
    assert_same_states(&rig, &events).await;
    assert_eq!(alerted(&rig).iter().filter(|(id, _)| id == "c5").count(), 2, "alerted again on the replay");
}

#[tokio::test]
async fn given_another_writer_when_a_write_conflicts_then_the_key_is_read_again_and_the_events_reapplied() {
    let rig = rig(DetectConfig::default());
    rig.state.interfere(&user("u-b"), 2);

    let report = run(&rig, &batch(&records(&mixed()), 0)).await;

    assert_eq!((report.writes.conflicts, report.writes.written), (2, 4));
    assert!(report.batch.response.batch_item_failures.is_empty());
    assert_eq!(rig.state.get(&user("u-b")).unwrap().version, 3, "two foreign writes, then ours");
    let Profile::User(b) = state_of(&rig, &user("u-b")).profile else { panic!() };
    assert_eq!(b.failures.len(), 3, "the failures of the last minute, applied once");
}

#[tokio::test]
async fn given_conflicts_beyond_the_retries_when_handled_then_the_records_of_that_key_fail() {
    let config = DetectConfig { conflict_retries: 2, ..DetectConfig::default() };
    let rig = rig(config);
    rig.state.interfere(&user("u-a"), 10);

    let report = run(&rig, &batch(&records(&mixed()), 0)).await;

    assert_eq!(report.writes.conflicts, 3);
    assert_eq!(report.batch.counts.failed, 2, "a1 and a2");
    let failure = report.batch.response.batch_item_failures[0].item_identifier.clone();
    assert_eq!(failure.as_deref(), Some(sequence_number(0).as_str()));
}

#[tokio::test]
async fn given_two_concurrent_invocations_on_one_user_when_both_write_then_no_update_is_lost() {
    let rig = rig(DetectConfig::default());
    let first: Vec<Value> = (0..4).map(|i| login(&format!("x{i}"), "u-x", i, "success", NYC)).collect();
    let second: Vec<Value> = (0..3).map(|i| login(&format!("y{i}"), "u-x", 10 + i, "success", NYC)).collect();
    let (a, b) = (batch(&records(&first), 0), kinesis_event(&records(&second), "shardId-000000000001", ARN, 0, 0.0));

    let (ra, rb) = tokio::join!(run(&rig, &a), run(&rig, &b));

    assert!(ra.batch.response.batch_item_failures.is_empty() && rb.batch.response.batch_item_failures.is_empty());
    assert!(ra.writes.conflicts + rb.writes.conflicts >= 1, "both read version 0: one write conflicts");
    let stored = rig.state.get(&user("u-x")).unwrap();
    assert_eq!(stored.version, 2);
    let Profile::User(x) = stored.state.profile else { panic!() };
    assert_eq!(x.logins, 7);
    assert_eq!(stored.state.applied.len(), 7);
}

#[tokio::test]
async fn given_a_damaged_state_when_its_key_comes_then_it_starts_afresh_and_is_overwritten() {
    let rig = rig(DetectConfig::default());
    rig.state.put_bytes(&user("u-a"), 4, vec![1, 200, 7]);

    let report = run(&rig, &batch(&records(&[login("a1", "u-a", 0, "success", NYC)]), 0)).await;

    assert_eq!(report.batch.counts.dropped, 1);
    let stored = rig.state.get(&user("u-a")).unwrap();
    assert_eq!(stored.version, 5);
    let Profile::User(a) = stored.state.profile else { panic!() };
    assert_eq!(a.logins, 1);
}
