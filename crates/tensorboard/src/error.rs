//! Errors of the event writer.

use std::io;
use std::path::PathBuf;

/// What went wrong writing event files. A TensorBoard mirror is never the
/// source of truth, so callers are expected to report these and carry on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done (`create`, `write`, `flush`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier write to this event file failed part-way, so the file may
    /// end in a torn record; nothing more is appended to it.
    #[error("event file `{path}` is no longer written after an earlier error")]
    Broken {
        /// The event file.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
