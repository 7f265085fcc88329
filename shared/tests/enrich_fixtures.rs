//! The enrich handler on its fixtures (`events/enrich-*.json`, built by
//! `enrich_testdata.rs`) with in-memory sinks and the test lookups.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eddy::batch::BatchReport;
use eddy::deadline::Deadline;
use eddy::decode::DecodeLimits;
use eddy::enrich::config::Location;
use eddy::enrich::{Enrich, EnrichConfig, Enricher};
use eddy::limits::KINESIS;
use eddy::sink::MemorySink;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("events").join(name)).unwrap()
}

fn testdata(name: &str) -> Location {
    Location::Path(repo().join("shared/testdata/enrich").join(name).to_string_lossy().into())
}

/// The configuration a user would write, pointing at the test data.
fn config() -> EnrichConfig {
    let mut c = EnrichConfig::from_lookup(|_| None).unwrap();
    c.geo_db = Some(testdata("geo-city.mmdb"));
    c.asn_db = Some(testdata("geo-asn.mmdb"));
    c.service_catalog = Some(testdata("catalog.json"));
    c
}

struct Run {
    report: BatchReport,
    enriched: Vec<Value>,
    keys: Vec<String>,
    quarantine: Vec<Value>,
}

struct App {
    app: Enrich,
    enriched: Arc<MemorySink>,
    quarantine: Arc<MemorySink>,
}

async fn app() -> App {
    let enricher = Enricher::load(&config(), None).await.unwrap();
    let enriched = Arc::new(MemorySink::new("enriched").with_limits(KINESIS));
    let quarantine = Arc::new(MemorySink::new("quarantine"));
    let app =
        Enrich::new(enricher, Box::new(enriched.clone()), Box::new(quarantine.clone()), DecodeLimits::default(), 1024);
    App { app, enriched, quarantine }
}

async fn run(name: &str) -> Run {
    let a = app().await;
    let report = a.app.run(&fixture(name), Deadline::after(Duration::from_secs(30))).await.unwrap();
    let parse = |lines: Vec<String>| lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
    let keys = a.enriched.records().into_iter().map(|r| r.partition_key.into()).collect();
    Run { report, enriched: parse(a.enriched.lines()), keys, quarantine: parse(a.quarantine.lines()) }
}

#[tokio::test]
async fn every_enrich_fixture_is_tested_here() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("enrich-") && n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, ["enrich-clickstream.json", "enrich-logs.json"]);
    for name in &names {
        let got = run(name).await;
        let c = &got.report.counts;
        assert_eq!(c.failed, 0, "{name}");
        assert_eq!(c.delivered + c.dropped + c.quarantined + c.failed, c.items, "{name}: outcomes add up");
        assert_eq!(got.enriched.len(), c.delivered, "{name}: one enriched record per event");
        assert!(got.enriched.iter().all(|e| e["id"].is_string() && e["time"].is_string()), "{name}");
    }
}

#[tokio::test]
async fn clickstream_events_are_enriched_and_keep_their_partition_keys() {
    let got = run("enrich-clickstream.json").await;
    let c = &got.report.counts;
    assert_eq!((c.records, c.delivered, c.quarantined), (7, 7, 1));
    assert!(got.report.response.batch_item_failures.is_empty());
    assert_eq!(got.keys, ["user-1", "user-2", "user-3", "user-4", "user-5", "user-5", "user-6"]);
    let e = &got.enriched;

    // 1. IPv4, desktop Chrome, time with an offset, catalog hit by source
    assert_eq!(e[0]["id"], "click-1");
    assert_eq!(e[0]["kind"], "pageview");
    assert_eq!(e[0]["time"], "2024-11-25T01:00:00.250Z");
    assert_eq!(e[0]["time_source"], "event");
    assert_eq!(e[0]["geo"]["city"], "Mountain View");
    assert_eq!(e[0]["geo"]["as_org"], "Example Transit");
    assert_eq!((&e[0]["ua"]["browser"], &e[0]["ua"]["device"]), (&Value::from("Chrome"), &Value::from("desktop")));
    assert_eq!(e[0]["service"]["team"], "identity");
    assert_eq!(e[0]["http"]["status"], 200, "the payload is kept");

    // 2. IPv6, iPhone, epoch millis, derived id, service field wins
    assert!(e[1]["id"].as_str().unwrap().starts_with("shardId-000000000000:"));
    assert_eq!(e[1]["geo"]["country"], "DE");
    assert_eq!(e[1]["ua"]["device"], "mobile");
    assert_eq!(e[1]["time"], "2024-11-25T01:00:00.123Z");
    assert_eq!(e[1]["service"]["name"], "svc-cart");
    assert_eq!(e[1]["source"], "web");

    // 3. unknown IP: no geo from enrich, the producer's stays; a crawler
    assert_eq!(e[2]["geo"], serde_json::json!({"from": "producer"}));
    assert_eq!(e[2]["ua"]["device"], "bot");

    // 4. nothing to look up
    assert_eq!(e[3]["time"], "2024-11-25T02:00:00.126Z", "the 4th record arrived 3 ms after the first");
    assert_eq!(e[3]["time_source"], "arrival");
    assert_eq!(e[3]["source"], "svc-unlisted");
    assert_eq!(e[3]["service"], serde_json::json!({"name": "svc-unlisted"}));
    assert!(e[3].get("geo").is_none() && e[3].get("ua").is_none());

    // 5. two events of one record: distinct derived ids
    let (a, b) = (e[4]["id"].as_str().unwrap(), e[5]["id"].as_str().unwrap());
    assert_eq!(format!("{a}:1"), b);
    assert_eq!((&e[4]["geo"]["country"], &e[5]["geo"]["country"]), (&Value::from("JP"), &Value::from("GB")));

    // 6. names already in the payload: the added members win
    assert_eq!(e[6]["id"], "42");
    assert_eq!(e[6]["time_source"], "event");
    assert_eq!(e[6]["geo"]["country"], "FR");
    assert_eq!(e[6]["ua"]["original"], "curl/8.4.0");
    assert_eq!(e[6]["service"]["owner"], "alice@example.com");

    // 7. undecodable: quarantined with its reason
    assert_eq!(got.quarantine.len(), 1);
    assert!(got.quarantine[0]["reason"].as_str().unwrap().starts_with("invalid JSON"));
}

