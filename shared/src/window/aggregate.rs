//! The aggregate processor: folds each event into the window state by its
//! own time (event-time buckets inside Lambda's arrival-time window), or
//! routes it to the late output when it is older than the allowed lateness.

use std::borrow::Cow;

use chrono::DateTime;

use super::config::AggregateConfig;
use super::fields::{FieldPlan, Scalar};
use super::state::{edge_key, group_key, Shape, WindowState};
use crate::archive::write_archive_line;
use crate::batch::{DropReason, Outputs, Processor};
use crate::event::{Data, Event};

/// The late output's slot in the processor's outputs.
pub const LATE_SLOT: usize = 0;

/// Drop reason: the event is plain text, with no fields to aggregate.
pub const NOT_JSON: DropReason = "not a JSON object";
/// Drop reason: the event's JSON could not be read (should not happen after decoding).
pub const UNREADABLE: DropReason = "unreadable JSON";

/// A window's bounds, in milliseconds since the Unix epoch: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start (inclusive).
    pub start_ms: i64,
    /// End (exclusive).
    pub end_ms: i64,
}

#[derive(Debug, Clone)]
struct Dimension {
    slot: usize,
    /// For `X.status_class`: the slot of `X.status`, to derive the class from.
    status: Option<usize>,
}

#[derive(Debug, Clone)]
struct FlowSlots {
    caller: usize,
    callee: usize,
    latency: usize,
    status: usize,
    level: usize,
}

/// The configuration compiled for the hot path: one field plan for every path
/// read, and where each kind of field lands.
#[derive(Debug, Clone)]
pub struct Plan {
    fields: FieldPlan,
    dims: Vec<Dimension>,
    metrics: Vec<usize>,
    distinct: Vec<usize>,
    top: Option<usize>,
    time: usize,
    flow: Option<FlowSlots>,
    bucket_ms: i64,
    lateness_ms: i64,
    shape: Shape,
    fingerprint: u64,
}

impl Plan {
    /// Compiles `config`.
    pub fn new(config: &AggregateConfig) -> Self {
        let mut fields = FieldPlan::new();
        let dims = config
            .group_by
            .iter()
            .map(|path| {
                let slot = fields.slot(path);
                let status = path.strip_suffix("status_class").map(|prefix| fields.slot(&format!("{prefix}status")));
                Dimension { slot, status }
            })
            .collect();
        let metrics = config.metrics.iter().map(|p| fields.slot(p)).collect();
        let distinct = config.distinct.iter().map(|p| fields.slot(p)).collect();
        let top = config.top_k.as_ref().map(|(p, _)| fields.slot(p));
        let time = fields.slot(&config.time_field);
        let flow = config.flow.as_ref().map(|f| FlowSlots {
            caller: fields.slot(&f.caller),
            callee: fields.slot(&f.callee),
            latency: fields.slot(&f.latency),
            status: fields.slot(&f.status),
            level: fields.slot(&f.level),
        });
        let shape = Shape {
            metrics: config.metrics.len(),
            distinct: config.distinct.len(),
            // space-saving keeps 4k candidates for k reported (at least 16)
            top_capacity: config.top_k.as_ref().map_or(0, |(_, k)| (k * 4).max(16)),
            max_groups: config.max_groups,
            max_edges: config.max_edges,
        };
        Self {
            fields,
            dims,
            metrics,
            distinct,
            top,
            time,
            flow,
            bucket_ms: config.bucket_seconds as i64 * 1000,
            lateness_ms: config.allowed_lateness_seconds as i64 * 1000,
            shape,
            fingerprint: config.fingerprint(),
        }
    }

    /// What every group holds.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The configuration fingerprint states are written under.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// An empty state for `window`.
    pub fn empty_state(&self, window: Window) -> WindowState {
        WindowState::new(self.shape, self.fingerprint, window.start_ms, window.end_ms)
    }

    /// The start of the event-time bucket holding `time_ms`.
    pub fn bucket_of(&self, time_ms: i64) -> i64 {
        time_ms.div_euclid(self.bucket_ms) * self.bucket_ms
    }
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Added to its group (and flow edge).
    Folded,
    /// Older than the allowed lateness: counted, and routed to the late output.
    Late,
    /// Left out, with the reason.
    Dropped(DropReason),
}

