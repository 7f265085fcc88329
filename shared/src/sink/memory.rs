//! `MemorySink`: keeps what it is sent, for tests, benchmarks and `--repeat`;
//! can be told to fail chosen entries to exercise the driver's failure paths.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{SendReport, Sink, SinkBatch, SinkRecord};
use crate::deadline::Deadline;
use crate::limits::ServiceLimits;

/// A sink that stores batches in memory.
#[derive(Debug, Default)]
pub struct MemorySink {
    name: String,
    limits: Option<ServiceLimits>,
    keep: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    batches: Vec<(String, Vec<SinkRecord>)>,
    records_seen: usize,
    fail_payloads: HashMap<Vec<u8>, usize>,
}

impl MemorySink {
    /// A sink named `name` that keeps every record it is sent.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), keep: true, ..Self::default() }
    }

    /// A sink that only counts (for benchmarks: no copies kept).
    pub fn counting(name: impl Into<String>) -> Self {
        Self { name: name.into(), keep: false, ..Self::default() }
    }

    /// Declares the limits of the service this sink stands in for.
    pub fn with_limits(mut self, limits: ServiceLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Makes the next `times` sends of an entry whose data contains `needle` fail.
    pub fn fail_containing(&self, needle: &[u8], times: usize) {
        self.lock().fail_payloads.insert(needle.to_vec(), times);
    }

    /// Every record received so far, in order.
    pub fn records(&self) -> Vec<SinkRecord> {
        self.lock().batches.iter().flat_map(|(_, r)| r.iter().cloned()).collect()
    }

    /// The data of every record received so far, as UTF-8 lines without the newline.
    pub fn lines(&self) -> Vec<String> {
        self.records().iter().map(|r| String::from_utf8_lossy(&r.data).trim_end_matches('\n').to_string()).collect()
    }

    /// Takes every record received so far (in order), leaving the sink empty;
    /// for pipelines that hand one stage's output to the next.
    pub fn take(&self) -> Vec<SinkRecord> {
        std::mem::take(&mut self.lock().batches).into_iter().flat_map(|(_, r)| r).collect()
    }

    /// The keys of the batches received, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().batches.iter().map(|(k, _)| k.clone()).collect()
    }

    /// How many records arrived (also when not kept).
    pub fn count(&self) -> usize {
        self.lock().records_seen
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Option<ServiceLimits> {
        self.limits
    }

    async fn send(&self, batch: SinkBatch<'_>, _deadline: Deadline) -> SendReport {
        let mut state = self.lock();
        let mut report = SendReport::default();
        let mut kept = Vec::new();
        for (i, record) in batch.records.iter().enumerate() {
            let failing =
                state.fail_payloads.iter_mut().find(|(needle, left)| **left > 0 && contains(&record.data, needle));
            if let Some((_, left)) = failing {
                *left -= 1;
                report.failed.push(i);
                report.last_error = Some("injected failure".into());
                continue;
            }
            state.records_seen += 1;
            if self.keep {
                kept.push(record.clone());
            }
        }
        if self.keep {
            state.batches.push((batch.key.to_string(), kept));
        }
        report
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}
