//! Lambda event-source `FilterCriteria` from a rule set, so that Lambda drops
//! records no rule can match before the function is invoked.
//!
//! Lambda keeps a record when ANY filter matches it, so the criteria must keep
//! every record that could match ANY rule: they may keep more (the function
//! evaluates every rule anyway) but never less. Each rule is turned into
//! filter patterns on the Kinesis `data` key that match a superset of its
//! events:
//! - `eq`/`in` -> equals (numbers as `{"numeric": ["=", n]}`: Lambda compares
//!   plain numbers by their text, so `300` would miss `300.0`), `ne` ->
//!   `anything-but`, `prefix` -> `prefix`, numeric tests -> `numeric`,
//!   `exists` -> `exists`; `any` over one field -> one list, `any` over
//!   several fields -> several filters; `not` only over `exists`.
//! - `cidr`: IPv4 networks become string prefixes (`10.0.0.0/8` -> `"10."`,
//!   `/16` and `/24` likewise, `/32` an exact match); other IPv4 prefix
//!   lengths are widened to the enclosing /8, /16 or /24; IPv6 cannot be
//!   expressed (its text forms vary).
//! - What cannot be expressed inside an `all` (a `regex`, a `not`, a second
//!   test of the same field) is left out of that rule's patterns: they then
//!   match more than the rule (**widened**), which is safe.
//! - A rule whose patterns would match every record (its whole condition is
//!   a `regex`, a `not eq`, an IPv6 `cidr`, an `any` with such a branch) is
//!   **not expressible**; then no criteria can be emitted for the set, since
//!   dropping the others' records would lose that rule's alerts.
//!
//! The patterns are then merged where that loses nothing (same fields, one
//! field's lists joined; a pattern implied by another dropped) and checked
//! against Lambda's limits: 5 filters per event source mapping by default
//! (10 with a quota increase), 4,096 characters per pattern.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use super::compile::{number_json, Bound, Cond, Leaf, Range, Scalar, Test};
use super::RuleSet;

/// Filters per event source mapping by default.
pub const DEFAULT_MAX_FILTERS: usize = 5;
/// Filters per event source mapping with a quota increase.
pub const QUOTA_MAX_FILTERS: usize = 10;
/// Characters per filter pattern.
pub const MAX_PATTERN_CHARS: usize = 4096;
/// Lambda (like EventBridge) compares numbers in `numeric` only within ±5.0e9.
pub const NUMERIC_LIMIT: f64 = 5.0e9;
/// Alternatives one rule may expand into before a branch is left out.
const MAX_ALTERNATIVES: usize = 32;

/// Options of [`filter_criteria`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriteriaOptions {
    /// Most filters allowed (5 by default; up to 10 with a quota increase).
    pub max_filters: usize,
}

impl Default for CriteriaOptions {
    fn default() -> Self {
        Self { max_filters: DEFAULT_MAX_FILTERS }
    }
}

/// How well one rule is expressed by its patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expressed {
    /// The patterns match exactly the rule's events (up to Lambda's number handling).
    Exact,
    /// The patterns match more than the rule's events; why.
    Widened(Vec<String>),
    /// The patterns would match every record; why.
    No(Vec<String>),
}

/// One rule's patterns, before the set's patterns are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCriteria {
    /// The rule.
    pub id: String,
    /// Its patterns (JSON text of `{"data": {...}}`), empty when not expressible.
    pub patterns: Vec<String>,
    /// How well they express it.
    pub expressed: Expressed,
}

/// The criteria of a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterCriteria {
    /// The filter patterns (JSON text), at most the allowed number.
    pub patterns: Vec<String>,
    /// Each rule's own patterns and how well they express it.
    pub rules: Vec<RuleCriteria>,
}

impl FilterCriteria {
    /// `{"Filters":[{"Pattern":"..."}]}`, as the Lambda API, the CLI and SAM take it.
    pub fn to_json(&self) -> Value {
        json!({ "Filters": self.patterns.iter().map(|p| json!({ "Pattern": p })).collect::<Vec<_>>() })
    }

    /// The patterns, ready to apply to records as an event source mapping does.
    pub fn matcher(&self) -> Result<super::Patterns, super::PatternError> {
        super::Patterns::parse(&self.patterns)
    }
}

