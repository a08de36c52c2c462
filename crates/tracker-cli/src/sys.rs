//! The few system calls std does not wrap: the parent-death signal and
//! signalling a process group. All `unsafe` of the crate is here.

#![allow(unsafe_code)]

use std::io;

/// Asks the kernel to send `signal` to this process when its parent dies
/// (Linux `PR_SET_PDEATHSIG`). Elsewhere a no-op that reports success.
pub(crate) fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_PDEATHSIG, sig) reads only its integer
        // arguments and changes only this process's attributes.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = signal;
    Ok(())
}

/// Sends `signal` to every process of group `pgid`. Returns false if the
/// group no longer exists.
pub(crate) fn signal_group(pgid: u32, signal: i32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 {
        return false; // never signal "every process" or init's group
    }
    // SAFETY: kill(2) with a negative pid signals a process group; it has no
    // memory-safety preconditions.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

/// Sends `signal` to process `pid`. Returns false if it no longer exists.
pub(crate) fn signal_process(pid: u32, signal: i32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 1 {
        return false;
    }
    // SAFETY: kill(2) on one process id; no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Whether any process of group `pgid` is alive.
pub(crate) fn group_alive(pgid: u32) -> bool {
    signal_group(pgid, 0)
}

/// Makes this process the reaper of its orphaned descendants (Linux
/// `PR_SET_CHILD_SUBREAPER`), so they can be waited for here. Elsewhere a no-op.
pub(crate) fn become_subreaper() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets an attribute of
        // this process.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Reaps every child that has exited, without blocking. Call only once no
/// `std::process::Child` of this process is still waited for.
pub(crate) fn reap_exited() {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes only to the status integer we own.
        let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

/// What `wait4` says about a finished child.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Waited {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// User + system CPU seconds of the child and every descendant it (or
    /// its descendants) waited for: the whole tree under the supervisor,
    /// which reaps everything.
    pub cpu_seconds: f64,
}

/// Waits for child `pid` and reports its resource use (`wait4(2)`).
pub(crate) fn wait_with_usage(pid: u32) -> io::Result<Waited> {
    use std::os::unix::process::ExitStatusExt;
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 writes only to
        // the status and rusage we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; pid is our own child.
        let rc = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if rc == pid {
            let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            return Ok(Waited {
                status: std::process::ExitStatus::from_raw(status),
                cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Signals blocked in the calling thread until this is dropped, which
/// restores the previous mask; a signal sent meanwhile stays pending and is
/// delivered then.
pub(crate) struct HeldSignals {
    previous: libc::sigset_t,
}

impl std::fmt::Debug for HeldSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldSignals").finish_non_exhaustive()
    }
}

/// Blocks `signals` in the calling thread (and in threads it starts) until
/// the returned value is dropped.
pub(crate) fn hold_signals(signals: &[i32]) -> io::Result<HeldSignals> {
    // SAFETY: sigemptyset/sigaddset initialise and fill a set we own;
    // pthread_sigmask reads `set` and writes the previous mask into
    // `previous`, both valid for the call.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(HeldSignals { previous })
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        // SAFETY: restores a mask pthread_sigmask itself returned.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}
