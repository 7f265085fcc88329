//! An event source mapping's `FilterCriteria`, applied as Lambda applies them
//! to Kinesis records: a record is handed to the function when its `data`,
//! read as JSON, matches at least one filter; the others are dropped before
//! the invocation (and counted as filtered out). Kinesis mappings filter on
//! the `data` key only, and data that is not a JSON object matches no pattern
//! on it. `eddy local` and `eddy run` apply them where Lambda would.
//!
//! A pattern is an object of fields (all must match); a field holds a nested
//! pattern or a list of matchers (any may match): a value (string, number
//! compared by its text, boolean, null), `{"prefix": ..}`, `{"suffix": ..}`,
//! `{"equals-ignore-case": ..}`, `{"anything-but": value | [values] |
//! {"prefix": ..}}`, `{"numeric": [op, n, (op, n)]}` and `{"exists": bool}`.
//! When the event's field is a list, any of its elements may match.
//!
//! A record is read once for all filters, keeping only the members some
//! pattern names (the rest is checked as JSON and skipped, not built).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::json::cursor::{skip_ws, Cursor};
use crate::json::validate::{object_end, MAX_FAST_DEPTH};

/// Parsed `FilterCriteria` patterns: records matching any of them pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Patterns {
    filters: Vec<Map<String, Value>>,
    /// The members of `data` any pattern reads, each with its slot.
    data: Node,
    /// Slots a record's values are read into.
    slots: usize,
}

/// Why a pattern cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern {pattern}: {reason}")]
pub struct PatternError {
    /// The pattern, as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Patterns {
    /// Parses the filters' `Pattern` texts.
    pub fn parse(patterns: &[String]) -> Result<Self, PatternError> {
        let filters: Vec<Map<String, Value>> = patterns
            .iter()
            .map(|text| {
                let error = |reason: String| PatternError { pattern: text.clone(), reason };
                let value: Value = serde_json::from_str(text).map_err(|e| error(format!("not JSON: {e}")))?;
                let Value::Object(pattern) = value else { return Err(error("not an object".into())) };
                check_pattern(&pattern).map_err(error)?;
                Ok(pattern)
            })
            .collect::<Result<_, PatternError>>()?;
        let mut slots = 0;
        let data = Node::number(data_fields(&filters), &mut slots);
        Ok(Self { filters, data, slots })
    }

    /// Whether a record with these bytes passes.
    pub fn matches(&self, data: &[u8]) -> bool {
        let mut slots = vec![None; self.slots];
        match read_data(data, &self.data, &mut slots) {
            Read::Slots => self.filters.iter().any(|filter| record_matches(filter, &self.data, &slots)),
            Read::Whole(data) => matches_value(&self.filters, data),
        }
    }

    /// How many filters there are.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether there are no filters (then no record passes).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

/// Which members of a JSON value the patterns read.
#[derive(Debug, Clone, PartialEq, Default)]
enum Fields {
    /// The whole value (a field tested by matchers).
    #[default]
    All,
    /// These members, each read as its own [`Fields`] (a nested pattern).
    Members(BTreeMap<String, Fields>),
}

impl Fields {
    /// Adds what `pattern` (an object of fields) reads.
    fn add(&mut self, pattern: &Map<String, Value>) {
        let Fields::Members(members) = self else { return };
        for (field, rule) in pattern {
            match rule {
                Value::Object(nested) => {
                    members.entry(field.clone()).or_insert_with(|| Fields::Members(BTreeMap::new())).add(nested)
                }
                _ => {
                    members.insert(field.clone(), Fields::All);
                }
            }
        }
    }
}

/// What the patterns read of the record's `data`.
fn data_fields(filters: &[Map<String, Value>]) -> Fields {
    let mut record = Fields::Members(BTreeMap::new());
    for filter in filters {
        record.add(filter);
    }
    match record {
        Fields::Members(mut members) => members.remove("data").unwrap_or(Fields::Members(BTreeMap::new())),
        Fields::All => Fields::All,
    }
}

/// A value the patterns read, with the slot it is read into (numbered depth
/// first, so a node's descendants follow it).
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Read whole into its slot (a field tested by matchers).
    Whole(usize),
    /// An object read member by member: its slot says it is there (whatever
    /// it is); its named members' slots are `slot + 1 .. end`.
    Members {
        /// Its slot.
        slot: usize,
        /// Past the last slot of its descendants.
        end: usize,
        /// The members the patterns name (a few: found by equality, which
        /// compares lengths first).
        members: Vec<(String, Node)>,
    },
}

