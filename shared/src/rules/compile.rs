//! Validating and compiling rule specs, once at init: paths split into a trie
//! of the fields the rules read, regexes compiled, networks parsed, numeric
//! ranges checked. Every error names the rule and the path to the key.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

use super::parse::{CondSpec, RuleSpec};
use super::{Rule, RuleError};

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// Every one holds.
    All(Vec<Cond>),
    /// At least one holds.
    Any(Vec<Cond>),
    /// The inner one does not hold.
    Not(Box<Cond>),
    /// A test of one field.
    Leaf(Leaf),
}

/// A test of the value at one dotted path.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// The path as written, e.g. `http.status`.
    pub path: String,
    /// Where the extracted value of the path lives.
    pub slot: u32,
    /// What it must satisfy.
    pub test: Test,
}

/// The operators.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Eq(Scalar),
    Ne(Scalar),
    In(Vec<Scalar>),
    Prefix(String),
    Regex(Regex),
    Cidr(Vec<IpNet>),
    Range(Range),
    Exists(bool),
}

/// A JSON scalar to compare with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Scalar {
    /// The scalar as JSON (integers without a fraction).
    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Num(n) => number_json(*n),
            Scalar::Str(s) => Value::String(s.clone()),
        }
    }
}

/// `n` as a JSON number: an integer when it has no fraction (so `500`, not `500.0`).
pub(crate) fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    pub value: f64,
    pub inclusive: bool,
}

/// A numeric range; an absent end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub lo: Option<Bound>,
    pub hi: Option<Bound>,
}

impl Range {
    /// Whether `x` lies in the range.
    pub fn contains(&self, x: f64) -> bool {
        let above = match self.lo {
            Some(Bound { value, inclusive: true }) => x >= value,
            Some(Bound { value, inclusive: false }) => x > value,
            None => true,
        };
        let below = match self.hi {
            Some(Bound { value, inclusive: true }) => x <= value,
            Some(Bound { value, inclusive: false }) => x < value,
            None => true,
        };
        above && below
    }
}

/// The fields the rules read, as a trie of path segments; each path that a
/// rule tests has a slot, where the extracted value goes.
#[derive(Debug, Clone)]
pub(crate) struct PathTrie {
    pub nodes: Vec<TrieNode>,
    pub slots: usize,
}

/// One segment of the trie.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrieNode {
    pub children: Vec<(Box<str>, u32)>,
    pub slot: Option<u32>,
}

impl PathTrie {
    /// A trie with only its root (the event object).
    pub fn new() -> Self {
        Self { nodes: vec![TrieNode::default()], slots: 0 }
    }

    /// The child of `node` named `key`.
    pub fn child(&self, node: u32, key: &str) -> Option<u32> {
        self.nodes[node as usize].children.iter().find(|(k, _)| &**k == key).map(|(_, n)| *n)
    }

    /// The slot of a path, added if new.
    pub fn insert(&mut self, segments: &[&str]) -> u32 {
        let mut node = 0u32;
        for seg in segments {
            node = match self.child(node, seg) {
                Some(n) => n,
                None => {
                    self.nodes.push(TrieNode::default());
                    let n = (self.nodes.len() - 1) as u32;
                    self.nodes[node as usize].children.push(((*seg).into(), n));
                    n
                }
            };
        }
        let slots = &mut self.slots;
        *self.nodes[node as usize].slot.get_or_insert_with(|| {
            *slots += 1;
            (*slots - 1) as u32
        })
    }
}

/// Compiles the specs in order; ids must be unique.
pub(crate) fn compile_rules(specs: Vec<RuleSpec>, trie: &mut PathTrie) -> Result<Vec<Rule>, RuleError> {
    let mut rules: Vec<Rule> = Vec::with_capacity(specs.len());
    for (index, spec) in specs.into_iter().enumerate() {
        let name = format!("\"{}\"", spec.id);
        let err = |path: &str, message: String| RuleError::Rule { rule: name.clone(), path: path.to_string(), message };
        check_id(&spec.id).map_err(|m| err("id", m))?;
        if let Some(first) = rules.iter().position(|r| r.id == spec.id) {
            return Err(err("id", format!("rule #{} already has this id (rule #{} repeats it)", first + 1, index + 1)));
        }
        let mut tags: Vec<String> = Vec::with_capacity(spec.tags.len());
        for (i, tag) in spec.tags.into_iter().enumerate() {
            if tag.trim().is_empty() {
                return Err(err(&format!("tags[{i}]"), "a tag must not be empty".into()));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let mut compiler = Compiler { trie, rule: &name };
        let condition = compiler.cond(spec.condition, "condition")?;
        rules.push(Rule { id: spec.id, description: spec.description, severity: spec.severity, tags, condition });
    }
    Ok(rules)
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the id must not be empty".into());
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))) {
        return Err(format!("character {c:?} not allowed in an id (use letters, digits and - _ . : /)"));
    }
    Ok(())
}

