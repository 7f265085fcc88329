//! The ground truth against the real thing: generated events go through
//! Lambda Kinesis events (plain, KPL aggregated, CloudWatch Logs payloads) into
//! the enrich handler (with the generated service catalog, no geo database),
//! and the shipped rule packs (`rules/*.yaml`) are evaluated on what enrich
//! writes. For every rule the truth covers, the events the rules match are
//! exactly the expected ones (precision and recall 1.0), by id.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::decode::DecodeLimits;
use eddy::enrich::{Catalog, Enrich, Enricher};
use eddy::gen::{lambda, GeneratedEvent, Generator, GroundTruth, LambdaBatcher, Packer, Packing, Scenario};
use eddy::limits::KINESIS;
use eddy::rules::RuleSet;
use eddy::sink::MemorySink;
use serde_json::Value;

/// Lambda events of `events`, packed and batched as `eddy gen --lambda-events` does.
fn lambda_events(events: impl Iterator<Item = GeneratedEvent>, packing: Packing) -> Vec<Vec<u8>> {
    let mut packer = Packer::new(packing);
    let mut batcher = LambdaBatcher::new(100);
    let mut records = Vec::new();
    let mut batches = Vec::new();
    for e in events {
        packer.push(e, &mut records);
        batches.extend(records.drain(..).filter_map(|r| batcher.push(r)));
    }
    packer.finish(&mut records);
    batches.extend(records.drain(..).filter_map(|r| batcher.push(r)));
    batches.extend(batcher.finish());
    let mut seq = 1;
    batches
        .into_iter()
        .map(|b| {
            let first = seq;
            seq += b.len() as u64;
            lambda::lambda_event(b, first)
        })
        .collect()
}

/// The enriched lines of the events, through the enrich handler.
async fn enriched(scenario: Scenario, payloads: &[Vec<u8>]) -> Vec<Value> {
    let catalog = Catalog::from_json(eddy::gen::catalog_json().as_bytes()).unwrap();
    let enricher = Enricher { catalog: Some(catalog), ..Enricher::default() };
    let sink = Arc::new(MemorySink::new("enriched").with_limits(KINESIS));
    let quarantine = Arc::new(MemorySink::new("quarantine"));
    let enrich =
        Enrich::new(enricher, Box::new(sink.clone()), Box::new(quarantine.clone()), DecodeLimits::default(), 1024);
    for payload in payloads {
        let report = enrich.run(payload, Deadline::after(Duration::from_secs(60))).await.unwrap();
        assert_eq!(report.counts.failed, 0, "{scenario}");
    }
    assert_eq!(quarantine.count(), 0, "{scenario}: nothing quarantined: {:?}", quarantine.lines().first());
    sink.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn pack(scenario: Scenario) -> RuleSet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario.rule_pack().unwrap());
    RuleSet::load(&path).unwrap()
}

/// Event ids each rule of the scenario's pack matches in `lines`.
fn raised(rules: &RuleSet, lines: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> =
        rules.rules().iter().map(|r| (r.id.clone(), BTreeSet::new())).collect();
    for line in lines {
        let verdict = rules.evaluate(&line.to_string()).unwrap();
        for id in verdict.ids() {
            out.get_mut(id).unwrap().insert(line["id"].as_str().unwrap().to_string());
        }
    }
    out
}

fn expected(truth: &GroundTruth) -> BTreeMap<String, BTreeSet<String>> {
    truth.expected_alert_ids.iter().map(|(rule, ids)| (rule.clone(), ids.iter().cloned().collect())).collect()
}

