//! The perf-gate crate's error type.

use std::io;
use std::path::PathBuf;

/// What can go wrong reading or writing a baselines file, or recording a
/// perf run.
///
/// Messages about a baselines file start with the file as the user named
/// it, then the key: `perf/baselines.json: scenarios.manifest_append.soft_ratio: …`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The baselines file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The baselines file is not JSON.
    #[error("{}:{line}:{column}: not valid JSON: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A key of the baselines file is missing, unknown, of the wrong type
    /// or out of range.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted path of the key (`scenarios.manifest_append.soft_ratio`).
        key: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A scenario measured a throughput in another unit than its baseline.
    #[error(
        "{}: scenarios.{test_id}.unit: the baseline is in {baseline_unit}, but the \
         scenario measures {measured_unit}; fix the unit or rewrite the baseline \
         (--update-baselines)",
        path.display()
    )]
    UnitMismatch {
        /// The baselines file.
        path: PathBuf,
        /// The scenario.
        test_id: String,
        /// The unit stored in the file.
        baseline_unit: String,
        /// The unit measured.
        measured_unit: String,
    },
    /// The baselines were measured with another build profile (release
    /// figures against a debug build would all fail).
    #[error(
        "{}: profile: the baselines were measured with a {expected} build, this is a \
         {actual} build",
        path.display()
    )]
    ProfileMismatch {
        /// The baselines file.
        path: PathBuf,
        /// The profile the file names.
        expected: String,
        /// The profile of the running build.
        actual: String,
    },
    /// Writing the run's files failed.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// The tracked run refused a change (it had already finished).
    #[error(transparent)]
    Progress(#[from] progress::Error),
    /// A document could not be serialised (a non-finite number).
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What was being written.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            path: path.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// The dotted key an [`Error::Invalid`] or [`Error::UnitMismatch`] is
    /// about.
    pub fn key(&self) -> Option<String> {
        match self {
            Self::Invalid { key, .. } => Some(key.clone()),
            Self::UnitMismatch { test_id, .. } => Some(format!("scenarios.{test_id}.unit")),
            Self::ProfileMismatch { .. } => Some("profile".to_owned()),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
