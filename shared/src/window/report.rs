//! The window report, written on the final invoke: NDJSON lines, a `summary`
//! first, then one line per `group` and per flow `edge`. The same lines go to
//! S3 (one object per window and shard, so a retried final invoke overwrites
//! it) and to the reports stream (one record per line, each small whatever
//! the number of groups). Every line carries the `report` id (window and
//! shard) and its `line` number, so a consumer can drop the duplicates a
//! retried final invoke may put into the stream.
//!
//! The summary's `folded` says what the group cap (or the state budget) sent
//! to the `__other__` group: `events`, exactly, and `groups`, the approximate
//! number of distinct group keys that had events folded (a key can also have
//! a group of its own, for the events that came while there was room).

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::config::AggregateConfig;
use super::sketch::Quantiles;
use super::state::{split_edge_key, split_group_key, Group, WindowState, OTHER};

/// What the report says about where it came from.
#[derive(Debug, Clone, Copy)]
pub struct ReportContext<'a> {
    /// The shard of the window.
    pub shard_id: &'a str,
    /// The stream's ARN.
    pub stream_arn: &'a str,
    /// Whether Lambda closed the window early (state over its limit); the
    /// rest of the window then comes as another report.
    pub terminated_early: bool,
}

/// `2024-11-25T01:00:00Z` -> `20241125T010000Z`.
fn compact(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().format("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 3339 UTC, seconds precision.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn safe(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

/// The report's id: `<start>_<end>_<shard>` (e.g.
/// `20241125T010000Z_20241125T010500Z_shardId-000000000000`). A window Lambda
/// terminated early is one part of its window: its id adds `_part-<first
/// sequence number>`, so the parts do not overwrite each other.
pub fn report_id(state: &WindowState, ctx: &ReportContext<'_>) -> String {
    let mut id = format!("{}_{}_{}", compact(state.window_start_ms), compact(state.window_end_ms), safe(ctx.shard_id));
    if ctx.terminated_early {
        id.push_str("_part-");
        id.push_str(&safe(state.first_sequence.as_deref().unwrap_or("0")));
    }
    id
}

/// The report's object key (without the sink's prefix and extension):
/// `<yyyy>/<MM>/<dd>/<report id>`, the date of the window's start.
pub fn report_key(state: &WindowState, ctx: &ReportContext<'_>) -> String {
    let start = DateTime::<Utc>::from_timestamp_millis(state.window_start_ms).unwrap_or_default();
    format!("{:04}/{:02}/{:02}/{}", start.year(), start.month(), start.day(), report_id(state, ctx))
}

fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
}

fn metric(q: &Quantiles) -> Value {
    json!({
        "count": q.count(),
        "sum": num(q.sum()),
        "min": opt(q.min()),
        "max": opt(q.max()),
        "mean": opt(q.mean()),
        "p50": opt(q.quantile(0.5)),
        "p90": opt(q.quantile(0.9)),
        "p99": opt(q.quantile(0.99)),
    })
}

fn group_body(group: &Group, config: &AggregateConfig) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("count".into(), json!(group.count));
    let metrics: Map<String, Value> = config
        .metrics
        .iter()
        .zip(&group.metrics)
        .filter(|(_, q)| q.count() > 0)
        .map(|(n, q)| (n.clone(), metric(q)))
        .collect();
    body.insert("metrics".into(), Value::Object(metrics));
    let distinct: Map<String, Value> =
        config.distinct.iter().zip(&group.distinct).map(|(n, d)| (n.clone(), json!(d.estimate()))).collect();
    body.insert("distinct".into(), Value::Object(distinct));
    if let (Some((field, k)), Some(top)) = (&config.top_k, &group.top) {
        let values: Vec<Value> =
            top.top(*k).into_iter().map(|e| json!({"value": e.value, "count": e.count, "error": e.error})).collect();
        body.insert("top".into(), json!({"field": field, "values": values}));
    }
    body
}

