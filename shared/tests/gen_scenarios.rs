//! `eddy gen`'s scenarios: every event is a JSON object with the fields the
//! functions read, times advance at the rate from the start, the truth's
//! window counts are the events per source and minute, and a seed always
//! gives the same bytes.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};

use eddy::gen::{GeneratedEvent, Generator, GroundTruth, Scenario, DEFAULT_START_MS, WINDOW_MS};
use serde_json::Value;

fn run(scenario: Scenario, seed: u64, count: u64) -> (Vec<GeneratedEvent>, GroundTruth) {
    let mut generator = Generator::new(scenario, seed, count);
    let events: Vec<GeneratedEvent> = generator.by_ref().collect();
    (events, generator.truth())
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn time_ms(v: &Value) -> i64 {
    let text = v["time"].as_str().unwrap();
    assert!(text.ends_with('Z') && text.len() == 24, "time {text:?} is RFC 3339 UTC with milliseconds");
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
}

/// The fields each kind of event must carry (dotted paths), by scenario.
fn required(scenario: Scenario, v: &Value) -> Vec<&'static str> {
    let kind = v["kind"].as_str().unwrap();
    let source = v["source"].as_str().unwrap();
    match (scenario, kind) {
        (Scenario::Security, "access") => {
            vec!["user", "ip", "ua", "http.method", "http.path", "http.status", "http.latency_ms", "request_id"]
        }
        (Scenario::Security, "metric") => vec!["metric", "value", "unit", "host"],
        (Scenario::Clickstream, _) => {
            let mut f = vec!["user", "session", "ip", "ua"];
            f.push(match source {
                "web" => "page",
                "ios-app" | "android-app" => "screen",
                _ => "title_id",
            });
            f
        }
        (Scenario::Logs, "log") if source == "vpc-flow-logs" => eddy::decode::vpc::FIELDS.to_vec(),
        (Scenario::Logs, "log") => vec!["level", "logger", "message", "caller", "callee", "latency_ms", "status"],
        (Scenario::Fraud, "login") => vec!["user", "ip", "ua", "device_id", "outcome", "location.country"],
        (Scenario::Fraud, "transaction") => {
            vec!["user", "card_id", "amount", "currency", "merchant", "mcc", "merchant_country", "channel"]
        }
        (Scenario::Fraud, "account_change") => vec!["user", "change", "ip"],
        (Scenario::Iot, "reading") => vec!["device_id", "site", "temperature", "humidity", "battery", "rssi"],
        (Scenario::Ads, "view") => vec!["user", "campaign", "creative", "placement", "ip", "ua", "bid_usd"],
        (Scenario::Ads, "click") => vec!["user", "campaign", "creative", "ip", "ua"],
        (Scenario::Ads, "add_to_cart") => vec!["user", "campaign", "click_id", "product", "price", "quantity"],
        other => panic!("unexpected kind {other:?}"),
    }
}

#[test]
fn given_each_scenario_when_generated_then_every_event_is_a_json_object_with_the_fields_the_functions_read() {
    for scenario in Scenario::ALL {
        let (events, truth) = run(scenario, 11, 5_000);
        assert_eq!(events.len(), 5_000);
        assert_eq!(truth.count, 5_000);
        let mut kinds = BTreeMap::<String, u64>::new();
        let mut last_time = i64::MIN;
        for (i, e) in events.iter().enumerate() {
            let text = std::str::from_utf8(&e.data).unwrap();
            assert!(!text.contains('\n'), "{scenario}: one line per event");
            let v: Value = serde_json::from_str(text).unwrap_or_else(|err| panic!("{scenario} #{i}: {err}: {text}"));
            assert!(v.is_object(), "{scenario}: {text}");
            assert_eq!(e.index, i as u64);
            assert_eq!(e.id, format!("{}-{i:010}", scenario.id_prefix()));
            assert_eq!(v["id"], e.id.as_str(), "{scenario}: the id is in the data");
            assert!(v["kind"].as_str().is_some_and(|k| !k.is_empty()), "{scenario}: kind in {text}");
            assert!(v["source"].as_str().is_some_and(|s| !s.is_empty()), "{scenario}: source in {text}");
            assert_eq!(time_ms(&v), e.time_ms, "{scenario}: time in {text}");
            assert!(e.time_ms >= last_time, "{scenario}: time never goes back");
            last_time = e.time_ms;
            assert!(
                (1..=256).contains(&e.partition_key.chars().count()),
                "{scenario}: partition key {:?}",
                e.partition_key
            );
            for field in required(scenario, &v) {
                assert!(!at(&v, field).is_null() || nullable(scenario, field), "{scenario}: {field} missing in {text}");
                assert!(!at(&v, field).is_object(), "{scenario}: {field} is a value in {text}");
            }
            if let Some(ip) = v["ip"].as_str() {
                assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{scenario}: ip {ip:?}");
            }
            *kinds.entry(v["kind"].as_str().unwrap().to_string()).or_default() += 1;
        }
        let want_kinds: &[&str] = match scenario {
            Scenario::Security => &["access", "metric"],
            Scenario::Clickstream => &["page_view", "screen_view", "heartbeat", "add_to_cart"],
            Scenario::Logs => &["log"],
            Scenario::Fraud => &["login", "transaction"],
            Scenario::Iot => &["reading"],
            Scenario::Ads => &["view", "click", "add_to_cart"],
        };
        for kind in want_kinds {
            assert!(kinds.contains_key(*kind), "{scenario}: no {kind} in {kinds:?}");
        }
    }
}

