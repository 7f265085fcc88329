//! The aggregate handler on DESIGN.md's reference batch (6 MB, 6,400 records
//! of ~320 bytes) as a tumbling-window event, sinks in memory, the default
//! configuration (group by source and status class; latency sketch; distinct
//! users; top 5 paths): a non-final invoke (decode, fold, encode the state)
//! and a final one (plus the report). Before criterion's wall-clock figures it
//! prints the median CPU time per batch of the aggregate and the archive
//! handlers, alternated, which stays meaningful on a busy machine.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy::deadline::Deadline;
use eddy::measure::{median, thread_cpu_time as thread_cpu};
use eddy::window::workload::{with_window, WindowSpec};
use eddy::window::{Aggregate, AggregateConfig};
use eddy::workload::{reference_event, REFERENCE_RECORDS, REFERENCE_RECORD_BYTES};

/// The allocator the Lambda functions run with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        out.totals.events,
        out.groups,
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

fn median_ms(times: &mut [Duration]) -> f64 {
    median(times).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn cpu_time_per_batch(_: &mut Criterion) {
    let batch = reference_event(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES);
    let payload = with_window(&batch, &WindowSpec::new(START, START + 300_000));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let aggregate = Aggregate::in_memory(AggregateConfig::default());
    let archive = eddy::archive::Archive::in_memory(Default::default());
    let deadline = || Deadline::after(Duration::from_secs(60));
    // blocks of batches, the median of the blocks: robust to a busy machine
    const BLOCK: u32 = 5;
    let (mut agg, mut arc) = (Vec::new(), Vec::new());
    for round in 0..13 {
        let t = thread_cpu();
        for _ in 0..BLOCK {
            runtime.block_on(aggregate.run(&payload, deadline())).expect("aggregate");
        }
        let a = thread_cpu().zip(t).map(|(after, before)| (after - before) / BLOCK);
        let t = thread_cpu();
        for _ in 0..BLOCK {
            runtime.block_on(archive.run(&payload, deadline())).expect("archive");
        }
        let b = thread_cpu().zip(t).map(|(after, before)| (after - before) / BLOCK);
        if round > 0 {
            agg.extend(a);
            arc.extend(b);
        }
    }
    eprintln!(
        "cpu time per reference batch (median of 12 blocks of 5): aggregate {:.2} ms, archive {:.2} ms",
        median_ms(&mut agg),
        median_ms(&mut arc)
    );
}

criterion_group!(benches, cpu_time_per_batch, aggregate_reference_batch);
criterion_main!(benches);
