//! The aggregate handler on tumbling-window events (`events/kinesis-window*.json`
//! and `events/aggregate-*.json`), with in-memory sinks: state carried between
//! invocations, the report on the final invoke, late events, partial failures.
//!
//! The `aggregate-*.json` fixtures are generated here: `EDDY_REGEN_FIXTURES=1
//! cargo test -p eddy --test aggregate_handler` rewrites them; otherwise a test
//! checks the files match what this code generates.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::limits::{KINESIS, LAMBDA_STATE_MAX_BYTES};
use eddy::sink::MemorySink;
use eddy::window::state::STATE_KEY;
use eddy::window::workload::{window_event, WindowSpec};
use eddy::window::{Aggregate, AggregateConfig, AggregateError, AggregateSinks, Plan, WindowOutcome, WindowState};
use eddy::workload::{sequence_number, TestRecord};
use serde_json::{json, Value};

/// 2024-11-25T01:00:00Z
const START: i64 = 1_732_496_400_000;
const FIVE_MIN: i64 = 300_000;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(name)).unwrap()
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30))
}

struct Sinks {
    reports: Arc<MemorySink>,
    stream: Arc<MemorySink>,
    late: Arc<MemorySink>,
    quarantine: Arc<MemorySink>,
}

impl Sinks {
    fn report(&self) -> Vec<Value> {
        self.reports.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

fn app_with(config: AggregateConfig) -> (Aggregate, Sinks) {
    let sinks = Sinks {
        reports: Arc::new(MemorySink::new("reports")),
        stream: Arc::new(MemorySink::new("reports-stream").with_limits(KINESIS)),
        late: Arc::new(MemorySink::new("late")),
        quarantine: Arc::new(MemorySink::new("quarantine")),
    };
    let app = Aggregate::new(
        config,
        AggregateSinks {
            reports: Box::new(sinks.reports.clone()),
            stream: Some(Box::new(sinks.stream.clone())),
            late: Box::new(sinks.late.clone()),
            quarantine: Box::new(sinks.quarantine.clone()),
        },
    );
    (app, sinks)
}

fn app() -> (Aggregate, Sinks) {
    app_with(AggregateConfig::default())
}

/// Replaces the event's carried state (and optionally its records).
fn carry(payload: &[u8], state: &BTreeMap<String, String>, records: Option<std::ops::Range<usize>>) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(payload).unwrap();
    v["state"] = json!(state);
    if let Some(range) = records {
        let all = v["Records"].as_array().unwrap().clone();
        v["Records"] = Value::Array(all[range].to_vec());
    }
    serde_json::to_vec(&v).unwrap()
}

/// The group lines of a report, as (bucket, key, count).
fn groups(report: &[Value]) -> Vec<(Value, Value, u64)> {
    report
        .iter()
        .filter(|l| l["type"] == "group")
        .map(|l| (l["bucket"].clone(), l["key"].clone(), l["count"].as_u64().unwrap()))
        .collect()
}

fn decode(outcome_state: &BTreeMap<String, String>, config: &AggregateConfig, start: i64) -> WindowState {
    let plan = Plan::new(config);
    WindowState::decode(&outcome_state[STATE_KEY], plan.shape(), plan.fingerprint(), start, start + FIVE_MIN).unwrap()
}

// ---------------------------------------------------------------------------
// The fixtures, generated
// ---------------------------------------------------------------------------

fn access(source: &str, status: u16, latency: u32, user: &str, path: &str, time: Option<&str>) -> TestRecord {
    let mut v = json!({
        "kind": "access", "source": source, "user": user,
        "http": {"method": "GET", "path": path, "status": status, "latency_ms": latency},
    });
    if let Some(t) = time {
        v["time"] = json!(t);
    }
    TestRecord { partition_key: user.to_string(), data: serde_json::to_vec(&v).unwrap() }
}

fn call(caller: &str, callee: &str, latency: u32, status: Value, level: &str, time: &str) -> TestRecord {
    let v = json!({
        "kind": "log", "source": format!("svc-{caller}"), "time": time, "level": level,
        "caller": caller, "callee": callee, "latency_ms": latency, "status": status,
        "msg": format!("{caller} -> {callee}"),
    });
    TestRecord { partition_key: caller.to_string(), data: serde_json::to_vec(&v).unwrap() }
}

/// 8 records in window 01:00-01:05: 5 access events (one without a time), 2
/// older than the allowed lateness, 1 plain text line.
fn late_records() -> Vec<TestRecord> {
    vec![
        access("svc-checkout", 200, 120, "u-1", "/cart", Some("2024-11-25T01:01:05Z")),
        access("svc-checkout", 200, 80, "u-2", "/cart", Some("2024-11-25T01:01:20Z")),
        access("svc-checkout", 503, 900, "u-1", "/pay", Some("2024-11-25T01:02:10Z")),
        access("svc-checkout", 200, 95, "u-9", "/cart", Some("2024-11-25T00:50:00Z")),
        TestRecord { partition_key: "text".into(), data: b"GET /health 200".to_vec() },
        access("svc-search", 404, 15, "u-3", "/q", Some("2024-11-25T01:03:59Z")),
        access("svc-search", 200, 40, "u-8", "/q", Some("2024-11-25T00:58:30Z")),
        access("svc-search", 200, 30, "u-3", "/q", None),
    ]
}

/// 4 records closing window 01:00-01:05, one of them late but within the allowed lateness.
fn final_records() -> Vec<TestRecord> {
    vec![
        access("svc-checkout", 200, 100, "u-4", "/cart", Some("2024-11-25T01:04:00Z")),
        access("svc-checkout", 500, 1500, "u-5", "/pay", Some("2024-11-25T01:04:30Z")),
        access("svc-search", 200, 20, "u-3", "/q", Some("2024-11-25T01:04:45Z")),
        access("svc-search", 200, 25, "u-6", "/q", Some("2024-11-25T00:59:30Z")),
    ]
}

/// Service-to-service calls logged by a mesh, window 02:00-02:05 on shard 1.
fn flow_records() -> Vec<TestRecord> {
    let t = |s: u32| format!("2024-11-25T02:01:{s:02}.000Z");
    vec![
        call("web", "auth", 12, json!(200), "INFO", &t(1)),
        call("web", "auth", 15, json!(200), "INFO", &t(2)),
        call("web", "auth", 11, json!(200), "INFO", &t(3)),
        call("web", "auth", 250, json!(503), "WARN", &t(4)),
        call("web", "cart", 30, json!(200), "INFO", &t(5)),
        call("web", "cart", 35, json!(200), "ERROR", &t(6)),
        call("web", "cart", 40, json!(200), "INFO", &t(7)),
        call("cart", "payments", 180, json!(200), "INFO", &t(8)),
        call("cart", "payments", 220, json!("timeout"), "INFO", &t(9)),
        TestRecord {
            partition_key: "web".into(),
            data: br#"{"kind":"log","source":"svc-web","time":"2024-11-25T02:01:10Z","level":"WARN","msg":"slow upstream"}"#
                .to_vec(),
        },
    ]
}

const ARRIVAL_LATE: f64 = 1_732_496_460.0; // 01:01:00
const ARRIVAL_FINAL: f64 = 1_732_496_690.0; // 01:04:50

fn late_spec() -> WindowSpec {
    WindowSpec::new(START, START + FIVE_MIN)
}

async fn generated() -> Vec<(&'static str, Vec<u8>)> {
    let late = window_event(&late_records(), 100, ARRIVAL_LATE, &late_spec());
    let (app, _) = app();
    let state = app.handle(&late, deadline()).await.unwrap().state;
    let final_with_state = window_event(&final_records(), 200, ARRIVAL_FINAL, &late_spec().last().carrying(state));
    let mut flow_spec = WindowSpec::new(START + 3_600_000, START + 3_600_000 + FIVE_MIN).last();
    flow_spec.shard_id = "shardId-000000000001".into();
    let flow = window_event(&flow_records(), 300, 1_732_500_075.0, &flow_spec);
    let pretty = |bytes: Vec<u8>| {
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let mut out = serde_json::to_vec_pretty(&v).unwrap();
        out.push(b'\n');
        out
    };
    vec![
        ("aggregate-late.json", pretty(late)),
        ("aggregate-final-with-state.json", pretty(final_with_state)),
        ("aggregate-flow.json", pretty(flow)),
    ]
}

/// The state map values hold a HyperLogLog's in-memory tag: compare states by content.
fn same_fixture(name: &str, on_disk: &[u8], generated: &[u8]) {
    let mut a: Value = serde_json::from_slice(on_disk).unwrap();
    let mut b: Value = serde_json::from_slice(generated).unwrap();
    let (sa, sb) = (a["state"].take(), b["state"].take());
    assert_eq!(
        a, b,
        "{name} is not what the generator makes: EDDY_REGEN_FIXTURES=1 cargo test -p eddy --test aggregate_handler"
    );
    let sa: BTreeMap<String, String> = serde_json::from_value(sa).unwrap();
    let sb: BTreeMap<String, String> = serde_json::from_value(sb).unwrap();
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>(), "{name}");
    if !sa.is_empty() {
        let config = AggregateConfig::default();
        assert_eq!(decode(&sa, &config, START), decode(&sb, &config, START), "{name}: carried state");
    }
}

