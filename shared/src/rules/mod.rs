//! The rule language of the `filter` function: which enriched events become
//! alerts.
//!
//! A rule file (YAML or JSON; syntax in `rules/README.md`) holds rules, each
//! with an `id`, a `severity`, `tags` and a `condition` over dotted field paths
//! (`eq`, `ne`, `in`, `prefix`, `regex`, `cidr`, `gt`/`gte`/`lt`/`lte`/`range`,
//! `exists`, combined with `all`, `any`, `not`). A [`RuleSet`] is parsed,
//! validated and compiled once ([`parse`], [`compile`]); evaluating it reads
//! only the fields the rules test ([`fields`], [`eval`]). [`criteria`] turns
//! the rules into Lambda event-source `FilterCriteria`, [`pattern`] applies
//! such criteria as Lambda does, and [`handler`] is the filter function.
//!
//! ```
//! use eddy::rules::{Format, RuleSet, Severity};
//!
//! let rules = RuleSet::parse(
//!     r#"
//! rules:
//!   - id: server-errors
//!     severity: high
//!     tags: [http]
//!     condition: {field: http.status, gte: 500, lt: 600}
//! "#,
//!     Format::Yaml,
//! )?;
//! let verdict = rules.evaluate(r#"{"http":{"status":503}}"#)?;
//! assert_eq!(verdict.ids(), ["server-errors"]);
//! assert_eq!(verdict.severity(), Some(Severity::High));
//! assert!(!rules.evaluate(r#"{"http":{"status":200}}"#)?.is_match());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub mod compile;
pub mod criteria;
pub mod eval;
pub mod fields;
pub mod handler;
pub mod parse;
pub mod pattern;
pub mod sample;
mod scan;

use compile::{Cond, PathTrie};
use fields::Fields;

pub use criteria::{filter_criteria, mapping_patterns, CriteriaError, CriteriaOptions, FilterCriteria, RuleCriteria};
pub use handler::{Filter, FilterConfig, FilterProcessor};
pub use parse::Format;
pub use pattern::{PatternError, Patterns};

/// Errors reading a rule file; each names the rule and the path to the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file cannot be read.
    #[error("cannot read the rules file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The text is not valid YAML / JSON, or not the file's shape (`rules:` list).
    #[error("{0}")]
    Syntax(String),
    /// The file holds no rules.
    #[error("the file has no rules (expected `rules:` with at least one rule)")]
    NoRules,
    /// A rule is wrong, e.g. `rule "x": condition.all[1].cidr: invalid network "10.0.0.0/33"`.
    #[error("rule {rule}: {}", at(.path, .message))]
    Rule {
        /// The rule: its id in quotes, or `#N` (its position) when it has none.
        rule: String,
        /// The path to the key at fault within the rule, e.g. `condition.all[1].cidr`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An error in a named file.
    #[error("{file}: {error}")]
    InFile {
        /// The file.
        file: String,
        /// The error.
        error: Box<RuleError>,
    },
}

fn at(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

/// How urgent an alert is; ordered `low < medium < high < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Look today.
    Medium,
    /// Look now.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// The lowercase name, as written in rule files and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id, carried by the alerts it raises.
    pub id: String,
    /// What the rule is for (free text).
    pub description: Option<String>,
    /// The severity of its alerts.
    pub severity: Severity,
    /// Tags copied into its alerts (deduplicated, in order).
    pub tags: Vec<String>,
    pub(crate) condition: Cond,
}

/// A compiled rule file.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    trie: PathTrie,
    /// Slot of the event's own top-level `alert` key (the alert is spliced in
    /// without a rewrite unless the event already has one).
    alert_slot: u32,
    fields: Vec<String>,
}

impl RuleSet {
    /// Reads, validates and compiles a rule file (`.json` as JSON, else YAML);
    /// errors start with the file's path.
    pub fn load(path: &Path) -> Result<Self, RuleError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| RuleError::Io { path: path.display().to_string(), error })?;
        Self::parse(&text, Format::of_path(path))
            .map_err(|e| RuleError::InFile { file: path.display().to_string(), error: Box::new(e) })
    }

    /// Validates and compiles rule-file text.
    pub fn parse(text: &str, format: Format) -> Result<Self, RuleError> {
        let specs = parse::parse_specs(text, format)?;
        let mut trie = PathTrie::new();
        let rules = compile::compile_rules(specs, &mut trie)?;
        let mut fields = Vec::new();
        for rule in &rules {
            collect_paths(&rule.condition, &mut fields);
        }
        let alert_slot = trie.insert(&["alert"]);
        Ok(Self { rules, trie, alert_slot, fields })
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The dotted paths the rules test, each once, in order of first use.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The rules matching one event given as a JSON object's text.
    pub fn evaluate(&self, json: &str) -> Result<Verdict<'_>, serde_json::Error> {
        let fields = Fields::from_json(&self.trie, json)?;
        Ok(self.verdict(&fields))
    }

    /// Like [`RuleSet::evaluate`], reading through the decoder's index of the
    /// event's top-level members ([`crate::event::Event::members`]) when there is one.
    pub fn evaluate_indexed(
        &self,
        json: &str,
        index: &[crate::event::MemberSpan],
    ) -> Result<Verdict<'_>, serde_json::Error> {
        let fields = Fields::from_indexed_json(&self.trie, json, index)?;
        Ok(self.verdict(&fields))
    }

    /// The rules matching a plain-text event (seen as `{"message": text}`).
    pub fn evaluate_text(&self, text: &str) -> Verdict<'_> {
        self.verdict(&Fields::from_text(&self.trie, text))
    }

    pub(crate) fn verdict(&self, fields: &Fields<'_>) -> Verdict<'_> {
        Verdict {
            matched: self.rules.iter().filter(|r| r.condition.eval(fields)).collect(),
            has_alert_key: fields.get(self.alert_slot).is_some(),
        }
    }
}

fn collect_paths(cond: &Cond, out: &mut Vec<String>) {
    match cond {
        Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| collect_paths(c, out)),
        Cond::Not(c) => collect_paths(c, out),
        Cond::Leaf(leaf) => {
            if !out.contains(&leaf.path) {
                out.push(leaf.path.clone());
            }
        }
    }
}

/// Which rules an event matched.
#[derive(Debug, Clone)]
pub struct Verdict<'r> {
    matched: Vec<&'r Rule>,
    has_alert_key: bool,
}

impl<'r> Verdict<'r> {
    /// Whether at least one rule matched.
    pub fn is_match(&self) -> bool {
        !self.matched.is_empty()
    }

    /// The matched rules, in file order.
    pub fn rules(&self) -> &[&'r Rule] {
        &self.matched
    }

    /// The matched rules' ids, in file order.
    pub fn ids(&self) -> Vec<&'r str> {
        self.matched.iter().map(|r| r.id.as_str()).collect()
    }

    /// The highest severity among the matched rules.
    pub fn severity(&self) -> Option<Severity> {
        self.matched.iter().map(|r| r.severity).max()
    }

    /// The matched rules' tags, each once, in order of first appearance.
    pub fn tags(&self) -> Vec<&'r str> {
        let mut tags: Vec<&str> = Vec::new();
        for tag in self.matched.iter().flat_map(|r| r.tags.iter()) {
            if !tags.contains(&tag.as_str()) {
                tags.push(tag);
            }
        }
        tags
    }

    /// Whether the event already has a top-level `alert` key.
    pub(crate) fn has_alert_key(&self) -> bool {
        self.has_alert_key
    }
}
