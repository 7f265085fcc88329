//! Property tests of the aggregate's invariants, at the processor level:
//! - merging partial states (through the state codec, as Lambda carries
//!   them) equals aggregating all events at once;
//! - the group counts add up to the input less the late and dropped events;
//! - the order of the input does not change the result;
//! - past the group cap, nothing is lost: the excess folds into `__other__`.
//!
//! Latencies are whole numbers, so sums are exact whatever the order; the
//! quantile sketches, distinct counters and top-k counters are compared by
//! content (bins, estimates, counts), which merging must reproduce exactly
//! while the top-k counter has room for every value.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use eddy::event::{Coords, Data, Event};
use eddy::window::report::{report_lines, ReportContext};
use eddy::window::state::STATE_BUDGET_BYTES;
use eddy::window::{AggregateConfig, AggregateProcessor, Plan, Verdict, Window, WindowState};
use proptest::prelude::*;
use serde_json::{json, Value};

const START: i64 = 1_732_496_400_000;
const WINDOW: Window = Window { start_ms: START, end_ms: START + 300_000 };

/// One generated input event.
#[derive(Debug, Clone)]
enum Input {
    Access { source: u8, status: u16, latency: u32, user: u8, path: u8, offset_s: i64, timed: bool },
    Call { caller: u8, callee: u8, latency: u32, status: u16 },
    Text,
}

impl Input {
    fn json(&self) -> Option<String> {
        match self {
            Input::Access { source, status, latency, user, path, offset_s, timed } => {
                let mut v = json!({
                    "source": format!("svc-{source}"),
                    "user": format!("u-{user}"),
                    "http": {"status": status, "latency_ms": latency, "path": format!("/p{path}")},
                });
                if *timed {
                    let t = chrono::DateTime::from_timestamp_millis(START + offset_s * 1000).unwrap();
                    v["time"] = json!(t.to_rfc3339());
                }
                Some(v.to_string())
            }
            Input::Call { caller, callee, latency, status } => Some(
                json!({
                    "source": format!("svc-{caller}"), "caller": format!("s{caller}"), "callee": format!("s{callee}"),
                    "latency_ms": latency, "status": status, "time": "2024-11-25T01:02:00Z",
                })
                .to_string(),
            ),
            Input::Text => None,
        }
    }
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (0u8..4, prop::sample::select(vec![200u16, 201, 302, 404, 500, 503]), 0u32..5_000, 0u8..40, 0u8..5, -150i64..320, prop::bool::weighted(0.9))
            .prop_map(|(source, status, latency, user, path, offset_s, timed)| Input::Access { source, status, latency, user, path, offset_s, timed }),
        2 => (0u8..3, 0u8..3, 1u32..2_000, prop::sample::select(vec![200u16, 500]))
            .prop_map(|(caller, callee, latency, status)| Input::Call { caller, callee, latency, status }),
        1 => Just(Input::Text),
    ]
}

fn config() -> AggregateConfig {
    // top-k of 5 keeps 20 candidates: more than the 5 paths, so counts are exact
    AggregateConfig { max_groups: 10_000, ..AggregateConfig::default() }
}

/// Folds `inputs` into a fresh state; returns it with the verdicts.
fn fold(plan: &Plan, inputs: &[Input]) -> (WindowState, Vec<Verdict>) {
    let mut p = AggregateProcessor::new(plan, WINDOW);
    let jsons: Vec<Option<String>> = inputs.iter().map(Input::json).collect();
    let verdicts = jsons
        .iter()
        .map(|json| {
            let data = match json {
                Some(j) => Data::Json(Cow::Borrowed(j.as_str())),
                None => Data::Text(Cow::Borrowed("GET / 200")),
            };
            let coords = Coords {
                record: 0,
                shard_id: "shardId-000000000000",
                sequence_number: "1",
                subsequence_number: None,
                partition_key: "pk",
                approximate_arrival: ((START + 100_000) as f64 / 1000.0).into(),
            };
            p.fold(&Event { coords, data, log: None, members: &[] })
        })
        .collect();
    (p.into_state(), verdicts)
}

/// What a state reports, as comparable JSON.
fn report(state: &WindowState, config: &AggregateConfig) -> Vec<Value> {
    let ctx = ReportContext { shard_id: "shardId-000000000000", stream_arn: "arn", terminated_early: false };
    report_lines(state, config, &ctx)
}