#[tokio::test]
async fn log_events_and_text_lines_are_enriched() {
    let got = run("enrich-logs.json").await;
    assert_eq!(got.report.counts.delivered, 4);
    let e = &got.enriched;
    assert_eq!(e[0]["level"], "ERROR");
    assert_eq!(e[0]["id"], "38000000000000000000000000000000000000000000000000000001");
    assert_eq!(e[0]["source"], "/aws/lambda/svc-checkout");
    assert_eq!(e[0]["time"], "2024-11-25T01:00:00.500Z");
    assert_eq!(e[0]["service"]["team"], "payments");
    assert_eq!(e[1]["message"], "START RequestId: 8f5b Version: $LATEST");
    assert_eq!(e[1]["kind"], "log");
    // plain text lines: a message each, arrival time, ids counting the lines
    assert_eq!(e[2]["message"], "2024-11-25 01:00:02 INFO checkout started");
    assert_eq!(e[3]["message"], "2024-11-25 01:00:03 WARN slow payment");
    assert_eq!(e[3]["time_source"], "arrival");
    assert_eq!(format!("{}:1", e[2]["id"].as_str().unwrap()), e[3]["id"].as_str().unwrap());
    assert_eq!(got.keys[2..], ["app-2", "app-2"]);
}

#[tokio::test]
async fn a_record_the_stream_rejects_is_reported_for_retry() {
    let a = app().await;
    a.enriched.fail_containing(b"click-3", 100);
    let report = a.app.run(&fixture("enrich-clickstream.json"), Deadline::after(Duration::from_secs(30))).await;
    let report = report.unwrap();
    assert_eq!(report.counts.failed, 1);
    let failed = &report.response.batch_item_failures;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].item_identifier.as_deref(), Some(eddy::workload::sequence_number(102).as_str()));
    assert_eq!(a.quarantine.lines().len(), 1);
}

#[tokio::test]
async fn caches_survive_between_invocations() {
    let a = app().await;
    let payload = fixture("enrich-clickstream.json");
    a.app.run(&payload, Deadline::after(Duration::from_secs(30))).await.unwrap();
    let (ua, geo) = a.app.cached();
    assert_eq!(ua, 4, "distinct user agents: Chrome, iPhone, Googlebot, curl");
    assert!(geo >= 4, "{geo}");
    a.app.run(&payload, Deadline::after(Duration::from_secs(30))).await.unwrap();
    assert_eq!(a.app.cached().0, 4);
}

#[tokio::test]
async fn without_any_lookup_configured_the_fields_are_still_normalised() {
    let enricher = Enricher::load(&EnrichConfig::from_lookup(|_| None).unwrap(), None).await.unwrap();
    let enriched = Arc::new(MemorySink::new("enriched"));
    let app = Enrich::new(
        enricher,
        Box::new(enriched.clone()),
        Box::new(MemorySink::new("quarantine")),
        DecodeLimits::default(),
        16,
    );
    app.run(&fixture("enrich-clickstream.json"), Deadline::after(Duration::from_secs(30))).await.unwrap();
    let first: Value = serde_json::from_str(&enriched.lines()[0]).unwrap();
    assert!(first.get("geo").is_none());
    assert!(first.get("service").is_none());
    assert_eq!(first["ua"]["device"], "desktop", "user agents need no configuration");
    assert_eq!(first["time"], "2024-11-25T01:00:00.250Z");
}
