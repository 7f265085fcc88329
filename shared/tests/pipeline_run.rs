//! The embedded pipeline end to end over local folders: every event reaches
//! every function, outcomes add up per function, alerts are the filter's
//! deliveries, reports cover every enriched event, and the archive is gzip
//! NDJSON partitioned by hour.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};

use eddy::enrich::{EnrichConfig, Enricher};
use eddy::limits::LAMBDA_MAX_PAYLOAD_BYTES;
use eddy::pipeline::parallel::{Parallel, Parts};
use eddy::pipeline::run::{Pipeline, RawEvent, Settings};
use eddy::rules::{mapping_patterns, Format, RuleSet};
use eddy::window::AggregateConfig;
use eddy::workload::access_event;

const START_MS: i64 = 1_732_496_400_000; // 2024-11-25T01:00:00Z

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("eddy-pipeline-{}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(path).unwrap();
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
    } else {
        text = String::from_utf8(bytes).unwrap();
    }
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The pipeline with the security pack, no lookups, the default aggregate,
/// 60-second windows and no FilterCriteria, writing under `out`.
async fn security_pipeline(shards: u32, batch_size: usize, out: &Path) -> Pipeline {
    let settings = Settings { shards, batch_size, window_seconds: 60, out: out.to_path_buf(), filter_criteria: None };
    let rules = RuleSet::parse(include_str!("../../rules/security.yaml"), Format::Yaml).unwrap();
    let enricher = Enricher::load(&EnrichConfig::from_lookup(|_| None).unwrap(), None).await.unwrap();
    Pipeline::new(settings, enricher, rules, AggregateConfig::default())
}

#[tokio::test]
async fn given_3000_events_over_three_windows_then_every_function_accounts_for_every_event() {
    let out = tempdir();
    let mut pipeline = security_pipeline(3, 100, &out).await;
    let n = 3000;
    for i in 0..n {
        let data = access_event(i, 300);
        // 3,000 events over 150 s: windows 01:00, 01:01 and 01:02
        let arrival_ms = START_MS + (i as i64) * 50;
        pipeline.push(RawEvent { partition_key: format!("user-{}", i % 97), data, arrival_ms }).await.unwrap();
    }
    pipeline
        .push(RawEvent {
            partition_key: "bad".into(),
            data: b"{\"truncated\":".to_vec(),
            arrival_ms: START_MS + 150_000,
        })
        .await
        .unwrap();
    let totals = pipeline.finish().await.unwrap().clone();

    assert_eq!(totals.events_in, n + 1);
    for c in [&totals.archive, &totals.enrich, &totals.filter, &totals.aggregate] {
        assert!(c.adds_up(), "{c:?}");
        assert_eq!(c.failed, 0);
    }
    assert_eq!(totals.archive.delivered as u64, n);
    assert_eq!(totals.archive.quarantined, 1);
    assert_eq!(totals.enrich.delivered as u64, n);
    assert_eq!(totals.filter.records as u64, n, "filter reads one enriched record per good event");
    assert_eq!(totals.aggregate.records as u64, n);
    assert!(totals.filter.delivered > 0 && totals.filter.dropped > 0, "{:?}", totals.filter);
    let alerts: Vec<serde_json::Value> = files(&out.join("alerts")).iter().flat_map(|p| lines(p)).collect();
    assert_eq!(alerts.len(), totals.filter.delivered);
    assert!(alerts.iter().all(|a| a["alert"]["rules"].as_array().is_some_and(|r| !r.is_empty())));
    let by_rule: u64 = totals.alerts_by_rule.values().sum();
    assert!(by_rule >= totals.filter.delivered as u64);

    // reports: one per window and shard that saw events; their counts cover every enriched event
    let reports = files(&out.join("reports"));
    assert_eq!(reports.len() as u64, totals.reports_written);
    assert!(reports.len() >= 3, "{reports:?}");
    let summaries: Vec<serde_json::Value> =
        reports.iter().map(|p| lines(p).into_iter().find(|l| l["type"] == "summary").unwrap()).collect();
    let counted: u64 = summaries.iter().map(|s| s["events"].as_u64().unwrap() + s["late"].as_u64().unwrap()).sum();
    assert_eq!(counted, n);

    // the archive: gzip NDJSON under archive/YYYY/MM/DD/HH/
    let archive = files(&out.join("archive"));
    assert!(archive
        .iter()
        .all(|p| p.to_string_lossy().contains("archive/2024/11/25/01/") && p.extension().unwrap() == "gz"));
    let archived: usize = archive.iter().map(|p| lines(p).len()).sum();
    assert_eq!(archived as u64, n);
    let quarantined: Vec<serde_json::Value> = files(&out.join("quarantine")).iter().flat_map(|p| lines(p)).collect();
    assert_eq!(quarantined.len(), 2, "the bad record, quarantined by archive and by enrich (each under its own key)");
    assert!(quarantined[0]["reason"].as_str().unwrap().starts_with("invalid JSON"));
    std::fs::remove_dir_all(out).ok();
}