/// Through the codec, as Lambda carries the state between invocations.
fn carried(mut state: WindowState, plan: &Plan) -> WindowState {
    let text = state.encode(STATE_BUDGET_BYTES).unwrap();
    WindowState::decode(&text, plan.shape(), plan.fingerprint(), WINDOW.start_ms, WINDOW.end_ms).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn merging_partial_states_equals_aggregating_everything_at_once(
        inputs in prop::collection::vec(input(), 0..300),
        cuts in prop::collection::vec(0usize..300, 0..4),
    ) {
        let config = config();
        let plan = Plan::new(&config);
        let (whole, _) = fold(&plan, &inputs);

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(inputs.len())).collect();
        cuts.push(0);
        cuts.push(inputs.len());
        cuts.sort();
        let mut merged = plan.empty_state(WINDOW);
        for pair in cuts.windows(2) {
            let (part, _) = fold(&plan, &inputs[pair[0]..pair[1]]);
            merged = carried(merged, &plan);
            merged.merge(part);
        }
        prop_assert_eq!(report(&merged, &config), report(&whole, &config));
    }

    #[test]
    fn group_counts_add_up_to_the_input_less_late_and_dropped_events(
        inputs in prop::collection::vec(input(), 0..300),
        max_groups in 1usize..20,
    ) {
        let config = AggregateConfig { max_groups, ..config() };
        let plan = Plan::new(&config);
        let (state, verdicts) = fold(&plan, &inputs);
        let late = verdicts.iter().filter(|v| **v == Verdict::Late).count() as u64;
        let dropped = verdicts.iter().filter(|v| matches!(v, Verdict::Dropped(_))).count() as u64;
        let grouped: u64 = state.groups.values().map(|g| g.count).sum::<u64>()
            + state.other.as_ref().map_or(0, |g| g.count);
        prop_assert_eq!(grouped, inputs.len() as u64 - late - dropped);
        prop_assert_eq!(grouped, state.totals.events);
        prop_assert_eq!(state.totals.late, late);
        prop_assert!(state.groups.len() <= max_groups);
        prop_assert_eq!(state.folded.events, state.other.as_ref().map_or(0, |g| g.count));
        // late means older than the allowed lateness, by the event's own time
        for (i, v) in inputs.iter().zip(&verdicts) {
            if let Input::Access { offset_s, timed: true, .. } = i {
                prop_assert_eq!(*v == Verdict::Late, *offset_s < -(config.allowed_lateness_seconds as i64));
            }
        }
    }

    #[test]
    fn the_order_of_the_input_does_not_change_the_result(
        (inputs, shuffled) in prop::collection::vec(input(), 0..300)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let config = config();
        let plan = Plan::new(&config);
        let (a, _) = fold(&plan, &inputs);
        let (b, _) = fold(&plan, &shuffled);
        prop_assert_eq!(report(&a, &config), report(&b, &config));
    }
}

#[test]
fn past_the_cap_merging_in_another_order_keeps_every_event() {
    // With a cap, which keys keep their own group depends on what came first;
    // what must not change is the total and the bound.
    let config = AggregateConfig { max_groups: 3, ..config() };
    let plan = Plan::new(&config);
    let inputs: Vec<Input> = (0..60)
        .map(|i| Input::Access {
            source: (i % 7) as u8,
            status: 200,
            latency: i,
            user: 1,
            path: 1,
            offset_s: 30,
            timed: true,
        })
        .collect();
    let (whole, _) = fold(&plan, &inputs);
    let (a, _) = fold(&plan, &inputs[..30]);
    let (b, _) = fold(&plan, &inputs[30..]);
    let mut merged = carried(b, &plan);
    merged.merge(a);
    for s in [&whole, &merged] {
        assert!(s.groups.len() <= 3);
        let total: u64 = s.groups.values().map(|g| g.count).sum::<u64>() + s.other.as_ref().map_or(0, |g| g.count);
        assert_eq!(total, 60);
        assert_eq!(s.folded.events, s.other.as_ref().unwrap().count);
    }
    assert_eq!(whole.folded.keys.estimate(), 4, "7 sources, 3 kept");
    // keys with some events folded: in the merged state a key kept by one part
    // but folded by the other counts too
    assert!((4..=7).contains(&merged.folded.keys.estimate()));
}
