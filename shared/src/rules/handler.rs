//! The filter function: each enriched event is checked against the rule set;
//! an event matching at least one rule goes to the alerts stream as the event
//! plus `"alert": {"rules": [ids], "severity": highest, "tags": [...]}`; the
//! others are dropped with the reason [`NO_RULE_MATCHED`] (counted by the
//! batch driver).

use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
use aws_lambda_events::streams::KinesisEventResponse;

use super::{RuleError, RuleSet, Verdict};
use crate::aws::{kinesis_client, s3_client};
use crate::batch::{parse_kinesis_event, BatchError, BatchReport, Driver, DropReason, Outputs, Processor};
use crate::config::{ArchiveConfig, ConfigError, QuarantineConfig, QUARANTINE_BUCKET};
use crate::deadline::Deadline;
use crate::decode::DecodeLimits;
use crate::event::{Data, Event};
use crate::json::{with_alert, write_key, write_str};
use crate::limits::KINESIS;
use crate::sink::{DirSink, KinesisSink, MemorySink, S3Sink, Sink};

/// The alerts sink's slot in the processor's outputs.
pub const ALERTS_SLOT: usize = 0;
/// Drop reason of events no rule matched.
pub const NO_RULE_MATCHED: &str = "no rule matched";
/// Drop reason of JSON events whose text cannot be read (the decoder checked it, so: never).
pub const UNREADABLE_JSON: &str = "event JSON could not be read";

/// Env var: the rule file (YAML, or JSON when it ends in `.json`).
pub const RULES_FILE: &str = "EDDY_RULES_FILE";
/// Env var: the Kinesis stream (name or ARN) alerts are put into.
pub const ALERTS_STREAM: &str = "EDDY_ALERTS_STREAM";

/// The filter function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterConfig {
    /// The rule file, when set.
    pub rules_file: Option<PathBuf>,
    /// The alerts stream, when set.
    pub alerts_stream: Option<String>,
    /// Where undecodable records go in S3 (`EDDY_QUARANTINE_BUCKET` / `_PREFIX`).
    pub quarantine: Option<QuarantineConfig>,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

impl FilterConfig {
    /// Reads the configuration from `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // the quarantine and the decoding guards are read as the archive reads them
        let common = ArchiveConfig::from_lookup(&get)?;
        let non_empty = |name| get(name).filter(|v: &String| !v.trim().is_empty());
        Ok(Self {
            rules_file: non_empty(RULES_FILE).map(PathBuf::from),
            alerts_stream: non_empty(ALERTS_STREAM),
            quarantine: common.quarantine,
            limits: common.limits,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Loads and compiles the rule file named by `EDDY_RULES_FILE`.
    pub fn load_rules(&self) -> Result<RuleSet, InitError> {
        let path = self.rules_file.as_deref().ok_or(ConfigError::Missing(RULES_FILE))?;
        Ok(RuleSet::load(path)?)
    }

    /// The alerts stream, or the error naming the variable to set.
    pub fn require_alerts_stream(&self) -> Result<&str, ConfigError> {
        self.alerts_stream.as_deref().ok_or(ConfigError::Missing(ALERTS_STREAM))
    }

    /// The quarantine location, or the error naming the variable to set.
    pub fn require_quarantine(&self) -> Result<&QuarantineConfig, ConfigError> {
        self.quarantine.as_ref().ok_or(ConfigError::Missing(QUARANTINE_BUCKET))
    }
}

/// Why the filter function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A variable is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rule file is missing or wrong.
    #[error(transparent)]
    Rules(#[from] RuleError),
}

/// Checks each event against the rules and emits the alerts.
#[derive(Debug, Clone, Copy)]
pub struct FilterProcessor<'r> {
    rules: &'r RuleSet,
}

impl<'r> FilterProcessor<'r> {
    /// A processor for `rules`.
    pub fn new(rules: &'r RuleSet) -> Self {
        Self { rules }
    }
}

impl Processor for FilterProcessor<'_> {
    fn name(&self) -> &'static str {
        "filter"
    }

    fn process(&mut self, event: &Event<'_>, out: &mut Outputs) -> Result<(), DropReason> {
        let verdict = match &event.data {
            Data::Json(raw) => self.rules.evaluate_indexed(raw, event.members).map_err(|_| UNREADABLE_JSON)?,
            Data::Text(text) => self.rules.evaluate_text(text),
        };
        if !verdict.is_match() {
            return Err(NO_RULE_MATCHED);
        }
        out.push(ALERTS_SLOT, event.coords.partition_key, alert_record(&event.data, &verdict));
        Ok(())
    }
}

/// The alert: the event's object with `"alert": {...}` added as its last key
/// (replacing an `alert` the event had); a text event becomes
/// `{"message": text, "alert": {...}}`. One compact JSON object, no newline.
pub fn alert_record(data: &Data<'_>, verdict: &Verdict<'_>) -> Vec<u8> {
    let mut alert = Vec::with_capacity(128);
    write_alert(&mut alert, verdict);
    match data {
        Data::Json(raw) => with_alert(raw, &alert, verdict.has_alert_key()),
        Data::Text(text) => {
            let mut out = Vec::with_capacity(text.len() + alert.len() + 32);
            out.push(b'{');
            write_key(&mut out, "message");
            write_str(&mut out, text);
            out.push(b',');
            write_key(&mut out, "alert");
            out.extend_from_slice(&alert);
            out.push(b'}');
            out
        }
    }
}

