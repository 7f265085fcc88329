//! `TeeSink`: sends every batch to two sinks (e.g. a local folder and an
//! in-memory capture that feeds the next stage of `eddy run`).

use async_trait::async_trait;

use super::{SendReport, Sink, SinkBatch};
use crate::deadline::Deadline;
use crate::limits::ServiceLimits;

/// Two sinks as one: an entry failed if it failed in either.
pub struct TeeSink<A, B> {
    first: A,
    second: B,
}

impl<A: Sink, B: Sink> TeeSink<A, B> {
    /// Sends to `first` (whose name and limits the tee takes) and to `second`.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

#[async_trait]
impl<A: Sink, B: Sink> Sink for TeeSink<A, B> {
    fn name(&self) -> &str {
        self.first.name()
    }

    fn limits(&self) -> Option<ServiceLimits> {
        self.first.limits()
    }

    async fn send(&self, batch: SinkBatch<'_>, deadline: Deadline) -> SendReport {
        let (a, b) =
            futures_util::future::join(self.first.send(batch, deadline), self.second.send(batch, deadline)).await;
        let mut failed = a.failed;
        failed.extend(b.failed);
        failed.sort_unstable();
        failed.dedup();
        SendReport { failed, last_error: a.last_error.or(b.last_error) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{MemorySink, SinkRecord};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn both_sides_receive_and_failures_are_the_union() {
        let a = Arc::new(MemorySink::new("a"));
        let b = Arc::new(MemorySink::new("b"));
        a.fail_containing(b"x", 1);
        b.fail_containing(b"z", 1);
        let tee = TeeSink::new(a.clone(), b.clone());
        let recs: Vec<SinkRecord> =
            ["x", "y", "z"].iter().map(|d| SinkRecord::new("k", d.as_bytes().to_vec())).collect();
        let report = tee.send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(1))).await;
        assert_eq!(report.failed, vec![0, 2]);
        assert_eq!(a.lines(), vec!["y", "z"]);
        assert_eq!(b.take().len(), 2);
        assert!(b.take().is_empty(), "take empties the sink");
        assert_eq!(tee.name(), "a");
    }
}
