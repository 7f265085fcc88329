//! The one owner of entry retries: exponential backoff with full jitter until
//! the deadline is near. Used by every sink whose service can reject single
//! entries inside a successful response (Firehose, Kinesis).

use std::future::Future;
use std::time::Duration;

use super::{SendReport, SinkRecord};
use crate::deadline::Deadline;
use crate::limits::{ServiceLimits, RETRY_BASE_DELAY_MS, RETRY_MAX_DELAY_MS};

/// One attempt's answer: which of the entries it was given failed (as positions
/// in the slice it was given), or an error for the whole request.
pub type AttemptResult = Result<Vec<usize>, String>;

/// The delay before retry `attempt` (0-based): uniformly random in
/// `0..=min(cap, base * 2^attempt)` ("full jitter").
pub fn full_jitter_delay(attempt: u32) -> Duration {
    let exp = RETRY_BASE_DELAY_MS.saturating_mul(1u64 << attempt.min(20));
    let ceiling = exp.min(RETRY_MAX_DELAY_MS);
    Duration::from_millis(fastrand::u64(0..=ceiling))
}

/// Sends `pending` entries with `attempt`, then retries only the entries that
/// failed inside a successful response, with backoff, until none fail or the
/// next wait would pass `deadline`. A request-level error is not retried here
/// (the SDK already retried it): its entries are returned as failed.
///
/// Returns the indices (as given in `pending`) that still failed, ascending,
/// and the last error message.
pub async fn retry_failed_entries<F, Fut>(
    mut pending: Vec<usize>,
    deadline: Deadline,
    attempt: F,
) -> (Vec<usize>, Option<String>)
where
    F: Fn(Vec<usize>) -> Fut,
    Fut: Future<Output = AttemptResult>,
{
    let mut last_error = None;
    let mut round = 0u32;
    loop {
        if pending.is_empty() {
            return (pending, last_error);
        }
        match attempt(pending.clone()).await {
            Err(e) => return (pending, Some(e)),
            Ok(failed_positions) => {
                let mut still: Vec<usize> =
                    failed_positions.into_iter().filter_map(|p| pending.get(p).copied()).collect();
                still.sort_unstable();
                still.dedup();
                if !still.is_empty() {
                    last_error = Some(format!("{} entries failed in a successful response", still.len()));
                }
                pending = still;
            }
        }
        if pending.is_empty() {
            return (pending, last_error);
        }
        let delay = full_jitter_delay(round);
        if deadline.would_pass(delay) {
            return (pending, last_error);
        }
        tokio::time::sleep(delay).await;
        round += 1;
    }
}

/// Sends `records` in chunks that fit `limits` (each entry counted by `size`),
/// each chunk through [`retry_failed_entries`] with `put`. Entries `check`
/// refuses are reported failed without being sent. Once a chunk still has
/// failed entries, or the deadline has passed, later chunks are reported
/// failed unsent: the driver reports the lowest failed record and Lambda
/// redelivers everything after it, so sending them would only duplicate.
pub async fn send_in_chunks<F, Fut>(
    limits: ServiceLimits,
    records: &[SinkRecord],
    size: impl Fn(&SinkRecord) -> usize,
    check: impl Fn(&SinkRecord, usize) -> Result<(), String>,
    deadline: Deadline,
    put: F,
) -> SendReport
where
    F: Fn(Vec<usize>) -> Fut,
    Fut: Future<Output = AttemptResult>,
{
    let sizes: Vec<usize> = records.iter().map(size).collect();
    let mut report = SendReport::default();
    let mut give_up = false;
    for chunk in limits.chunks(&sizes) {
        let mut pending = Vec::with_capacity(chunk.len());
        for i in chunk {
            match check(&records[i], sizes[i]) {
                Ok(()) => pending.push(i),
                Err(e) => {
                    report.failed.push(i);
                    report.last_error = Some(e);
                }
            }
        }
        if !give_up && !pending.is_empty() && deadline.remaining().is_zero() {
            give_up = true;
            report.last_error = Some(format!("{}: deadline reached before sending", limits.service));
        }
        if give_up {
            report.failed.extend(pending);
            continue;
        }
        let (failed, error) = retry_failed_entries(pending, deadline, &put).await;
        give_up = !failed.is_empty();
        report.failed.extend(failed);
        if error.is_some() {
            report.last_error = error;
        }
    }
    report.failed.sort_unstable();
    report
}

/// The positions of a response's rejected entries, given whether each entry
/// carries an error, for a request of `sent` entries. An entry the response
/// does not mention was not confirmed, so it counts as rejected.
pub fn rejected_positions(has_error: impl Iterator<Item = bool>, sent: usize) -> Vec<usize> {
    let mut failed = Vec::new();
    let mut seen = 0;
    for (position, error) in has_error.take(sent).enumerate() {
        seen += 1;
        if error {
            failed.push(position);
        }
    }
    failed.extend(seen..sent);
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn jitter_never_exceeds_the_cap() {
        for attempt in 0..40 {
            let d = full_jitter_delay(attempt);
            assert!(d <= Duration::from_millis(RETRY_MAX_DELAY_MS), "{d:?}");
        }
        for _ in 0..100 {
            assert!(full_jitter_delay(0) <= Duration::from_millis(RETRY_BASE_DELAY_MS));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_failed_entries_until_they_succeed() {
        let calls = AtomicU32::new(0);
        let seen = std::sync::Mutex::new(Vec::new());
        let (failed, _) = retry_failed_entries(vec![0, 1, 2, 3], Deadline::after(Duration::from_secs(60)), |p| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(p.clone());
            async move {
                // first attempt: positions 1 and 3 fail; second: the first of those fails again
                Ok(match n {
                    0 => vec![1, 3],
                    1 => vec![0],
                    _ => vec![],
                })
            }
        })
        .await;
        assert!(failed.is_empty());
        assert_eq!(*seen.lock().unwrap(), vec![vec![0, 1, 2, 3], vec![1, 3], vec![1]]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_and_reports_what_failed() {
        let (failed, err) =
            retry_failed_entries(vec![5, 6, 7], Deadline::after(Duration::from_millis(500)), |p| async move {
                Ok((0..p.len()).filter(|i| i % 2 == 0).collect())
            })
            .await;
        // position 0 always fails: [5,6,7] -> [5,7] -> [5] -> ... until the deadline
        assert_eq!(failed, vec![5]);
        assert!(err.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_error_fails_all_pending_entries_without_retry() {
        let calls = AtomicU32::new(0);
        let (failed, err) = retry_failed_entries(vec![2, 4], Deadline::after(Duration::from_secs(60)), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err("throttled".to_string()) }
        })
        .await;
        assert_eq!(failed, vec![2, 4]);
        assert_eq!(err.as_deref(), Some("throttled"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
