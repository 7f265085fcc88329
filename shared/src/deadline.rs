//! The invocation deadline, as sinks see it: when to stop retrying so the
//! handler can still answer Lambda in time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

use crate::limits::DEADLINE_SAFETY_MARGIN_MS;

/// The instant by which retries must have stopped (the invocation deadline less a safety margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self { at: Instant::now() + budget }
    }

    /// From Lambda's invocation deadline (milliseconds since the Unix epoch),
    /// keeping [`DEADLINE_SAFETY_MARGIN_MS`] back to answer.
    pub fn from_lambda_deadline_ms(deadline_ms: u64) -> Self {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let left = deadline_ms.saturating_sub(now_ms).saturating_sub(DEADLINE_SAFETY_MARGIN_MS);
        Self::after(Duration::from_millis(left))
    }

    /// Time left before the deadline (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether waiting `delay` would pass the deadline.
    pub fn would_pass(&self, delay: Duration) -> bool {
        Instant::now() + delay >= self.at
    }
}