/// Sensor values and the fields of NODATA flow records may be null.
fn nullable(scenario: Scenario, field: &str) -> bool {
    match scenario {
        Scenario::Iot => matches!(field, "temperature" | "humidity"),
        Scenario::Logs => eddy::decode::vpc::FIELDS.contains(&field),
        _ => false,
    }
}

#[test]
fn given_a_seed_when_generated_twice_then_the_bytes_and_truth_are_the_same_and_another_seed_differs() {
    for scenario in Scenario::ALL {
        let (a, truth_a) = run(scenario, 42, 3_000);
        let (b, truth_b) = run(scenario, 42, 3_000);
        let (c, _) = run(scenario, 43, 3_000);
        assert!(a == b, "{scenario}: same seed, same events");
        assert_eq!(truth_a.to_json(), truth_b.to_json(), "{scenario}: same seed, same truth");
        let differing = a.iter().zip(&c).filter(|(x, y)| x.data != y.data).count();
        assert!(differing > 2_500, "{scenario}: another seed, other events ({differing} of 3000 differ)");
    }
}

#[test]
fn given_a_rate_and_start_when_generated_then_times_span_count_over_rate_seconds_from_the_start() {
    let start = 1_700_000_000_000;
    let events: Vec<GeneratedEvent> =
        Generator::new(Scenario::Clickstream, 5, 10_000).with_rate(100).with_start_ms(start).collect();
    assert!(events[0].time_ms >= start && events[0].time_ms < start + 10);
    let last = events[9_999].time_ms - start;
    assert!((99_900..100_000).contains(&last), "10,000 events at 100/s end near 100 s: {last} ms");
    let default = Generator::new(Scenario::Security, 5, 1).next().unwrap();
    assert!(default.time_ms - DEFAULT_START_MS < 1, "2,000/s: the first event in the first millisecond");
}

#[test]
fn given_several_minutes_when_generated_then_window_counts_are_the_events_per_source_and_minute() {
    for scenario in Scenario::ALL {
        let mut generator = Generator::new(scenario, 8, 6_000).with_rate(40);
        let mut want = BTreeMap::<(i64, String), u64>::new();
        for e in generator.by_ref() {
            let v: Value = serde_json::from_slice(&e.data).unwrap();
            let window = e.time_ms.div_euclid(WINDOW_MS) * WINDOW_MS;
            *want.entry((window, v["source"].as_str().unwrap().to_string())).or_default() += 1;
        }
        let truth = generator.truth();
        let windows: HashSet<i64> = want.keys().map(|(w, _)| *w).collect();
        assert!(windows.len() >= 3, "{scenario}: 150 s of events span 3 windows");
        assert_eq!(truth.window_counts, want, "{scenario}");
        assert_eq!(truth.window_group, "source");
        assert_eq!(truth.events_by_source().values().sum::<u64>(), 6_000);
    }
}

#[test]
fn given_a_truth_when_written_as_json_then_it_reads_back_the_same() {
    let (_, truth) = run(Scenario::Security, 3, 4_000);
    let text = truth.to_json();
    assert!(text.contains("\"start\": \"2024-11-25T01:00:00.000Z\""), "windows say when they start");
    assert_eq!(GroundTruth::from_json(&text).unwrap(), truth);
    assert_eq!(truth.rules.len(), 4);
    assert_eq!(truth.alerts_by_rule.len(), 4, "every covered rule is listed, zero included");
    assert!(truth.alert_ids_complete());
    let listed: u64 = truth.expected_alert_ids.values().map(|ids| ids.len() as u64).sum();
    assert_eq!(listed, truth.alerts_by_rule.values().sum::<u64>());
}