#[tokio::test]
async fn the_aggregate_fixtures_are_what_the_generator_makes_and_each_is_tested() {
    let made = generated().await;
    if std::env::var_os("EDDY_REGEN_FIXTURES").is_some() {
        for (name, bytes) in &made {
            std::fs::write(events_dir().join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &made {
        same_fixture(name, &fixture(name), bytes);
    }
    let on_disk: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("aggregate-") && n.ends_with(".json"))
        .collect();
    for name in on_disk {
        assert!(made.iter().any(|(n, _)| *n == name), "{name} is not generated (nor tested) here");
    }
}

// ---------------------------------------------------------------------------
// kinesis-window.json and kinesis-window-final.json
// ---------------------------------------------------------------------------

#[tokio::test]
async fn given_a_non_final_window_event_when_handled_then_the_state_is_returned_and_nothing_is_reported() {
    let (app, sinks) = app();
    let out = app.run(&fixture("kinesis-window.json"), deadline()).await.unwrap();
    assert!(out.response.batch_item_failures.is_empty());
    assert!(out.report.is_none());
    assert!(sinks.reports.lines().is_empty() && sinks.stream.lines().is_empty());
    let encoded = &out.response.state[STATE_KEY];
    assert!(!encoded.is_empty() && encoded.len() < LAMBDA_STATE_MAX_BYTES);
    // the response has Lambda's shape
    let json: Value = serde_json::to_value(&out.response).unwrap();
    assert!(json["state"][STATE_KEY].is_string());
    assert_eq!(json["batchItemFailures"], json!([]));
    let state = decode(&out.response.state, app.config(), START);
    assert_eq!((state.totals.events, state.totals.records, state.totals.invocations), (4, 4, 1));
    let mut counts: Vec<u64> = state.groups.values().map(|g| g.count).collect();
    counts.sort();
    assert_eq!(counts, vec![2, 2], "svc-auth 2xx (204, 200) and 4xx (401, 403)");
}

#[tokio::test]
async fn given_the_final_invoke_when_handled_then_one_report_with_the_right_counts_and_an_empty_state() {
    let (app, sinks) = app();
    let out = app.run(&fixture("kinesis-window-final.json"), deadline()).await.unwrap();
    assert!(out.response.state.is_empty(), "state is cleared");
    assert!(out.response.batch_item_failures.is_empty());
    assert_eq!(sinks.reports.keys(), vec!["2024/11/25/20241125T010000Z_20241125T010500Z_shardId-000000000000"]);
    let report = sinks.report();
    assert_eq!(report[0]["type"], "summary");
    assert_eq!((report[0]["events"].as_u64(), report[0]["late"].as_u64()), (Some(4), Some(0)));
    assert_eq!(report[0]["window"], json!({"start": "2024-11-25T01:00:00Z", "end": "2024-11-25T01:05:00Z"}));
    let g = groups(&report);
    assert_eq!(
        g,
        vec![
            (json!("2024-11-25T01:01:00Z"), json!({"source": "svc-auth", "http.status_class": "2xx"}), 1),
            (json!("2024-11-25T01:01:00Z"), json!({"source": "svc-auth", "http.status_class": "4xx"}), 3),
        ]
    );
    let distinct_users = report[2]["distinct"]["user"].as_u64();
    assert_eq!(distinct_users, Some(3));
    assert_eq!(report[2]["top"]["values"][0], json!({"value": "/v1/users/me", "count": 2, "error": 0}));
    assert_eq!(sinks.stream.lines(), sinks.reports.lines(), "the same lines go to the reports stream");
    assert!(sinks.stream.records().iter().all(|r| r.partition_key == report[0]["report"].as_str().unwrap()));
}

#[tokio::test]
async fn given_the_state_of_the_first_invoke_when_the_final_invoke_carries_it_then_the_report_covers_both() {
    let (app, sinks) = app();
    let first = app.handle(&fixture("kinesis-window.json"), deadline()).await.unwrap();
    let last = carry(&fixture("kinesis-window-final.json"), &first.state, None);
    app.run(&last, deadline()).await.unwrap();
    let report = sinks.report();
    assert_eq!(report[0]["events"], 8);
    assert_eq!(report[0]["invocations"], 2);
    assert_eq!(report[0]["records"], 8);
    let counts: Vec<u64> = groups(&report).iter().map(|g| g.2).collect();
    assert_eq!(counts, vec![3, 5], "2xx: 204, 200 + 200; 4xx: 401, 403 + 401, 403, 403");
}

#[tokio::test]
async fn given_a_retried_final_invoke_when_handled_then_the_report_object_is_overwritten_not_duplicated() {
    let root = std::env::temp_dir().join(format!("eddy-aggregate-retry-{}-{}", std::process::id(), fastrand::u64(..)));
    let app = Aggregate::with_dir(AggregateConfig::default(), &root);
    for _ in 0..2 {
        app.handle(&fixture("kinesis-window-final.json"), deadline()).await.unwrap();
    }
    let day = root.join("reports/2024/11/25");
    let files: Vec<_> = std::fs::read_dir(&day).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(day.join(&files[0])).unwrap();
    assert_eq!(text.lines().count(), 3, "summary and two groups, once");
    std::fs::remove_dir_all(root).ok();
}

#[tokio::test]
async fn given_a_window_terminated_early_when_it_closes_then_its_report_is_a_part_that_the_rest_cannot_overwrite() {
    let (app, sinks) = app();
    let mut v: Value = serde_json::from_slice(&fixture("kinesis-window-final.json")).unwrap();
    v["isWindowTerminatedEarly"] = json!(true);
    let first_sequence = v["Records"][0]["kinesis"]["sequenceNumber"].as_str().unwrap().to_string();
    app.run(&serde_json::to_vec(&v).unwrap(), deadline()).await.unwrap();
    // Lambda goes on with the same window and a fresh state; its final invoke writes the rest
    app.run(&fixture("kinesis-window-final.json"), deadline()).await.unwrap();
    let keys = sinks.reports.keys();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], format!("{}_part-{first_sequence}", keys[1]));
    assert_eq!(sinks.report()[0]["terminated_early"], true);
}