/// The node of member `name` among `members`.
fn member<'n>(members: &'n [(String, Node)], name: &str) -> Option<&'n Node> {
    members.iter().find(|(n, _)| n == name).map(|(_, node)| node)
}

impl Node {
    /// Numbers `fields` from `next` on.
    fn number(fields: Fields, next: &mut usize) -> Node {
        let slot = *next;
        *next += 1;
        match fields {
            Fields::All => Node::Whole(slot),
            Fields::Members(members) => {
                let members = members.into_iter().map(|(name, f)| (name, Node::number(f, next))).collect();
                Node::Members { slot, end: *next, members }
            }
        }
    }
}

/// How a record's `data` was read.
enum Read {
    /// Into the slots (nothing there when it is not a JSON object).
    Slots,
    /// Whole, by `serde_json` (text the fast checker leaves to it): an object, or `None`.
    Whole(Option<Value>),
}

/// Members a record's top-level index holds without growing (an enriched
/// event has a dozen or so).
const SPANS: usize = 32;

/// Reads `data` into `slots` along `node`, when it is a JSON object.
fn read_data(data: &[u8], node: &Node, slots: &mut [Option<Value>]) -> Read {
    let Ok(text) = std::str::from_utf8(data) else { return Read::Slots };
    let mut spans = Vec::with_capacity(SPANS);
    match object_end(data, 0, MAX_FAST_DEPTH, &mut spans) {
        Some((end, _)) if skip_ws(data, end) == data.len() => {}
        Some(_) => return Read::Slots,
        // not an object, not JSON, or deeper than the fast checker goes: serde_json decides
        None => return Read::Whole(serde_json::from_slice(data).ok().filter(Value::is_object)),
    }
    match node {
        Node::Whole(slot) => slots[*slot] = serde_json::from_str(text).ok(),
        Node::Members { slot, members, .. } => {
            slots[*slot] = Some(Value::Null);
            for span in &spans {
                let Some(member) = span.name(text).and_then(|name| member(members, &name)) else { continue };
                read_value(text, span.value_start(), member, slots);
            }
        }
    }
    Read::Slots
}

/// Reads the value at `start` of `text` (checked JSON) into `slots` along
/// `node`; returns where it ends. A member read again (a duplicate key)
/// replaces what was read before, as in `serde_json`.
fn read_value(text: &str, start: usize, node: &Node, slots: &mut [Option<Value>]) -> Option<usize> {
    let mut c = Cursor::at(text.as_bytes(), start);
    c.skip_ws();
    let start = c.pos();
    match node {
        Node::Whole(slot) => {
            c.skip_value()?;
            slots[*slot] = serde_json::from_str(text.get(start..c.pos())?).ok();
        }
        Node::Members { slot, end, members } => {
            slots[*slot..*end].fill(None);
            slots[*slot] = Some(Value::Null);
            if c.peek() != Some(b'{') {
                c.skip_value()?;
                return Some(c.pos());
            }
            c.advance(1);
            if c.eat(b'}') {
                return Some(c.pos());
            }
            loop {
                c.skip_ws();
                let name = c.string()?.value(text)?;
                c.eat(b':').then_some(())?;
                c.skip_ws();
                match member(members, &name) {
                    Some(member) => c = Cursor::at(text.as_bytes(), read_value(text, c.pos(), member, slots)?),
                    None => c.skip_value()?,
                }
                if !c.eat(b',') {
                    return c.eat(b'}').then_some(c.pos());
                }
            }
        }
    }
    Some(c.pos())
}