/// Why no criteria can be emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CriteriaError {
    /// Some rules would need a filter that keeps every record.
    #[error("{}", not_expressible(.0))]
    NotExpressible(Vec<RuleCriteria>),
    /// More filters are needed than allowed.
    #[error(
        "the rules need {needed} filters; an event source mapping allows {max} (5 by default, up to 10 with a quota \
         increase: --max-filters 10); simplify the rules or keep no FilterCriteria"
    )]
    TooManyFilters {
        /// Filters needed after merging.
        needed: usize,
        /// Filters allowed.
        max: usize,
    },
    /// A pattern is over Lambda's length limit.
    #[error("a filter pattern is {chars} characters, over Lambda's limit of {MAX_PATTERN_CHARS}: {pattern}")]
    PatternTooLong {
        /// Its length.
        chars: usize,
        /// The start of the pattern.
        pattern: String,
    },
    /// A pattern cannot be applied to records.
    #[error(transparent)]
    Pattern(#[from] super::PatternError),
}

fn not_expressible(rules: &[RuleCriteria]) -> String {
    let mut out = String::from(
        "no FilterCriteria can be emitted: these rules cannot be expressed as Lambda filter patterns, and filtering \
         on the others would drop their events:",
    );
    for rule in rules {
        if let Expressed::No(why) = &rule.expressed {
            out.push_str(&format!("\n  rule \"{}\": {}", rule.id, why.join("; ")));
        }
    }
    out
}

/// The criteria for `rules`, or why none can be emitted safely.
pub fn filter_criteria(rules: &RuleSet, options: &CriteriaOptions) -> Result<FilterCriteria, CriteriaError> {
    let per_rule: Vec<(RuleCriteria, Vec<Conj>)> =
        rules.rules().iter().map(|r| rule_criteria(&r.id, &r.condition)).collect();
    let failed: Vec<RuleCriteria> =
        per_rule.iter().filter(|(r, _)| matches!(r.expressed, Expressed::No(_))).map(|(r, _)| r.clone()).collect();
    if !failed.is_empty() {
        return Err(CriteriaError::NotExpressible(failed));
    }
    let mut conjs: Vec<Conj> = Vec::new();
    for conj in per_rule.iter().flat_map(|(_, c)| c.iter()) {
        if !conjs.contains(conj) {
            conjs.push(conj.clone());
        }
    }
    let conjs = simplify(conjs);
    if conjs.len() > options.max_filters {
        return Err(CriteriaError::TooManyFilters { needed: conjs.len(), max: options.max_filters });
    }
    let patterns: Vec<String> = conjs.iter().map(pattern_text).collect();
    if let Some(p) = patterns.iter().find(|p| p.chars().count() > MAX_PATTERN_CHARS) {
        return Err(CriteriaError::PatternTooLong { chars: p.chars().count(), pattern: p.chars().take(200).collect() });
    }
    Ok(FilterCriteria { patterns, rules: per_rule.into_iter().map(|(r, _)| r).collect() })
}

/// The patterns filter's event source mapping gets when deployed with
/// `rules` ([`filter_criteria`] with the default limits, as `eddy rules
/// filter-criteria` prints them), ready to apply to records.
pub fn mapping_patterns(rules: &RuleSet) -> Result<super::Patterns, CriteriaError> {
    Ok(filter_criteria(rules, &CriteriaOptions::default())?.matcher()?)
}

/// One rule's patterns and how well they express it.
fn rule_criteria(id: &str, cond: &Cond) -> (RuleCriteria, Vec<Conj>) {
    let mut notes = Vec::new();
    let conjs = approx(cond, false, &mut notes);
    let patterns: Vec<String> = conjs.iter().map(pattern_text).collect();
    let too_long: Vec<String> = patterns
        .iter()
        .filter(|p| p.chars().count() > MAX_PATTERN_CHARS)
        .map(|p| format!("a pattern of {} characters is over Lambda's limit of {MAX_PATTERN_CHARS}", p.chars().count()))
        .collect();
    let expressed = if conjs.iter().any(BTreeMap::is_empty) {
        if notes.is_empty() {
            notes.push("the condition matches every event".into());
        }
        Expressed::No(notes)
    } else if !too_long.is_empty() {
        Expressed::No(too_long)
    } else if notes.is_empty() {
        Expressed::Exact
    } else {
        Expressed::Widened(notes)
    };
    let patterns = if matches!(expressed, Expressed::No(_)) { Vec::new() } else { patterns };
    (RuleCriteria { id: id.to_string(), patterns, expressed }, conjs)
}

