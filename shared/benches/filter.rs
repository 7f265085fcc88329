//! The filter handler on a reference-sized batch of enriched events (6,400
//! records of ~320 bytes before enrichment, like the archive
//! benchmark's) with the security rule pack, sinks in memory;
//! and, on the same events, evaluating the rules (reading only the rules'
//! fields) beside a full `serde_json::Value` parse of each event, the cost the
//! trie-guided reader avoids; and the FilterCriteria the pack compiles to,
//! applied as filter's event source mapping applies them before invoking.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy::deadline::Deadline;
use eddy::decode::DecodeLimits;
use eddy::rules::sample::{enriched_access_event, enriched_batch};
use eddy::rules::{mapping_patterns, Filter, RuleSet};
use eddy::workload::{REFERENCE_RECORDS, REFERENCE_RECORD_BYTES};

/// The allocator the Lambda functions run with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn security_pack() -> RuleSet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/security.yaml");
    RuleSet::load(&path).expect("the security pack")
}

fn filter_reference_batch(c: &mut Criterion) {
    let payload = enriched_batch(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let app = Filter::in_memory(security_pack(), DecodeLimits::default());
    let report = runtime.block_on(app.run(&payload, Deadline::after(Duration::from_secs(60)))).expect("batch");
    eprintln!(
        "filter: {} records, {} alerts, {} dropped ({:?})",
        report.counts.records, report.counts.delivered, report.counts.dropped, report.counts.dropped_by_reason
    );

    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(REFERENCE_RECORDS as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("handler_security_reference_batch", |b| {
        b.iter(|| runtime.block_on(app.run(&payload, Deadline::after(Duration::from_secs(60)))).expect("batch"))
    });

    let events: Vec<String> =
        (0..REFERENCE_RECORDS as u64).map(|i| enriched_access_event(i, REFERENCE_RECORD_BYTES).to_string()).collect();
    let rules = security_pack();
    group.bench_function("evaluate_rules_only_6400_events", |b| {
        b.iter(|| events.iter().filter(|e| rules.evaluate(e).expect("json").is_match()).count())
    });
    group.bench_function("serde_json_value_parse_only_6400_events", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|e| serde_json::from_str::<serde_json::Value>(e).expect("json").as_object().map_or(0, |o| o.len()))
                .sum::<usize>()
        })
    });
    let criteria = mapping_patterns(&rules).expect("the pack's FilterCriteria");
    eprintln!(
        "filter criteria: {} of {} events pass",
        events.iter().filter(|e| criteria.matches(e.as_bytes())).count(),
        events.len()
    );
    group.bench_function("filter_criteria_only_6400_events", |b| {
        b.iter(|| events.iter().filter(|e| criteria.matches(e.as_bytes())).count())
    });
    group.finish();
}

criterion_group!(benches, filter_reference_batch);
criterion_main!(benches);
