//! Measuring what the code costs while it runs: the CPU time of the current
//! thread, which stays meaningful on a busy machine where wall time does not.

use std::time::{Duration, Instant};

/// CPU time the current thread has used so far (Linux: `/proc/thread-self/schedstat`);
/// `None` where the system does not say.
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// Measures a stretch of work: the thread's CPU time when the system tells it,
/// wall time otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    cpu: Option<Duration>,
    wall: Instant,
}

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Self {
        Self { cpu: thread_cpu_time(), wall: Instant::now() }
    }

    /// The time spent since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_time()) {
            (Some(before), Some(now)) => now.saturating_sub(before),
            _ => self.wall.elapsed(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_takes_cpu_time_and_sleeping_almost_none() {
        let watch = Stopwatch::start();
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(30);
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(watch.elapsed() >= Duration::from_millis(10), "{:?}", watch.elapsed());
        if thread_cpu_time().is_some() {
            let watch = Stopwatch::start();
            std::thread::sleep(Duration::from_millis(50));
            assert!(watch.elapsed() < Duration::from_millis(40), "{:?}", watch.elapsed());
        }
    }
}