async fn check(scenario: Scenario, seed: u64, count: u64, packing: Packing) -> GroundTruth {
    let mut generator = Generator::new(scenario, seed, count);
    let payloads = lambda_events(generator.by_ref(), packing);
    let truth = generator.truth();
    let lines = enriched(scenario, &payloads).await;
    assert_eq!(lines.len() as u64, count, "{scenario} {packing:?}: one enriched line per event");
    let ids: BTreeSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len() as u64, count, "{scenario} {packing:?}: the ids survive enrich");

    let rules = pack(scenario);
    let pack_ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(pack_ids, scenario.rule_ids(), "{scenario}: the truth covers every rule of the pack, in order");
    let raised = raised(&rules, &lines);
    let expected = expected(&truth);
    for rule in scenario.rule_ids() {
        let (want, got) = (&expected[*rule], &raised[*rule]);
        let missed: Vec<_> = want.difference(got).take(3).collect();
        let extra: Vec<_> = got.difference(want).take(3).collect();
        assert!(
            missed.is_empty() && extra.is_empty(),
            "{scenario} {packing:?} {rule}: recall misses {missed:?}, precision extra {extra:?}"
        );
        assert_eq!(truth.alerts_by_rule[*rule], got.len() as u64, "{scenario} {rule}: count");
        let score = truth.score(Some(rule), got.iter().map(String::as_str));
        assert!(score.is_exact() && score.precision() == 1.0 && score.recall() == 1.0, "{rule}: {score:?}");
    }
    let any: BTreeSet<&String> = raised.values().flatten().collect();
    assert_eq!(truth.alert_events, any.len() as u64, "{scenario}: events alerted by any rule");
    truth
}

fn assert_every_rule_fires(truths: &[GroundTruth]) {
    let scenario = truths[0].scenario;
    for rule in scenario.rule_ids() {
        let n: u64 = truths.iter().map(|t| t.alerts_by_rule[*rule]).sum();
        assert!(n > 0, "{scenario}: the sample exercises {rule}");
    }
}

#[tokio::test]
async fn given_security_events_when_enriched_and_filtered_by_the_security_pack_then_alerts_are_the_truths() {
    let plain = check(Scenario::Security, 1, 20_000, Packing::Plain).await;
    let kpl = check(Scenario::Security, 2, 20_000, Packing::Kpl).await;
    assert_every_rule_fires(&[plain, kpl]);
}

#[tokio::test]
async fn given_logs_when_enriched_with_the_catalog_and_filtered_by_the_logs_pack_then_alerts_are_the_truths() {
    let plain = check(Scenario::Logs, 3, 20_000, Packing::Plain).await;
    let cloudwatch = check(Scenario::Logs, 4, 20_000, Packing::CloudWatch).await;
    assert_every_rule_fires(&[plain, cloudwatch]);
}

#[tokio::test]
async fn given_iot_readings_when_enriched_and_filtered_by_the_iot_pack_then_alerts_are_the_truths() {
    let a = check(Scenario::Iot, 5, 20_000, Packing::Plain).await;
    let b = check(Scenario::Iot, 6, 20_000, Packing::Kpl).await;
    assert_every_rule_fires(&[a, b]);
}

#[tokio::test]
async fn given_logs_as_cloudwatch_payloads_when_enriched_then_id_source_and_time_are_those_of_the_plain_form() {
    let events: Vec<GeneratedEvent> = Generator::new(Scenario::Logs, 9, 3_000).collect();
    let plain = enriched(Scenario::Logs, &lambda_events(events.clone().into_iter(), Packing::Plain)).await;
    let cloudwatch = enriched(Scenario::Logs, &lambda_events(events.into_iter(), Packing::CloudWatch)).await;
    let key =
        |v: &Value| (v["id"].to_string(), v["source"].to_string(), v["time"].to_string(), v["service"].to_string());
    let mut a: Vec<_> = plain.iter().map(key).collect();
    let mut b: Vec<_> = cloudwatch.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(cloudwatch.iter().any(|v| v["source"] == "vpc-flow-logs" && v["srcaddr"].is_string()));
    assert!(cloudwatch.iter().any(|v| v["service"]["tier"] == 1), "the catalog gives tiers");
}

#[tokio::test]
async fn given_scenarios_without_a_pack_when_enriched_then_they_decode_cleanly() {
    for scenario in [Scenario::Clickstream, Scenario::Fraud, Scenario::Ads] {
        let mut generator = Generator::new(scenario, 12, 3_000);
        let payloads = lambda_events(generator.by_ref(), Packing::Plain);
        let lines = enriched(scenario, &payloads).await;
        assert_eq!(lines.len(), 3_000);
        let truth = generator.truth();
        assert!(truth.rule_pack.is_none() && truth.alerts_by_rule.is_empty() && truth.alert_events == 0);
        assert!(lines.iter().filter(|l| l["ua"]["original"].is_string()).count() > 1_000, "{scenario}: user agents");
    }
}
