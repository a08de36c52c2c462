//! The manifest crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong creating, writing, finding or reading runs.
///
/// Each variant carries what a user needs to act on it: the path, the run id
/// or the argument that was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `read`, `lock`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A user-chosen run name broke the naming rule.
    #[error("invalid run name `{name}`: {reason} (allowed: [A-Za-z0-9][A-Za-z0-9._-]{{0,127}})")]
    InvalidRunName {
        /// The refused name (shortened when very long, NUL shown as `\0`).
        name: String,
        /// Which part of the rule it broke.
        reason: &'static str,
    },
    /// A RUN argument that could point outside the artifact root.
    #[error("invalid run reference `{arg}`: {reason}")]
    InvalidRunRef {
        /// The refused argument (shortened, NUL shown as `\0`).
        arg: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A run with this id already exists.
    #[error("run `{run_id}` already exists at {}", dir.display())]
    RunExists {
        /// The id that was asked for.
        run_id: String,
        /// Its directory.
        dir: PathBuf,
    },
    /// Another live process holds the run's lock.
    #[error("run `{run_id}` is locked by a live writer ({})", dir.join("run.lock").display())]
    RunLocked {
        /// The run.
        run_id: String,
        /// Its directory.
        dir: PathBuf,
    },
    /// No run matched a RUN argument.
    #[error("no run matches `{arg}` under {}", runs_dir.display())]
    RunNotFound {
        /// What the user asked for.
        arg: String,
        /// Where runs were looked for.
        runs_dir: PathBuf,
    },
    /// A prefix matched more than one run.
    #[error("`{arg}` matches {count} runs ({}); give more characters", candidates.join(", "))]
    AmbiguousRun {
        /// The prefix.
        arg: String,
        /// How many runs matched.
        count: usize,
        /// Up to five of them.
        candidates: Vec<String>,
    },
    /// A project file (`tracker.toml`) that is not what it should be.
    #[error("{}:{line}: {message}", path.display())]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// The 1-based line (0 when unknown).
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A prune rule with neither a count to keep nor an age: it would
    /// delete every run, which takes an explicit `keep: Some(0)`.
    #[error("a prune rule needs a number of runs to keep or an age to delete from")]
    EmptyPruneRule,
    /// A write through a writer that released its run.
    #[error("run `{run_id}` was released by its writer; nothing more is written to it")]
    Released {
        /// The run.
        run_id: String,
    },
    /// A manifest without a single readable run record.
    #[error("{} holds no readable run record", path.display())]
    NoRecord {
        /// The manifest.
        path: PathBuf,
    },
    /// A record could not be serialised (a non-finite float in `evidence`, …).
    #[error("cannot serialise a line for {}: {source}", path.display())]
    Serialize {
        /// The file it was meant for.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A line longer than readers accept ([`crate::MAX_LINE_BYTES`]) was
    /// refused; nothing was written.
    #[error("refused to write a {len}-byte line to {}: readers skip lines over {limit} bytes", path.display())]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// Bytes of the line.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The file system took only part of a line (disk full). The part is
    /// cut off again (or, if that fails, terminated before the next
    /// append), so the file ends on whole lines and later records are not
    /// lost.
    #[error("short write to {}: {written} of {expected} bytes (disk full?)", path.display())]
    ShortWrite {
        /// The file.
        path: PathBuf,
        /// Bytes the file system accepted.
        written: usize,
        /// Bytes of the whole line.
        expected: usize,
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

/// Shortens user input for an error message and makes NUL visible.
pub(crate) fn shown(input: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::new();
    for (count, ch) in input.chars().enumerate() {
        if count == MAX {
            out.push('…');
            break;
        }
        match ch {
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
