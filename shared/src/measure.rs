//! Measuring what the code costs while it runs: the CPU time of the current
//! thread, which stays meaningful on a busy machine where wall time does not,
//! and the process's peak resident memory.

use std::time::{Duration, Instant};

/// CPU time the current thread has used so far, to the nanosecond
/// (`CLOCK_THREAD_CPUTIME_ID`); `None` where the system has no such clock.
pub fn thread_cpu_time() -> Option<Duration> {
    thread_cpu_clock()
}

#[cfg(unix)]
fn thread_cpu_clock() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(u64::try_from(t.tv_sec).ok()?, u32::try_from(t.tv_nsec).ok()?))
}

#[cfg(not(unix))]
fn thread_cpu_clock() -> Option<Duration> {
    None
}

/// The most resident memory the process has held so far, in bytes (Linux:
/// `VmHWM` in `/proc/self/status`); `None` where the system does not say.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    peak_from_status(&status)
}

/// The `VmHWM:` line of a `/proc/<pid>/status` text, in bytes.
fn peak_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// The middle one of `times` (sorting them); `None` when there are none.
pub fn median(times: &mut [Duration]) -> Option<Duration> {
    times.sort_unstable();
    times.get(times.len() / 2).copied()
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
    fn the_peak_is_read_from_the_status_text_and_grows_with_what_is_touched() {
        let status = "Name:\teddy\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(peak_from_status(status), Some(5 * 1024 * 1024));
        assert_eq!(peak_from_status("VmHWM: lots"), None);
        assert_eq!(peak_from_status("Name: x"), None);
        if let Some(before) = peak_resident_bytes() {
            let touched = std::hint::black_box(vec![1u8; 64 << 20]);
            let after = peak_resident_bytes().unwrap();
            assert!(after >= before + (32 << 20), "{before} -> {after} after touching {} bytes", touched.len());
        }
    }

    #[test]
    fn the_median_is_the_middle_time() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(9), ms(1), ms(5)]), Some(ms(5)));
        assert_eq!(median(&mut [ms(4), ms(2)]), Some(ms(4)));
        assert_eq!(median(&mut []), None);
    }

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
