//! The progress crate's error type.

use telemetry_model::StepStatus;

/// What can go wrong driving a tracked run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Creating, writing or reading the run's files failed. The in-memory
    /// state is updated all the same, so the next successful write catches up.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// A step id that was not declared.
    #[error("unknown step `{0}`")]
    UnknownStep(String),
    /// Two steps share an id.
    #[error("step id `{0}` is declared twice")]
    DuplicateStep(String),
    /// A step id outside `[A-Za-z0-9_.-]{1,64}` (it names a log file).
    #[error(
        "invalid step id `{0}`: use letters, digits, '_', '.' and '-' (at most 64, not starting with '.')"
    )]
    InvalidStepId(String),
    /// A transition the step's status does not allow (start a finished step…).
    #[error("cannot {action} step `{step}`: it is {status}")]
    InvalidTransition {
        /// The step.
        step: String,
        /// What was attempted.
        action: &'static str,
        /// Where the step is.
        status: StepStatus,
    },
    /// An artifact path longer than [`crate::MAX_ARTIFACT_PATH_BYTES`].
    #[error("step `{step}`: an artifact path of {len} bytes is refused (at most {limit})")]
    ArtifactTooLong {
        /// The step.
        step: String,
        /// Bytes of the path.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A step reported more artifacts than it may record.
    #[error("step `{step}` already has {limit} artifacts; no more are recorded")]
    TooManyArtifacts {
        /// The step.
        step: String,
        /// The limit ([`crate::MAX_ARTIFACTS_PER_STEP`]).
        limit: usize,
    },
    /// The run already reached its final status; nothing may change it.
    #[error("the run has already finished")]
    Finished,
    /// The run asked to resume completed: there is nothing left to run.
    #[error("run `{run_id}` completed: there is nothing to resume")]
    NothingToResume {
        /// The run.
        run_id: String,
    },
    /// The steps given do not continue the run asked to resume.
    #[error("cannot resume run `{run_id}`: {reason}")]
    ResumeMismatch {
        /// The run.
        run_id: String,
        /// What does not match, and how to go on anyway.
        reason: String,
    },
    /// Installing signal handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
