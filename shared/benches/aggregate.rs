//! The aggregate handler on DESIGN.md's reference batch (6 MB, ~6,700 records
//! of ~500 bytes) as a tumbling-window event, sinks in memory, the default
//! configuration (group by source and status class; latency sketch; distinct
//! users; top 5 paths): a non-final invoke (decode, fold, encode the state)
//! and a final one (plus the report).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy::deadline::Deadline;
use eddy::window::workload::{with_window, WindowSpec};
use eddy::window::{Aggregate, AggregateConfig};
use eddy::workload::{reference_event, REFERENCE_RECORDS, REFERENCE_RECORD_BYTES};

/// 2024-11-25T01:00:00Z, the reference batch's arrival time.
const START: i64 = 1_732_496_400_000;

fn aggregate_reference_batch(c: &mut Criterion) {
    let batch = reference_event(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES);
    let spec = WindowSpec::new(START, START + 300_000);
    let payload = with_window(&batch, &spec);
    let last = with_window(&batch, &spec.last());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let app = Aggregate::in_memory(AggregateConfig::default());
    let run = |payload: &[u8]| {
        runtime.block_on(app.run(payload, Deadline::after(Duration::from_secs(60)))).expect("window batch")
    };
    let out = run(&payload);
    eprintln!(
        "events={} groups={} state_bytes={} payload_bytes={}",
        out.state.totals.events,
        out.state.groups.len(),
        out.state_bytes,
        payload.len()
    );
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements(REFERENCE_RECORDS as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("reference_batch_6MB", |b| b.iter(|| run(&payload)));
    group.bench_function("reference_batch_6MB_final", |b| b.iter(|| run(&last)));
    group.finish();
}

criterion_group!(benches, aggregate_reference_batch);
criterion_main!(benches);
