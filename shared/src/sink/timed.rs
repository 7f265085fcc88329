//! `TimedSink`: counts the CPU time another sink's sends take on a shared
//! [`CpuMeter`], so `eddy run` can tell a function's own work from the work of
//! the local stand-ins for Firehose, Kinesis and S3 (gzip, files), which in AWS
//! the services do, not the function.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{SendReport, Sink, SinkBatch};
use crate::deadline::Deadline;
use crate::limits::ServiceLimits;
use crate::measure::Stopwatch;

/// CPU time added up by the sinks that share it (cloning shares the count).
#[derive(Debug, Clone, Default)]
pub struct CpuMeter(Arc<AtomicU64>);

impl CpuMeter {
    /// The time counted so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn add(&self, spent: Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// A sink whose sends are timed on a [`CpuMeter`]. The time is the thread's
/// CPU time across the send: meaningful for sinks that do their work without
/// yielding to other tasks (the local ones), not for network sinks.
pub struct TimedSink<S> {
    inner: S,
    meter: CpuMeter,
}

impl<S: Sink> TimedSink<S> {
    /// `inner`, timed on `meter`.
    pub fn new(inner: S, meter: &CpuMeter) -> Self {
        Self { inner, meter: meter.clone() }
    }
}

#[async_trait]
impl<S: Sink> Sink for TimedSink<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn limits(&self) -> Option<ServiceLimits> {
        self.inner.limits()
    }

    async fn send(&self, batch: SinkBatch<'_>, deadline: Deadline) -> SendReport {
        let watch = Stopwatch::start();
        let report = self.inner.send(batch, deadline).await;
        self.meter.add(watch.elapsed());
        report
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sink::{MemorySink, SinkRecord};

    /// A sink that burns CPU for a while on each send.
    struct Busy(Duration);

    #[async_trait]
    impl Sink for Busy {
        fn name(&self) -> &str {
            "busy"
        }

        async fn send(&self, _batch: SinkBatch<'_>, _deadline: Deadline) -> SendReport {
            let until = std::time::Instant::now() + self.0;
            let mut x = 0u64;
            while std::time::Instant::now() < until {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            SendReport::default()
        }
    }

    #[tokio::test]
    async fn given_two_sinks_on_one_meter_when_sent_to_then_the_meter_counts_both_and_reports_pass_through() {
        let meter = CpuMeter::default();
        let busy = TimedSink::new(Busy(Duration::from_millis(30)), &meter);
        let memory = MemorySink::new("m");
        memory.fail_containing(b"bad", 1);
        let failing = TimedSink::new(memory, &meter);
        let records = vec![SinkRecord::new("a", b"good".to_vec()), SinkRecord::new("b", b"bad".to_vec())];
        let batch = SinkBatch { key: "k", records: &records };
        let deadline = Deadline::after(Duration::from_secs(1));

        assert!(busy.send(batch, deadline).await.is_ok());
        let after_busy = meter.total();
        let report = failing.send(batch, deadline).await;

        assert_eq!(report.failed, vec![1], "the inner sink's report is returned as it is");
        assert_eq!(busy.name(), "busy");
        assert!(after_busy >= Duration::from_millis(10), "{after_busy:?}");
        assert!(meter.total() >= after_busy, "both sinks count on the one meter");
    }
}