/// One entry of a field's list in a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    /// Equals a string, boolean or null.
    Value(Value),
    /// Equals a number.
    NumEq(f64),
    /// A numeric range.
    NumRange(Range),
    Prefix(String),
    AnythingBut(Value),
    Exists(bool),
}

impl Matcher {
    fn to_json(&self) -> Value {
        match self {
            Matcher::Value(v) => v.clone(),
            Matcher::NumEq(n) => json!({ "numeric": ["=", number_json(*n)] }),
            Matcher::NumRange(r) => {
                let mut ops: Vec<Value> = Vec::new();
                if let Some(lo) = r.lo {
                    ops.push(json!(if lo.inclusive { ">=" } else { ">" }));
                    ops.push(number_json(lo.value));
                }
                if let Some(hi) = r.hi {
                    ops.push(json!(if hi.inclusive { "<=" } else { "<" }));
                    ops.push(number_json(hi.value));
                }
                json!({ "numeric": ops })
            }
            Matcher::Prefix(p) => json!({ "prefix": p }),
            Matcher::AnythingBut(v) => json!({ "anything-but": [v] }),
            Matcher::Exists(b) => json!({ "exists": b }),
        }
    }
}

/// One filter pattern: for each dotted path, a list of matchers (any may hold);
/// every path must hold. Empty: matches every record.
type Conj = BTreeMap<String, Vec<Matcher>>;

fn everything() -> Vec<Conj> {
    vec![Conj::new()]
}

fn is_everything(conjs: &[Conj]) -> bool {
    conjs.iter().any(BTreeMap::is_empty)
}

/// Patterns matching a superset of the events `cond` (negated when `neg`) matches;
/// `notes` says where they match more.
fn approx(cond: &Cond, neg: bool, notes: &mut Vec<String>) -> Vec<Conj> {
    match (cond, neg) {
        (Cond::All(cs), false) | (Cond::Any(cs), true) => {
            let children: Vec<Vec<Conj>> = cs.iter().map(|c| approx(c, neg, notes)).collect();
            and(children, notes)
        }
        (Cond::Any(cs), false) | (Cond::All(cs), true) => {
            let mut out: Vec<Conj> = Vec::new();
            for c in cs {
                let conjs = approx(c, neg, notes);
                if is_everything(&conjs) {
                    return everything();
                }
                for conj in conjs {
                    if !out.contains(&conj) {
                        out.push(conj);
                    }
                }
            }
            out
        }
        (Cond::Not(c), _) => approx(c, !neg, notes),
        (Cond::Leaf(leaf), _) => match leaf_matchers(leaf, neg, notes) {
            Some(ms) => vec![Conj::from([(leaf.path.clone(), ms)])],
            None => everything(),
        },
    }
}

/// The conjunction of alternatives: their cross product, each pair merged.
fn and(children: Vec<Vec<Conj>>, notes: &mut Vec<String>) -> Vec<Conj> {
    let mut acc = everything();
    for child in children {
        if is_everything(&child) {
            continue;
        }
        if acc.len() * child.len() > MAX_ALTERNATIVES {
            notes.push(format!(
                "an `all` expands into more than {MAX_ALTERNATIVES} alternatives; one of its `any` lists is left out"
            ));
            continue;
        }
        let mut next = Vec::with_capacity(acc.len() * child.len());
        for a in &acc {
            for b in &child {
                let merged = merge_and(a, b, notes);
                if !next.contains(&merged) {
                    next.push(merged);
                }
            }
        }
        acc = next;
    }
    acc
}

/// Both patterns at once: fields of both; a field in both keeps one list
/// (numeric ranges are intersected exactly).
fn merge_and(a: &Conj, b: &Conj, notes: &mut Vec<String>) -> Conj {
    let mut out = a.clone();
    for (path, bm) in b {
        let Some(am) = out.get(path).cloned() else {
            out.insert(path.clone(), bm.clone());
            continue;
        };
        let merged = if &am == bm || bm.as_slice() == [Matcher::Exists(true)] {
            am
        } else if am.as_slice() == [Matcher::Exists(true)] {
            bm.clone()
        } else if let (Some(x), Some(y)) = (single_range(&am), single_range(bm)) {
            vec![Matcher::NumRange(intersect(x, y))]
        } else {
            let note = format!("`{path}` is tested twice in one `all`; the pattern keeps the first test only");
            if !notes.contains(&note) {
                notes.push(note);
            }
            am
        };
        out.insert(path.clone(), merged);
    }
    // a pattern cannot test `geo` and `geo.country` at once: keep the deeper test
    let paths: Vec<String> = out.keys().cloned().collect();
    for p in &paths {
        if paths.iter().any(|q| q.len() > p.len() && q.starts_with(p.as_str()) && q.as_bytes()[p.len()] == b'.') {
            out.remove(p);
            notes.push(format!("`{p}` is left out of a pattern that also tests a field inside it"));
        }
    }
    out
}