/// Folds events into a [`WindowState`] (the part of the window this batch adds).
#[derive(Debug)]
pub struct AggregateProcessor<'p> {
    plan: &'p Plan,
    window: Window,
    state: WindowState,
    key: String,
}

impl<'p> AggregateProcessor<'p> {
    /// A processor adding to an empty state for `window`.
    pub fn new(plan: &'p Plan, window: Window) -> Self {
        Self { plan, window, state: plan.empty_state(window), key: String::with_capacity(128) }
    }

    /// The state folded so far.
    pub fn state(&self) -> &WindowState {
        &self.state
    }

    /// The state folded so far, taken.
    pub fn into_state(self) -> WindowState {
        self.state
    }

    /// Folds one event into the state, or says it is late or dropped.
    pub fn fold(&mut self, event: &Event<'_>) -> Verdict {
        let Data::Json(raw) = &event.data else {
            return Verdict::Dropped(NOT_JSON);
        };
        let plan = self.plan;
        let mut values: Vec<Option<Scalar<'_>>> = Vec::with_capacity(plan.fields.len());
        if plan.fields.extract_indexed(raw, event.members, &mut values).is_err() {
            return Verdict::Dropped(UNREADABLE);
        }
        let (time_ms, own_time) = match values[plan.time].as_ref().and_then(time_ms) {
            Some(t) => (t, true),
            None => match event.log {
                Some(log) => (log.timestamp_ms, true),
                None => ((event.coords.approximate_arrival.seconds() * 1000.0) as i64, false),
            },
        };
        if time_ms < self.window.start_ms.saturating_sub(plan.lateness_ms) {
            self.state.totals.late += 1;
            return Verdict::Late;
        }
        if !own_time {
            self.state.totals.time_from_arrival += 1;
        }
        self.state.totals.events += 1;

        let dims = plan.dims.iter().map(|d| match (&values[d.slot], d.status) {
            (Some(v), _) => Some(v.as_text()),
            (None, Some(status)) => values[status].as_ref().and_then(status_class).map(Cow::Borrowed),
            (None, None) => None,
        });
        group_key(&mut self.key, plan.bucket_of(time_ms), dims);
        self.state.with_group(&self.key, |g| {
            g.count += 1;
            for (sketch, &slot) in g.metrics.iter_mut().zip(&plan.metrics) {
                if let Some(v) = values[slot].as_ref().and_then(Scalar::as_f64) {
                    sketch.add(v);
                }
            }
            for (counter, &slot) in g.distinct.iter_mut().zip(&plan.distinct) {
                if let Some(v) = &values[slot] {
                    counter.insert(&v.as_text());
                }
            }
            if let (Some(top), Some(slot)) = (&mut g.top, plan.top) {
                if let Some(v) = &values[slot] {
                    top.insert(&v.as_text());
                }
            }
        });

        if let Some(flow) = &plan.flow {
            if let (Some(caller), Some(callee)) = (&values[flow.caller], &values[flow.callee]) {
                edge_key(&mut self.key, &caller.as_text(), &callee.as_text());
                let error = values[flow.status].as_ref().is_some_and(status_is_error)
                    || values[flow.level].as_ref().is_some_and(level_is_error);
                let latency = values[flow.latency].as_ref().and_then(Scalar::as_f64);
                self.state.with_edge(&self.key, |e| {
                    e.calls += 1;
                    e.errors += u64::from(error);
                    if let Some(ms) = latency {
                        e.latency.add(ms);
                    }
                });
            }
        }
        Verdict::Folded
    }
}

impl Processor for AggregateProcessor<'_> {
    fn name(&self) -> &'static str {
        "aggregate"
    }

    fn process(&mut self, event: &Event<'_>, out: &mut Outputs) -> Result<(), DropReason> {
        match self.fold(event) {
            Verdict::Folded => Ok(()),
            Verdict::Late => {
                out.write(LATE_SLOT, event.coords.partition_key, |line| write_archive_line(event, line));
                Ok(())
            }
            Verdict::Dropped(reason) => Err(reason),
        }
    }
}

