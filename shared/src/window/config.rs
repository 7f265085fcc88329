//! The aggregate function's configuration, from `EDDY_*` environment variables
//! read once at init (`from_lookup` so tests need no environment).

use crate::config::{decode_limits, whole_number, ConfigError, QuarantineConfig, QUARANTINE_BUCKET, QUARANTINE_PREFIX};
use crate::decode::DecodeLimits;

/// Env var: the dimensions to group by, comma-separated dotted paths
/// (default `source,http.status_class`). A path ending in `status_class` is
/// derived from the sibling `status` (`503` -> `5xx`) when the event has none.
pub const GROUP_BY: &str = "EDDY_GROUP_BY";
/// Env var: numeric fields to summarise per group (count, sum, min, max, mean,
/// p50/p90/p99); default `http.latency_ms`; `none` for none.
pub const METRICS: &str = "EDDY_METRICS";
/// Env var: fields whose distinct values are counted per group (HyperLogLog);
/// default `user`; `none` for none.
pub const DISTINCT: &str = "EDDY_DISTINCT";
/// Env var: `FIELD[:K]`, the field whose K most frequent values are reported
/// per group (default `http.path:5`, K at most [`MAX_TOP_K`]); `none` for none.
pub const TOP_K: &str = "EDDY_TOP_K";
/// Env var: the event's own time field (RFC 3339, or epoch seconds/milliseconds); default `time`.
pub const TIME_FIELD: &str = "EDDY_TIME_FIELD";
/// Env var: the width of the event-time buckets inside a window, in seconds (default 60).
pub const BUCKET_SECONDS: &str = "EDDY_BUCKET_SECONDS";
/// Env var: how far (seconds) before the window's start an event's time may
/// be and still count; older events are late (default 60).
pub const ALLOWED_LATENESS_SECONDS: &str = "EDDY_ALLOWED_LATENESS_SECONDS";
/// Env var: most groups kept per window and shard; more fold into `__other__` (default 1000).
pub const MAX_GROUPS: &str = "EDDY_MAX_GROUPS";
/// Env var: most service-flow edges kept; more fold into `__other__` (default 500).
pub const MAX_EDGES: &str = "EDDY_MAX_EDGES";
/// Env var: `CALLER,CALLEE[,LATENCY[,STATUS[,LEVEL]]]`, the fields of a
/// service-flow event (default `caller,callee,latency_ms,status,level`); `none` to turn flows off.
pub const FLOW_FIELDS: &str = "EDDY_FLOW_FIELDS";
/// Env var: the Kinesis stream reports are put into (optional).
pub const REPORTS_STREAM: &str = "EDDY_REPORTS_STREAM";
/// Env var: the S3 bucket of the reports and late events (required in Lambda).
pub const REPORTS_BUCKET: &str = "EDDY_REPORTS_BUCKET";
/// Env var: the key prefix of the reports (default `reports/`).
pub const REPORTS_PREFIX: &str = "EDDY_REPORTS_PREFIX";
/// Env var: the key prefix of the late events (default `late/`).
pub const LATE_PREFIX: &str = "EDDY_LATE_PREFIX";

/// Most values of K in [`TOP_K`].
pub const MAX_TOP_K: usize = 100;
/// Most group-by dimensions.
pub const MAX_DIMENSIONS: usize = 8;
/// Most metric or distinct fields.
pub const MAX_FIELDS: usize = 8;
/// Most groups [`MAX_GROUPS`] may ask for (the state budget folds more anyway).
pub const MAX_GROUPS_LIMIT: usize = 100_000;

/// The fields of a service-flow (caller -> callee) event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFields {
    /// The calling service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// The call's latency (milliseconds).
    pub latency: String,
    /// A status: an error when a number >= 500 or a word such as `error`.
    pub status: String,
    /// A log level: an error when `error`, `fatal` or `critical`.
    pub level: String,
}

impl Default for FlowFields {
    fn default() -> Self {
        Self {
            caller: "caller".into(),
            callee: "callee".into(),
            latency: "latency_ms".into(),
            status: "status".into(),
            level: "level".into(),
        }
    }
}