/// `{"rules":[..],"severity":"..","tags":[..]}`.
fn write_alert(out: &mut Vec<u8>, verdict: &Verdict<'_>) {
    out.push(b'{');
    write_key(out, "rules");
    write_list(out, verdict.ids());
    out.push(b',');
    write_key(out, "severity");
    write_str(out, verdict.severity().map(|s| s.as_str()).unwrap_or("low"));
    out.push(b',');
    write_key(out, "tags");
    write_list(out, verdict.tags());
    out.push(b'}');
}

fn write_list(out: &mut Vec<u8>, items: Vec<&str>) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item);
    }
    out.push(b']');
}

/// The filter function: its rules and sinks, built once at init.
pub struct Filter {
    /// The compiled rules.
    pub rules: RuleSet,
    /// Where alerts go (a Kinesis stream in Lambda).
    pub alerts: Box<dyn Sink>,
    /// Where undecodable records go (S3 in Lambda).
    pub quarantine: Box<dyn Sink>,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

impl Filter {
    /// The filter as deployed: rules from `EDDY_RULES_FILE`, alerts to the
    /// Kinesis stream `EDDY_ALERTS_STREAM`, the quarantine in S3.
    pub fn with_aws(config: &FilterConfig, sdk: &SdkConfig) -> Result<Self, InitError> {
        let rules = config.load_rules()?;
        let quarantine = config.require_quarantine()?;
        Ok(Self {
            rules,
            alerts: Box::new(
                KinesisSink::new(kinesis_client(sdk), config.require_alerts_stream()?).with_name("alerts"),
            ),
            quarantine: Box::new(
                S3Sink::new(s3_client(sdk), &quarantine.bucket, &quarantine.prefix, false).with_name("quarantine"),
            ),
            limits: config.limits,
        })
    }

    /// The filter writing under a local folder: `root/alerts/` and `root/quarantine/` (NDJSON).
    pub fn with_dir(config: &FilterConfig, root: &Path) -> Result<Self, InitError> {
        Ok(Self {
            rules: config.load_rules()?,
            alerts: Box::new(DirSink::new(root, "alerts", false).with_limits(crate::limits::KINESIS)),
            quarantine: Box::new(DirSink::new(root, "quarantine", false)),
            limits: config.limits,
        })
    }

    /// The filter with counting in-memory sinks (benchmarks, `--repeat`).
    pub fn in_memory(rules: RuleSet, limits: DecodeLimits) -> Self {
        Self {
            rules,
            alerts: Box::new(MemorySink::counting("alerts").with_limits(KINESIS)),
            quarantine: Box::new(MemorySink::counting("quarantine")),
            limits,
        }
    }

    /// Handles one Lambda Kinesis event given as its raw JSON.
    pub async fn handle(&self, payload: &[u8], deadline: Deadline) -> Result<KinesisEventResponse, BatchError> {
        self.run(payload, deadline).await.map(|r| r.response)
    }

    /// Like [`Filter::handle`], returning the whole report (counts included).
    pub async fn run(&self, payload: &[u8], deadline: Deadline) -> Result<BatchReport, BatchError> {
        let records = parse_kinesis_event(payload)?;
        let driver =
            Driver { sinks: vec![self.alerts.as_ref()], quarantine: self.quarantine.as_ref(), limits: self.limits };
        driver.run(&records, &mut FilterProcessor::new(&self.rules), deadline).await
    }
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
    fn given_no_variables_when_read_then_the_missing_names_are_reported() {
        let c = FilterConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.require_alerts_stream(), Err(ConfigError::Missing(ALERTS_STREAM)));
        let err = c.load_rules().unwrap_err();
        assert!(err.to_string().contains(RULES_FILE), "{err}");
    }

    #[test]
    fn given_the_variables_when_read_then_they_are_kept() {
        let c = FilterConfig::from_lookup(lookup(&[
            (RULES_FILE, "rules/security.yaml"),
            (ALERTS_STREAM, "alerts"),
            (QUARANTINE_BUCKET, "b"),
        ]))
        .unwrap();
        assert_eq!(c.rules_file.as_deref(), Some(Path::new("rules/security.yaml")));
        assert_eq!(c.require_alerts_stream(), Ok("alerts"));
        assert_eq!(c.require_quarantine().unwrap().prefix, "quarantine/");
    }

    #[test]
    fn given_objects_of_any_shape_when_the_alert_is_spliced_then_the_result_is_one_valid_object() {
        let rules = RuleSet::parse(
            "rules:\n  - {id: any, severity: high, tags: [t], condition: {field: x, exists: false}}\n",
            crate::rules::Format::Yaml,
        )
        .unwrap();
        for raw in ["{}", "{ }", r#"{"a":1}"#, r#" {"a":{"b":[1,"}"]}} "#, r#"{"alert":{"old":true},"a":1}"#] {
            let verdict = rules.evaluate(raw).unwrap();
            let out = alert_record(&Data::Json(raw.into()), &verdict);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(v["alert"]["rules"][0], "any", "{raw}");
            assert_eq!(String::from_utf8_lossy(&out).matches("\"alert\"").count(), 1, "{raw}");
        }
    }

    #[test]
    fn given_a_missing_rule_file_when_loaded_then_the_error_names_it() {
        let c = FilterConfig::from_lookup(lookup(&[(RULES_FILE, "/nonexistent/rules.yaml")])).unwrap();
        let err = c.load_rules().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/rules.yaml"), "{err}");
    }
}