/// An event time in milliseconds: RFC 3339 text, or a number of seconds
/// (milliseconds when above 10^11, i.e. after 1973 in milliseconds).
pub fn time_ms(value: &Scalar<'_>) -> Option<i64> {
    match value {
        Scalar::Str(s) => DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.timestamp_millis()),
        Scalar::Num(n) if n.is_finite() && *n > 1e11 => Some(*n as i64),
        Scalar::Num(n) if n.is_finite() => Some((*n * 1000.0) as i64),
        _ => None,
    }
}

/// The class of an HTTP status: `503` -> `5xx`.
pub fn status_class(status: &Scalar<'_>) -> Option<&'static str> {
    let code = status.as_f64()?;
    const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    if (100.0..600.0).contains(&code) {
        CLASSES.get((code / 100.0) as usize - 1).copied()
    } else {
        None
    }
}

/// Whether a flow event's status says the call failed: a number >= 500, or
/// a word such as `error`, `failed`, `fault`, `timeout`.
pub fn status_is_error(status: &Scalar<'_>) -> bool {
    if let Some(code) = status.as_f64() {
        return code >= 500.0;
    }
    match status {
        Scalar::Str(s) => {
            let s = s.trim();
            ["error", "err", "fail", "failed", "failure", "fault", "timeout", "5xx"]
                .iter()
                .any(|w| s.eq_ignore_ascii_case(w))
        }
        Scalar::Bool(_) | Scalar::Num(_) => false,
    }
}

/// Whether a log level is an error level (`error`, `fatal`, `critical`, ...).
pub fn level_is_error(level: &Scalar<'_>) -> bool {
    match level {
        Scalar::Str(s) => {
            let s = s.trim();
            ["error", "err", "fatal", "critical", "crit", "alert", "emerg", "emergency", "severe"]
                .iter()
                .any(|w| s.eq_ignore_ascii_case(w))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Coords;
    use crate::window::state::split_group_key;
    use std::borrow::Cow;

    const START: i64 = 1_732_496_400_000; // 2024-11-25T01:00:00Z

    fn event(json: &str) -> Event<'_> {
        Event {
            coords: Coords {
                record: 0,
                shard_id: "shardId-000000000000",
                sequence_number: "1",
                subsequence_number: None,
                partition_key: "pk",
                approximate_arrival: ((START + 90_000) as f64 / 1000.0).into(),
            },
            data: Data::Json(Cow::Borrowed(json)),
            log: None,
            members: &[],
        }
    }

    fn config() -> AggregateConfig {
        AggregateConfig { max_groups: 100, ..AggregateConfig::default() }
    }

    fn window() -> Window {
        Window { start_ms: START, end_ms: START + 300_000 }
    }

    #[test]
    fn given_access_events_when_folded_then_grouped_by_source_status_class_and_minute() {
        let plan = Plan::new(&config());
        let mut p = AggregateProcessor::new(&plan, window());
        for json in [
            r#"{"source":"svc-a","time":"2024-11-25T01:01:10Z","user":"u1","http":{"status":503,"latency_ms":100,"path":"/a"}}"#,
            r#"{"source":"svc-a","time":"2024-11-25T01:01:50Z","user":"u2","http":{"status":500,"latency_ms":300,"path":"/a"}}"#,
            r#"{"source":"svc-a","time":"2024-11-25T01:02:05Z","user":"u1","http":{"status":200,"latency_ms":5,"path":"/b"}}"#,
        ] {
            assert_eq!(p.fold(&event(json)), Verdict::Folded);
        }
        let s = p.into_state();
        assert_eq!(s.totals.events, 3);
        let groups = s.sorted_groups();
        assert_eq!(groups.len(), 2);
        let (key, g) = groups[0];
        assert_eq!(split_group_key(key), (Some(START + 60_000), vec![Some("svc-a"), Some("5xx")]));
        assert_eq!(g.count, 2);
        assert_eq!(g.metrics[0].sum(), 400.0);
        assert_eq!((g.metrics[0].min(), g.metrics[0].max()), (Some(100.0), Some(300.0)));
        assert_eq!(g.distinct[0].estimate(), 2);
        assert_eq!(g.top.as_ref().unwrap().top(1)[0].count, 2);
        assert_eq!(split_group_key(groups[1].0).1, vec![Some("svc-a"), Some("2xx")]);
    }

    #[test]
    fn given_an_event_older_than_the_allowed_lateness_when_folded_then_it_is_late_not_grouped() {
        let plan = Plan::new(&config()); // 60 s lateness
        let mut p = AggregateProcessor::new(&plan, window());
        let late = r#"{"source":"a","time":"2024-11-25T00:58:59Z"}"#;
        let allowed = r#"{"source":"a","time":"2024-11-25T00:59:30Z"}"#;
        assert_eq!(p.fold(&event(late)), Verdict::Late);
        assert_eq!(p.fold(&event(allowed)), Verdict::Folded);
        let s = p.into_state();
        assert_eq!((s.totals.late, s.totals.events), (1, 1));
        let (bucket, _) = split_group_key(s.sorted_groups()[0].0);
        assert_eq!(bucket, Some(START - 60_000), "an allowed late event keeps its own minute");
    }

    #[test]
    fn given_an_event_without_time_when_folded_then_arrival_time_is_used_and_counted() {
        let plan = Plan::new(&config());
        let mut p = AggregateProcessor::new(&plan, window());
        assert_eq!(p.fold(&event(r#"{"source":"a","time":"yesterday"}"#)), Verdict::Folded);
        let s = p.into_state();
        assert_eq!(s.totals.time_from_arrival, 1);
        assert_eq!(split_group_key(s.sorted_groups()[0].0).0, Some(START + 60_000));
    }

    #[test]
    fn given_text_when_folded_then_dropped_with_a_reason() {
        let plan = Plan::new(&config());
        let mut p = AggregateProcessor::new(&plan, window());
        let text = Event { data: Data::Text(Cow::Borrowed("GET / 200")), ..event("{}") };
        assert_eq!(p.fold(&text), Verdict::Dropped(NOT_JSON));
        assert_eq!(p.state().totals.events, 0);
    }

    #[test]
    fn given_flow_log_events_when_folded_then_edges_count_calls_errors_and_latency() {
        let plan = Plan::new(&config());
        let mut p = AggregateProcessor::new(&plan, window());
        for json in [
            r#"{"caller":"web","callee":"auth","latency_ms":10,"status":200,"time":"2024-11-25T01:01:00Z"}"#,
            r#"{"caller":"web","callee":"auth","latency_ms":30,"status":503,"time":"2024-11-25T01:01:00Z"}"#,
            r#"{"caller":"web","callee":"db","latency_ms":2,"level":"ERROR","time":"2024-11-25T01:01:00Z"}"#,
            r#"{"caller":"web","time":"2024-11-25T01:01:00Z"}"#,
        ] {
            p.fold(&event(json));
        }
        let s = p.into_state();
        let edges = s.sorted_edges();
        assert_eq!(edges.len(), 2, "an event without a callee is no edge");
        let auth = edges[0].1;
        assert_eq!((auth.calls, auth.errors), (2, 1));
        assert_eq!(auth.latency.max(), Some(30.0));
        assert_eq!((edges[1].1.calls, edges[1].1.errors), (1, 1));
        assert_eq!(s.totals.events, 4, "flow events are grouped too");
    }

    #[test]
    fn times_statuses_and_levels_read_as_documented() {
        assert_eq!(time_ms(&Scalar::Str("2024-11-25T01:00:00Z".into())), Some(START));
        assert_eq!(time_ms(&Scalar::Num(1_732_496_400.5)), Some(START + 500));
        assert_eq!(time_ms(&Scalar::Num(START as f64)), Some(START));
        assert_eq!(time_ms(&Scalar::Bool(true)), None);
        assert_eq!(status_class(&Scalar::Num(404.0)), Some("4xx"));
        assert_eq!(status_class(&Scalar::Str("503".into())), Some("5xx"));
        assert_eq!(status_class(&Scalar::Num(42.0)), None);
        assert!(status_is_error(&Scalar::Num(500.0)) && !status_is_error(&Scalar::Num(404.0)));
        assert!(status_is_error(&Scalar::Str("FAILED".into())) && !status_is_error(&Scalar::Str("ok".into())));
        assert!(level_is_error(&Scalar::Str("Fatal".into())) && !level_is_error(&Scalar::Str("warn".into())));
    }
}