// ---------------------------------------------------------------------------
// aggregate-*.json
// ---------------------------------------------------------------------------

#[tokio::test]
async fn given_late_and_text_events_when_handled_then_late_ones_are_routed_and_counted_not_lost() {
    let (app, sinks) = app();
    let out = app.run(&fixture("aggregate-late.json"), deadline()).await.unwrap();
    let c = &out.counts;
    assert_eq!((c.records, c.delivered, c.dropped, c.quarantined, c.failed), (8, 7, 1, 0, 0));
    let late = sinks.late.lines();
    assert_eq!(late.len(), 2);
    let times: Vec<Value> =
        late.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["data"]["time"].clone()).collect();
    assert_eq!(times, vec![json!("2024-11-25T00:50:00Z"), json!("2024-11-25T00:58:30Z")]);
    let state = decode(&out.response.state, app.config(), START);
    let t = &state.totals;
    assert_eq!((t.events, t.late, t.dropped, t.time_from_arrival), (5, 2, 1, 1));
    let sum: u64 = state.groups.values().map(|g| g.count).sum();
    assert_eq!(sum, 8 - 2 - 1, "group counts = input - late - dropped");
}

#[tokio::test]
async fn given_a_carried_state_when_the_window_closes_then_the_report_adds_both_invocations() {
    let (app, sinks) = app();
    let out = app.run(&fixture("aggregate-final-with-state.json"), deadline()).await.unwrap();
    assert!(out.response.state.is_empty());
    let report = sinks.report();
    let s = &report[0];
    assert_eq!((s["events"].as_u64(), s["late"].as_u64(), s["dropped"].as_u64()), (Some(9), Some(2), Some(1)));
    assert_eq!(
        (s["records"].as_u64(), s["invocations"].as_u64(), s["state_resets"].as_u64()),
        (Some(12), Some(2), Some(0))
    );
    assert_eq!(s["time_from_arrival"], 1);
    let g = groups(&report);
    assert_eq!(g.len(), 8);
    assert_eq!(g.iter().map(|x| x.2).sum::<u64>(), 9);
    assert_eq!(
        g[0],
        (json!("2024-11-25T00:59:00Z"), json!({"source": "svc-search", "http.status_class": "2xx"}), 1),
        "an event 30 s before the window (allowed lateness 60 s) keeps its own minute"
    );
    let checkout_2xx =
        report.iter().find(|l| l["bucket"] == "2024-11-25T01:01:00Z" && l["key"]["source"] == "svc-checkout").unwrap();
    assert_eq!(checkout_2xx["count"], 2);
    let m = &checkout_2xx["metrics"]["http.latency_ms"];
    assert_eq!(
        (m["count"].as_u64(), m["sum"].as_f64(), m["min"].as_f64(), m["max"].as_f64()),
        (Some(2), Some(200.0), Some(80.0), Some(120.0))
    );
    assert_eq!(m["mean"], 100.0);
    let p99 = m["p99"].as_f64().unwrap();
    assert!((p99 - 120.0).abs() <= 120.0 * 0.02, "{p99}");
    let buckets: Vec<&str> = s["buckets"].as_array().unwrap().iter().map(|b| b["start"].as_str().unwrap()).collect();
    assert_eq!(
        buckets,
        vec![
            "2024-11-25T00:59:00Z",
            "2024-11-25T01:01:00Z",
            "2024-11-25T01:02:00Z",
            "2024-11-25T01:03:00Z",
            "2024-11-25T01:04:00Z"
        ]
    );
}

