//! The enrich processor on single events (no async, no AWS), with the test
//! databases and catalog of `shared/testdata/enrich/`.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use eddy::enrich::{Catalog, EnrichProcessor, EnrichState, Enricher, Geo, GeoDb};
use eddy::event::{Coords, Data, Event, LogContext};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/enrich").join(name)).unwrap()
}

fn full() -> Enricher {
    Enricher {
        geo: Geo {
            city: Some(GeoDb::from_bytes(testdata("geo-city.mmdb")).unwrap()),
            asn: Some(GeoDb::from_bytes(testdata("geo-asn.mmdb")).unwrap()),
        },
        catalog: Some(Catalog::from_json(&testdata("catalog.json")).unwrap()),
    }
}

fn city_only() -> Enricher {
    Enricher {
        geo: Geo { city: Some(GeoDb::from_bytes(testdata("geo-city.mmdb")).unwrap()), asn: None },
        catalog: None,
    }
}

const ARRIVAL: f64 = 1_732_500_000.123;

fn coords(record: usize, sub: Option<u64>) -> Coords<'static> {
    Coords {
        record,
        shard_id: "shardId-000000000007",
        sequence_number: "49590338271490256608559692538361571095921575989136588898",
        subsequence_number: sub,
        partition_key: "pk",
        approximate_arrival: ARRIVAL.into(),
    }
}

fn json_event(text: &str) -> Event<'_> {
    Event { coords: coords(0, None), data: Data::Json(Cow::Borrowed(text)), log: None, members: &[] }
}

/// The enriched line of one event, checked to be a JSON object without duplicate keys.
fn enrich_with(enricher: &Enricher, event: &Event<'_>) -> Value {
    let mut state = EnrichState::new(64);
    let line = EnrichProcessor::new(enricher, &mut state).enrich(event);
    checked(&line)
}

fn enrich(text: &str) -> Value {
    enrich_with(&full(), &json_event(text))
}

/// Parses `line`, failing on a key that appears twice at the top level.
fn checked(line: &[u8]) -> Value {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(k);
            }
            Ok(keys)
        }
    }
    let text = std::str::from_utf8(line).unwrap();
    assert!(!text.contains('\n'), "one line: {text}");
    let mut keys = serde_json::Deserializer::from_str(text).deserialize_map(Keys).unwrap();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "a key appears twice in {text}");
    serde_json::from_str(text).unwrap()
}

