//! Lambda FilterCriteria from rule sets: the JSON emitted for expressible
//! rules (parsed back and checked), the refusals for rules that cannot be
//! expressed or need too many filters, and the safety property: on random
//! events, every event some rule matches is kept by some filter (checked with
//! a model of Lambda's documented pattern matching).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use eddy::rules::criteria::{Expressed, MAX_PATTERN_CHARS};
use eddy::rules::{filter_criteria, CriteriaError, CriteriaOptions, FilterCriteria, Format, RuleSet};
use proptest::prelude::*;
use serde_json::{json, Value};

fn rules(yaml: &str) -> RuleSet {
    RuleSet::parse(yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// A set of one rule `r` per condition given, ids r0, r1, ...
fn set(conditions: &[&str]) -> RuleSet {
    let mut text = String::from("rules:\n");
    for (i, c) in conditions.iter().enumerate() {
        text.push_str(&format!("  - id: r{i}\n    severity: low\n    condition: {c}\n"));
    }
    rules(&text)
}

fn criteria(conditions: &[&str]) -> Result<FilterCriteria, CriteriaError> {
    filter_criteria(&set(conditions), &CriteriaOptions::default())
}

/// The emitted JSON, parsed back: each filter's pattern as JSON (`data` removed).
fn emitted(c: &FilterCriteria) -> Vec<Value> {
    let text = c.to_string();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let filters = parsed["Filters"].as_array().unwrap();
    assert!(filters.len() <= 5);
    filters
        .iter()
        .map(|f| {
            let p = f["Pattern"].as_str().unwrap();
            assert!(p.len() <= MAX_PATTERN_CHARS);
            let v: Value = serde_json::from_str(p).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 1, "only the data key: {p}");
            v["data"].clone()
        })
        .collect()
}

fn one_pattern(condition: &str) -> Value {
    let c = criteria(&[condition]).unwrap();
    let patterns = emitted(&c);
    assert_eq!(patterns.len(), 1, "{patterns:?}");
    patterns[0].clone()
}

fn pack(name: &str) -> RuleSet {
    RuleSet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules").join(name)).unwrap()
}

// ---------------------------------------------------------------- expressible

#[test]
fn given_each_operator_when_expressed_then_the_pattern_uses_lambdas_syntax() {
    assert_eq!(one_pattern("{field: kind, eq: access}"), json!({"kind": ["access"]}));
    assert_eq!(one_pattern("{field: http.status, eq: 500}"), json!({"http": {"status": [{"numeric": ["=", 500]}]}}));
    assert_eq!(one_pattern("{field: admin, eq: true}"), json!({"admin": [true]}));
    assert_eq!(one_pattern("{field: user, eq: null}"), json!({"user": [null]}));
    assert_eq!(one_pattern("{field: level, ne: INFO}"), json!({"level": [{"anything-but": ["INFO"]}]}));
    assert_eq!(one_pattern("{field: level, in: [ERROR, 7]}"), json!({"level": ["ERROR", {"numeric": ["=", 7]}]}));
    assert_eq!(one_pattern("{field: http.path, prefix: /admin}"), json!({"http": {"path": [{"prefix": "/admin"}]}}));
    assert_eq!(one_pattern("{field: t, gt: 60}"), json!({"t": [{"numeric": [">", 60]}]}));
    assert_eq!(one_pattern("{field: t, gte: 1.5, lt: 2}"), json!({"t": [{"numeric": [">=", 1.5, "<", 2]}]}));
    assert_eq!(one_pattern("{field: t, range: [500, 599]}"), json!({"t": [{"numeric": [">=", 500, "<=", 599]}]}));
    assert_eq!(one_pattern("{field: device_id, exists: true}"), json!({"device_id": [{"exists": true}]}));
    assert_eq!(one_pattern("{not: {field: device_id, exists: true}}"), json!({"device_id": [{"exists": false}]}));
}

#[test]
fn given_ipv4_networks_when_expressed_then_they_become_prefixes_or_values() {
    let c = criteria(&["{field: ip, cidr: [10.0.0.0/8, 172.16.0.0/12, 192.168.1.0/24, 203.0.113.7/32]}"]).unwrap();
    assert_eq!(
        emitted(&c),
        [json!({"ip": [{"prefix": "10."}, {"prefix": "172."}, {"prefix": "192.168.1."}, "203.0.113.7"]})]
    );
    match &c.rules[0].expressed {
        Expressed::Widened(why) => assert!(why[0].contains("172.16.0.0/12 is widened"), "{why:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn given_all_any_not_when_expressed_then_and_is_one_pattern_and_or_is_several() {
    let c = criteria(&["{all: [{field: kind, eq: access}, {field: http.status, gte: 500}]}"]).unwrap();
    assert_eq!(emitted(&c), [json!({"kind": ["access"], "http": {"status": [{"numeric": [">=", 500]}]}})]);
    assert_eq!(c.rules[0].expressed, Expressed::Exact);

    // any over one field: one list; over two fields: two filters
    let c = criteria(&["{any: [{field: t, lt: -20}, {field: t, gt: 60}]}"]).unwrap();
    assert_eq!(emitted(&c), [json!({"t": [{"numeric": ["<", -20]}, {"numeric": [">", 60]}]})]);
    let c = criteria(&["{any: [{field: a, eq: x}, {field: b, eq: y}]}"]).unwrap();
    assert_eq!(emitted(&c), [json!({"a": ["x"]}), json!({"b": ["y"]})]);

    // all over an any: distributed
    let c = criteria(&["{all: [{field: k, eq: v}, {any: [{field: a, eq: 1}, {field: b, eq: 2}]}]}"]).unwrap();
    assert_eq!(
        emitted(&c),
        [json!({"k": ["v"], "a": [{"numeric": ["=", 1]}]}), json!({"k": ["v"], "b": [{"numeric": ["=", 2]}]})]
    );

    // not over all (De Morgan) with exists inside: expressible
    let c = criteria(&["{not: {all: [{field: a, exists: true}, {field: b, exists: true}]}}"]).unwrap();
    assert_eq!(emitted(&c), [json!({"a": [{"exists": false}]}), json!({"b": [{"exists": false}]})]);

    // two ranges on one field in one all: intersected exactly
    let c = criteria(&["{all: [{field: t, gt: 0}, {field: t, lte: 10}]}"]).unwrap();
    assert_eq!(emitted(&c), [json!({"t": [{"numeric": [">", 0, "<=", 10]}]})]);
    assert_eq!(c.rules[0].expressed, Expressed::Exact);
}

#[test]
fn given_an_inexpressible_test_inside_all_when_expressed_then_the_rule_is_widened() {
    let c = criteria(&[
        "{all: [{field: http.path, prefix: /admin}, {not: {field: ip, cidr: 10.0.0.0/8}}, {field: user, regex: x}]}",
    ])
    .unwrap();
    assert_eq!(emitted(&c), [json!({"http": {"path": [{"prefix": "/admin"}]}})]);
    let Expressed::Widened(why) = &c.rules[0].expressed else { panic!("{:?}", c.rules[0]) };
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].contains("`ip`: `not` over `cidr`") && why[1].contains("`user`: `regex`"), "{why:?}");
}

#[test]
fn given_patterns_that_differ_in_one_field_when_merged_then_they_become_one() {
    let c = criteria(&["{field: status, in: [401, 403]}", "{field: status, gte: 500}", "{field: kind, eq: access}"])
        .unwrap();
    assert_eq!(
        emitted(&c),
        [
            json!({"status": [{"numeric": ["=", 401]}, {"numeric": ["=", 403]}, {"numeric": [">=", 500]}]}),
            json!({"kind": ["access"]})
        ]
    );
    // a pattern implied by another is dropped
    let c = criteria(&["{field: kind, eq: access}", "{all: [{field: kind, eq: access}, {field: user, eq: root}]}"])
        .unwrap();
    assert_eq!(emitted(&c), [json!({"kind": ["access"]})]);
    assert_eq!(c.rules[1].patterns.len(), 1, "each rule keeps its own pattern in the report");
}

#[test]
fn given_the_shipped_packs_when_expressed_then_they_fit_lambdas_limits() {
    for (name, filters) in [("security.yaml", 4), ("iot.yaml", 3), ("logs.yaml", 2)] {
        let c = filter_criteria(&pack(name), &CriteriaOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(emitted(&c).len(), filters, "{name}");
    }
    let security = filter_criteria(&pack("security.yaml"), &CriteriaOptions::default()).unwrap();
    let widened: Vec<&str> =
        security.rules.iter().filter(|r| matches!(r.expressed, Expressed::Widened(_))).map(|r| r.id.as_str()).collect();
    assert_eq!(widened, ["admin-from-unknown-network"]);
}

// ---------------------------------------------------------------- refusals

#[test]
fn given_a_rule_that_cannot_be_expressed_when_asked_then_no_criteria_and_the_rule_is_named() {
    let err = criteria(&[
        "{field: kind, eq: access}",
        "{field: ip, cidr: '2001:db8::/32'}",
        "{field: user, regex: '^root$'}",
        "{not: {field: level, eq: INFO}}",
        "{any: [{field: kind, eq: x}, {field: user, regex: y}]}",
        "{field: ip, cidr: 0.0.0.0/4}",
        "{field: bytes, gt: 6000000000}",
    ])
    .unwrap_err();
    let CriteriaError::NotExpressible(failed) = &err else { panic!("{err}") };
    let ids: Vec<&str> = failed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2", "r3", "r4", "r5", "r6"]);
    let text = err.to_string();
    assert!(text.starts_with("no FilterCriteria can be emitted"), "{text}");
    assert!(text.contains("rule \"r1\": `ip`: IPv6 network 2001:db8::/32 cannot be expressed"), "{text}");
    assert!(text.contains("rule \"r2\": `user`: `regex` cannot be expressed"), "{text}");
    assert!(text.contains("rule \"r3\": `level`: `not` over `eq` cannot be expressed"), "{text}");
    assert!(text.contains("rule \"r5\": `ip`: network 0.0.0.0/4 is wider than a /8"), "{text}");
    assert!(text.contains("rule \"r6\": `bytes`: a bound beyond"), "{text}");
    assert!(!text.contains("\"r0\""), "{text}");
}

#[test]
fn given_more_alternatives_than_filters_when_asked_then_the_count_is_reported() {
    let six: Vec<String> = (0..6).map(|i| format!("{{field: f{i}, eq: v}}")).collect();
    let six: Vec<&str> = six.iter().map(String::as_str).collect();
    let err = criteria(&six).unwrap_err();
    assert_eq!(err, CriteriaError::TooManyFilters { needed: 6, max: 5 });
    assert!(err.to_string().contains("--max-filters 10"), "{err}");
    let ok = filter_criteria(&set(&six), &CriteriaOptions { max_filters: 10 }).unwrap();
    assert_eq!(emitted_unbounded(&ok).len(), 6);
}

fn emitted_unbounded(c: &FilterCriteria) -> Vec<Value> {
    let parsed: Value = serde_json::from_str(&c.to_string()).unwrap();
    parsed["Filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| serde_json::from_str(f["Pattern"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn given_a_pattern_over_4096_characters_when_asked_then_it_is_refused() {
    let values: Vec<String> = (0..400).map(|i| format!("user-{i:04}")).collect();
    let err = criteria(&[&format!("{{field: user, in: [{}]}}", values.join(", "))]).unwrap_err();
    let CriteriaError::NotExpressible(failed) = &err else { panic!("{err}") };
    assert!(err.to_string().contains("over Lambda's limit of 4096"), "{err}");
    assert_eq!(failed[0].id, "r0");
}

// ---------------------------------------------------------------- safety property

/// Lambda's documented matching, on flattened paths as EventBridge's matcher
/// does (a pattern's leaf paths all hold; a path's list holds when one entry
/// does; for an array value, when an element does; strings compared exactly;
/// `exists` sees leaf values only, and `exists: false` holds when the path
/// leads nowhere).
fn lambda_matches(pattern: &Value, event: &Value) -> bool {
    let mut leaves = Vec::new();
    flatten(pattern, &mut Vec::new(), &mut leaves);
    leaves.iter().all(|(path, list)| {
        let value = path.iter().try_fold(event, |v, k| v.get(k.as_str()));
        list.as_array().unwrap().iter().any(|m| entry_matches(m, value))
    })
}

fn flatten<'p>(pattern: &'p Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'p Value)>) {
    for (key, p) in pattern.as_object().unwrap() {
        path.push(key.clone());
        match p {
            Value::Object(_) => flatten(p, path, out),
            Value::Array(_) => out.push((path.clone(), p)),
            other => panic!("unexpected pattern {other}"),
        }
        path.pop();
    }
}

fn entry_matches(m: &Value, value: Option<&Value>) -> bool {
    if let Some(want) = m.get("exists").and_then(Value::as_bool) {
        let leaf = value.is_some_and(|v| !v.is_object());
        return want == leaf;
    }
    match value {
        None => false,
        Some(Value::Object(_)) => false,
        Some(Value::Array(items)) => items.iter().any(|i| entry_matches(m, Some(i))),
        Some(v) => scalar_matches(m, v),
    }
}

/// A value's JSON text: Lambda compares values, numbers included, as text.
fn as_text(v: &Value) -> String {
    v.to_string()
}

fn scalar_matches(m: &Value, v: &Value) -> bool {
    match m {
        Value::Object(o) if o.contains_key("numeric") => {
            let Some(x) = v.as_f64() else { return false };
            o["numeric"].as_array().unwrap().chunks(2).all(|pair| {
                let n = pair[1].as_f64().unwrap();
                match pair[0].as_str().unwrap() {
                    "=" => x == n,
                    ">" => x > n,
                    ">=" => x >= n,
                    "<" => x < n,
                    "<=" => x <= n,
                    op => panic!("{op}"),
                }
            })
        }
        Value::Object(o) if o.contains_key("prefix") => {
            v.as_str().is_some_and(|s| s.starts_with(o["prefix"].as_str().unwrap()))
        }
        Value::Object(o) if o.contains_key("anything-but") => {
            // compared as text, as Lambda does: 300 and 300.0 differ
            !o["anything-but"].as_array().unwrap().iter().any(|x| as_text(x) == as_text(v))
        }
        Value::Object(o) => panic!("unexpected matcher {o:?}"),
        exact => as_text(exact) == as_text(v),
    }
}

const PROPERTY_RULES: &str = r#"
rules:
  - {id: a, severity: low, condition: {all: [{field: kind, eq: access}, {field: http.status, in: [401, 403]}]}}
  - {id: b, severity: low, condition: {field: http.status, range: [500, 599]}}
  - {id: c, severity: low, condition: {all: [{field: http.path, prefix: /admin}, {not: {field: ip, cidr: [10.0.0.0/8, 172.16.0.0/12]}}]}}
  - {id: d, severity: low, condition: {field: ip, cidr: [203.0.113.0/24, 198.51.0.0/20, 192.0.2.66]}}
  - {id: e, severity: low, condition: {any: [{field: t, lt: -20}, {field: t, gt: 60}, {all: [{field: dev, exists: true}, {field: batt, lte: 10}]}]}}
  - {id: f, severity: low, condition: {all: [{field: level, ne: INFO}, {field: service.tier, eq: 1}, {not: {field: geo.country, exists: true}}]}}
  - {id: g, severity: low, condition: {all: [{field: user, regex: '^adm'}, {field: kind, in: [access, audit]}]}}
"#;

fn pick<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> impl Strategy<Value = Option<T>> {
    prop::option::of(prop::sample::select(items))
}

fn event_strategy() -> impl Strategy<Value = Value> {
    let status = pick(vec![
        json!(200),
        json!(401),
        json!(403),
        json!(500),
        json!(500.0),
        json!(599),
        json!(600),
        json!("503"),
        json!([503]),
    ]);
    let path = pick(vec![json!("/admin"), json!("/admin/x"), json!("/api"), json!(["/admin"]), json!(null)]);
    let ip = pick(vec![
        json!("10.1.2.3"),
        json!("172.20.0.1"),
        json!("172.40.0.1"),
        json!("203.0.113.9"),
        json!("198.51.15.1"),
        json!("198.51.16.1"),
        json!("192.0.2.66"),
        json!("192.0.2.67"),
        json!("2001:db8::1"),
        json!("nope"),
    ]);
    let kind = pick(vec![json!("access"), json!("audit"), json!("log")]);
    let t = pick(vec![json!(-25), json!(-20), json!(0), json!(60), json!(61.5), json!("70")]);
    let dev = pick(vec![json!("d1"), json!(null), json!({"x": 1})]);
    let batt = pick(vec![json!(5), json!(10), json!(50)]);
    let level = pick(vec![json!("INFO"), json!("ERROR"), json!(["ERROR"]), json!(3)]);
    let tier = pick(vec![json!(1), json!(1.0), json!("1"), json!(2)]);
    let country = pick(vec![json!("DE"), json!(null)]);
    let user = pick(vec![json!("admin"), json!("bob")]);
    (status, path, ip, kind, t, dev, batt, level, tier, country, user).prop_map(
        |(status, path, ip, kind, t, dev, batt, level, tier, country, user)| {
            let mut e = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    e.insert(k.to_string(), v);
                }
            };
            put("ip", ip);
            put("kind", kind);
            put("t", t);
            put("dev", dev);
            put("batt", batt);
            put("level", level);
            put("user", user);
            let mut http = serde_json::Map::new();
            if let Some(s) = status {
                http.insert("status".into(), s);
            }
            if let Some(p) = path {
                http.insert("path".into(), p);
            }
            e.insert("http".into(), Value::Object(http));
            if let Some(tier) = tier {
                e.insert("service".into(), json!({"tier": tier}));
            }
            if let Some(c) = country {
                e.insert("geo".into(), json!({"country": c}));
            }
            Value::Object(e)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_event_a_rule_matches_is_kept_by_a_filter(event in event_strategy()) {
        let rules = rules(PROPERTY_RULES);
        let c = filter_criteria(&rules, &CriteriaOptions { max_filters: 10 }).unwrap();
        let patterns = emitted_unbounded(&c);
        let ids = rules.evaluate(&event.to_string()).unwrap().ids().into_iter().map(String::from).collect::<Vec<_>>();
        let kept = patterns.iter().any(|p| lambda_matches(&p["data"], &event));
        prop_assert!(ids.is_empty() || kept, "matched {ids:?} but no filter keeps {event}\n{patterns:?}");
    }

    #[test]
    fn exact_packs_keep_exactly_what_their_rules_match(event in event_strategy(), reading in (pick(vec![json!(-30), json!(20), json!(61)]), pick(vec![json!(-1), json!(50), json!(101)]), pick(vec![json!(5), json!(10), json!(11)]), pick(vec![json!("d"), json!(null)])), level in pick(vec![json!("ERROR"), json!("FATAL"), json!("fatal"), json!("INFO")])) {
        let mut event = event;
        let (t, h, b, d) = reading;
        for (k, v) in [("temperature", t), ("humidity", h), ("battery", b), ("device_id", d), ("level", level)] {
            match v {
                Some(v) => { event[k] = v; }
                None => { event.as_object_mut().unwrap().remove(k); }
            }
        }
        for name in ["iot.yaml", "logs.yaml"] {
            let rules = pack(name);
            let c = filter_criteria(&rules, &CriteriaOptions::default()).unwrap();
            prop_assert!(c.rules.iter().all(|r| r.expressed == Expressed::Exact));
            let patterns = emitted(&c);
            let matched = rules.evaluate(&event.to_string()).unwrap().is_match();
            let kept = patterns.iter().any(|p| lambda_matches(p, &event));
            prop_assert_eq!(matched, kept, "{}: {}", name, event);
        }
    }
}
