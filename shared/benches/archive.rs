//! The archive handler on DESIGN.md's reference batch (a Kinesis event at
//! Lambda's 6 MB limit: 6,400 access events of ~320 bytes, see
//! [`eddy::workload::REFERENCE_RECORDS`]), sinks in memory. Target: <= 4 ms per
//! batch on one core.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy::archive::Archive;
use eddy::deadline::Deadline;
use eddy::decode::DecodeLimits;
use eddy::workload::{reference_event, REFERENCE_RECORDS, REFERENCE_RECORD_BYTES};

/// The allocator the Lambda functions run with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn archive_reference_batch(c: &mut Criterion) {
    let payload = reference_event(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let app = Archive::in_memory(DecodeLimits::default());
    let mut group = c.benchmark_group("archive");
    group.throughput(Throughput::Elements(REFERENCE_RECORDS as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("reference_batch_6MB", |b| {
        b.iter(|| runtime.block_on(app.run(&payload, Deadline::after(Duration::from_secs(60)))).expect("batch"))
    });
    group.finish();
}

criterion_group!(benches, archive_reference_batch);
criterion_main!(benches);
