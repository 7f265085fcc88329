//! The rule language: parsing and validation errors (each naming the rule and
//! the field), every operator, the combinators, severities and tags, and the
//! shipped rule packs on crafted enriched events.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::path::PathBuf;

use eddy::event::Data;
use eddy::rules::handler::alert_record;
use eddy::rules::{Format, RuleSet, Severity};
use serde_json::{json, Value};

fn parse(yaml: &str) -> RuleSet {
    RuleSet::parse(yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A file with one rule `r` whose condition is `condition` (YAML).
fn one(condition: &str) -> RuleSet {
    parse(&format!("rules:\n  - id: r\n    severity: low\n    condition: {condition}\n"))
}

fn error(yaml: &str) -> String {
    match RuleSet::parse(yaml, Format::Yaml) {
        Ok(_) => panic!("expected an error for\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

/// The error of a file with one rule `bad` whose condition is `condition`.
fn condition_error(condition: &str) -> String {
    error(&format!("rules:\n  - id: bad\n    severity: low\n    condition: {condition}\n"))
}

fn hits(rules: &RuleSet, event: Value) -> Vec<String> {
    rules.evaluate(&event.to_string()).unwrap().ids().into_iter().map(String::from).collect()
}

fn matches(rules: &RuleSet, event: Value) -> bool {
    rules.evaluate(&event.to_string()).unwrap().is_match()
}

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

// ---------------------------------------------------------------- errors

#[test]
fn given_an_invalid_network_when_parsed_then_the_error_names_rule_and_field() {
    let err = error(
        r#"
rules:
  - id: admin-from-unknown-net
    severity: critical
    condition:
      all:
        - {field: http.path, prefix: /admin}
        - {field: ip, cidr: 10.0.0.0/33}
"#,
    );
    assert!(
        err.starts_with(r#"rule "admin-from-unknown-net": condition.all[1].cidr: invalid network "10.0.0.0/33""#),
        "{err}"
    );
}

#[test]
fn given_a_bad_network_in_a_list_when_parsed_then_the_error_names_its_index() {
    let err = condition_error("{field: ip, cidr: [10.0.0.0/8, 300.1.2.3/24]}");
    assert!(err.starts_with(r#"rule "bad": condition.cidr[1]: invalid network "300.1.2.3/24""#), "{err}");
}

#[test]
fn given_a_network_with_host_bits_when_parsed_then_the_error_shows_the_network_meant() {
    let err = condition_error("{field: ip, cidr: 10.1.2.3/8}");
    assert!(err.contains("condition.cidr") && err.contains("host bits") && err.contains("10.0.0.0/8"), "{err}");
}

#[test]
fn given_an_unknown_key_in_a_condition_when_parsed_then_it_is_refused_with_its_path() {
    let err = condition_error("{all: [{field: ip, eq: x}, {field: ip, eqq: x}]}");
    assert!(err.starts_with(r#"rule "bad": condition.all[1]"#), "{err}");
    assert!(err.contains("unknown field `eqq`"), "{err}");
}

#[test]
fn given_an_unknown_key_in_a_rule_when_parsed_then_it_is_refused() {
    let err =
        error("rules:\n  - id: typo\n    severity: low\n    sevrity: high\n    condition: {field: a, exists: true}\n");
    assert!(err.starts_with(r#"rule "typo""#) && err.contains("unknown field `sevrity`"), "{err}");
}

#[test]
fn given_an_unknown_top_level_key_when_parsed_then_it_is_refused() {
    let err = error("rule:\n  - id: x\n");
    assert!(err.contains("unknown field `rule`"), "{err}");
}

#[test]
fn given_an_unknown_severity_when_parsed_then_the_error_names_the_field() {
    let err = error("rules:\n  - id: loud\n    severity: urgent\n    condition: {field: a, exists: true}\n");
    assert!(err.starts_with(r#"rule "loud": severity: unknown variant `urgent`"#), "{err}");
}

#[test]
fn given_a_rule_without_condition_when_parsed_then_the_error_says_so() {
    let err = error("rules:\n  - id: empty\n    severity: low\n");
    assert!(err.starts_with(r#"rule "empty""#) && err.contains("missing field `condition`"), "{err}");
}

#[test]
fn given_a_rule_without_id_when_parsed_then_the_error_names_its_position() {
    let err = error(
        "rules:\n  - {id: a, severity: low, condition: {field: x, exists: true}}\n  - {severity: low, condition: {field: x, exists: true}}\n",
    );
    assert!(err.starts_with("rule #2") && err.contains("missing field `id`"), "{err}");
}

#[test]
fn given_two_rules_with_one_id_when_parsed_then_the_second_is_refused() {
    let err = error(
        "rules:\n  - {id: a, severity: low, condition: {field: x, exists: true}}\n  - {id: a, severity: low, condition: {field: y, exists: true}}\n",
    );
    assert!(err.starts_with(r#"rule "a": id: rule #1 already has this id"#), "{err}");
}

#[test]
fn given_a_bad_id_when_parsed_then_it_is_refused() {
    let err = error("rules:\n  - {id: 'two words', severity: low, condition: {field: x, exists: true}}\n");
    assert!(err.starts_with(r#"rule "two words": id: character ' '"#), "{err}");
}

#[test]
fn given_an_invalid_regex_when_parsed_then_the_error_names_the_field() {
    let err = condition_error("{any: [{field: user, regex: '^(admin'}]}");
    assert!(err.starts_with(r#"rule "bad": condition.any[0].regex: invalid regex "^(admin""#), "{err}");
}

#[test]
fn given_a_path_with_an_empty_segment_when_parsed_then_the_field_is_named() {
    let err = condition_error("{not: {field: http..status, eq: 500}}");
    assert!(err.starts_with(r#"rule "bad": condition.not.field: invalid field path "http..status""#), "{err}");
}

#[test]
fn given_two_operators_in_one_condition_when_parsed_then_it_is_refused() {
    let err = condition_error("{field: user, eq: root, prefix: adm}");
    assert!(err.starts_with(r#"rule "bad": condition: one operator per condition (found eq, prefix)"#), "{err}");
}

#[test]
fn given_a_combinator_beside_a_field_test_when_parsed_then_it_is_refused() {
    let err = condition_error("{field: user, eq: root, any: [{field: ip, exists: true}]}");
    assert!(
        err.starts_with(r#"rule "bad": condition: `any` cannot sit beside a field test (found field, eq)"#),
        "{err}"
    );
}

#[test]
fn given_two_combinators_in_one_condition_when_parsed_then_it_is_refused() {
    let err = condition_error("{all: [{field: a, exists: true}], any: [{field: b, exists: true}]}");
    assert!(err.contains("condition: one of all, any, not per condition (found all and any)"), "{err}");
}

#[test]
fn given_an_operator_without_field_when_parsed_then_it_is_refused() {
    let err = condition_error("{all: [{eq: 5}]}");
    assert!(err.starts_with(r#"rule "bad": condition.all[0]: `eq` needs a `field`"#), "{err}");
}

#[test]
fn given_a_field_without_operator_when_parsed_then_it_is_refused() {
    let err = condition_error("{field: user}");
    assert!(err.starts_with(r#"rule "bad": condition: field `user` has no operator"#), "{err}");
}

#[test]
fn given_empty_lists_when_parsed_then_they_are_refused() {
    assert!(condition_error("{all: []}").starts_with(r#"rule "bad": condition.all: the list is empty"#));
    assert!(condition_error("{field: a, in: []}").starts_with(r#"rule "bad": condition.in: the list is empty"#));
    assert!(condition_error("{field: a, cidr: []}").starts_with(r#"rule "bad": condition.cidr: the list is empty"#));
    assert!(condition_error("{}").starts_with(r#"rule "bad": condition: empty condition"#));
}

#[test]
fn given_a_map_where_a_value_belongs_when_parsed_then_it_is_refused() {
    let err = condition_error("{field: a, eq: {x: 1}}");
    assert!(err.starts_with(r#"rule "bad": condition.eq: expected a string, number, boolean or null"#), "{err}");
    let err = condition_error("{field: a, in: [1, [2]]}");
    assert!(err.starts_with(r#"rule "bad": condition.in[1]: expected a string"#), "{err}");
}

#[test]
fn given_bad_numeric_ranges_when_parsed_then_they_are_refused() {
    let err = condition_error("{field: t, range: [10, 1]}");
    assert!(err.starts_with(r#"rule "bad": condition.range: the range from 10 to 1 is empty"#), "{err}");
    assert!(condition_error("{field: t, gt: 1, gte: 2}").contains("condition: both `gt` and `gte`"));
    assert!(condition_error("{field: t, lt: 1, lte: 2}").contains("condition: both `lt` and `lte`"));
    assert!(condition_error("{field: t, range: [1, 2], gt: 0}").contains("use either `range` or gt/gte/lt/lte"));
    assert!(condition_error("{field: t, gt: 5, lt: 5}").contains("is empty"));
    let err = condition_error("{field: t, gt: high}");
    assert!(err.starts_with(r#"rule "bad": condition.gt: invalid type: string "high""#), "{err}");
}

#[test]
fn given_no_rules_or_broken_yaml_when_parsed_then_the_error_says_where() {
    assert!(error("rules: []\n").contains("no rules"));
    let err = error("rules:\n  - id: x\n    severity: [low\n");
    assert!(err.contains("line"), "{err}");
}

#[test]
fn given_a_json_rule_file_when_parsed_then_it_works_like_yaml() {
    let text = r#"{"rules": [{"id": "j", "severity": "high", "tags": ["t"], "condition": {"field": "http.status", "gte": 500}}]}"#;
    let rules = RuleSet::parse(text, Format::Json).unwrap();
    assert!(rules.evaluate(r#"{"http":{"status":502}}"#).unwrap().is_match());
    let err = RuleSet::parse(
        r#"{"rules": [{"id": "j", "severity": "high", "condition": {"field": "x", "cidr": "1.2.3.4/40"}}]}"#,
        Format::Json,
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with(r#"rule "j": condition.cidr: invalid network "1.2.3.4/40""#), "{err}");
}

#[test]
fn given_a_file_when_loaded_then_errors_start_with_its_path() {
    let path = std::env::temp_dir().join(format!("eddy-filter-rules-{}.yml", std::process::id()));
    std::fs::write(&path, "rules:\n  - {id: f, severity: low, condition: {field: ip, cidr: nope}}\n").unwrap();
    let err = RuleSet::load(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.starts_with(&format!(r#"{}: rule "f": condition.cidr: invalid network "nope""#, path.display())),
        "{err}"
    );
    let err = RuleSet::load(&PathBuf::from("/nonexistent/rules.yaml")).unwrap_err().to_string();
    assert!(err.contains("cannot read the rules file /nonexistent/rules.yaml"), "{err}");
}

// ---------------------------------------------------------------- operators

#[test]
fn given_eq_when_evaluated_then_values_must_be_equal_and_of_the_same_type() {
    let rules = one("{field: kind, eq: access}");
    assert!(matches(&rules, json!({"kind": "access"})));
    assert!(!matches(&rules, json!({"kind": "Access"})));
    assert!(!matches(&rules, json!({"other": "access"})));

    let rules = one("{field: http.status, eq: 500}");
    assert!(matches(&rules, json!({"http": {"status": 500}})));
    assert!(matches(&rules, json!({"http": {"status": 500.0}})), "numbers compare by value");
    assert!(!matches(&rules, json!({"http": {"status": "500"}})), "a string is not a number");

    assert!(matches(&one("{field: admin, eq: true}"), json!({"admin": true})));
    assert!(!matches(&one("{field: admin, eq: true}"), json!({"admin": "true"})));
    assert!(matches(&one("{field: user, eq: null}"), json!({"user": null})));
    assert!(!matches(&one("{field: user, eq: null}"), json!({})), "absent is not null");
}

#[test]
fn given_ne_when_evaluated_then_the_field_must_be_present_and_different() {
    let rules = one("{field: level, ne: INFO}");
    assert!(matches(&rules, json!({"level": "ERROR"})));
    assert!(!matches(&rules, json!({"level": "INFO"})));
    assert!(!matches(&rules, json!({})), "absent: ne does not hold");
    assert!(!matches(&rules, json!({"level": ["ERROR"]})), "arrays: ne does not hold");
    assert!(!matches(&rules, json!({"level": {"name": "ERROR"}})), "objects: ne does not hold");
}

#[test]
fn given_in_when_evaluated_then_any_listed_value_matches() {
    let rules = one("{field: http.status, in: [401, 403, '401']}");
    assert!(matches(&rules, json!({"http": {"status": 401}})));
    assert!(matches(&rules, json!({"http": {"status": 403}})));
    assert!(matches(&rules, json!({"http": {"status": "401"}})));
    assert!(!matches(&rules, json!({"http": {"status": 404}})));
}

#[test]
fn given_prefix_when_evaluated_then_only_strings_starting_with_it_match() {
    let rules = one("{field: http.path, prefix: /admin}");
    assert!(matches(&rules, json!({"http": {"path": "/admin/users"}})));
    let escaped = r#"{"http":{"path":"\/admin\u002fusers"}}"#;
    assert!(rules.evaluate(escaped).unwrap().is_match(), "escaped text is read unescaped");
    assert!(!matches(&rules, json!({"http": {"path": "/api/admin"}})));
    assert!(!matches(&rules, json!({"http": {"path": 7}})));
}

#[test]
fn given_regex_when_evaluated_then_strings_matching_it_match() {
    let rules = one(r#"{field: user, regex: '^(root|admin)(-\d+)?$'}"#);
    assert!(matches(&rules, json!({"user": "root"})));
    assert!(matches(&rules, json!({"user": "admin-42"})));
    assert!(!matches(&rules, json!({"user": "administrator"})));
    assert!(!matches(&rules, json!({"user": 42})));
}

#[test]
fn given_cidr_when_evaluated_then_ipv4_and_ipv6_addresses_in_the_networks_match() {
    let rules = one("{field: ip, cidr: [10.0.0.0/8, '2001:db8::/32', 192.0.2.7]}");
    assert!(matches(&rules, json!({"ip": "10.200.3.4"})));
    assert!(matches(&rules, json!({"ip": "2001:db8:ffff::1"})));
    assert!(matches(&rules, json!({"ip": "192.0.2.7"})), "a bare address is a /32");
    assert!(!matches(&rules, json!({"ip": "192.0.2.8"})));
    assert!(!matches(&rules, json!({"ip": "11.0.0.1"})));
    assert!(!matches(&rules, json!({"ip": "2001:db9::1"})));
    assert!(!matches(&rules, json!({"ip": "not an address"})));
    assert!(!matches(&rules, json!({"ip": "10.0.0.1:443"})));
}

#[test]
fn given_numeric_bounds_when_evaluated_then_they_are_strict_or_inclusive_as_named() {
    let gt = one("{field: t, gt: 60}");
    assert!(matches(&gt, json!({"t": 60.5})) && !matches(&gt, json!({"t": 60})));
    let gte = one("{field: t, gte: 60}");
    assert!(matches(&gte, json!({"t": 60})) && !matches(&gte, json!({"t": 59.9})));
    let lt = one("{field: t, lt: -20}");
    assert!(matches(&lt, json!({"t": -21})) && !matches(&lt, json!({"t": -20})));
    let lte = one("{field: t, lte: -20}");
    assert!(matches(&lte, json!({"t": -20})) && !matches(&lte, json!({"t": -19})));
    let both = one("{field: t, gte: 500, lt: 600}");
    assert!(matches(&both, json!({"t": 500})) && matches(&both, json!({"t": 599.9})));
    assert!(!matches(&both, json!({"t": 600})) && !matches(&both, json!({"t": "550"})));
    let range = one("{field: t, range: [500, 599]}");
    assert!(matches(&range, json!({"t": 500})) && matches(&range, json!({"t": 599})));
    assert!(!matches(&range, json!({"t": 499})) && !matches(&range, json!({"t": 600})));
}

#[test]
fn given_exists_when_evaluated_then_values_count_and_objects_do_not() {
    let yes = one("{field: geo.country, exists: true}");
    assert!(matches(&yes, json!({"geo": {"country": "DE"}})));
    assert!(matches(&yes, json!({"geo": {"country": null}})), "null counts as present");
    assert!(!matches(&yes, json!({"geo": {}})));
    assert!(!matches(&yes, json!({"geo": "DE"})), "no country inside a string");
    let no = one("{field: geo.country, exists: false}");
    assert!(matches(&no, json!({})));
    assert!(!matches(&no, json!({"geo": {"country": "DE"}})));
    let object = one("{field: geo, exists: true}");
    assert!(!matches(&object, json!({"geo": {"country": "DE"}})), "an object is not a value");
}

#[test]
fn given_an_array_when_evaluated_then_any_element_may_match() {
    assert!(matches(&one("{field: tags, eq: admin}"), json!({"tags": ["web", "admin"]})));
    assert!(!matches(&one("{field: tags, eq: admin}"), json!({"tags": ["web"]})));
    assert!(matches(&one("{field: ips, cidr: 10.0.0.0/8}"), json!({"ips": ["8.8.8.8", "10.0.0.1"]})));
    assert!(matches(&one("{field: t, gt: 5}"), json!({"t": [1, [2, 9]]})));
    assert!(!matches(&one("{field: t, gt: 5}"), json!({"t": [{"v": 9}]})));
}

#[test]
fn given_a_deep_path_when_evaluated_then_other_fields_are_skipped() {
    let rules = one("{field: a.b.c, eq: 1}");
    assert!(matches(&rules, json!({"x": [1, {"a": 2}], "a": {"z": {"c": 1}, "b": {"c": 1}}, "y": "}"})));
    assert!(!matches(&rules, json!({"a": {"b": 1}})));
    assert!(!matches(&rules, json!({"a": [{"b": {"c": 1}}]})), "paths do not go into arrays");
}

// ---------------------------------------------------------------- combinators

#[test]
fn given_all_any_not_when_evaluated_then_they_combine_as_named() {
    let rules =
        one("{all: [{field: kind, eq: access}, {any: [{field: http.status, gte: 500}, {field: user, eq: root}]}, \
         {not: {field: ip, cidr: 10.0.0.0/8}}]}");
    assert!(matches(&rules, json!({"kind": "access", "http": {"status": 502}, "ip": "8.8.8.8"})));
    assert!(matches(&rules, json!({"kind": "access", "user": "root", "ip": "8.8.8.8"})));
    assert!(matches(&rules, json!({"kind": "access", "user": "root"})), "no ip: not in 10/8");
    assert!(!matches(&rules, json!({"kind": "access", "user": "root", "ip": "10.1.1.1"})));
    assert!(!matches(&rules, json!({"kind": "access", "user": "bob", "http": {"status": 200}})));
    assert!(!matches(&rules, json!({"kind": "log", "user": "root"})));
}

#[test]
fn given_not_over_eq_when_the_field_is_absent_then_it_holds_unlike_ne() {
    let not_eq = one("{not: {field: level, eq: INFO}}");
    let ne = one("{field: level, ne: INFO}");
    assert!(matches(&not_eq, json!({})) && !matches(&ne, json!({})));
    assert!(!matches(&not_eq, json!({"level": "INFO"})) && !matches(&ne, json!({"level": "INFO"})));
}

// ---------------------------------------------------------------- verdicts

const THREE: &str = r#"
rules:
  - {id: low-one, severity: low, tags: [a, b], condition: {field: x, exists: true}}
  - {id: crit-one, severity: critical, tags: [b, c], condition: {field: x, gt: 10}}
  - {id: med-one, severity: medium, tags: [d], condition: {field: x, gt: 5}}
"#;

#[test]
fn given_several_matching_rules_when_evaluated_then_the_highest_severity_and_all_ids_and_tags_are_kept() {
    let rules = parse(THREE);
    let body = json!({"x": 11}).to_string();
    let v = rules.evaluate(&body).unwrap();
    assert_eq!(v.ids(), ["low-one", "crit-one", "med-one"]);
    assert_eq!(v.severity(), Some(Severity::Critical));
    assert_eq!(v.tags(), ["a", "b", "c", "d"]);
    let body = json!({"x": 7}).to_string();
    let v = rules.evaluate(&body).unwrap();
    assert_eq!(v.ids(), ["low-one", "med-one"]);
    assert_eq!(v.severity(), Some(Severity::Medium));
    let v = rules.evaluate("{}").unwrap();
    assert!(!v.is_match() && v.severity().is_none());
}

#[test]
fn given_a_match_when_the_alert_is_built_then_it_is_the_event_plus_the_alert() {
    let rules = parse(THREE);
    let raw = r#"{"x":11,"user":"a\"b"}"#;
    let v = rules.evaluate(raw).unwrap();
    let out: Value = serde_json::from_slice(&alert_record(&Data::Json(Cow::Borrowed(raw)), &v)).unwrap();
    assert_eq!(out["user"], "a\"b");
    assert_eq!(
        out["alert"],
        json!({"rules": ["low-one", "crit-one", "med-one"], "severity": "critical", "tags": ["a", "b", "c", "d"]})
    );
    // an event that already has an `alert` gets it replaced, not duplicated
    let raw = r#"{"alert":"mine","x":11}"#;
    let v = rules.evaluate(raw).unwrap();
    let bytes = alert_record(&Data::Json(Cow::Borrowed(raw)), &v);
    assert_eq!(String::from_utf8_lossy(&bytes).matches("\"alert\"").count(), 1);
    let out: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(out["alert"]["severity"], "critical");
}

#[test]
fn given_a_text_event_when_evaluated_then_it_is_seen_as_a_message() {
    let rules = one("{field: message, regex: '(?i)failed password'}");
    let v = rules.evaluate_text("sshd: Failed password for root");
    assert!(v.is_match());
    let out: Value =
        serde_json::from_slice(&alert_record(&Data::Text(Cow::Borrowed("sshd: Failed password for root")), &v))
            .unwrap();
    assert_eq!(out["message"], "sshd: Failed password for root");
    assert_eq!(out["alert"]["rules"], json!(["r"]));
    assert!(!one("{field: level, exists: true}").evaluate_text("hello").is_match());
}

// ---------------------------------------------------------------- shipped packs

fn pack(name: &str) -> RuleSet {
    RuleSet::load(&rules_dir().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn access(status: u16, path: &str, ip: &str) -> Value {
    json!({
        "id": "evt-1", "kind": "access", "source": "svc-auth", "time": "2024-11-25T01:00:00.000Z",
        "user": "user-7", "ip": ip,
        "http": {"method": "GET", "path": path, "status": status, "latency_ms": 12},
        "geo": {"country": "DE", "city": "Berlin"}, "ua": {"browser": "Chrome", "os": "Linux", "device": "desktop"},
        "service": {"name": "svc-auth", "team": "identity", "tier": 1, "owner": "alice@example.com"}
    })
}

#[test]
fn given_the_security_pack_when_crafted_events_arrive_then_each_rule_fires_on_its_own() {
    let rules = pack("security.yaml");
    assert_eq!(rules.rules().len(), 4);
    assert!(hits(&rules, access(200, "/api/v1/orders", "8.8.8.8")).is_empty());
    assert_eq!(hits(&rules, access(401, "/login", "8.8.8.8")), ["auth-failure"]);
    assert_eq!(hits(&rules, access(403, "/login", "10.0.0.9")), ["auth-failure"]);
    assert_eq!(hits(&rules, access(503, "/api/v1/orders", "10.0.0.9")), ["server-error"]);
    assert_eq!(hits(&rules, access(200, "/admin/users", "8.8.8.8")), ["admin-from-unknown-network"]);
    assert!(hits(&rules, access(200, "/admin/users", "172.20.1.1")).is_empty(), "a company network");
    assert!(hits(&rules, access(200, "/admin/users", "fd00::1")).is_empty(), "the VPN's IPv6 range");
    assert_eq!(hits(&rules, access(200, "/health", "203.0.113.77")), ["traffic-from-listed-network"]);
    assert_eq!(
        hits(&rules, access(500, "/admin", "198.51.100.1")),
        ["server-error", "admin-from-unknown-network", "traffic-from-listed-network"]
    );
    let v = rules.evaluate(&access(500, "/admin", "198.51.100.1").to_string()).unwrap();
    assert_eq!(v.severity(), Some(Severity::Critical));
}

#[test]
fn given_the_iot_pack_when_readings_arrive_then_out_of_range_ones_alert() {
    let rules = pack("iot.yaml");
    let reading = |t: f64, h: f64, b: f64| json!({"kind": "reading", "device_id": "dev-7", "temperature": t, "humidity": h, "battery": b});
    assert!(hits(&rules, reading(21.5, 40.0, 80.0)).is_empty());
    assert_eq!(hits(&rules, reading(75.0, 40.0, 80.0)), ["temperature-out-of-range"]);
    assert_eq!(hits(&rules, reading(-30.0, 40.0, 80.0)), ["temperature-out-of-range"]);
    assert!(hits(&rules, reading(60.0, 40.0, 80.0)).is_empty(), "60 is still in range");
    assert_eq!(hits(&rules, reading(20.0, 120.0, 80.0)), ["humidity-out-of-range"]);
    assert_eq!(hits(&rules, reading(20.0, 50.0, 5.0)), ["battery-low"]);
    assert!(hits(&rules, json!({"battery": 5})).is_empty(), "no device id");
}

#[test]
fn given_the_logs_pack_when_log_events_arrive_then_tier1_errors_and_fatals_alert() {
    let rules = pack("logs.yaml");
    let log = |level: &str, tier: u8| json!({"kind": "log", "level": level, "message": "boom", "service": {"name": "svc-x", "tier": tier}});
    assert_eq!(hits(&rules, log("ERROR", 1)), ["tier1-error"]);
    assert!(hits(&rules, log("ERROR", 2)).is_empty());
    assert!(hits(&rules, log("INFO", 1)).is_empty());
    assert_eq!(hits(&rules, log("FATAL", 3)), ["fatal-anywhere"]);
    assert_eq!(hits(&rules, log("FATAL", 1)), ["tier1-error", "fatal-anywhere"]);
    assert!(hits(&rules, json!({"level": "ERROR"})).is_empty(), "no catalog entry: tier unknown");
}

#[test]
fn given_every_shipped_pack_when_loaded_then_it_compiles() {
    let mut names: Vec<String> = std::fs::read_dir(rules_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, ["iot.yaml", "logs.yaml", "security.yaml"]);
    for name in names {
        assert!(!pack(&name).rules().is_empty(), "{name}");
    }
}