#[tokio::test]
async fn given_events_too_large_for_one_lambda_event_then_batches_are_cut_at_6_mb_and_nothing_is_lost() {
    let out = tempdir();
    // one shard, BatchSize 1000: 300 events of ~60 KB (~80 KB each in base64) are
    // ~24 MB of Lambda event, so an event source mapping makes several batches
    let mut pipeline = security_pipeline(1, 1000, &out).await;
    let n = 300;
    for i in 0..n {
        let data = access_event(i, 60_000);
        let arrival_ms = START_MS + i as i64;
        pipeline.push(RawEvent { partition_key: format!("user-{i}"), data, arrival_ms }).await.unwrap();
    }
    let totals = pipeline.finish().await.unwrap().clone();

    for (f, bytes) in totals.max_event_bytes.iter().enumerate() {
        assert!(*bytes > 4_000_000, "function {f}: batches are filled up to the limit ({bytes} bytes)");
        assert!(*bytes <= LAMBDA_MAX_PAYLOAD_BYTES, "function {f} got a {bytes}-byte event");
    }
    assert!(totals.invocations[0] >= 4, "{:?}", totals.invocations);
    assert!(totals.invocations[2] >= totals.invocations[0], "enriched events are larger: {:?}", totals.invocations);
    for c in [&totals.archive, &totals.enrich, &totals.filter, &totals.aggregate] {
        assert!(c.adds_up(), "{c:?}");
        assert_eq!((c.records, c.delivered + c.dropped, c.failed), (n as usize, n as usize, 0), "{c:?}");
    }
    assert_eq!(totals.report_counts.values().sum::<u64>(), n, "the reports count every event once");
    std::fs::remove_dir_all(&out).unwrap();
}

