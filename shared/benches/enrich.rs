//! The enrich handler on DESIGN.md's reference batch (a Kinesis event at
//! Lambda's 6 MB limit: 6,400 access events of ~320 bytes with `ip`, `ua`,
//! `source` and `time`), sinks in memory, with the
//! test geo + ASN databases, user agents and the service catalog on.
//! Target: <= 6 ms per batch on one core.
//!
//! - `reference_batch_6MB`: a warm function (lookup caches filled by earlier batches);
//! - `reference_batch_6MB_no_cache`: caches off, every user agent classified and
//!   every geo record decoded per event (the cost a cold function pays once);
//! - `reference_batch_6MB_lookups_off`: no database or catalog (fields normalised, user agents still parsed);
//! - `processor_only_6400_events`: the processor alone on the batch's events, decoded (and indexed) beforehand;
//!
//! then the CPU time per batch of enrich and archive, alternated (robust to a
//! busy machine, where wall times are not).

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use eddy::archive::Archive;
use eddy::deadline::Deadline;
use eddy::decode::json::{objects, JsonObject};
use eddy::decode::DecodeLimits;
use eddy::enrich::config::DEFAULT_CACHE_ENTRIES;
use eddy::enrich::{Catalog, Enrich, EnrichProcessor, EnrichState, Enricher, Geo, GeoDb};
use eddy::event::{Coords, Data, Event};
use eddy::measure::{median, thread_cpu_time as thread_cpu};
use eddy::workload::{
    access_event, reference_event, HEAVY_RECORDS, HEAVY_RECORD_BYTES, REFERENCE_RECORDS, REFERENCE_RECORD_BYTES,
};

/// The allocator the Lambda functions run with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/enrich").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lookups() -> Enricher {
    Enricher {
        geo: Geo {
            city: Some(GeoDb::from_bytes(testdata("geo-city.mmdb")).expect("city db")),
            asn: Some(GeoDb::from_bytes(testdata("geo-asn.mmdb")).expect("asn db")),
        },
        catalog: Some(Catalog::from_json(&testdata("catalog.json")).expect("catalog")),
    }
}

fn enrich_reference_batch(c: &mut Criterion) {
    let payload = reference_event(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let apps = [
        ("reference_batch_6MB", Enrich::in_memory(lookups(), DecodeLimits::default(), DEFAULT_CACHE_ENTRIES)),
        ("reference_batch_6MB_no_cache", Enrich::in_memory(lookups(), DecodeLimits::default(), 0)),
        (
            "reference_batch_6MB_lookups_off",
            Enrich::in_memory(Enricher::default(), DecodeLimits::default(), DEFAULT_CACHE_ENTRIES),
        ),
    ];
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(REFERENCE_RECORDS as u64));
    group.measurement_time(Duration::from_secs(8));
    for (name, app) in &apps {
        let report = runtime.block_on(app.run(&payload, Deadline::after(Duration::from_secs(60)))).expect("batch");
        assert_eq!(report.counts.delivered, REFERENCE_RECORDS, "{name}: every event enriched");
        group.bench_function(*name, |b| {
            b.iter(|| runtime.block_on(app.run(&payload, Deadline::after(Duration::from_secs(60)))).expect("batch"))
        });
    }
    group.finish();
}

/// The processor alone on the reference batch's events (decoded beforehand):
/// what enrich adds to the driver's decoding and sending.
fn enrich_processor_only(c: &mut Criterion) {
    let texts: Vec<String> = (0..REFERENCE_RECORDS as u64)
        .map(|i| String::from_utf8(access_event(i, REFERENCE_RECORD_BYTES)).expect("UTF-8"))
        .collect();
    // decoded as the driver decodes them: the object's text and its member index
    let objects: Vec<JsonObject<'_>> = texts
        .iter()
        .map(|text| objects(text, DecodeLimits::default().max_json_depth).expect("valid JSON").remove(0))
        .collect();
    let events: Vec<Event<'_>> = objects
        .iter()
        .enumerate()
        .map(|(i, object)| Event {
            coords: Coords {
                record: i,
                shard_id: "shardId-000000000000",
                sequence_number: "49590338271490256608559692538361571095921575980000000001",
                subsequence_number: None,
                partition_key: "user-1",
                approximate_arrival: 1_732_496_400.0.into(),
            },
            data: Data::Json(Cow::Borrowed(object.text.as_ref())),
            log: None,
            members: &object.members,
        })
        .collect();
    let enricher = lookups();
    let mut state = EnrichState::new(DEFAULT_CACHE_ENTRIES);
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(REFERENCE_RECORDS as u64));
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("processor_only_6400_events", |b| {
        b.iter(|| {
            let mut p = EnrichProcessor::new(&enricher, &mut state);
            events.iter().map(|e| p.enrich(e).len()).sum::<usize>()
        })
    });
    group.finish();
}

/// CPU time per batch (not wall time: the figure stays meaningful on a busy
/// shared machine), for enrich and, as the yardstick, archive, alternated; on
/// the reference batch (at Lambda's 6 MB limit) and on the heavy 8 MB one.
fn cpu_time_per_batch() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let enrich = Enrich::in_memory(lookups(), DecodeLimits::default(), DEFAULT_CACHE_ENTRIES);
    let archive = Archive::in_memory(DecodeLimits::default());
    let deadline = || Deadline::after(Duration::from_secs(60));
    let batches = [
        (
            "reference batch (6,400 x ~320 B, 6.2 MB)",
            REFERENCE_RECORDS,
            reference_event(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES),
        ),
        ("heavy batch (6,700 x 500 B, 8.0 MB)", HEAVY_RECORDS, reference_event(HEAVY_RECORDS, HEAVY_RECORD_BYTES)),
    ];
    for (name, records, payload) in &batches {
        let (mut enrich_cpu, mut archive_cpu) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let t = thread_cpu();
            runtime.block_on(enrich.run(payload, deadline())).expect("batch");
            enrich_cpu.extend(thread_cpu().zip(t).map(|(b, a)| b - a));
            let t = thread_cpu();
            runtime.block_on(archive.run(payload, deadline())).expect("batch");
            archive_cpu.extend(thread_cpu().zip(t).map(|(b, a)| b - a));
        }
        // the median: the CPU a batch takes, less what a noisy neighbour adds now and then
        let median_ms = |v: &mut Vec<Duration>| median(v).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        let (e, a) = (median_ms(&mut enrich_cpu), median_ms(&mut archive_cpu));
        println!(
            "cpu time per {name} (median of {}): enrich {e:.2} ms ({:.0} records/s), archive {a:.2} ms ({:.0} records/s)",
            enrich_cpu.len(),
            *records as f64 / e * 1e3,
            *records as f64 / a * 1e3,
        );
    }
}

criterion_group!(benches, enrich_reference_batch, enrich_processor_only);

fn main() {
    benches();
    // only when benchmarking (`cargo test --all-targets` runs this binary in test mode)
    if std::env::args().any(|a| a == "--bench") {
        cpu_time_per_batch();
    }
    Criterion::default().configure_from_args().final_summary();
}