/// Whether a filter matches the record whose `data` was read into `slots`.
fn record_matches(filter: &Map<String, Value>, data: &Node, slots: &[Option<Value>]) -> bool {
    filter.iter().all(|(field, rule)| rule_matches(rule, (field == "data").then_some(data), slots))
}

/// One field of a pattern against the value read along `node` (`None`: a
/// field no value was read for, so absent).
fn rule_matches(rule: &Value, node: Option<&Node>, slots: &[Option<Value>]) -> bool {
    match (rule, node) {
        (Value::Object(nested), Some(Node::Members { slot, members, .. })) => {
            slots[*slot].is_some()
                && nested.iter().all(|(field, rule)| rule_matches(rule, member(members, field), slots))
        }
        (Value::Object(nested), Some(Node::Whole(slot))) => {
            slots[*slot].as_ref().is_some_and(|value| object_matches(nested, value))
        }
        (Value::Array(matchers), Some(Node::Whole(slot))) => {
            matchers.iter().any(|m| field_matches(m, slots[*slot].as_ref()))
        }
        (Value::Array(matchers), None) => matchers.iter().any(|m| field_matches(m, None)),
        _ => false,
    }
}

/// Whether any filter matches a record whose `data` is this (`None`: not a JSON object).
fn matches_value(filters: &[Map<String, Value>], data: Option<Value>) -> bool {
    let record = Value::Object(Map::from_iter(data.map(|d| ("data".to_string(), d))));
    filters.iter().any(|filter| object_matches(filter, &record))
}

/// Checks that every matcher of a pattern is one this module applies.
fn check_pattern(pattern: &Map<String, Value>) -> Result<(), String> {
    for (field, rule) in pattern {
        match rule {
            Value::Object(nested) => check_pattern(nested)?,
            Value::Array(matchers) => {
                for matcher in matchers {
                    if let Value::Object(m) = matcher {
                        let supported = ["prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"];
                        let name = m.keys().next().map(String::as_str).unwrap_or("");
                        if m.len() != 1 || !supported.contains(&name) {
                            return Err(format!("{field}: matcher {matcher} is not supported locally"));
                        }
                    }
                }
            }
            other => return Err(format!("{field}: {other} is neither a nested pattern nor a list of matchers")),
        }
    }
    Ok(())
}

fn object_matches(pattern: &Map<String, Value>, event: &Value) -> bool {
    pattern.iter().all(|(field, rule)| {
        let value = event.get(field);
        match rule {
            Value::Object(nested) => value.is_some_and(|v| object_matches(nested, v)),
            Value::Array(matchers) => matchers.iter().any(|m| field_matches(m, value)),
            _ => false,
        }
    })
}

/// One matcher against a field's value (absent: `None`); a list value matches through any element.
fn field_matches(matcher: &Value, value: Option<&Value>) -> bool {
    if let Some(exists) = matcher.get("exists").and_then(Value::as_bool) {
        return value.is_some() == exists;
    }
    match value {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|item| value_matches(matcher, item)),
        Some(v) => value_matches(matcher, v),
    }
}

fn value_matches(matcher: &Value, value: &Value) -> bool {
    let Value::Object(m) = matcher else { return equal(matcher, value) };
    let Some((name, arg)) = m.iter().next() else { return false };
    let text = value.as_str();
    match name.as_str() {
        "prefix" => {
            string_test(arg, text, |t, p| t.starts_with(p), |t, p| t.to_lowercase().starts_with(&p.to_lowercase()))
        }
        "suffix" => string_test(arg, text, |t, s| t.ends_with(s), |t, s| t.to_lowercase().ends_with(&s.to_lowercase())),
        "equals-ignore-case" => matches!((arg.as_str(), text), (Some(a), Some(t)) if a.eq_ignore_ascii_case(t)),
        "anything-but" => !anything_but_excludes(arg, value),
        "numeric" => value.as_f64().is_some_and(|n| numeric(arg, n)),
        _ => false,
    }
}