#[tokio::test]
async fn given_events_past_the_services_record_limits_then_they_are_refused_or_quarantined_as_in_aws() {
    let out = tempdir();
    let mut pipeline = security_pipeline(2, 100, &out).await;
    let event = |id: &str, pad: usize| {
        format!(r#"{{"id":"{id}","source":"svc-a","time":"2024-11-25T01:00:00Z","pad":"{}"}}"#, "x".repeat(pad))
            .into_bytes()
    };
    let put = |partition_key: &str, data: Vec<u8>| RawEvent {
        partition_key: partition_key.into(),
        data,
        arrival_ms: START_MS,
    };
    // over Kinesis's 1 MiB: never enters `raw`
    pipeline.push(put("k1", event("huge", 1_100_000))).await.unwrap();
    // a partition key of 257 characters: refused too
    pipeline.push(put(&"k".repeat(257), event("long-key", 10))).await.unwrap();
    // 1,010 KiB: Kinesis takes it, Firehose (1,000 KiB per record) would not: archive quarantines it
    pipeline.push(put("k2", event("big", 1_010 * 1024))).await.unwrap();
    pipeline.push(put("k3", event("small", 10))).await.unwrap();
    let totals = pipeline.finish().await.unwrap().clone();

    assert_eq!(totals.events_in, 4);
    let rejected: Vec<(&str, u64)> = totals.rejected.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(rejected, [("over 1 MiB", 1), ("partition key not 1-256 characters", 1)]);
    let kept: Vec<serde_json::Value> = files(&out.join("rejected")).iter().flat_map(|f| lines(f)).collect();
    assert_eq!(kept.len(), 2, "each refused event is kept");
    assert!(kept.iter().all(|l| l["reason"].as_str().unwrap().starts_with("Kinesis PutRecords would refuse it")));

    let a = &totals.archive;
    assert_eq!((a.records, a.delivered, a.quarantined), (2, 1, 1), "{a:?}");
    let quarantined: Vec<serde_json::Value> =
        files(&out.join("quarantine/archive")).iter().flat_map(|f| lines(f)).collect();
    assert_eq!(quarantined.len(), 1);
    assert!(quarantined[0]["reason"].as_str().unwrap().contains("firehose limit"), "{}", quarantined[0]["reason"]);
    let e = &totals.enrich;
    assert_eq!((e.records, e.delivered, e.quarantined), (2, 2, 0), "Kinesis takes both enriched events: {e:?}");
    for c in [&totals.archive, &totals.enrich, &totals.filter, &totals.aggregate] {
        assert!(c.adds_up(), "{c:?}");
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// The events of a run over several windows and shards, with a bad record and
/// events Kinesis would refuse among them.
fn mixed_events() -> Vec<RawEvent> {
    let mut events: Vec<RawEvent> = (0..4_000)
        .map(|i| RawEvent {
            partition_key: format!("user-{}", i % 101),
            data: access_event(i, 300),
            // 4,000 events over 200 s: four windows
            arrival_ms: START_MS + (i as i64) * 50,
        })
        .collect();
    let at = |i: usize| START_MS + (i as i64) * 50;
    events
        .insert(700, RawEvent { partition_key: "bad".into(), data: b"{\"truncated\":".to_vec(), arrival_ms: at(700) });
    events.insert(
        1_500,
        RawEvent { partition_key: String::new(), data: access_event(1_500, 300), arrival_ms: at(1_500) },
    );
    events.insert(
        3_100,
        RawEvent { partition_key: "k".repeat(257), data: access_event(3_100, 300), arrival_ms: at(3_100) },
    );
    events
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(dir).into_iter().map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap())).collect()
}

/// A run of `events` over 4 shards on `threads` threads, filter's mapping
/// with the security pack's `FilterCriteria` or none: its totals and output folder.
async fn run_on_threads(
    threads: usize,
    criteria: bool,
    events: Vec<RawEvent>,
) -> (eddy::pipeline::run::Totals, PathBuf) {
    let out = tempdir();
    let rules = RuleSet::parse(include_str!("../../rules/security.yaml"), Format::Yaml).unwrap();
    let filter_criteria = criteria.then(|| mapping_patterns(&rules).unwrap());
    let settings = Settings { shards: 4, batch_size: 100, window_seconds: 60, out: out.clone(), filter_criteria };
    let enricher = Enricher::load(&EnrichConfig::from_lookup(|_| None).unwrap(), None).await.unwrap();
    let enricher = std::sync::Arc::new(enricher);
    let parts = (0..threads)
        .map(|_| Parts { enricher: enricher.clone(), rules: rules.clone(), aggregate: AggregateConfig::default() })
        .collect();
    let mut pipeline = Parallel::new(settings, parts).unwrap();
    assert_eq!(pipeline.threads(), threads);
    for event in events {
        pipeline.push(event).await.unwrap();
    }
    (pipeline.finish().await.unwrap(), out)
}

#[tokio::test]
async fn given_the_same_events_on_one_thread_and_on_three_then_totals_and_output_trees_are_the_same() {
    let (one, one_out) = run_on_threads(1, true, mixed_events()).await;
    let (three, three_out) = run_on_threads(3, true, mixed_events()).await;

    assert_eq!(one.events_in, 4_003);
    assert_eq!(three.events_in, one.events_in);
    assert_eq!(one.rejected.values().sum::<u64>(), 2);
    assert_eq!(three.rejected, one.rejected);
    assert_eq!(one.archive.quarantined, 1, "{:?}", one.archive);
    for (a, b) in [
        (&one.archive, &three.archive),
        (&one.enrich, &three.enrich),
        (&one.filter, &three.filter),
        (&one.aggregate, &three.aggregate),
    ] {
        assert_eq!(a, b);
    }
    assert!(one.filter.delivered > 0);
    assert!(one.filtered_out > 0);
    assert_eq!(three.filtered_out, one.filtered_out);
    assert_eq!(three.alerts_by_rule, one.alerts_by_rule);
    let sorted = |t: &eddy::pipeline::run::Totals| {
        let mut ids: Vec<(String, String)> = t
            .alert_ids_by_rule
            .iter()
            .flat_map(|(rule, ids)| ids.iter().map(move |id| (rule.clone(), id.clone())))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(sorted(&three), sorted(&one));
    assert_eq!(three.report_counts, one.report_counts);
    assert!(one.reports_written >= 4 * 4, "four windows on each of four shards: {}", one.reports_written);
    assert_eq!(three.reports_written, one.reports_written);
    assert_eq!(three.invocations, one.invocations);
    assert_eq!(three.max_event_bytes, one.max_event_bytes);
    // the last report is the latest window's, of its highest shard, however the shards were spread
    // (arrivals span 01:00:00 to 01:03:20)
    assert_eq!(one.last_report_at, Some((START_MS + 180_000, 3)));
    assert!(
        one.last_report[0].contains("20241125T010300Z_20241125T010400Z_shardId-000000000003"),
        "{:?}",
        one.last_report
    );
    assert_eq!(three.last_report_at, one.last_report_at);
    assert_eq!(three.last_report, one.last_report);

    // the same files with the same bytes, refused events numbered by their place in the input
    let (a, b) = (tree(&one_out), tree(&three_out));
    assert!(a.len() > 50, "{}", a.len());
    assert_eq!(a.iter().map(|(p, _)| p).collect::<Vec<_>>(), b.iter().map(|(p, _)| p).collect::<Vec<_>>());
    assert!(a == b, "the same bytes in every file");
    let rejected: Vec<&PathBuf> = a.iter().map(|(p, _)| p).filter(|p| p.starts_with("rejected")).collect();
    assert_eq!(
        rejected,
        [Path::new("rejected/event-0000001501.ndjson"), Path::new("rejected/event-0000003101.ndjson")]
    );
    std::fs::remove_dir_all(one_out).ok();
    std::fs::remove_dir_all(three_out).ok();
}

/// The lines of every file under `dir`, sorted.
fn sorted_lines(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = files(dir).iter().flat_map(|p| lines(p)).map(|l| l.to_string()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn given_filters_mapping_has_the_packs_filter_criteria_then_filter_gets_only_what_they_let_through_and_raises_the_same_alerts(
) {
    let (all, all_out) = run_on_threads(1, false, mixed_events()).await;
    let (some, some_out) = run_on_threads(1, true, mixed_events()).await;

    assert_eq!(all.filtered_out, 0);
    assert_eq!(all.filter.records, 4_000, "{:?}", all.filter);
    assert!(some.filtered_out > 2_000, "most access events match no pattern: {}", some.filtered_out);
    assert_eq!(some.filter.records as u64 + some.filtered_out, all.filter.records as u64);
    assert!(some.filter.adds_up(), "{:?}", some.filter);
    assert_eq!(some.filter.delivered, all.filter.delivered, "every alert still raised");
    assert_eq!(some.filter.dropped + some.filtered_out as usize, all.filter.dropped);
    assert_eq!(some.alerts_by_rule, all.alerts_by_rule);
    assert_eq!(some.alert_ids_by_rule, all.alert_ids_by_rule);
    assert!(some.invocations[2] <= all.invocations[2], "{:?} vs {:?}", some.invocations, all.invocations);
    assert!(some.criteria_cpu > std::time::Duration::ZERO);

    // the same alerts, byte for byte (files are named by their batch's first record, which differs)
    assert_eq!(sorted_lines(&some_out.join("alerts")), sorted_lines(&all_out.join("alerts")));
    // the rest of the tree is the same files with the same bytes
    let rest = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        tree(dir).into_iter().filter(|(p, _)| !p.starts_with("alerts")).collect()
    };
    assert!(rest(&some_out) == rest(&all_out), "archive, enriched, reports, quarantine, rejected unchanged");
    std::fs::remove_dir_all(all_out).ok();
    std::fs::remove_dir_all(some_out).ok();
}

#[tokio::test]
async fn given_a_batch_no_filter_pattern_lets_through_then_filter_is_not_invoked_and_the_records_are_counted_as_filtered_out(
) {
    let quiet = |i: usize| {
        RawEvent {
        partition_key: format!("user-{i}"),
        data: format!(
            r#"{{"id":"q-{i}","kind":"access","source":"svc-a","ip":"10.0.0.{}","time":"2024-11-25T01:00:00Z","http":{{"status":200,"path":"/home"}}}}"#,
            i % 250
        )
        .into_bytes(),
        arrival_ms: START_MS + i as i64,
    }
    };
    let (totals, out) = run_on_threads(1, true, (0..250).map(quiet).collect()).await;

    assert_eq!(totals.enrich.delivered, 250);
    assert_eq!(totals.filtered_out, 250);
    assert_eq!(totals.invocations[2], 0, "no invocation without records: {:?}", totals.invocations);
    assert_eq!(totals.filter.records, 0);
    assert_eq!(totals.aggregate.records, 250, "aggregate's mapping has no criteria");
    assert!(files(&out.join("alerts")).is_empty());
    std::fs::remove_dir_all(out).ok();
}