#[test]
fn given_scenario_names_when_parsed_then_any_case_works_and_unknown_names_say_what_exists() {
    for scenario in Scenario::ALL {
        assert_eq!(scenario.name().parse::<Scenario>().unwrap(), scenario);
        assert_eq!(scenario.name().to_uppercase().parse::<Scenario>().unwrap(), scenario);
        assert_eq!(scenario.to_string(), scenario.name());
        assert_eq!(scenario.rule_pack().is_some(), !scenario.rule_ids().is_empty());
    }
    let err = "securty".parse::<Scenario>().unwrap_err().to_string();
    assert!(err.contains("securty") && err.contains("clickstream"), "{err}");
}

#[test]
fn given_the_logs_scenario_when_generated_then_flow_log_lines_decode_to_the_fields_of_their_data() {
    let (events, _) = run(Scenario::Logs, 21, 3_000);
    let mut lines = 0;
    let mut nodata = 0;
    for e in &events {
        let origin = e.log.as_ref().expect("every logs event has a CloudWatch origin");
        let Some(line) = &origin.message else {
            assert!(origin.group.starts_with("/ecs/svc-") || origin.group.starts_with("/ecs/"), "{}", origin.group);
            assert_eq!(e.log_message(), &e.data[..]);
            continue;
        };
        lines += 1;
        assert_eq!(&*origin.group, "vpc-flow-logs");
        let fields: Value =
            serde_json::from_str(&eddy::decode::vpc::parse_line(std::str::from_utf8(line).unwrap()).unwrap()).unwrap();
        let mut data: Value = serde_json::from_slice(&e.data).unwrap();
        for added in ["id", "kind", "source", "time"] {
            data.as_object_mut().unwrap().remove(added);
        }
        assert_eq!(fields, data, "the line and the object say the same");
        nodata += u64::from(fields["log_status"] == "NODATA");
    }
    assert!(lines > 600, "about 30% flow logs: {lines}");
    assert!(nodata < lines / 20, "NODATA records are rare: {nodata}");
}

#[test]
fn given_the_ads_scenario_when_generated_then_clicks_follow_earlier_views_and_carts_earlier_clicks() {
    let (events, truth) = run(Scenario::Ads, 4, 10_000);
    let mut kinds = BTreeMap::new();
    for e in &events {
        let v: Value = serde_json::from_slice(&e.data).unwrap();
        kinds.insert(e.id.clone(), v["kind"].as_str().unwrap().to_string());
        for (field, parent_kind) in [("view_id", "view"), ("click_id", "click")] {
            if let Some(parent) = v[field].as_str() {
                assert!(parent < e.id.as_str(), "{field} {parent} comes before {}", e.id);
                assert_eq!(kinds[parent], parent_kind, "{field} {parent}");
            }
        }
    }
    let floods = &truth.incidents["click-flood"];
    assert!(floods.ids_complete);
    for id in &floods.ids {
        let v: Value =
            serde_json::from_slice(&events[eddy::gen::truth::event_index(id).unwrap() as usize].data).unwrap();
        assert_eq!(v["kind"], "click");
        assert!(v.get("view_id").is_none(), "a flood click follows no view");
    }
}

#[test]
fn given_the_fraud_scenario_when_generated_then_each_incident_groups_its_events_of_one_user() {
    let (events, truth) = run(Scenario::Fraud, 3, 60_000);
    let mut serials = std::collections::BTreeSet::new();
    for (kind, incidents) in &truth.incidents {
        assert!(incidents.ids_complete, "{kind}");
        assert_eq!(incidents.incident_of.len(), incidents.ids.len(), "{kind}");
        let groups = incidents.by_incident();
        // incidents still running when the run ends are counted as started all the same
        assert_eq!(groups.len() as u64, incidents.incidents, "{kind}");
        assert!(incidents.incidents > 0, "{kind}: 60,000 events start incidents of every kind");
        assert!(incidents.unfinished.iter().all(|s| groups.contains_key(s)), "{kind}: {:?}", incidents.unfinished);
        for (serial, ids) in &groups {
            assert!(serials.insert(*serial), "incident {serial} is of one kind only");
            let data: Vec<Value> = ids
                .iter()
                .map(|id| serde_json::from_slice(&events[eddy::gen::truth::event_index(id).unwrap() as usize].data))
                .collect::<Result<_, _>>()
                .unwrap();
            let users: std::collections::BTreeSet<&str> = data.iter().map(|v| v["user"].as_str().unwrap()).collect();
            assert_eq!(users.len(), 1, "{kind} incident {serial}: {ids:?}");
            if kind == "impossible-travel" {
                // two logins, unless the run ended between them
                let unfinished = incidents.unfinished.contains(serial);
                assert_eq!(ids.len(), if unfinished { 1 } else { 2 }, "incident {serial}");
                assert!(data.iter().all(|v| v["kind"] == "login" && v["outcome"] == "success"), "{data:?}");
                if !unfinished {
                    assert_ne!(data[0]["location"]["city"], data[1]["location"]["city"]);
                }
            }
        }
    }
}