struct Compiler<'a> {
    trie: &'a mut PathTrie,
    rule: &'a str,
}

const OPERATORS: &str = "eq, ne, in, prefix, regex, cidr, gt, gte, lt, lte, range, exists";

impl Compiler<'_> {
    fn err(&self, path: &str, message: impl Into<String>) -> RuleError {
        RuleError::Rule { rule: self.rule.to_string(), path: path.to_string(), message: message.into() }
    }

    fn cond(&mut self, spec: CondSpec, at: &str) -> Result<Cond, RuleError> {
        let combinators: Vec<&str> =
            [("all", spec.all.is_some()), ("any", spec.any.is_some()), ("not", spec.not.is_some())]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(k, _)| *k)
                .collect();
        let ops = operators(&spec);
        if combinators.len() > 1 {
            return Err(self.err(
                at,
                format!(
                    "one of all, any, not per condition (found {}); nest them to combine",
                    combinators.join(" and ")
                ),
            ));
        }
        if let Some(comb) = combinators.first() {
            let mut tests: Vec<&str> = ops.clone();
            if spec.field.is_some() {
                tests.insert(0, "field");
            }
            if !tests.is_empty() {
                return Err(self.err(
                    at,
                    format!(
                        "`{comb}` cannot sit beside a field test (found {}); move the test into it",
                        tests.join(", ")
                    ),
                ));
            }
            return self.combinator(spec, at);
        }
        let Some(field) = spec.field.clone() else {
            return Err(if ops.is_empty() {
                self.err(at, "empty condition: expected `field` with an operator, or `all`, `any` or `not`")
            } else {
                self.err(at, format!("`{}` needs a `field` to test", ops.join("`, `")))
            });
        };
        let segments = split_path(&field).map_err(|m| self.err(&format!("{at}.field"), m))?;
        if ops.is_empty() {
            return Err(self.err(at, format!("field `{field}` has no operator: expected one of {OPERATORS}")));
        }
        let numeric = ops.iter().all(|op| matches!(*op, "gt" | "gte" | "lt" | "lte" | "range"));
        if ops.len() > 1 && !numeric {
            return Err(self
                .err(at, format!("one operator per condition (found {}); combine tests with `all`", ops.join(", "))));
        }
        let test = self.test(spec, at)?;
        let slot = self.trie.insert(&segments);
        Ok(Cond::Leaf(Leaf { path: field, slot, test }))
    }

    fn combinator(&mut self, spec: CondSpec, at: &str) -> Result<Cond, RuleError> {
        if let Some(inner) = spec.not {
            return Ok(Cond::Not(Box::new(self.cond(*inner, &format!("{at}.not"))?)));
        }
        let (name, list, all) = match (spec.all, spec.any) {
            (Some(list), _) => ("all", list, true),
            (_, Some(list)) => ("any", list, false),
            _ => return Err(self.err(at, "expected all, any or not")),
        };
        if list.is_empty() {
            return Err(self.err(&format!("{at}.{name}"), "the list is empty: give it at least one condition"));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, child) in list.into_iter().enumerate() {
            out.push(self.cond(child, &format!("{at}.{name}[{i}]"))?);
        }
        Ok(if all { Cond::All(out) } else { Cond::Any(out) })
    }

    fn test(&self, spec: CondSpec, at: &str) -> Result<Test, RuleError> {
        if let Some(v) = spec.eq {
            return Ok(Test::Eq(self.scalar(&v, &format!("{at}.eq"))?));
        }
        if let Some(v) = spec.ne {
            return Ok(Test::Ne(self.scalar(&v, &format!("{at}.ne"))?));
        }
        if let Some(list) = spec.in_ {
            if list.is_empty() {
                return Err(self.err(&format!("{at}.in"), "the list is empty: it would never match"));
            }
            let mut values = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                let s = self.scalar(v, &format!("{at}.in[{i}]"))?;
                if !values.contains(&s) {
                    values.push(s);
                }
            }
            return Ok(Test::In(values));
        }
        if let Some(p) = spec.prefix {
            if p.is_empty() {
                return Err(self.err(&format!("{at}.prefix"), "an empty prefix matches every string: use `exists`"));
            }
            return Ok(Test::Prefix(p));
        }
        if let Some(r) = spec.regex {
            return Regex::new(&r)
                .map(Test::Regex)
                .map_err(|e| self.err(&format!("{at}.regex"), format!("invalid regex {r:?}: {e}")));
        }
        if let Some(v) = spec.cidr {
            return self.cidr(&v, &format!("{at}.cidr")).map(Test::Cidr);
        }
        if let Some(b) = spec.exists {
            return Ok(Test::Exists(b));
        }
        self.range(&spec, at).map(Test::Range)
    }

    fn scalar(&self, v: &Value, at: &str) -> Result<Scalar, RuleError> {
        match v {
            Value::Null => Ok(Scalar::Null),
            Value::Bool(b) => Ok(Scalar::Bool(*b)),
            Value::Number(n) => n
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Scalar::Num)
                .ok_or_else(|| self.err(at, format!("{n} is not a finite number"))),
            Value::String(s) => Ok(Scalar::Str(s.clone())),
            Value::Array(_) => Err(self.err(at, "expected a string, number, boolean or null, found a list (use `in`)")),
            Value::Object(_) => Err(self.err(at, "expected a string, number, boolean or null, found a map")),
        }
    }

    fn cidr(&self, v: &Value, at: &str) -> Result<Vec<IpNet>, RuleError> {
        match v {
            Value::String(s) => Ok(vec![self.network(s, at)?]),
            Value::Array(items) if items.is_empty() => {
                Err(self.err(at, "the list is empty: give at least one network"))
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => self.network(s, &format!("{at}[{i}]")),
                    other => Err(self
                        .err(&format!("{at}[{i}]"), format!("expected a network such as 10.0.0.0/8, found {other}"))),
                })
                .collect(),
            other => Err(self.err(at, format!("expected a network or a list of networks, found {other}"))),
        }
    }

    fn network(&self, s: &str, at: &str) -> Result<IpNet, RuleError> {
        let text = s.trim();
        if !text.contains('/') {
            return text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                self.err(at, format!("invalid network {s:?} (expected e.g. 10.0.0.0/8 or 2001:db8::/32)"))
            });
        }
        let net: IpNet = text
            .parse()
            .map_err(|_| self.err(at, format!("invalid network {s:?} (expected e.g. 10.0.0.0/8 or 2001:db8::/32)")))?;
        if net.trunc() != net {
            return Err(
                self.err(at, format!("invalid network {s:?}: host bits are set (the network is {})", net.trunc()))
            );
        }
        Ok(net)
    }

    fn range(&self, spec: &CondSpec, at: &str) -> Result<Range, RuleError> {
        let finite = |x: f64, key: &str| {
            if x.is_finite() {
                Ok(x)
            } else {
                Err(self.err(&format!("{at}.{key}"), format!("{x} is not a finite number")))
            }
        };
        let range = if let Some([lo, hi]) = spec.range {
            if spec.gt.is_some() || spec.gte.is_some() || spec.lt.is_some() || spec.lte.is_some() {
                return Err(self.err(at, "use either `range` or gt/gte/lt/lte, not both"));
            }
            Range {
                lo: Some(Bound { value: finite(lo, "range")?, inclusive: true }),
                hi: Some(Bound { value: finite(hi, "range")?, inclusive: true }),
            }
        } else {
            if spec.gt.is_some() && spec.gte.is_some() {
                return Err(self.err(at, "both `gt` and `gte`: keep one"));
            }
            if spec.lt.is_some() && spec.lte.is_some() {
                return Err(self.err(at, "both `lt` and `lte`: keep one"));
            }
            let lo = match (spec.gt, spec.gte) {
                (Some(x), _) => Some(Bound { value: finite(x, "gt")?, inclusive: false }),
                (_, Some(x)) => Some(Bound { value: finite(x, "gte")?, inclusive: true }),
                _ => None,
            };
            let hi = match (spec.lt, spec.lte) {
                (Some(x), _) => Some(Bound { value: finite(x, "lt")?, inclusive: false }),
                (_, Some(x)) => Some(Bound { value: finite(x, "lte")?, inclusive: true }),
                _ => None,
            };
            Range { lo, hi }
        };
        if let (Some(lo), Some(hi)) = (range.lo, range.hi) {
            if lo.value > hi.value || (lo.value == hi.value && !(lo.inclusive && hi.inclusive)) {
                let key = if spec.range.is_some() { format!("{at}.range") } else { at.to_string() };
                return Err(self
                    .err(&key, format!("the range from {} to {} is empty: it would never match", lo.value, hi.value)));
            }
        }
        Ok(range)
    }
}

/// The operator keys present in a condition, in a fixed order.
fn operators(spec: &CondSpec) -> Vec<&'static str> {
    [
        ("eq", spec.eq.is_some()),
        ("ne", spec.ne.is_some()),
        ("in", spec.in_.is_some()),
        ("prefix", spec.prefix.is_some()),
        ("regex", spec.regex.is_some()),
        ("cidr", spec.cidr.is_some()),
        ("gt", spec.gt.is_some()),
        ("gte", spec.gte.is_some()),
        ("lt", spec.lt.is_some()),
        ("lte", spec.lte.is_some()),
        ("range", spec.range.is_some()),
        ("exists", spec.exists.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| *k)
    .collect()
}

/// `geo.country` -> `["geo", "country"]`; no empty segments.
pub(crate) fn split_path(path: &str) -> Result<Vec<&str>, String> {
    if path.is_empty() {
        return Err("the field path is empty".into());
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("invalid field path {path:?}: empty segment (write e.g. `http.status`)"));
    }
    Ok(segments)
}