/// What to aggregate and where reports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateConfig {
    /// Group-by dimensions (dotted paths).
    pub group_by: Vec<String>,
    /// Numeric fields summarised per group.
    pub metrics: Vec<String>,
    /// Fields counted distinct per group.
    pub distinct: Vec<String>,
    /// The top-k field and k.
    pub top_k: Option<(String, usize)>,
    /// The event-time field.
    pub time_field: String,
    /// Event-time bucket width in seconds.
    pub bucket_seconds: u64,
    /// Allowed lateness before the window's start, in seconds.
    pub allowed_lateness_seconds: u64,
    /// Most groups kept.
    pub max_groups: usize,
    /// Most flow edges kept.
    pub max_edges: usize,
    /// Service-flow fields, `None` when flows are off.
    pub flow: Option<FlowFields>,
    /// The reports stream, when set.
    pub reports_stream: Option<String>,
    /// The reports bucket, when set.
    pub reports_bucket: Option<String>,
    /// The reports key prefix (ends in `/`).
    pub reports_prefix: String,
    /// The late events key prefix (ends in `/`).
    pub late_prefix: String,
    /// The quarantine, when set (else the reports bucket under `quarantine/`).
    pub quarantine: Option<QuarantineConfig>,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            group_by: vec!["source".into(), "http.status_class".into()],
            metrics: vec!["http.latency_ms".into()],
            distinct: vec!["user".into()],
            top_k: Some(("http.path".into(), 5)),
            time_field: "time".into(),
            bucket_seconds: 60,
            allowed_lateness_seconds: 60,
            max_groups: 1000,
            max_edges: 500,
            flow: Some(FlowFields::default()),
            reports_stream: None,
            reports_bucket: None,
            reports_prefix: "reports/".into(),
            late_prefix: "late/".into(),
            quarantine: None,
            limits: DecodeLimits::default(),
        }
    }
}

