//! The failure guard: a signal ends the run as `cancelled`, flushed.
//!
//! Opt-in for library users, who may own their signal handlers; always on in
//! the `tracker` CLI. On SIGINT, SIGTERM or SIGHUP the running step becomes
//! `failed`, the run `cancelled`, the manifest, `steps.json` and the summary
//! are flushed, and the signal's default action then runs, so the process
//! exits with the status a shell expects (130 for Ctrl-C). A second signal
//! while flushing ends the process at once.
//!
//! Panics need no handler: the tracker marks the run `failed` when a panic
//! unwinds past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use signal_hook::low_level::{emulate_default_handler, signal_name};
use signal_hook::{SigId, flag};
use telemetry_model::RunStatus;

use crate::error::{Error, Result};
use crate::tracker::ProgressTracker;

/// The signals the guard handles.
pub const GUARDED_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Installed signal handlers; dropping the guard removes them.
#[derive(Debug)]
pub struct FailureGuard {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
    ids: Vec<SigId>,
}

impl FailureGuard {
    /// Installs the handlers for `tracker`'s run.
    pub fn install(tracker: &ProgressTracker) -> Result<Self> {
        let abort = tracker.aborter();
        let already = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in GUARDED_SIGNALS {
            // Runs the default action only once the first signal is being handled.
            ids.push(
                flag::register_conditional_default(signal, Arc::clone(&already))
                    .map_err(Error::Signals)?,
            );
        }
        let mut signals = Signals::new(GUARDED_SIGNALS).map_err(Error::Signals)?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("failure-guard".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    already.store(true, Ordering::SeqCst);
                    let name = signal_name(signal).unwrap_or("a signal");
                    abort(RunStatus::Cancelled, &format!("interrupted by {name}"));
                    let _ = emulate_default_handler(signal);
                }
            })
            .map_err(Error::Signals)?;
        Ok(Self {
            handle,
            thread: Some(thread),
            ids,
        })
    }
}

impl Drop for FailureGuard {
    fn drop(&mut self) {
        self.handle.close();
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