/// The report's lines, in order: summary, groups (by bucket, then
/// dimensions; `__other__` last), edges (by caller, callee; `__other__` last).
pub fn report_lines(state: &WindowState, config: &AggregateConfig, ctx: &ReportContext<'_>) -> Vec<Value> {
    let id = report_id(state, ctx);
    let window = json!({"start": rfc3339(state.window_start_ms), "end": rfc3339(state.window_end_ms)});
    let mut buckets: std::collections::BTreeMap<i64, u64> = Default::default();
    for (key, group) in &state.groups {
        if let (Some(b), _) = split_group_key(key) {
            *buckets.entry(b).or_default() += group.count;
        }
    }
    let t = &state.totals;
    let mut lines = vec![json!({
        "type": "summary",
        "report": id,
        "line": 0,
        "window": window,
        "shard_id": ctx.shard_id,
        "stream_arn": ctx.stream_arn,
        "terminated_early": ctx.terminated_early,
        "group_by": config.group_by,
        "bucket_seconds": config.bucket_seconds,
        "allowed_lateness_seconds": config.allowed_lateness_seconds,
        "invocations": t.invocations,
        "records": t.records,
        "events": t.events,
        "late": t.late,
        "dropped": t.dropped,
        "quarantined": t.quarantined,
        "time_from_arrival": t.time_from_arrival,
        "state_resets": t.state_resets,
        "groups": state.groups.len() + usize::from(state.other.is_some()),
        "folded": {"groups": state.folded.keys.estimate(), "events": state.folded.events},
        "edges": state.edges.len() + usize::from(state.other_edge.is_some()),
        "folded_edges": {"edges": state.folded_edges.keys.estimate(), "calls": state.folded_edges.events},
        "buckets": buckets.iter().map(|(b, n)| json!({"start": rfc3339(*b), "events": n})).collect::<Vec<_>>(),
    })];
    let header = |kind: &str, line: usize| {
        let mut m = Map::new();
        m.insert("type".into(), json!(kind));
        m.insert("report".into(), json!(id));
        m.insert("line".into(), json!(line));
        m.insert("window".into(), window.clone());
        m.insert("shard_id".into(), json!(ctx.shard_id));
        m
    };
    for (key, group) in state.sorted_groups() {
        let (bucket, dims) = split_group_key(key);
        let mut m = header("group", lines.len());
        m.insert("bucket".into(), bucket.map_or(Value::Null, |b| json!(rfc3339(b))));
        let key: Map<String, Value> = config
            .group_by
            .iter()
            .zip(dims)
            .map(|(name, v)| (name.clone(), v.map_or(Value::Null, |v| json!(v))))
            .collect();
        m.insert("key".into(), Value::Object(key));
        m.extend(group_body(group, config));
        lines.push(Value::Object(m));
    }
    if let Some(group) = &state.other {
        let mut m = header("group", lines.len());
        m.insert("bucket".into(), Value::Null);
        let key: Map<String, Value> = config.group_by.iter().map(|name| (name.clone(), json!(OTHER))).collect();
        m.insert("key".into(), Value::Object(key));
        m.extend(group_body(group, config));
        lines.push(Value::Object(m));
    }
    let edges = state.sorted_edges().into_iter().map(|(k, e)| (split_edge_key(k), e));
    let other = state.other_edge.as_ref().map(|e| ((OTHER, OTHER), e));
    for ((caller, callee), edge) in edges.chain(other) {
        let mut m = header("edge", lines.len());
        m.insert("caller".into(), json!(caller));
        m.insert("callee".into(), json!(callee));
        m.insert("calls".into(), json!(edge.calls));
        m.insert("errors".into(), json!(edge.errors));
        m.insert("p50_latency_ms".into(), opt(edge.latency.quantile(0.5)));
        m.insert("p99_latency_ms".into(), opt(edge.latency.quantile(0.99)));
        m.insert("max_latency_ms".into(), opt(edge.latency.max()));
        lines.push(Value::Object(m));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::state::{edge_key, group_key, Shape};

    const START: i64 = 1_732_496_400_000;

    #[test]
    fn given_a_state_when_reported_then_summary_groups_and_edges_in_order() {
        let config = AggregateConfig::default();
        let shape = Shape { metrics: 1, distinct: 1, top_capacity: 16, max_groups: 10, max_edges: 10 };
        let mut s = WindowState::new(shape, 1, START, START + 300_000);
        let mut k = String::new();
        group_key(&mut k, START, [Some("svc-a"), Some("5xx")]);
        s.with_group(&k, |g| {
            g.count = 2;
            g.metrics[0].add(10.0);
            g.metrics[0].add(30.0);
        });
        s.totals.events = 2;
        edge_key(&mut k, "web", "auth");
        s.with_edge(&k, |e| {
            e.calls = 1;
            e.latency.add(7.0)
        });
        let ctx = ReportContext { shard_id: "shardId-000000000000", stream_arn: "arn", terminated_early: false };
        let lines = report_lines(&s, &config, &ctx);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["type"], "summary");
        assert_eq!(lines[0]["report"], "20241125T010000Z_20241125T010500Z_shardId-000000000000");
        assert_eq!(lines[0]["buckets"][0], json!({"start": "2024-11-25T01:00:00Z", "events": 2}));
        assert_eq!(lines[1]["key"], json!({"source": "svc-a", "http.status_class": "5xx"}));
        assert_eq!(lines[1]["metrics"]["http.latency_ms"]["mean"], json!(20.0));
        assert_eq!(lines[1]["line"], 1);
        assert_eq!((lines[2]["caller"].as_str(), lines[2]["calls"].as_u64()), (Some("web"), Some(1)));
        assert_eq!(report_key(&s, &ctx), "2024/11/25/20241125T010000Z_20241125T010500Z_shardId-000000000000");
        s.first_sequence = Some("4959".into());
        let early = ReportContext { terminated_early: true, ..ctx };
        assert!(report_key(&s, &early).ends_with("_part-4959"));
    }
}
