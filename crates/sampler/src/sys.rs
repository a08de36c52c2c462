//! The two `sysconf` values `/proc` numbers need, and processes' CPU
//! clocks. All `unsafe` of the crate is here.

#![allow(unsafe_code)]

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on Linux), used by
/// `/proc/<pid>/stat` CPU times (read where CPU clocks cannot be).
pub(crate) fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if value > 0 { value as f64 } else { 100.0 }
}

/// Bytes per memory page (`_SC_PAGESIZE`), used by `/proc/<pid>/statm`
/// and `/proc/<pid>/stat` RSS.
pub(crate) fn page_size() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if value > 0 { value as f64 } else { 4096.0 }
}

/// A process's CPU clock (`clock_getcpuclockid`): the CPU time of all its
/// threads, live and ended, to the nanosecond, read with one
/// `clock_gettime` call and no `/proc` file to render. The kernel lets any
/// process read it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuClock(libc::clockid_t);

impl CpuClock {
    /// The CPU clock of `pid` (in this process's pid namespace); `None` if
    /// there is no such process.
    pub(crate) fn of_process(pid: u32) -> Option<Self> {
        let pid = libc::pid_t::try_from(pid).ok()?;
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a valid place for the clock id; the call only
        // computes it and checks that the process exists.
        let error = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
        (error == 0).then_some(Self(clock))
    }

    /// CPU time so far, ns; `None` once the process is gone (reaped).
    pub(crate) fn read_ns(self) -> Option<u64> {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `time` is a valid timespec to write to.
        let rc = unsafe { libc::clock_gettime(self.0, &mut time) };
        if rc != 0 {
            return None;
        }
        let secs = u64::try_from(time.tv_sec).ok()?;
        let nanos = u64::try_from(time.tv_nsec).ok()?;
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)
    }
}