fn single_range(ms: &[Matcher]) -> Option<Range> {
    match ms {
        [Matcher::NumRange(r)] => Some(*r),
        [Matcher::NumEq(n)] => {
            let b = Some(Bound { value: *n, inclusive: true });
            Some(Range { lo: b, hi: b })
        }
        _ => None,
    }
}

fn intersect(x: Range, y: Range) -> Range {
    let lo = match (x.lo, y.lo) {
        (Some(a), Some(b)) => Some(if a.value > b.value || (a.value == b.value && !a.inclusive) { a } else { b }),
        (a, b) => a.or(b),
    };
    let hi = match (x.hi, y.hi) {
        (Some(a), Some(b)) => Some(if a.value < b.value || (a.value == b.value && !a.inclusive) { a } else { b }),
        (a, b) => a.or(b),
    };
    Range { lo, hi }
}

/// A leaf's list of matchers, or `None` when no list can express a superset of it.
fn leaf_matchers(leaf: &Leaf, neg: bool, notes: &mut Vec<String>) -> Option<Vec<Matcher>> {
    let path = &leaf.path;
    let cannot = |notes: &mut Vec<String>, why: String| {
        notes.push(format!("`{path}`: {why}"));
        None
    };
    if neg {
        return match &leaf.test {
            Test::Exists(b) => Some(vec![Matcher::Exists(!b)]),
            test => cannot(
                notes,
                format!(
                "`not` over `{}` cannot be expressed (only `not` over `exists`; write `ne` to test a present field)",
                op_name(test)
            ),
            ),
        };
    }
    match &leaf.test {
        Test::Eq(s) => scalar_matcher(s).map(|m| vec![m]).or_else(|| cannot(notes, out_of_range(s))),
        Test::Ne(s) => match s {
            Scalar::Num(n) if n.abs() > NUMERIC_LIMIT => cannot(notes, out_of_range(s)),
            s => Some(vec![Matcher::AnythingBut(s.to_json())]),
        },
        Test::In(xs) => {
            let mut ms = Vec::with_capacity(xs.len());
            for x in xs {
                match scalar_matcher(x) {
                    Some(m) => ms.push(m),
                    None => return cannot(notes, out_of_range(x)),
                }
            }
            Some(ms)
        }
        Test::Prefix(p) => Some(vec![Matcher::Prefix(p.clone())]),
        Test::Regex(_) => cannot(notes, "`regex` cannot be expressed as a filter pattern".into()),
        Test::Cidr(nets) => {
            let mut ms = Vec::with_capacity(nets.len());
            for net in nets {
                match cidr_matcher(net) {
                    Ok((m, widened)) => {
                        if let Some(w) = widened {
                            notes.push(format!("`{path}`: {w}"));
                        }
                        if !ms.contains(&m) {
                            ms.push(m);
                        }
                    }
                    Err(why) => return cannot(notes, why),
                }
            }
            Some(ms)
        }
        Test::Range(r) => {
            let keep = |b: Option<Bound>| b.filter(|b| b.value.abs() <= NUMERIC_LIMIT);
            let lo = keep(r.lo);
            let hi = keep(r.hi);
            if lo != r.lo || hi != r.hi {
                notes.push(format!("`{path}`: a bound beyond ±{NUMERIC_LIMIT:e} (Lambda's numeric range) is left out"));
            }
            if lo.is_none() && hi.is_none() {
                return cannot(notes, "the numeric range cannot be expressed".into());
            }
            Some(vec![Matcher::NumRange(Range { lo, hi })])
        }
        Test::Exists(b) => Some(vec![Matcher::Exists(*b)]),
    }
}

fn op_name(test: &Test) -> &'static str {
    match test {
        Test::Eq(_) => "eq",
        Test::Ne(_) => "ne",
        Test::In(_) => "in",
        Test::Prefix(_) => "prefix",
        Test::Regex(_) => "regex",
        Test::Cidr(_) => "cidr",
        Test::Range(_) => "a numeric range",
        Test::Exists(_) => "exists",
    }
}

