//! `tracker __supervise`: runs one step's command so that it never outlives
//! the tracker.
//!
//! The tracker starts this (its own executable) as the direct child of each
//! step. The supervisor
//!
//! - asks the kernel for SIGTERM when the tracker dies, however it dies
//!   (`PR_SET_PDEATHSIG`; SIGKILL of the tracker included), and exits at once
//!   if the tracker is already gone;
//! - runs `sh -c COMMAND` in a process group of its own, so that the whole
//!   tree of the step (shell pipelines, Python workers) can be signalled,
//!   and adopts the step's orphans (`PR_SET_CHILD_SUBREAPER`) to reap them;
//! - forwards SIGINT, SIGTERM and SIGHUP to that group, and sends SIGKILL
//!   to the group if it has not exited [`GRACE`] later;
//! - once the command exits, ends what it left running in its group;
//! - exits with the command's status, or dies by the signal that killed it.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGTERM};
use signal_hook::iterator::Signals;

use crate::sys;

/// Time a step's processes get to exit after a forwarded signal.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// Hidden subcommand name.
pub(crate) const SUBCOMMAND: &str = "__supervise";

/// Runs the supervisor; `parent` is the tracker's pid.
pub(crate) fn run(parent: u32, command: &str) -> u8 {
    if sys::set_parent_death_signal(SIGTERM).is_err()
        || std::os::unix::process::parent_id() != parent
    {
        // The tracker is already gone (or we cannot learn when it goes).
        return crate::exit::USAGE;
    }
    // Orphans of the step (a daemonised helper, a killed shell's children)
    // become ours, so they can be reaped instead of lingering as zombies.
    let _ = sys::become_subreaper();
    let group = Arc::new(AtomicU32::new(0));
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return crate::exit::USAGE;
    };
    {
        let group = Arc::clone(&group);
        std::thread::spawn(move || {
            let mut first: Option<Instant> = None;
            for signal in signals.forever() {
                let pgid = group.load(Ordering::SeqCst);
                if pgid != 0 {
                    sys::signal_group(pgid, signal);
                }
                if first.is_none() {
                    first = Some(Instant::now());
                    let group = Arc::clone(&group);
                    std::thread::spawn(move || {
                        std::thread::sleep(GRACE);
                        let pgid = group.load(Ordering::SeqCst);
                        if pgid != 0 {
                            sys::signal_group(pgid, SIGKILL);
                        }
                    });
                }
            }
        });
    }
    let mut child = match Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("error: cannot start /bin/sh: {e}\n").as_bytes(),
            );
            return 127;
        }
    };
    let pgid = child.id();
    group.store(pgid, Ordering::SeqCst);
    let status = child.wait();
    // End whatever the command left running in its group.
    sys::reap_exited();
    if sys::group_alive(pgid) {
        sys::signal_group(pgid, SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(1);
        while sys::group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            sys::reap_exited();
        }
        sys::signal_group(pgid, SIGKILL);
        sys::reap_exited();
    }
    group.store(0, Ordering::SeqCst);
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            if let Some(code) = status.code() {
                u8::try_from(code).unwrap_or(1)
            } else if let Some(signal) = status.signal() {
                // Die the same way, so the tracker records the signal.
                if signal == SIGKILL {
                    let _ = signal_hook::low_level::raise(SIGKILL);
                } else {
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
                u8::try_from(128 + signal).unwrap_or(1)
            } else {
                1
            }
        }
        Err(_) => 1,
    }
}
