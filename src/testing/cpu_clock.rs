//! The process's CPU clock: how much processor time all of its threads used, the measure the
//! peer benchmarks report beside wall time.

use core::time::Duration;

/// CPU time the process used so far (every thread), or `None` where the clock is unavailable.
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable timespec; the call only writes it.
        let read = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
        (read == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The process's peak resident memory (`VmHWM`), in bytes, on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts [`peak_rss_bytes`] again from the current resident memory, on Linux (a no-op
/// elsewhere).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_clock_advances_with_work() {
        let Some(start) = process_cpu_time() else {
            return;
        };
        let mut sum = 0u64;
        for i in 0..5_000_000u64 {
            sum = sum.wrapping_add(i * i);
        }
        core::hint::black_box(sum);
        assert!(process_cpu_time().unwrap() > start);
    }
}