/// A prefix or suffix test; `{"equals-ignore-case": x}` as the argument ignores case.
fn string_test(arg: &Value, text: Option<&str>, exact: fn(&str, &str) -> bool, folded: fn(&str, &str) -> bool) -> bool {
    let Some(text) = text else { return false };
    match arg {
        Value::String(s) => exact(text, s),
        Value::Object(o) => o.get("equals-ignore-case").and_then(Value::as_str).is_some_and(|s| folded(text, s)),
        _ => false,
    }
}

fn anything_but_excludes(arg: &Value, value: &Value) -> bool {
    match arg {
        Value::Array(values) => values.iter().any(|v| equal(v, value)),
        Value::Object(o) => {
            o.get("prefix").and_then(Value::as_str).is_some_and(|p| value.as_str().is_some_and(|t| t.starts_with(p)))
        }
        single => equal(single, value),
    }
}

/// `[op, n]` or `[op, n, op, n]` with `=`, `<`, `<=`, `>`, `>=`.
fn numeric(arg: &Value, n: f64) -> bool {
    let Some(terms) = arg.as_array() else { return false };
    terms.chunks(2).all(|pair| match (pair.first().and_then(Value::as_str), pair.get(1).and_then(Value::as_f64)) {
        (Some("="), Some(x)) => n == x,
        (Some("<"), Some(x)) => n < x,
        (Some("<="), Some(x)) => n <= x,
        (Some(">"), Some(x)) => n > x,
        (Some(">="), Some(x)) => n >= x,
        _ => false,
    })
}

