//! The window state stays under Lambda's 1 MB state limit whatever the
//! cardinality: 50,000 distinct group keys in one window, folded by the group
//! cap, by the encoder's budget when the cap is set very high, and through the
//! handler over many invocations.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::event::{Coords, Data, Event};
use eddy::limits::LAMBDA_STATE_MAX_BYTES;
use eddy::window::config::MAX_GROUPS_LIMIT;
use eddy::window::state::{STATE_BUDGET_BYTES, STATE_KEY};
use eddy::window::workload::{window_event, WindowSpec};
use eddy::window::{Aggregate, AggregateConfig, AggregateProcessor, Plan, Verdict, Window, WindowState};
use eddy::workload::TestRecord;
use serde_json::{json, Value};

const START: i64 = 1_732_496_400_000;
const WINDOW: Window = Window { start_ms: START, end_ms: START + 300_000 };
const KEYS: usize = 50_000;

/// An event of user `i`: every field distinct and as large as the state keeps
/// (a 256-byte path for the top-k, a latency spread over six decades).
fn event_json(i: usize) -> String {
    json!({
        "source": "svc-web",
        "user": format!("user-{i:06}"),
        "ip": format!("10.{}.{}.{}", i % 251, (i / 251) % 251, i % 7),
        "time": "2024-11-25T01:02:03Z",
        "http": {"status": 200 + (i % 4) * 100, "latency_ms": 1 + (i * 7919) % 1_000_000, "path": noise(i, 300)},
    })
    .to_string()
}

/// `len` characters of incompressible text derived from `i` (so zlib cannot hide the size).
fn noise(i: usize, len: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[(x % 64) as usize])
        })
        .collect()
}

fn config(max_groups: usize) -> AggregateConfig {
    AggregateConfig {
        group_by: vec!["user".into(), "http.status_class".into()],
        metrics: vec!["http.latency_ms".into()],
        distinct: vec!["ip".into()],
        top_k: Some(("http.path".into(), 100)),
        max_groups,
        ..AggregateConfig::default()
    }
}

fn fold_all(plan: &Plan) -> WindowState {
    let mut p = AggregateProcessor::new(plan, WINDOW);
    for i in 0..KEYS {
        let json = event_json(i);
        let coords = Coords {
            record: i,
            shard_id: "shardId-000000000000",
            sequence_number: "1",
            subsequence_number: None,
            partition_key: "pk",
            approximate_arrival: ((START + 60_000) as f64 / 1000.0).into(),
        };
        assert_eq!(
            p.fold(&Event { coords, data: Data::Json(Cow::Borrowed(&json)), log: None, members: &[] }),
            Verdict::Folded
        );
    }
    p.into_state()
}

fn grouped(s: &WindowState) -> u64 {
    s.groups.values().map(|g| g.count).sum::<u64>() + s.other.as_ref().map_or(0, |g| g.count)
}

#[test]
fn given_50000_distinct_keys_when_the_state_is_encoded_then_the_cap_keeps_it_under_lambdas_limit() {
    let config = config(AggregateConfig::default().max_groups);
    let plan = Plan::new(&config);
    let mut state = fold_all(&plan);
    assert_eq!(state.groups.len(), 1000);
    let encoded = state.encode(STATE_BUDGET_BYTES).unwrap();
    assert!(encoded.len() < LAMBDA_STATE_MAX_BYTES, "{} bytes", encoded.len());
    eprintln!("cap 1000: state of {} bytes for {KEYS} keys", encoded.len());
    assert_eq!(state.groups.len(), 1000, "the cap alone was enough");
    assert_eq!(grouped(&state), KEYS as u64);
    assert_eq!(state.folded.events, (KEYS - 1000) as u64);
    let folded = state.folded.keys.estimate() as f64;
    assert!((folded - 49_000.0).abs() / 49_000.0 < 0.06, "~49,000 keys folded, estimated {folded}");
    let back = WindowState::decode(&encoded, plan.shape(), plan.fingerprint(), WINDOW.start_ms, WINDOW.end_ms).unwrap();
    assert_eq!(back, state);
}

#[test]
fn given_50000_distinct_keys_and_no_practical_cap_when_encoded_then_the_budget_folds_groups_until_it_fits() {
    let config = config(MAX_GROUPS_LIMIT);
    let plan = Plan::new(&config);
    let mut state = fold_all(&plan);
    assert_eq!(state.groups.len(), KEYS);
    let encoded = state.encode(STATE_BUDGET_BYTES).unwrap();
    assert!(encoded.len() <= STATE_BUDGET_BYTES && encoded.len() < LAMBDA_STATE_MAX_BYTES, "{}", encoded.len());
    eprintln!("no cap: state of {} bytes, {} groups kept", encoded.len(), state.groups.len());
    assert!(state.groups.len() < KEYS && !state.groups.is_empty(), "{} groups kept", state.groups.len());
    assert_eq!(grouped(&state), KEYS as u64, "folded, not lost");
    assert_eq!(state.folded.events, (KEYS - state.groups.len()) as u64);
}

#[tokio::test]
async fn given_a_window_of_50000_keys_over_ten_invocations_when_handled_then_every_state_fits_and_the_report_counts_the_folds(
) {
    let app = Aggregate::in_memory(config(AggregateConfig::default().max_groups));
    let spec = WindowSpec::new(WINDOW.start_ms, WINDOW.end_ms);
    let mut state = std::collections::BTreeMap::new();
    let per_batch = KEYS / 10;
    for batch in 0..10 {
        let records: Vec<TestRecord> = (batch * per_batch..(batch + 1) * per_batch)
            .map(|i| TestRecord { partition_key: format!("user-{i}"), data: event_json(i).into_bytes() })
            .collect();
        let spec = spec.clone().carrying(state.clone());
        let spec = if batch == 9 { spec.last() } else { spec };
        let payload = window_event(&records, (batch * per_batch) as u64, 1_732_496_460.0, &spec);
        let out = app.run(&payload, Deadline::after(Duration::from_secs(60))).await.unwrap();
        let response = serde_json::to_vec(&out.response).unwrap();
        assert!(response.len() < LAMBDA_STATE_MAX_BYTES, "invocation {batch}: response of {} bytes", response.len());
        if batch < 9 {
            assert!(out.response.state[STATE_KEY].len() <= STATE_BUDGET_BYTES);
            state = out.response.state;
        } else {
            let (_, lines) = out.report.unwrap();
            let summary: Value = serde_json::from_slice(&lines[0].data).unwrap();
            assert_eq!(summary["events"], KEYS as u64);
            assert_eq!(summary["groups"], 1001, "1000 groups and __other__");
            assert_eq!(summary["folded"]["events"], (KEYS - 1000) as u64);
            assert_eq!(lines.len(), 1 + 1001);
            let other: Value = serde_json::from_slice(&lines[1001].data).unwrap();
            assert_eq!(other["key"]["user"], "__other__");
            assert_eq!(other["count"], (KEYS - 1000) as u64);
        }
    }
}
