//! `mlflow.json` in the run directory: where the run is mirrored and how
//! far, so that `tracker sync` sends only what is missing and `tracker
//! show` can say where the run is. The mirror's own file, rewritten
//! atomically; the run's manifest is never touched.
//!
//! ```json
//! {"mirrors": [{
//!   "tracking_uri": "http://mlflow.example.org:5000",
//!   "experiment_name": "train", "experiment_id": "3",
//!   "mlflow_run_id": "0f2c…", "artifact_uri": "mlflow-artifacts:/3/0f2c…/artifacts",
//!   "samples_sent": 118, "steps_sent": ["prepare"], "status_sent": "running",
//!   "artifacts_sent": [], "complete": false,
//!   "pending": ["telemetry from sample 118", "step `train`", "final status (completed)", "artifacts"],
//!   "last_error": "the MLflow server at http://… did not answer runs/log-batch within 10 s",
//!   "updated_at": "2026-01-01T10:00:00.000Z"}]}
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use telemetry_model::Timestamp;

use crate::error::{Error, Result};

/// The file's name in the run directory.
pub const STATE_FILE: &str = "mlflow.json";

/// Every tracking server a run is mirrored to (usually one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MirrorFile {
    /// One entry per tracking URI.
    #[serde(default)]
    pub mirrors: Vec<MirrorState>,
}

/// How far a run is mirrored to one tracking server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MirrorState {
    /// The server.
    pub tracking_uri: String,
    /// The experiment's name.
    #[serde(default)]
    pub experiment_name: Option<String>,
    /// The experiment's id on the server.
    #[serde(default)]
    pub experiment_id: Option<String>,
    /// The MLflow run's id; `None` until it was created.
    #[serde(default)]
    pub mlflow_run_id: Option<String>,
    /// Where the MLflow run's artifacts go.
    #[serde(default)]
    pub artifact_uri: Option<String>,
    /// Telemetry samples sent, counted from the first line of
    /// `telemetry.jsonl` (those after it may have been sent too).
    #[serde(default)]
    pub samples_sent: usize,
    /// Finished steps whose metrics were sent.
    #[serde(default)]
    pub steps_sent: Vec<String>,
    /// The tracker status last set on the MLflow run (`running`,
    /// `completed`, …, `abandoned`).
    #[serde(default)]
    pub status_sent: Option<String>,
    /// Artifacts uploaded since the run last ended.
    #[serde(default)]
    pub artifacts_sent: Vec<String>,
    /// Everything of the ended run is on the server.
    #[serde(default)]
    pub complete: bool,
    /// What is known not to be on the server yet, in words.
    #[serde(default)]
    pub pending: Vec<String>,
    /// The last error from the server, if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When this entry was last written.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

impl MirrorState {
    /// A run not mirrored yet to `tracking_uri`.
    pub fn new(tracking_uri: impl Into<String>) -> Self {
        Self {
            tracking_uri: tracking_uri.into(),
            ..Self::default()
        }
    }
}

impl MirrorFile {
    /// The file of the run in `run_dir`; empty if there is none.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Error::State {
                    path,
                    message: e.to_string(),
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path,
            message: e.to_string(),
        })
    }

    /// Writes the file into `run_dir` (atomically: a temporary file and a
    /// rename, not synced: it can always be rebuilt by `tracker sync`).
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(STATE_FILE);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        manifest::write_atomic(&path, &bytes, false).map_err(|source| Error::Run { path, source })
    }

    /// The entry for `tracking_uri`, if the run was mirrored there.
    pub fn get(&self, tracking_uri: &str) -> Option<&MirrorState> {
        self.mirrors.iter().find(|m| m.tracking_uri == tracking_uri)
    }

    /// Replaces (or adds) the entry of `state.tracking_uri`.
    pub fn put(&mut self, mut state: MirrorState) {
        state.updated_at = Some(Timestamp::now());
        match self
            .mirrors
            .iter_mut()
            .find(|m| m.tracking_uri == state.tracking_uri)
        {
            Some(slot) => *slot = state,
            None => self.mirrors.push(state),
        }
    }
}

/// One line per tracking server for `tracker show`: whether and where the
/// run in `run_dir` is mirrored; none if it never was.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(mlflow_mirror::describe(dir.path()).is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn describe(run_dir: &Path) -> Vec<String> {
    let file = match MirrorFile::read(run_dir) {
        Ok(file) => file,
        Err(e) => return vec![format!("unknown ({e})")],
    };
    file.mirrors
        .iter()
        .map(|m| {
            let experiment = m
                .experiment_name
                .as_deref()
                .map(|name| match &m.experiment_id {
                    Some(id) => format!("experiment `{name}` ({id})"),
                    None => format!("experiment `{name}`"),
                });
            let place = match (&experiment, &m.mlflow_run_id) {
                (Some(exp), Some(run)) => format!("{}, {exp}, run {run}", m.tracking_uri),
                (Some(exp), None) => format!("{}, {exp}", m.tracking_uri),
                _ => m.tracking_uri.clone(),
            };
            if m.complete {
                format!("mirrored to {place}")
            } else if m.mlflow_run_id.is_none() {
                format!(
                    "not mirrored yet to {place}: `tracker sync --mlflow {}` uploads it",
                    m.tracking_uri
                )
            } else {
                let pending = if m.pending.is_empty() {
                    String::new()
                } else {
                    format!(" (pending: {})", m.pending.join(", "))
                };
                format!("partly mirrored to {place}{pending}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_read_and_described() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = MirrorFile::read(dir.path()).unwrap();
        assert_eq!(file, MirrorFile::default());
        let mut state = MirrorState::new("http://h:5000");
        state.experiment_name = Some("train".into());
        file.put(state.clone());
        file.write(dir.path()).unwrap();
        assert_eq!(
            describe(dir.path()),
            [
                "not mirrored yet to http://h:5000, experiment `train`: `tracker sync --mlflow http://h:5000` uploads it"
            ]
        );
        state.experiment_id = Some("3".into());
        state.mlflow_run_id = Some("abc".into());
        state.pending = vec!["artifacts".into()];
        file.put(state.clone());
        file.put(MirrorState {
            complete: true,
            ..MirrorState::new("http://other")
        });
        file.write(dir.path()).unwrap();
        let read = MirrorFile::read(dir.path()).unwrap();
        assert_eq!(read.mirrors.len(), 2);
        assert_eq!(
            read.get("http://h:5000").unwrap().mlflow_run_id.as_deref(),
            Some("abc")
        );
        assert_eq!(
            describe(dir.path()),
            [
                "partly mirrored to http://h:5000, experiment `train` (3), run abc (pending: artifacts)",
                "mirrored to http://other"
            ]
        );
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        let err = MirrorFile::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("mlflow.json: not a mirror state file"),
            "{err}"
        );
        assert!(describe(dir.path())[0].starts_with("unknown ("));
    }
}
