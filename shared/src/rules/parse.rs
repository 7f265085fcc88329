//! Reading a rule file: YAML or JSON text -> the rule specs as written, with
//! unknown keys refused. Meaning (operators, networks, regexes) is checked in
//! [`super::compile`].

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{RuleError, Severity};

/// The text format of a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (the default; any file not ending in `.json`).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format of a file, by its extension: `.json` is JSON, anything else YAML.
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// The whole file: `rules:` and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    rules: Vec<Value>,
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub severity: Severity,
    #[serde(default)]
    pub tags: Vec<String>,
    pub condition: CondSpec,
}

/// One condition node as written: either a combinator (`all`, `any`, `not`)
/// or a test of one `field` (one operator, or a numeric range).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CondSpec {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub eq: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub ne: Option<Value>,
    #[serde(default, rename = "in")]
    pub in_: Option<Vec<Value>>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub cidr: Option<Value>,
    #[serde(default)]
    pub gt: Option<f64>,
    #[serde(default)]
    pub gte: Option<f64>,
    #[serde(default)]
    pub lt: Option<f64>,
    #[serde(default)]
    pub lte: Option<f64>,
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default)]
    pub all: Option<Vec<CondSpec>>,
    #[serde(default)]
    pub any: Option<Vec<CondSpec>>,
    #[serde(default)]
    pub not: Option<Box<CondSpec>>,
}

/// `Some(value)` for a key that is present, even when its value is `null`
/// (so `eq: null` tests for null instead of vanishing).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The rules of a file, each checked against the rule schema, in file order.
pub(crate) fn parse_specs(text: &str, format: Format) -> Result<Vec<RuleSpec>, RuleError> {
    let file: FileSpec = match format {
        Format::Json => serde_json::from_str(text).map_err(|e| RuleError::Syntax(e.to_string()))?,
        Format::Yaml => yaml_serde::from_str(text).map_err(|e| RuleError::Syntax(e.to_string()))?,
    };
    if file.rules.is_empty() {
        return Err(RuleError::NoRules);
    }
    file.rules.into_iter().enumerate().map(|(index, raw)| parse_rule(index, raw)).collect()
}

/// One rule, with errors naming the rule (its id, else its position) and the
/// path to the offending key.
fn parse_rule(index: usize, raw: Value) -> Result<RuleSpec, RuleError> {
    let name = match raw.get("id").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => format!("\"{id}\""),
        _ => format!("#{}", index + 1),
    };
    serde_path_to_error::deserialize::<_, RuleSpec>(raw).map_err(|e| {
        let path = path_string(e.path());
        RuleError::Rule { rule: name, path, message: e.into_inner().to_string() }
    })
}

/// `condition.all[1].cidr` from serde_path_to_error's segments.
fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}