#[test]
fn given_a_known_ipv4_when_enriched_then_geo_has_country_city_location_and_asn() {
    let out = enrich(r#"{"ip":"192.0.2.10"}"#);
    assert_eq!(
        out["geo"],
        serde_json::json!({"country":"US","city":"Mountain View","lat":37.386,"lon":-122.0838,"asn":64496,"as_org":"Example Transit"})
    );
    assert_eq!(out["ip"], "192.0.2.10", "the payload's fields stay");
}

#[test]
fn given_a_known_ipv6_when_enriched_then_geo_is_found() {
    let out = enrich(r#"{"client_ip":"2001:db8:1::20"}"#);
    assert_eq!(out["geo"]["country"], "DE");
    assert_eq!(out["geo"]["city"], "Berlin");
    assert_eq!(out["geo"]["asn"], 64497);
    // an address with only a registered country, and no ASN record
    let out = enrich(r#"{"ip":"2001:db8:2::1"}"#);
    assert_eq!(out["geo"], serde_json::json!({"country":"FR"}));
}

#[test]
fn given_a_partial_record_when_enriched_then_only_what_is_known_is_written() {
    let out = enrich(r#"{"ip":"203.0.113.9"}"#);
    assert_eq!(out["geo"], serde_json::json!({"country":"JP"}));
    let out = enrich(r#"{"ip":"198.51.100.7"}"#);
    assert_eq!(out["geo"]["city"], "London");
    assert!(out["geo"].get("asn").is_none(), "no ASN record for this network");
}

#[test]
fn given_an_unknown_or_bad_ip_when_enriched_then_geo_is_left_out() {
    for ip in ["10.1.2.3", "::1", "2001:db8:ffff::1", "not-an-ip", "999.1.1.1"] {
        let out = enrich(&format!(r#"{{"ip":"{ip}"}}"#));
        assert!(out.get("geo").is_none(), "{ip}: {out}");
    }
    // and the producer's own geo is kept when enrich has none to add
    let out = enrich(r#"{"ip":"10.1.2.3","geo":{"from":"producer"}}"#);
    assert_eq!(out["geo"], serde_json::json!({"from":"producer"}));
}

#[test]
fn given_no_database_when_enriched_then_the_geo_step_is_skipped() {
    let out = enrich_with(&Enricher::default(), &json_event(r#"{"ip":"192.0.2.10","ua":"curl/8.4.0"}"#));
    assert!(out.get("geo").is_none());
    assert_eq!(out["ua"]["original"], "curl/8.4.0", "the other steps still run");
}

#[test]
fn given_only_a_city_database_when_enriched_then_no_asn_fields() {
    let out = enrich_with(&city_only(), &json_event(r#"{"ip":"192.0.2.10"}"#));
    assert_eq!(out["geo"]["city"], "Mountain View");
    assert!(out["geo"].get("asn").is_none());
}

#[test]
fn given_ips_with_ports_or_forwarding_lists_when_enriched_then_the_client_is_looked_up() {
    assert_eq!(enrich(r#"{"ip":"192.0.2.10:443"}"#)["geo"]["country"], "US");
    assert_eq!(enrich(r#"{"remote_addr":"[2001:db8:1::9]:8443"}"#)["geo"]["country"], "DE");
    assert_eq!(enrich(r#"{"sourceIPAddress":"198.51.100.7, 10.0.0.1"}"#)["geo"]["country"], "GB");
}

#[test]
fn given_user_agents_of_each_class_when_enriched_then_the_device_class_is_set() {
    let cases = [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "desktop"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "mobile"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
    ];
    for (ua, device) in cases {
        let out = enrich(&serde_json::json!({ "ua": ua }).to_string());
        assert_eq!(out["ua"]["device"], device, "{ua}");
        assert_eq!(out["ua"]["original"], ua);
        assert!(out["ua"]["browser"].is_string(), "{out}");
        assert_eq!(out["ua"]["os"].is_string(), device != "bot", "{out}");
    }
}

#[test]
fn given_an_unrecognised_user_agent_when_enriched_then_only_the_original_is_kept() {
    let out = enrich(r#"{"user_agent":"zz-unknown-client"}"#);
    assert_eq!(out["ua"], serde_json::json!({"original":"zz-unknown-client"}));
    assert_eq!(out["user_agent"], "zz-unknown-client");
}

#[test]
fn given_a_cached_user_agent_when_enriched_again_then_the_output_is_the_same() {
    let enricher = full();
    let mut state = EnrichState::new(4);
    let mut p = EnrichProcessor::new(&enricher, &mut state);
    let text = r#"{"ua":"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}"#;
    let first = p.enrich(&json_event(text));
    let second = p.enrich(&Event { coords: coords(1, None), ..json_event(text) });
    let strip = |v: Vec<u8>| {
        let mut v = checked(&v);
        v.as_object_mut().unwrap().remove("id");
        v
    };
    assert_eq!(strip(first), strip(second));
    assert_eq!(state.ua.len(), 1);
}

#[test]
fn given_a_catalog_hit_by_source_when_enriched_then_team_tier_and_owner_are_added() {
    let out = enrich(r#"{"source":"svc-auth"}"#);
    assert_eq!(
        out["service"],
        serde_json::json!({"name":"svc-auth","team":"identity","tier":1,"owner":"alice@example.com"})
    );
}

#[test]
fn given_a_service_field_when_enriched_then_it_is_the_catalog_key_and_its_name_is_kept() {
    let out = enrich(r#"{"source":"web","service":"svc-cart"}"#);
    assert_eq!(out["service"]["name"], "svc-cart");
    assert_eq!(out["service"]["slack"], "#commerce-oncall", "extra catalog fields come along");
    assert_eq!(out["source"], "web");
    // a service the catalog does not list keeps its name, as an object
    let out = enrich(r#"{"service":"svc-unlisted"}"#);
    assert_eq!(out["service"], serde_json::json!({"name":"svc-unlisted"}));
    assert_eq!(out["source"], "svc-unlisted", "source falls back to the service");
}

#[test]
fn given_a_catalog_miss_without_a_service_field_when_enriched_then_no_service() {
    let out = enrich(r#"{"source":"svc-nobody-knows"}"#);
    assert!(out.get("service").is_none(), "{out}");
    let out = enrich_with(&Enricher::default(), &json_event(r#"{"source":"svc-auth"}"#));
    assert!(out.get("service").is_none(), "no catalog configured");
}

#[test]
fn given_time_fields_in_each_form_when_enriched_then_time_is_rfc3339_utc_from_the_event() {
    let cases = [
        (r#"{"time":"2024-11-25T02:00:00.250+01:00"}"#, "2024-11-25T01:00:00.250Z"),
        (r#"{"timestamp":1732496400123}"#, "2024-11-25T01:00:00.123Z"),
        (r#"{"timestamp":"1732496400"}"#, "2024-11-25T01:00:00.000Z"),
        (r#"{"@timestamp":"2024-11-25T01:00:00Z"}"#, "2024-11-25T01:00:00.000Z"),
        (r#"{"@timestamp":"2024-11-25T09:09:09Z","time":1732496400.5}"#, "2024-11-25T01:00:00.500Z"),
    ];
    for (text, want) in cases {
        let out = enrich(text);
        assert_eq!(out["time"], want, "{text}");
        assert_eq!(out["time_source"], "event", "{text}");
    }
}

#[test]
fn given_no_usable_time_when_enriched_then_the_arrival_time_is_used_and_said() {
    for text in [r#"{}"#, r#"{"time":"yesterday"}"#, r#"{"time":null}"#] {
        let out = enrich(text);
        assert_eq!(out["time"], "2024-11-25T02:00:00.123Z", "{text}");
        assert_eq!(out["time_source"], "arrival", "{text}");
    }
}

#[test]
fn given_the_payload_id_when_enriched_then_it_is_kept_as_a_string() {
    assert_eq!(enrich(r#"{"id":"evt-1"}"#)["id"], "evt-1");
    assert_eq!(enrich(r#"{"id":42}"#)["id"], "42");
}

#[test]
fn given_no_id_when_enriched_then_it_is_derived_from_shard_sequence_and_position() {
    let enricher = full();
    let mut state = EnrichState::new(8);
    let mut p = EnrichProcessor::new(&enricher, &mut state);
    let seq = "49590338271490256608559692538361571095921575989136588898";
    let id = |p: &mut EnrichProcessor<'_>, c: Coords<'static>| {
        checked(&p.enrich(&Event { coords: c, data: Data::Json(Cow::Borrowed("{}")), log: None, members: &[] }))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // record 0 holds two NDJSON events; record 1 is a KPL aggregate of two user records
    assert_eq!(id(&mut p, coords(0, None)), format!("shardId-000000000007:{seq}:0"));
    assert_eq!(id(&mut p, coords(0, None)), format!("shardId-000000000007:{seq}:0:1"));
    assert_eq!(id(&mut p, coords(1, Some(0))), format!("shardId-000000000007:{seq}:0"));
    assert_eq!(id(&mut p, coords(1, Some(1))), format!("shardId-000000000007:{seq}:1"));
    // the same batch processed again gives the same ids (stable across retries)
    let mut again = EnrichProcessor::new(&enricher, &mut state);
    assert_eq!(id(&mut again, coords(0, None)), format!("shardId-000000000007:{seq}:0"));
}

#[test]
fn given_a_text_event_when_enriched_then_it_becomes_a_message_with_the_fields() {
    let event = Event {
        coords: coords(0, None),
        data: Data::Text(Cow::Borrowed("GET /index.html \"quoted\"")),
        log: None,
        members: &[],
    };
    let out = enrich_with(&full(), &event);
    assert_eq!(out["message"], "GET /index.html \"quoted\"");
    assert_eq!(out["kind"], "log");
    assert_eq!(out["source"], "unknown");
    assert_eq!(out["time_source"], "arrival");
    assert!(out["id"].as_str().unwrap().starts_with("shardId-000000000007:"));
}

#[test]
fn given_a_cloudwatch_log_event_when_enriched_then_its_id_time_and_group_are_used() {
    let log = LogContext {
        log_group: "/aws/lambda/svc-checkout".into(),
        log_stream: "s".into(),
        timestamp_ms: 1_732_496_400_500,
        id: "3800001".into(),
    };
    let event = Event {
        coords: coords(0, None),
        data: Data::Json(Cow::Borrowed(r#"{"level":"ERROR"}"#)),
        log: Some(&log),
        members: &[],
    };
    let out = enrich_with(&full(), &event);
    assert_eq!(out["id"], "3800001");
    assert_eq!(out["kind"], "log");
    assert_eq!(out["source"], "/aws/lambda/svc-checkout");
    assert_eq!(out["time"], "2024-11-25T01:00:00.500Z");
    assert_eq!(out["time_source"], "event");
    assert_eq!(out["service"]["team"], "payments", "catalog hit on the log group's last part");
}

#[test]
fn given_payload_members_named_like_added_ones_when_enriched_then_the_added_ones_win_once() {
    let text = r#"{"id":7,"kind":"login","source":"svc-auth","time":1732496400,"time_source":"producer","geo":"somewhere","ip":"2001:db8:2::1","ua":"curl/8.4.0","service":"svc-auth","user":"u-6"}"#;
    let out = enrich(text); // `checked` fails on any key seen twice
    assert_eq!(out["id"], "7");
    assert_eq!(out["kind"], "login");
    assert_eq!(out["time"], "2024-11-25T01:00:00.000Z");
    assert_eq!(out["time_source"], "event");
    assert_eq!(out["geo"]["country"], "FR");
    assert_eq!(out["ua"]["original"], "curl/8.4.0");
    assert_eq!(out["service"]["team"], "identity");
    assert_eq!(out["user"], "u-6");
    assert_eq!(out["ip"], "2001:db8:2::1");
}

#[test]
fn given_odd_but_valid_objects_when_enriched_then_the_output_is_valid_json() {
    for text in [
        "{}",
        "{ }",
        r#"{"time":"2024-11-25T01:00:00Z"}"#,
        r#"{"a":1,"time":"x","b":2,"kind":"k","c":[1,{"id":3}]}"#,
        r#"{ "id" : "x" , "nested" : { "time" : 1 } , "kind" : "y" }"#,
        r#"{"msg":"caf\u00e9 \"q\" \\ end","ua":"a\"b"}"#,
    ] {
        let out = enrich(text);
        assert!(out["id"].is_string() && out["time"].is_string(), "{text}: {out}");
    }
    let out = enrich(r#"{"a":1,"time":"x","b":2,"kind":"k","c":[1,{"id":3}]}"#);
    assert_eq!((&out["a"], &out["b"], &out["c"][1]["id"]), (&Value::from(1), &Value::from(2), &Value::from(3)));
    let out = enrich(r#"{"msg":"caf\u00e9 \"q\" \\ end","ua":"a\"b"}"#);
    assert_eq!(out["msg"], "café \"q\" \\ end");
    assert_eq!(out["ua"]["original"], "a\"b");
}
