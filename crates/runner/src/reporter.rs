//! Where the runner's diagnostics go: the caller's [`Reporter`], never the
//! process's stderr directly, so a host with its own output (a Python
//! logger, a test) sees them in its own place.

use std::io::Write as _;
use std::sync::Mutex;

/// Receives the runner's warnings and errors as they happen, from any of
/// the run's threads. A warning never fails the run; an error is also in
/// the run's record (`summary.reason`).
pub trait Reporter: Send + Sync {
    /// Something went wrong that the run goes on without: a write the disk
    /// refused, a bad progress line, a mirror that stopped.
    fn warn(&self, text: &str);

    /// The run cannot go on as asked (its files cannot be written). The
    /// default says it as a warning would.
    fn error(&self, text: &str) {
        self.warn(text);
    }
}

/// The reporter of a command-line program: `warning: TEXT` and
/// `error: TEXT` lines on stderr.
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrReporter;

impl Reporter for StderrReporter {
    fn warn(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "warning: {text}");
    }

    fn error(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "error: {text}");
    }
}

/// A reporter that keeps what it is told, for tests and for hosts that
/// show diagnostics later.
///
/// ```
/// use runner::{CollectingReporter, Reporter as _};
/// let reporter = CollectingReporter::default();
/// reporter.warn("disk full");
/// assert_eq!(reporter.take(), ["warning: disk full"]);
/// ```
#[derive(Debug, Default)]
pub struct CollectingReporter {
    lines: Mutex<Vec<String>>,
}

impl CollectingReporter {
    /// What was reported so far (`warning: …` / `error: …`), emptied.
    pub fn take(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default()
    }

    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

impl Reporter for CollectingReporter {
    fn warn(&self, text: &str) {
        self.push(format!("warning: {text}"));
    }

    fn error(&self, text: &str) {
        self.push(format!("error: {text}"));
    }
}
