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

/// CPU seconds of this process (every thread) and of its children that
/// were waited for.
pub(crate) fn process_cpu_seconds() -> f64 {
    let seconds = |who| {
        // SAFETY: getrusage fills the zeroed struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage.
        if unsafe { libc::getrusage(who, &mut usage) } != 0 {
            return 0.0;
        }
        let time = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    seconds(libc::RUSAGE_SELF) + seconds(libc::RUSAGE_CHILDREN)
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

/// What [`DirWatch::wait`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watched {
    /// A file in the directory was created, written, or moved in.
    Changed,
    /// [`DirWatch::wake`] was called.
    Woken,
    /// Nothing within the timeout.
    TimedOut,
    /// The directory itself went away (deleted, moved, unmounted): the watch
    /// reports nothing any more.
    Gone,
}

/// Changes to the files of one directory, told by the kernel (Linux
/// inotify), so a follower can block until a file changes instead of
/// polling it; [`DirWatch::wake`] interrupts the wait from another thread.
#[derive(Debug)]
pub(crate) struct DirWatch {
    #[cfg(target_os = "linux")]
    inotify: std::os::fd::OwnedFd,
    #[cfg(target_os = "linux")]
    wake: std::os::fd::OwnedFd,
}

#[cfg(target_os = "linux")]
impl DirWatch {
    /// Watches `dir` for files created, written or moved into it. Fails
    /// where the kernel cannot (no inotify, the per-user watch limit).
    pub(crate) fn new(dir: &std::path::Path) -> io::Result<Self> {
        use std::os::fd::{FromRawFd as _, OwnedFd};
        use std::os::unix::ffi::OsStrExt as _;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: inotify_init1 takes flags only and returns a new
        // descriptor (or -1), which the OwnedFd then owns alone.
        let inotify = unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let mask = libc::IN_CREATE | libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO;
        // SAFETY: `path` is a valid NUL-terminated string for the call and
        // `inotify` an open inotify descriptor.
        let rc = unsafe {
            use std::os::fd::AsRawFd as _;
            libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), mask)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: eventfd takes an initial value and flags and returns a new
        // descriptor (or -1), which the OwnedFd then owns alone.
        let wake = unsafe {
            let fd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        Ok(Self { inotify, wake })
    }

    /// Blocks until a file in the directory changes, [`DirWatch::wake`] is
    /// called, or `timeout` passes; a wake-up wins over a change. The
    /// changes reported are consumed: the next wait blocks until the next
    /// one.
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> Watched {
        use std::os::fd::AsRawFd as _;
        let mut fds = [
            libc::pollfd {
                fd: self.inotify.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of two pollfd for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) };
        if ready < 0 {
            // EINTR: as if the time were up; the caller reads and waits again.
            return Watched::TimedOut;
        }
        if fds[1].revents != 0 {
            drain(self.wake.as_raw_fd(), &mut [0u8; 8]);
            return Watched::Woken;
        }
        if fds[0].revents == 0 {
            return Watched::TimedOut;
        }
        // Events carry a name of up to NAME_MAX bytes: room for a few at once.
        let mut buf = [0u8; 4096];
        let mut gone = fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
        let header = std::mem::size_of::<libc::inotify_event>();
        loop {
            let n = drain_once(self.inotify.as_raw_fd(), &mut buf);
            if n == 0 {
                break;
            }
            let mut at = 0;
            while at + header <= n {
                // The kernel writes whole events, aligned for the header.
                let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().unwrap_or_default());
                let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap_or_default())
                    as usize;
                gone |= mask
                    & (libc::IN_IGNORED
                        | libc::IN_DELETE_SELF
                        | libc::IN_MOVE_SELF
                        | libc::IN_UNMOUNT)
                    != 0;
                at += header + len;
            }
        }
        if gone {
            Watched::Gone
        } else {
            Watched::Changed
        }
    }

    /// Sleeps for `timeout` unless [`DirWatch::wake`] is called (then the
    /// next [`DirWatch::wait`] returns at once).
    pub(crate) fn pause(&self, timeout: std::time::Duration) {
        use std::os::fd::AsRawFd as _;
        let mut fd = libc::pollfd {
            fd: self.wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is one valid pollfd for the call.
        unsafe { libc::poll(&raw mut fd, 1, millis) };
    }

    /// Ends a [`DirWatch::wait`] or [`DirWatch::pause`] in progress (or the
    /// next one) at once.
    pub(crate) fn wake(&self) {
        use std::os::fd::AsRawFd as _;
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a buffer we own to our eventfd. A full
        // counter (never, at one write per follower) only fails the write.
        unsafe {
            libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len());
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl DirWatch {
    /// No inotify here: the caller polls.
    pub(crate) fn new(_dir: &std::path::Path) -> io::Result<Self> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    pub(crate) fn wait(&self, _timeout: std::time::Duration) -> Watched {
        Watched::Gone
    }
    pub(crate) fn pause(&self, _timeout: std::time::Duration) {}
    pub(crate) fn wake(&self) {}
}

/// One non-blocking read of `fd` into `buf`: the bytes read, 0 when there
/// is nothing (or an error).
#[cfg(target_os = "linux")]
fn drain_once(fd: libc::c_int, buf: &mut [u8]) -> usize {
    // SAFETY: reads at most `buf.len()` bytes into a buffer we own.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).unwrap_or(0)
}

/// Reads `fd` until there is nothing left.
#[cfg(target_os = "linux")]
fn drain(fd: libc::c_int, buf: &mut [u8]) {
    while drain_once(fd, buf) > 0 {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::time::Duration;

    /// Long enough never to pass on a loaded machine before what is
    /// awaited happens; a wait that is not expected to end in time ends
    /// at once.
    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn a_directory_watch_tells_of_writes_wake_ups_and_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let watch = DirWatch::new(dir.path()).unwrap();
        assert_eq!(watch.wait(Duration::ZERO), Watched::TimedOut);
        let path = dir.path().join("a.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        assert_eq!(watch.wait(LONG), Watched::Changed, "created");
        file.write_all(b"{}\n").unwrap();
        file.write_all(b"{}\n").unwrap();
        assert_eq!(watch.wait(LONG), Watched::Changed, "written");
        assert_eq!(
            watch.wait(Duration::ZERO),
            Watched::TimedOut,
            "both writes told at once"
        );
        // A rename into the directory (a step replacing its file).
        let other = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        assert_eq!(watch.wait(LONG), Watched::Changed);
        other.persist(&path).unwrap();
        assert_eq!(watch.wait(LONG), Watched::Changed, "moved in");
        // A wake-up ends a pause and wins over pending changes.
        file.write_all(b"{}\n").unwrap();
        watch.wake();
        watch.pause(LONG);
        assert_eq!(watch.wait(LONG), Watched::Woken);
        assert_eq!(watch.wait(LONG), Watched::Changed, "still pending");
        // The directory goes away: the watch says so.
        drop(file);
        let path = dir.path().to_owned();
        dir.close().unwrap();
        assert!(!path.exists());
        let mut seen = watch.wait(LONG);
        while seen == Watched::Changed {
            seen = watch.wait(LONG);
        }
        assert_eq!(seen, Watched::Gone);
    }

    #[test]
    fn a_missing_directory_cannot_be_watched() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DirWatch::new(&dir.path().join("missing")).is_err());
    }
}
