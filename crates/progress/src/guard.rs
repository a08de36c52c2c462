//! The failure guard: a signal ends the run as `cancelled`, flushed.
//!
//! Opt-in for library users, who may own their signal handlers; always on in
//! the `tracker` CLI. On SIGINT, SIGTERM or SIGHUP the running step becomes
//! `failed`, the run `cancelled`, the manifest, `steps.json` and the summary
//! are flushed, and the signal's default action then runs, so the process
//! exits with the status a shell expects (130 for Ctrl-C). A second signal
//! while flushing ends the process at once.
//!
//! A wrapper that must first stop its children uses
//! [`FailureGuard::install_deferred`]: the run is flushed at once, a hook
//! forwards the signal, and the caller re-raises it with
//! [`FailureGuard::reraise`] once its children are gone.
//!
//! Panics need no handler: the tracker marks the run `failed` when a panic
//! unwinds past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
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

/// The reason a run ended by `signal` is recorded with: `interrupted by
/// SIGTERM`.
pub fn interruption_reason(signal: i32) -> String {
    let name = signal_name(signal).unwrap_or("a signal");
    format!("interrupted by {name}")
}

/// Installed signal handlers; dropping the guard removes them.
#[derive(Debug)]
pub struct FailureGuard {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
    ids: Vec<SigId>,
    received: Arc<AtomicI32>,
}

impl FailureGuard {
    /// Installs the handlers for `tracker`'s run: on a signal the run is
    /// cancelled and flushed, then the process dies by the signal.
    pub fn install(tracker: &ProgressTracker) -> Result<Self> {
        Self::install_inner(tracker, None)
    }

    /// Like [`FailureGuard::install`], but instead of dying at once, calls
    /// `on_signal` (after the run is flushed) and leaves the process alive:
    /// the caller stops its children, then calls [`FailureGuard::reraise`].
    /// A second signal still ends the process at once.
    pub fn install_deferred(
        tracker: &ProgressTracker,
        on_signal: impl Fn(i32) + Send + 'static,
    ) -> Result<Self> {
        Self::install_inner(tracker, Some(Box::new(on_signal)))
    }

    fn install_inner(
        tracker: &ProgressTracker,
        on_signal: Option<Box<dyn Fn(i32) + Send>>,
    ) -> Result<Self> {
        let abort = tracker.aborter();
        let already = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicI32::new(0));
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
        let thread = {
            let received = Arc::clone(&received);
            std::thread::Builder::new()
                .name("failure-guard".into())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        received.store(signal, Ordering::SeqCst);
                        already.store(true, Ordering::SeqCst);
                        abort(RunStatus::Cancelled, &interruption_reason(signal));
                        match &on_signal {
                            Some(hook) => hook(signal),
                            None => {
                                let _ = emulate_default_handler(signal);
                            }
                        }
                    }
                })
                .map_err(Error::Signals)?
        };
        Ok(Self {
            handle,
            thread: Some(thread),
            ids,
            received,
        })
    }

    /// The signal received, if any. It is recorded before the handler
    /// takes the run's lock to end it: a caller that sees it and ends the
    /// run itself may come first, and should end it as the handler does
    /// (`cancelled`, [`interruption_reason`]); whichever is second changes
    /// nothing.
    pub fn received(&self) -> Option<i32> {
        Some(self.received.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }

    /// Removes the handlers and, if a signal was received, runs its default
    /// action: the process dies by it, as from any program. Returns only if
    /// no signal was received (or it does not terminate).
    pub fn reraise(self) {
        let received = self.received();
        drop(self);
        if let Some(signal) = received {
            let _ = emulate_default_handler(signal);
        }
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
