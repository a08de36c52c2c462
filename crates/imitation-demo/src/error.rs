//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong in a step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input artifact could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An output artifact could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file (or directory).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not the JSON it should be.
    #[error("invalid JSON in {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's complaint, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A file parsed but its content does not fit the task.
    #[error("invalid artifact {}: {reason}", path.display())]
    InvalidArtifact {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An input handed to a step cannot be used (empty dataset, wrong shape).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Training produced non-finite numbers.
    #[error("training diverged: {0}")]
    Diverged(String),
}
