//! What stops a run from starting, or its files from being written.

use std::path::PathBuf;

/// Why the runner could not do what was asked. Each variant's text says
/// what was being done; the cause follows through
/// [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run could not be created under the artifact root.
    #[error("cannot start a run under {}", root.display())]
    Start {
        /// The artifact root.
        root: PathBuf,
        /// Why.
        #[source]
        source: progress::Error,
    },
    /// Signals could not be held back while the run was being created.
    #[error("cannot hold signals while the run starts")]
    HoldSignals(#[source] std::io::Error),
    /// The run's signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    InstallSignals(#[source] progress::Error),
    /// Waiting for a step's supervisor failed.
    #[error("cannot wait for the step's process")]
    Wait(#[source] std::io::Error),
    /// A command step was to run in a hosted session, which has no
    /// supervisor ([`crate::Settings::hosted`]).
    #[error("cannot run a command step: the run has no step supervisor")]
    NoSupervisor,
    /// A hosted step could not be started or ended.
    #[error("step `{step}`: {source}")]
    Step {
        /// The step id.
        step: String,
        /// Why.
        #[source]
        source: progress::Error,
    },
    /// The run's final record could not be written, even after retries.
    #[error("cannot write the final state of run {run_id} (it will list as abandoned)")]
    Final {
        /// The run.
        run_id: String,
        /// Why.
        #[source]
        source: progress::Error,
    },
    /// The run's own files could not be written or read.
    #[error(transparent)]
    Progress(#[from] progress::Error),
}

/// The runner's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes, `: `-separated, each said once (many errors
/// already end with their cause's text).
pub fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}