#[tokio::test]
async fn given_caller_callee_log_events_when_the_window_closes_then_the_report_has_the_flow_edges() {
    let (app, sinks) = app();
    app.run(&fixture("aggregate-flow.json"), deadline()).await.unwrap();
    assert_eq!(sinks.reports.keys(), vec!["2024/11/25/20241125T020000Z_20241125T020500Z_shardId-000000000001"]);
    let report = sinks.report();
    let edges: Vec<(String, String, u64, u64, f64)> = report
        .iter()
        .filter(|l| l["type"] == "edge")
        .map(|l| {
            (
                l["caller"].as_str().unwrap().to_string(),
                l["callee"].as_str().unwrap().to_string(),
                l["calls"].as_u64().unwrap(),
                l["errors"].as_u64().unwrap(),
                l["p99_latency_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(edges.len(), 3);
    let close = |got: f64, want: f64| (got - want).abs() <= want * 0.02;
    let (c, d, calls, errors, p99) = &edges[0];
    assert_eq!((c.as_str(), d.as_str(), *calls, *errors), ("cart", "payments", 2, 1), "`timeout` is an error");
    assert!(close(*p99, 220.0), "{p99}");
    let (c, d, calls, errors, p99) = &edges[1];
    assert_eq!((c.as_str(), d.as_str(), *calls, *errors), ("web", "auth", 4, 1), "503 is an error");
    assert!(close(*p99, 250.0), "{p99}");
    let (_, d, calls, errors, _) = &edges[2];
    assert_eq!((d.as_str(), *calls, *errors), ("cart", 3, 1), "level ERROR is an error");
    assert_eq!(report[0]["events"], 10, "every event is grouped; 9 of them are calls");
    assert_eq!(report[0]["edges"], 3);
}

// ---------------------------------------------------------------------------
// Partial failures and errors
// ---------------------------------------------------------------------------

/// The report of `late` then `final` with nothing failing.
async fn clean_report() -> Vec<Value> {
    let (app, sinks) = app();
    let first = app.handle(&fixture("aggregate-late.json"), deadline()).await.unwrap();
    app.handle(&carry(&fixture("aggregate-final-with-state.json"), &first.state, None), deadline()).await.unwrap();
    sinks.report()
}

#[tokio::test]
async fn given_a_failed_late_line_when_handled_then_the_lowest_failed_record_is_reported_and_the_state_stops_before_it()
{
    let (app, sinks) = app();
    // the late line of record 7 (index 6) fails once
    sinks.late.fail_containing(b"00:58:30", 1);
    let payload = fixture("aggregate-late.json");
    let out: WindowOutcome = app.run(&payload, deadline()).await.unwrap();
    let failures = &out.response.batch_item_failures;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].item_identifier.as_deref(), Some(sequence_number(106).as_str()));
    // the state holds records 1-6 only: records 7 and 8 come back
    let state = decode(&out.response.state, app.config(), START);
    assert_eq!((state.totals.records, state.totals.events, state.totals.late, state.totals.dropped), (6, 4, 1, 1));

    // Lambda redelivers records 7 and 8 with that state, then closes the window
    let again = app.handle(&carry(&payload, &out.response.state, Some(6..8)), deadline()).await.unwrap();
    assert!(again.batch_item_failures.is_empty());
    let last = carry(&fixture("aggregate-final-with-state.json"), &again.state, None);
    app.handle(&last, deadline()).await.unwrap();

    let report = sinks.report();
    let clean = clean_report().await;
    assert_eq!(groups(&report), groups(&clean), "no event counted twice, none lost");
    for field in ["events", "late", "dropped", "records", "time_from_arrival"] {
        assert_eq!(report[0][field], clean[0][field], "{field}");
    }
    assert_eq!(report[0]["invocations"], 3);
}

#[tokio::test]
async fn given_a_failing_record_on_the_final_invoke_when_handled_then_the_invocation_fails_and_nothing_is_reported() {
    // no lateness allowed: the final batch's event of 00:59:30 is late, and its late line fails once
    let (app, sinks) = app_with(AggregateConfig { allowed_lateness_seconds: 0, ..AggregateConfig::default() });
    sinks.late.fail_containing(b"00:59:30", 1);
    let payload = fixture("aggregate-final-with-state.json");
    let err = app.run(&payload, deadline()).await.unwrap_err();
    assert!(matches!(err, AggregateError::FinalIncomplete { .. }), "{err}");
    assert!(sinks.reports.lines().is_empty() && sinks.stream.lines().is_empty());
    // Lambda retries the invocation with the same state: the report is written once
    app.handle(&payload, deadline()).await.unwrap();
    assert_eq!(sinks.reports.keys().len(), 1);
    let report = sinks.report();
    assert_eq!((report[0]["events"].as_u64(), report[0]["late"].as_u64()), (Some(8), Some(3)));
}

#[tokio::test]
async fn given_a_report_that_does_not_reach_the_stream_when_the_window_closes_then_the_invocation_fails() {
    let (app, sinks) = app();
    sinks.stream.fail_containing(b"\"summary\"", 1);
    let err = app.run(&fixture("kinesis-window-final.json"), deadline()).await.unwrap_err();
    assert!(err.to_string().contains("reports-stream"), "{err}");
    // the retry overwrites the S3 object and puts the lines again
    app.run(&fixture("kinesis-window-final.json"), deadline()).await.unwrap();
    let keys = sinks.reports.keys();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "same object key: S3 overwrites");
}

#[tokio::test]
async fn given_a_damaged_state_when_handled_then_the_window_restarts_and_the_report_says_so() {
    let (app, sinks) = app();
    let mut state = BTreeMap::new();
    state.insert(STATE_KEY.to_string(), "not a state".to_string());
    let payload = carry(&fixture("kinesis-window-final.json"), &state, None);
    app.run(&payload, deadline()).await.unwrap();
    let report = sinks.report();
    assert_eq!((report[0]["state_resets"].as_u64(), report[0]["events"].as_u64()), (Some(1), Some(4)));
}

#[tokio::test]
async fn given_an_event_without_a_window_when_handled_then_a_clear_error() {
    let (app, _) = app();
    let err = app.run(&fixture("kinesis-json.json"), deadline()).await.unwrap_err();
    assert!(err.to_string().contains("tumbling"), "{err}");
    let err = app.run(b"{\"Records\": 3}", deadline()).await.unwrap_err();
    assert!(!err.to_string().is_empty());
    let bad_window = br#"{"Records": [], "window": {"start": "yesterday", "end": "2024-11-25T01:05:00Z"}}"#;
    let err = app.run(bad_window, deadline()).await.unwrap_err();
    assert!(err.to_string().contains("window.start"), "{err}");
}

#[tokio::test]
async fn a_final_invoke_with_no_records_still_writes_the_report_of_the_carried_state() {
    let (app, sinks) = app();
    let first = app.handle(&fixture("kinesis-window.json"), deadline()).await.unwrap();
    let last = carry(&fixture("kinesis-window-final.json"), &first.state, Some(0..0));
    app.run(&last, deadline()).await.unwrap();
    assert_eq!(sinks.report()[0]["events"], 4);
    assert!(sinks.quarantine.lines().is_empty());
}

#[tokio::test]
async fn given_a_warm_function_when_it_gets_its_own_state_back_then_it_answers_as_a_cold_one_decoding_it() {
    // one function across the window remembers the state it returned (and
    // skips decoding it); a fresh function per invocation always decodes:
    // every state, and the report, must be the same
    let records: Vec<TestRecord> = eddy::gen::Generator::new(eddy::gen::Scenario::Security, 7, 3_000)
        .map(|e| TestRecord { partition_key: e.partition_key, data: e.data })
        .collect();
    let spec = WindowSpec::new(START, START + FIVE_MIN);
    let (warm, warm_sinks) = app();
    let mut states = (BTreeMap::new(), BTreeMap::new());
    for (i, chunk) in records.chunks(1_000).enumerate() {
        let first_seq = 1 + (i * 1_000) as u64;
        let payload = |state: &BTreeMap<String, String>| {
            window_event(chunk, first_seq, (START / 1000) as f64 + 1.0, &spec.clone().carrying(state.clone()))
        };
        let from_warm = warm.run(&payload(&states.0), deadline()).await.unwrap();
        let (cold, _) = app();
        let from_cold = cold.run(&payload(&states.1), deadline()).await.unwrap();
        // (the encoding of an unordered map need not be byte for byte the same: compare what it holds)
        let (warm_state, cold_state) = (
            decode(&from_warm.response.state, warm.config(), START),
            decode(&from_cold.response.state, cold.config(), START),
        );
        assert!(warm_state == cold_state, "state after batch {i} differs");
        assert_eq!(warm_state.totals.events, 1_000 * (i as u64 + 1));
        assert!(from_warm.state_bytes > 0);
        states = (from_warm.response.state, from_cold.response.state);
    }
    let last =
        |state: &BTreeMap<String, String>| window_event(&[], 3_001, 0.0, &spec.clone().last().carrying(state.clone()));
    warm.run(&last(&states.0), deadline()).await.unwrap();
    let (cold, cold_sinks) = app();
    cold.run(&last(&states.1), deadline()).await.unwrap();
    assert_eq!(warm_sinks.report(), cold_sinks.report());
    assert_eq!(warm_sinks.report()[0]["events"], 3_000);
}
