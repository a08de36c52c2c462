//! The process's CPU clock, which the timed scenarios read instead of the
//! wall clock (docs/perf.md, "CPU time, not wall time"). All `unsafe` of
//! the crate is here.

#![allow(unsafe_code)]

use std::time::Duration;

use anyhow::bail;

/// CPU time this process has used so far: every thread's, those that have
/// ended included (`CLOCK_PROCESS_CPUTIME_ID`), to the nanosecond.
pub(crate) fn process_cpu_time() -> anyhow::Result<Duration> {
    read_clock(libc::CLOCK_PROCESS_CPUTIME_ID, "this process's CPU clock")
}

fn read_clock(clock: libc::clockid_t, name: &str) -> anyhow::Result<Duration> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec to write to.
    let rc = unsafe { libc::clock_gettime(clock, &mut time) };
    if rc != 0 {
        bail!("cannot read {name}: {}", std::io::Error::last_os_error());
    }
    match (u64::try_from(time.tv_sec), u32::try_from(time.tv_nsec)) {
        (Ok(secs), Ok(nanos)) => Ok(Duration::new(secs, nanos)),
        _ => bail!("{name} reads {}.{:09} s", time.tv_sec, time.tv_nsec),
    }
}

/// Measures the CPU time of a stretch of work, every thread of the process
/// counted (a scenario's worker threads included).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuStopwatch {
    started: Duration,
}

impl CpuStopwatch {
    /// Starts measuring now.
    pub(crate) fn start() -> anyhow::Result<Self> {
        Ok(Self {
            started: process_cpu_time()?,
        })
    }

    /// CPU time used since [`CpuStopwatch::start`].
    pub(crate) fn elapsed(&self) -> anyhow::Result<Duration> {
        Ok(process_cpu_time()?.saturating_sub(self.started))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins until this thread alone has used `for_cpu` of CPU.
    fn spin(for_cpu: Duration) -> anyhow::Result<()> {
        let thread_cpu = || read_clock(libc::CLOCK_THREAD_CPUTIME_ID, "the thread's CPU clock");
        let start = thread_cpu()?;
        let mut x = 0u64;
        while thread_cpu()?.saturating_sub(start) < for_cpu {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        Ok(())
    }

    #[test]
    fn the_cpu_time_of_worker_threads_that_have_ended_is_counted() -> anyhow::Result<()> {
        let watch = CpuStopwatch::start()?;
        std::thread::scope(|scope| {
            let a = scope.spawn(|| spin(Duration::from_millis(20)));
            let b = scope.spawn(|| spin(Duration::from_millis(20)));
            a.join().expect("spinner a")?;
            b.join().expect("spinner b")
        })?;
        // Two threads that each used at least 20 ms of CPU and have ended:
        // at least 40 ms in all, whatever else the process or the machine
        // did meanwhile (that only adds). A wall clock would read about
        // 20 ms on two idle cores.
        let both = watch.elapsed()?;
        assert!(both >= Duration::from_millis(40), "{both:?}");
        Ok(())
    }
}
