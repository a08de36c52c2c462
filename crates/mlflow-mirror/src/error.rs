//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong talking to the tracking server or reading a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tracking URI is not an `http://` or `https://` address of a
    /// tracking server.
    #[error("invalid MLflow tracking URI `{uri}`: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the MLflow server at {uri} ({endpoint}): {message}")]
    Transport {
        /// The tracking URI.
        uri: String,
        /// The REST endpoint called (`experiments/get-by-name`).
        endpoint: String,
        /// What the HTTP client said.
        message: String,
    },
    /// The server did not answer within the time allowed.
    #[error("the MLflow server at {uri} did not answer {endpoint} within {seconds} s")]
    Timeout {
        /// The tracking URI.
        uri: String,
        /// The REST endpoint called.
        endpoint: String,
        /// The time allowed, in seconds.
        seconds: f64,
    },
    /// The server answered with an error.
    #[error("the MLflow server at {uri} refused {endpoint}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Api {
        /// The tracking URI.
        uri: String,
        /// The REST endpoint called.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// MLflow's `error_code` (`RESOURCE_DOES_NOT_EXIST`), if it gave one.
        code: Option<String>,
        /// MLflow's `message`, or the start of the body.
        message: String,
    },
    /// The server answered something that is not the JSON expected.
    #[error("the MLflow server at {uri} answered {endpoint} with unexpected content: {message}")]
    Protocol {
        /// The tracking URI.
        uri: String,
        /// The REST endpoint called.
        endpoint: String,
        /// What was wrong.
        message: String,
    },
    /// The run's artifact store is not the server's artifact proxy.
    #[error(
        "the MLflow run's artifacts live at `{artifact_uri}`, not behind the server's artifact \
         proxy (`mlflow-artifacts:`); start the server with --serve-artifacts (the default of \
         `mlflow server`) to receive report.html, summary.json and manifest.jsonl"
    )]
    ArtifactStore {
        /// The run's `artifact_uri`.
        artifact_uri: String,
    },
    /// The experiment exists but is deleted.
    #[error(
        "MLflow experiment `{name}` is deleted on the server; restore it \
         (`mlflow experiments restore`) or choose another name"
    )]
    DeletedExperiment {
        /// The experiment's name.
        name: String,
    },
    /// A run's files could not be read, or `mlflow.json` written.
    #[error("{path}: {source}")]
    Run {
        /// The file.
        path: PathBuf,
        /// Why.
        source: manifest::Error,
    },
    /// The run's `mlflow.json` is not what this crate writes.
    #[error("{path}: not a mirror state file: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// Whether the server itself could not be used (unreachable, too
    /// slow, or an invalid address), as opposed to one request it refused.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Transport { .. } | Self::Timeout { .. } | Self::InvalidUri { .. }
        )
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