fn out_of_range(s: &Scalar) -> String {
    format!("{} is beyond ±{NUMERIC_LIMIT:e}, the numbers Lambda's filters compare", s.to_json())
}

/// Equality with a scalar; `None` for numbers Lambda cannot compare.
fn scalar_matcher(s: &Scalar) -> Option<Matcher> {
    match s {
        Scalar::Num(n) if n.abs() > NUMERIC_LIMIT => None,
        Scalar::Num(n) => Some(Matcher::NumEq(*n)),
        other => Some(Matcher::Value(other.to_json())),
    }
}

/// A string matcher for the textual (dotted quad) form of the addresses in an
/// IPv4 network, and a note when it matches more than the network.
fn cidr_matcher(net: &IpNet) -> Result<(Matcher, Option<String>), String> {
    let IpNet::V4(v4) = net else {
        return Err(format!("IPv6 network {net} cannot be expressed (addresses have several text forms)"));
    };
    let len = v4.prefix_len();
    let octets = v4.network().octets();
    if len == 32 {
        return Ok((Matcher::Value(Value::String(v4.addr().to_string())), None));
    }
    let whole = (len / 8) as usize;
    if whole == 0 {
        return Err(format!("network {net} is wider than a /8 and cannot be expressed"));
    }
    let prefix: String = octets[..whole].iter().map(|o| format!("{o}.")).collect();
    let widened = (len % 8 != 0).then(|| format!("{net} is widened to the addresses starting with \"{prefix}\""));
    Ok((Matcher::Prefix(prefix), widened))
}

/// Merges patterns without matching more: drops a pattern implied by another,
/// and joins two patterns on the same fields that differ in one field's list.
fn simplify(mut conjs: Vec<Conj>) -> Vec<Conj> {
    loop {
        let before = conjs.len();
        // drop patterns implied by another (more fields, each list within the other's)
        let mut keep = vec![true; conjs.len()];
        for i in 0..conjs.len() {
            for j in 0..conjs.len() {
                if i != j && keep[i] && keep[j] && implies(&conjs[j], &conjs[i]) {
                    keep[j] = false;
                }
            }
        }
        let mut flags = keep.into_iter();
        conjs.retain(|_| flags.next().unwrap_or(true));
        // join pairs that differ in one field's list
        'join: for i in 0..conjs.len() {
            for j in i + 1..conjs.len() {
                if let Some(field) = differs_in_one(&conjs[i], &conjs[j]) {
                    let extra = conjs[j][&field].clone();
                    let list = conjs[i].entry(field).or_default();
                    for m in extra {
                        if !list.contains(&m) {
                            list.push(m);
                        }
                    }
                    conjs.remove(j);
                    break 'join;
                }
            }
        }
        if conjs.len() == before {
            return conjs;
        }
    }
}

/// Whether every record `a` matches is matched by `b`.
fn implies(a: &Conj, b: &Conj) -> bool {
    b.iter().all(|(path, bm)| a.get(path).is_some_and(|am| am.iter().all(|m| bm.contains(m))))
}

/// The one field whose lists differ, when both patterns test the same fields.
fn differs_in_one(a: &Conj, b: &Conj) -> Option<String> {
    if a.len() != b.len() || !a.keys().eq(b.keys()) {
        return None;
    }
    let mut diff = a.iter().zip(b.iter()).filter(|((_, am), (_, bm))| am != bm).map(|((k, _), _)| k.clone());
    let first = diff.next()?;
    diff.next().is_none().then_some(first)
}

/// `{"data": {...}}` with dotted paths nested.
fn pattern_text(conj: &Conj) -> String {
    let mut data = Map::new();
    for (path, ms) in conj {
        let segments: Vec<&str> = path.split('.').collect();
        insert_nested(&mut data, &segments, Value::Array(ms.iter().map(Matcher::to_json).collect()));
    }
    json!({ "data": data }).to_string()
}

fn insert_nested(map: &mut Map<String, Value>, segments: &[&str], leaf: Value) {
    match segments {
        [] => {}
        [last] => {
            map.insert((*last).to_string(), leaf);
        }
        [first, rest @ ..] => {
            let entry = map.entry((*first).to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                insert_nested(inner, rest, leaf);
            }
        }
    }
}

impl fmt::Display for FilterCriteria {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", serde_json::to_string_pretty(&self.to_json()).unwrap_or_default())
    }
}