impl AggregateConfig {
    /// Reads the configuration from `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let var = |name: &'static str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let group_by = match var(GROUP_BY) {
            Some(v) => paths(GROUP_BY, &v, MAX_DIMENSIONS)?,
            None => d.group_by,
        };
        if group_by.is_empty() {
            return Err(invalid(GROUP_BY, "", "name at least one dimension"));
        }
        let metrics = var(METRICS).map(|v| paths(METRICS, &v, MAX_FIELDS)).transpose()?.unwrap_or(d.metrics);
        let distinct = var(DISTINCT).map(|v| paths(DISTINCT, &v, MAX_FIELDS)).transpose()?.unwrap_or(d.distinct);
        let top_k = match var(TOP_K) {
            Some(v) => top_k(&v)?,
            None => d.top_k,
        };
        let time_field = match var(TIME_FIELD) {
            Some(v) => single_path(TIME_FIELD, &v)?,
            None => d.time_field,
        };
        let flow = match var(FLOW_FIELDS) {
            Some(v) => flow_fields(&v)?,
            None => d.flow,
        };
        Ok(Self {
            group_by,
            metrics,
            distinct,
            top_k,
            time_field,
            bucket_seconds: whole_number(&get, BUCKET_SECONDS, 1, 86_400)?.unwrap_or(d.bucket_seconds),
            allowed_lateness_seconds: whole_number(&get, ALLOWED_LATENESS_SECONDS, 0, 7 * 86_400)?
                .unwrap_or(d.allowed_lateness_seconds),
            max_groups: whole_number(&get, MAX_GROUPS, 1, MAX_GROUPS_LIMIT as u64)?
                .map_or(d.max_groups, |n| n as usize),
            max_edges: whole_number(&get, MAX_EDGES, 1, MAX_GROUPS_LIMIT as u64)?.map_or(d.max_edges, |n| n as usize),
            flow,
            reports_stream: var(REPORTS_STREAM),
            reports_bucket: var(REPORTS_BUCKET),
            reports_prefix: var(REPORTS_PREFIX).map_or(d.reports_prefix, folder),
            late_prefix: var(LATE_PREFIX).map_or(d.late_prefix, folder),
            quarantine: var(QUARANTINE_BUCKET).map(|bucket| QuarantineConfig {
                bucket,
                prefix: var(QUARANTINE_PREFIX).map_or_else(|| "quarantine/".to_string(), folder),
            }),
            limits: decode_limits(&get)?,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The reports bucket, or the error naming the variable to set.
    pub fn require_reports_bucket(&self) -> Result<&str, ConfigError> {
        self.reports_bucket.as_deref().ok_or(ConfigError::Missing(REPORTS_BUCKET))
    }

    /// A stable fingerprint of what the state holds (dimensions, fields,
    /// buckets): a state written under another configuration is not merged.
    pub fn fingerprint(&self) -> u64 {
        let mut text = format!(
            "v1|{:?}|{:?}|{:?}|{:?}|{}|{}",
            self.group_by, self.metrics, self.distinct, self.top_k, self.time_field, self.bucket_seconds
        );
        if let Some(f) = &self.flow {
            text.push_str(&format!("|{f:?}"));
        }
        fnv1a(text.as_bytes())
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn invalid(name: &'static str, value: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid { name, value: value.to_string(), problem: problem.to_string() }
}

fn folder(mut prefix: String) -> String {
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    prefix
}

fn single_path(name: &'static str, path: &str) -> Result<String, ConfigError> {
    let path = path.trim();
    if path.is_empty() || path.split('.').any(|p| p.trim().is_empty()) {
        return Err(invalid(name, path, "expected a dotted field path such as `http.status`"));
    }
    Ok(path.to_string())
}

fn paths(name: &'static str, value: &str, max: usize) -> Result<Vec<String>, ConfigError> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let list = value.split(',').map(|p| single_path(name, p)).collect::<Result<Vec<_>, _>>()?;
    if list.len() > max {
        return Err(invalid(name, value, &format!("at most {max} fields")));
    }
    Ok(list)
}

fn top_k(value: &str) -> Result<Option<(String, usize)>, ConfigError> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (field, k) = match value.rsplit_once(':') {
        Some((field, k)) => {
            let k = k.trim().parse::<usize>().ok().filter(|k| (1..=MAX_TOP_K).contains(k));
            let k =
                k.ok_or_else(|| invalid(TOP_K, value, &format!("K must be a whole number from 1 to {MAX_TOP_K}")))?;
            (field, k)
        }
        None => (value, 5),
    };
    Ok(Some((single_path(TOP_K, field)?, k)))
}

fn flow_fields(value: &str) -> Result<Option<FlowFields>, ConfigError> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let parts = value.split(',').map(|p| single_path(FLOW_FIELDS, p)).collect::<Result<Vec<_>, _>>()?;
    if !(2..=5).contains(&parts.len()) {
        return Err(invalid(FLOW_FIELDS, value, "expected CALLER,CALLEE[,LATENCY[,STATUS[,LEVEL]]]"));
    }
    let mut f = FlowFields::default();
    let mut it = parts.into_iter();
    for slot in [&mut f.caller, &mut f.callee, &mut f.latency, &mut f.status, &mut f.level] {
        match it.next() {
            Some(p) => *slot = p,
            None => break,
        }
    }
    Ok(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn given_nothing_set_when_reading_then_defaults() {
        let c = AggregateConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c, AggregateConfig::default());
        assert_eq!(c.require_reports_bucket(), Err(ConfigError::Missing(REPORTS_BUCKET)));
    }

    #[test]
    fn given_every_variable_when_reading_then_each_is_used() {
        let c = AggregateConfig::from_lookup(lookup(&[
            (GROUP_BY, "geo.country, kind"),
            (METRICS, "none"),
            (DISTINCT, "user,ip"),
            (TOP_K, "http.path:20"),
            (TIME_FIELD, "ts"),
            (BUCKET_SECONDS, "10"),
            (ALLOWED_LATENESS_SECONDS, "0"),
            (MAX_GROUPS, "50"),
            (MAX_EDGES, "7"),
            (FLOW_FIELDS, "from,to,ms"),
            (REPORTS_STREAM, "reports"),
            (REPORTS_BUCKET, "b"),
            (REPORTS_PREFIX, "r"),
            (LATE_PREFIX, "l/"),
        ]))
        .unwrap();
        assert_eq!(c.group_by, vec!["geo.country", "kind"]);
        assert!(c.metrics.is_empty());
        assert_eq!(c.distinct, vec!["user", "ip"]);
        assert_eq!(c.top_k, Some(("http.path".into(), 20)));
        assert_eq!((c.time_field.as_str(), c.bucket_seconds, c.allowed_lateness_seconds), ("ts", 10, 0));
        assert_eq!((c.max_groups, c.max_edges), (50, 7));
        let flow = c.flow.unwrap();
        assert_eq!((flow.caller.as_str(), flow.callee.as_str(), flow.latency.as_str()), ("from", "to", "ms"));
        assert_eq!(flow.status, "status");
        assert_eq!((c.reports_prefix.as_str(), c.late_prefix.as_str()), ("r/", "l/"));
        assert_eq!(c.reports_stream.as_deref(), Some("reports"));
    }

    #[test]
    fn given_bad_values_when_reading_then_the_error_names_the_variable() {
        for (name, value) in [
            (MAX_GROUPS, "0"),
            (MAX_GROUPS, "lots"),
            (TOP_K, "http.path:0"),
            (TOP_K, "http.path:1000"),
            (GROUP_BY, "a,,b"),
            (GROUP_BY, "none"),
            (FLOW_FIELDS, "caller"),
            (BUCKET_SECONDS, "0"),
            (METRICS, "a.b..c"),
        ] {
            let err = AggregateConfig::from_lookup(lookup(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn the_fingerprint_changes_with_what_the_state_holds_only() {
        let a = AggregateConfig::default();
        let mut b = a.clone();
        b.max_groups = 5;
        b.reports_bucket = Some("x".into());
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.group_by.push("kind".into());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
