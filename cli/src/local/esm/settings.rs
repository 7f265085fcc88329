//! An event source mapping's settings, as the template's Kinesis event gives them.

use std::time::Duration;

use eddy::rules::Patterns;

/// Where a new mapping starts reading a shard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartingPosition {
    /// The oldest record the shard keeps.
    TrimHorizon,
    /// Only records put after the mapping starts.
    Latest,
    /// Records that arrived at or after this time (seconds since the epoch).
    AtTimestamp(f64),
}

/// The settings Lambda's event source mapping honours (AWS's defaults in [`Default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EsmSettings {
    /// `BatchSize`: most records per invocation (and at most 6 MB of event).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long records are gathered before invoking.
    pub batching_window: Duration,
    /// `StartingPosition`.
    pub starting_position: StartingPosition,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// `MaximumRetryAttempts`; `None` is -1 (retry until the records expire).
    pub max_retries: Option<u32>,
    /// `MaximumRecordAgeInSeconds`; `None` is -1 (no limit).
    pub max_record_age: Option<Duration>,
    /// `TumblingWindowInSeconds`, when the function aggregates over windows.
    pub tumbling_window: Option<Duration>,
    /// `ParallelizationFactor` (read; the local mapping processes one batch per shard at a time).
    pub parallelization_factor: u32,
    /// `FilterCriteria`: only matching records reach the function.
    pub filter: Option<Patterns>,
}

impl Default for EsmSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            batching_window: Duration::ZERO,
            starting_position: StartingPosition::TrimHorizon,
            report_batch_item_failures: false,
            bisect_on_error: false,
            max_retries: None,
            max_record_age: None,
            tumbling_window: None,
            parallelization_factor: 1,
            filter: None,
        }
    }
}

impl EsmSettings {
    /// Whether `failed_attempts` failed invocations of a batch exhaust the retries.
    pub fn retries_exhausted(&self, failed_attempts: u32) -> bool {
        self.max_retries.is_some_and(|max| failed_attempts > max)
    }
}