/// Exact match: strings, booleans and null by value, numbers by their text.
fn equal(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::Number(a), Value::Number(b)) => a.to_string() == b.to_string(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn criteria(patterns: &[&str]) -> Patterns {
        Patterns::parse(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// The patterns of the filter function in template.yaml.
    const TEMPLATE: [&str; 4] = [
        r#"{"data":{"http":{"status":[{"numeric":["=",401]},{"numeric":["=",403]}]},"kind":["access"]}}"#,
        r#"{"data":{"http":{"status":[{"numeric":[">=",500,"<=",599]}]}}}"#,
        r#"{"data":{"http":{"path":[{"prefix":"/admin"}]}}}"#,
        r#"{"data":{"ip":[{"prefix":"203.0.113."},{"prefix":"198.51.100."},"192.0.2.66"]}}"#,
    ];

    #[test]
    fn given_the_templates_criteria_then_events_pass_by_any_filter() {
        let c = criteria(&TEMPLATE);
        assert!(c.matches(br#"{"kind":"access","http":{"status":401}}"#));
        assert!(!c.matches(br#"{"kind":"metric","http":{"status":401}}"#), "the first filter needs both fields");
        assert!(c.matches(br#"{"http":{"status":503}}"#));
        assert!(!c.matches(br#"{"http":{"status":600,"path":"/home"}}"#));
        assert!(c.matches(br#"{"http":{"status":200,"path":"/admin/users"}}"#));
        assert!(c.matches(br#"{"ip":"198.51.100.7"}"#) && c.matches(br#"{"ip":"192.0.2.66"}"#));
        assert!(!c.matches(br#"{"ip":"192.0.2.67","http":{"status":200}}"#));
        assert!(!c.matches(b"not json") && !c.matches(br#"[{"ip":"192.0.2.66"}]"#), "data must be a JSON object");
    }

    #[test]
    fn operators_match_as_lambda_documents_them() {
        let c = |p: &str, event: &str| criteria(&[p]).matches(event.as_bytes());
        assert!(c(r#"{"data":{"a":[{"suffix":".png"}]}}"#, r#"{"a":"x.png"}"#));
        assert!(c(r#"{"data":{"a":[{"prefix":{"equals-ignore-case":"AB"}}]}}"#, r#"{"a":"abc"}"#));
        assert!(c(r#"{"data":{"a":[{"equals-ignore-case":"YES"}]}}"#, r#"{"a":"yes"}"#));
        assert!(c(r#"{"data":{"a":[{"anything-but":["x","y"]}]}}"#, r#"{"a":"z"}"#));
        assert!(!c(r#"{"data":{"a":[{"anything-but":"x"}]}}"#, r#"{"a":"x"}"#));
        assert!(!c(r#"{"data":{"a":[{"anything-but":{"prefix":"in"}}]}}"#, r#"{"a":"internal"}"#));
        assert!(c(r#"{"data":{"a":[{"exists":false}]}}"#, r#"{"b":1}"#));
        assert!(!c(r#"{"data":{"a":[{"exists":true}]}}"#, r#"{"b":1}"#));
        assert!(c(r#"{"data":{"a":[{"numeric":[">",1,"<",2]}]}}"#, r#"{"a":1.5}"#));
        assert!(!c(r#"{"data":{"a":[{"numeric":[">",1,"<",2]}]}}"#, r#"{"a":"1.5"}"#), "numeric needs a number");
        assert!(c(r#"{"data":{"a":[300]}}"#, r#"{"a":300}"#) && !c(r#"{"data":{"a":[300]}}"#, r#"{"a":300.0}"#));
        assert!(c(r#"{"data":{"a":[true, null]}}"#, r#"{"a":null}"#));
        assert!(c(r#"{"data":{"tags":["red"]}}"#, r#"{"tags":["blue","red"]}"#), "a list matches through any element");
    }

    /// Matching on the whole `data`, built as a [`Value`]: what reading only
    /// the named members must agree with.
    fn matches_whole(patterns: &Patterns, data: &[u8]) -> bool {
        matches_value(&patterns.filters, serde_json::from_slice::<Value>(data).ok().filter(Value::is_object))
    }

    #[test]
    fn given_records_of_every_shape_when_reading_only_the_named_members_then_the_verdict_is_the_whole_records() {
        let sets: [&[&str]; 5] = [
            &TEMPLATE,
            &[r#"{"data":{"a":{"b":[{"exists":false}]}}}"#, r#"{"data":{"a":[{"exists":true}],"c":["x"]}}"#],
            &[r#"{"data":{"tags":["red"],"n":[{"numeric":[">",1]}]}}"#, r#"{"data":{"a":{"b":["y"]}}}"#],
            &[r#"{"data":[{"exists":true}]}"#],
            // passes records whose data is not a JSON object
            &[r#"{"data":[{"exists":false}]}"#, r#"{"data":{"a":["y"]}}"#],
        ];
        let records: [&str; 18] = [
            r#"{"kind":"access","http":{"status":401,"path":"/x"},"ua":{"original":"x"}}"#,
            r#"{"kind":"access","http":{"status":401},"http":{"status":200}}"#,
            r#"{"kind":"access","http":{"status":403}}"#,
            r#"{"http":[{"status":503}],"ip":["203.0.113.9"]}"#,
            r#"{"http":{"status":"503"},"ip":"198.51.100.1"}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":{"c":1}}"#,
            r#"{"a":[{"b":"y"}]}"#,
            r#"{"a":"y","c":"x"}"#,
            r#"{"a":null,"c":["z","x"]}"#,
            r#"{"a":{"b":"y","deep":{"x":[1,{"y":2}]}}}"#,
            r#"{"tags":["blue","red"],"n":[0,2.5]}"#,
            r#"{"tags":"red","n":1}"#,
            r#"{}"#,
            r#"[{"a":1}]"#,
            r#"{"a":1} trailing"#,
            r#"{"a":"unterminated}"#,
            "not json",
        ];
        let deep =
            format!(r#"{{"a":{}"y"{},"kind":"access","http":{{"status":401}}}}"#, "[".repeat(110), "]".repeat(110));
        let mut all: Vec<Vec<u8>> = records.iter().map(|r| r.as_bytes().to_vec()).collect();
        all.extend([
            deep.into_bytes(),
            b"{\"kind\":\"access\",\"http\":{\"status\":401},\"x\":\"\xff\"}".to_vec(),
            b" \n{ \"kind\" : \"access\" , \"http\" : { \"status\" : 401 , \"path\" : \"/admin\" } } \n".to_vec(),
            br#"{"a":{"b\u0022c":1,"b":"y"},"c":"x"}"#.to_vec(),
            br#"{"a":{"b":"y","b":1},"c":"x"}"#.to_vec(),
            br#"{"a":{"b":"y"},"a":5,"c":"x"}"#.to_vec(),
            br#"{"a":5,"a":{"b":"y"},"c":"x"}"#.to_vec(),
            br#"{"a":{"b":{"x":1}},"c":"x"}"#.to_vec(),
            br#"{"a":{},"c":"x"}"#.to_vec(),
            br#"{"a":[],"c":"x"}"#.to_vec(),
        ]);
        for set in sets {
            let patterns = criteria(set);
            for record in &all {
                let expected = matches_whole(&patterns, record);
                assert_eq!(patterns.matches(record), expected, "{set:?} on {}", String::from_utf8_lossy(record));
            }
        }
        let some = |set: &[&str]| records.iter().filter(|r| criteria(set).matches(r.as_bytes())).count();
        assert!((1..records.len()).contains(&some(&TEMPLATE)), "the records tell matching from not");
    }

    /// The member names records are built of: those the pattern sets test, one escaped.
    const NAMES: [&str; 9] = ["a", "b", "c", "kind", "http", "status", "tags", "n", "k\\u0069nd"];

    /// A JSON object (as text) built from the names and values the pattern
    /// sets test, with duplicate keys, lists and nesting.
    fn pattern_json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            prop::sample::select(vec!["401", "403", "503", "200", "1.5", "300", "300.0", "2", "-7e2"])
                .prop_map(str::to_string),
            prop::sample::select(vec!["access", "y", "x", "red", "/admin/x", "203.0.113.5", "192.0.2.66", "a\"b"])
                .prop_map(|s| format!("\"{s}\"")),
        ];
        let value = leaf.prop_recursive(3, 30, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
                object_of(inner),
            ]
        });
        object_of(value.boxed())
    }

    /// Objects of up to 5 members named from [`NAMES`] with `values`.
    fn object_of(values: BoxedStrategy<String>) -> impl Strategy<Value = String> {
        prop::collection::vec((prop::sample::select(NAMES.to_vec()), values), 0..6).prop_map(|members| {
            let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
            format!("{{ {} }}", members.join(","))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_record_gets_the_verdict_of_the_whole_record(record in pattern_json(), cut in any::<prop::sample::Index>()) {
            let sets: [&[&str]; 4] = [
                &TEMPLATE,
                &[r#"{"data":{"a":{"b":[{"exists":false}]}}}"#, r#"{"data":{"a":[{"exists":true}],"c":["x"]}}"#],
                &[r#"{"data":{"tags":["red"],"n":[{"numeric":[">",1]}]}}"#, r#"{"data":{"a":{"b":["y"]},"kind":[{"anything-but":"access"}]}}"#],
                &[r#"{"data":[{"exists":false}]}"#, r#"{"data":{"a":["y"]}}"#],
            ];
            // the record, and a cut of it (mostly not JSON)
            let cut = &record.as_bytes()[..cut.index(record.len() + 1)];
            for set in sets {
                let patterns = criteria(set);
                for data in [record.as_bytes(), cut] {
                    prop_assert_eq!(patterns.matches(data), matches_whole(&patterns, data), "{:?} on {}", set, String::from_utf8_lossy(data));
                }
            }
        }
    }

    #[test]
    fn patterns_the_local_mapping_cannot_apply_are_refused_with_the_reason() {
        let err = Patterns::parse(&[r#"{"data":{"ip":[{"cidr":"10.0.0.0/8"}]}}"#.to_string()]).unwrap_err();
        assert!(err.to_string().contains("is not supported locally"), "{err}");
        let err = Patterns::parse(&["{not json".to_string()]).unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = Patterns::parse(&[r#"{"data":{"a":"x"}}"#.to_string()]).unwrap_err();
        assert!(err.to_string().contains("neither a nested pattern nor a list"), "{err}");
    }
}
