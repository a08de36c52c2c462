//! Mirroring a run from its files: what `tracker sync` does, and how the
//! live mirror opens its MLflow run. Idempotent: the MLflow run is found
//! again by its `tracker.run_id` tag and completed, never duplicated.

use std::path::Path;

use telemetry_model::{PipelineRunRecord, TelemetrySnapshot};

use crate::client::{Auth, Client, ENV_EXPERIMENT, Timeouts};
use crate::error::{Error, Result};
use crate::mapping::{
    self, Metric, StepThroughput, Tag, batches, mlflow_status, run_tags, sample_metrics,
    step_metrics, tracker_status,
};
use crate::state::{MirrorFile, MirrorState};

/// The experiment of runs whose pipeline has no name.
pub const DEFAULT_EXPERIMENT: &str = "tracker";

/// The run's files uploaded as artifacts when it ends (those that exist),
/// besides `recommendations.json`.
pub const ARTIFACTS: [&str; 3] = [
    runner::REPORT_FILE,
    manifest::files::SUMMARY_JSON,
    manifest::files::MANIFEST,
];

/// The artifact holding the run's recommendations (a JSON list).
pub const RECOMMENDATIONS_ARTIFACT: &str = "recommendations.json";

/// Where runs are mirrored: a tracking server and, optionally, the
/// experiment (else each run's pipeline name).
#[derive(Clone, Debug)]
pub struct Target {
    /// The server.
    pub client: Client,
    /// The experiment every run goes to; `None`: its pipeline's name.
    pub experiment: Option<String>,
}

impl Target {
    /// A target at `uri`, authenticated from the environment
    /// ([`Auth::from_env`]), its experiment `experiment`, else
    /// `$MLFLOW_EXPERIMENT_NAME`, else each run's pipeline name.
    pub fn from_env(uri: &str, experiment: Option<String>, timeouts: Timeouts) -> Result<Self> {
        let experiment = experiment.or_else(|| {
            std::env::var(ENV_EXPERIMENT)
                .ok()
                .filter(|v| !v.trim().is_empty())
        });
        Ok(Self {
            client: Client::new(uri, Auth::from_env(), timeouts)?,
            experiment,
        })
    }

    /// The experiment `record` goes to.
    pub fn experiment_for(&self, record: &PipelineRunRecord) -> String {
        self.experiment
            .clone()
            .or_else(|| record.pipeline.clone())
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_owned())
    }

    /// Makes sure `state` names a live MLflow run of `record`: the one it
    /// names, else the one tagged with the run's id, else a new one
    /// (then it returns `true`). When
    /// the run is not the one `state` named, what was sent is counted
    /// again from nothing (the server drops exact duplicates of metric
    /// values).
    pub(crate) fn open_run(
        &self,
        record: &PipelineRunRecord,
        state: &mut MirrorState,
        abandoned: bool,
    ) -> Result<bool> {
        let client = &self.client;
        let name = self.experiment_for(record);
        let experiment_id = client.ensure_experiment(&name)?;
        let same_experiment = state.experiment_id.as_deref() == Some(experiment_id.as_str());
        let known = match (&state.mlflow_run_id, same_experiment) {
            (Some(id), true) => client.get_run(id)?,
            _ => None,
        };
        let mut created = false;
        let info = match known {
            Some(info) => info,
            None => {
                *state = MirrorState::new(state.tracking_uri.clone());
                match client.find_run(&experiment_id, &record.run_id)? {
                    Some(info) => info,
                    None => {
                        created = true;
                        client.create_run(
                            &experiment_id,
                            &record.run_id,
                            record.created_at.unix_ms(),
                            &run_tags(record, abandoned),
                        )?
                    }
                }
            }
        };
        state.experiment_name = Some(name);
        state.experiment_id = Some(experiment_id);
        state.mlflow_run_id = Some(info.run_id);
        state.artifact_uri = Some(info.artifact_uri);
        Ok(created)
    }

    /// Uploads the ended run's artifacts ([`ARTIFACTS`] that exist in
    /// `run_dir`, and `recommendations.json`) not uploaded yet; returns
    /// how many were uploaded.
    pub(crate) fn upload_artifacts(
        &self,
        run_dir: &Path,
        recommendations: &[telemetry_model::PerformanceRecommendation],
        state: &mut MirrorState,
    ) -> Result<usize> {
        let Some(artifact_uri) = state.artifact_uri.clone() else {
            return Ok(0);
        };
        let mut uploaded = 0;
        let rec_bytes = serde_json::to_vec_pretty(recommendations).unwrap_or_default();
        let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
        for name in ARTIFACTS {
            match std::fs::read(run_dir.join(name)) {
                Ok(bytes) => files.push((name, bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::State {
                        path: run_dir.join(name),
                        message: e.to_string(),
                    });
                }
            }
        }
        files.push((RECOMMENDATIONS_ARTIFACT, rec_bytes));
        for (name, bytes) in files {
            if state.artifacts_sent.iter().any(|a| a == name) {
                continue;
            }
            let content_type = match name.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("json") => "application/json",
                _ => "application/x-ndjson",
            };
            self.client
                .upload_artifact(&artifact_uri, name, &bytes, content_type)?;
            state.artifacts_sent.push(name.to_owned());
            uploaded += 1;
        }
        Ok(uploaded)
    }
}

/// What [`sync_run`] did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Synced {
    /// `mlflow.json` says everything is on the server already; nothing
    /// was sent.
    AlreadyMirrored(MirrorState),
    /// What was missing was sent.
    Uploaded {
        /// Where the run is now.
        state: MirrorState,
        /// Metric values sent.
        metrics: usize,
        /// Artifacts uploaded.
        artifacts: usize,
        /// Whether the MLflow run was created now (not found by its tag).
        created: bool,
    },
}

/// Mirrors the ended run in `run_dir` to `target`, sending only what
/// `mlflow.json` does not list as sent: the MLflow run (found by its tag,
/// else created), its tags, telemetry and step metrics, its artifacts,
/// and its final status (`KILLED` and `tracker.abandoned` when
/// `abandoned`: its writer died). Records the result in `mlflow.json`,
/// also on failure.
pub fn sync_run(target: &Target, run_dir: &Path, abandoned: bool) -> Result<Synced> {
    let (record, recommendations) = read_run(run_dir)?;
    let uri = target.client.uri().to_owned();
    // A damaged state file is rebuilt: the tag search finds the run again.
    let mut file = MirrorFile::read(run_dir).unwrap_or_default();
    let mut state = file
        .get(&uri)
        .cloned()
        .unwrap_or_else(|| MirrorState::new(uri.clone()));
    let word = tracker_status(record.status, abandoned);
    let ended = abandoned || record.status.is_terminal();
    if state.complete
        && state.mlflow_run_id.is_some()
        && state.status_sent.as_deref() == Some(word.as_str())
    {
        return Ok(Synced::AlreadyMirrored(state));
    }
    let result = send_missing(
        target,
        run_dir,
        &record,
        &recommendations,
        &mut state,
        abandoned,
    );
    match &result {
        Ok(_) => {
            state.status_sent = Some(word);
            state.complete = ended;
            state.pending.clear();
            state.last_error = None;
        }
        Err(e) => {
            state.complete = false;
            state.last_error = Some(e.to_string());
            state.pending = vec!["what `tracker sync` could not send".to_owned()];
        }
    }
    file.put(state.clone());
    file.write(run_dir)?;
    let (metrics, artifacts, created) = result?;
    Ok(Synced::Uploaded {
        state,
        metrics,
        artifacts,
        created,
    })
}

/// Brings the MLflow run of the live run in `run_dir` up to what its files
/// hold (the live mirror, when the server answers again after a failure):
/// as [`sync_run`] for a run that has not ended, except that `state` is
/// the caller's to record. On success, `state.samples_sent` is the number
/// of telemetry samples read. Returns the metric values sent.
pub(crate) fn catch_up(target: &Target, run_dir: &Path, state: &mut MirrorState) -> Result<usize> {
    let (record, _) = read_run(run_dir)?;
    // The record on disk may already say the run ended; it is caught up as
    // running all the same, and the end is the live mirror's to send.
    let mut running = record;
    running.status = telemetry_model::RunStatus::Running;
    let (sent, _, _) = send_missing(target, run_dir, &running, &[], state, false)?;
    state.status_sent = Some(tracker_status(running.status, false));
    Ok(sent)
}

/// The last record of the run in `run_dir` and its recommendations.
fn read_run(
    run_dir: &Path,
) -> Result<(
    PipelineRunRecord,
    Vec<telemetry_model::PerformanceRecommendation>,
)> {
    let manifest_path = run_dir.join(manifest::files::MANIFEST);
    let contents = manifest::read_manifest(&manifest_path).map_err(|source| Error::Run {
        path: manifest_path.clone(),
        source,
    })?;
    let record = contents.record.ok_or_else(|| Error::State {
        path: manifest_path,
        message: "no run record".to_owned(),
    })?;
    Ok((record, contents.recommendations))
}

/// The work of [`sync_run`]: (metrics sent, artifacts uploaded, created).
fn send_missing(
    target: &Target,
    run_dir: &Path,
    record: &PipelineRunRecord,
    recommendations: &[telemetry_model::PerformanceRecommendation],
    state: &mut MirrorState,
    abandoned: bool,
) -> Result<(usize, usize, bool)> {
    let created = target.open_run(record, state, abandoned)?;
    let Some(run_id) = state.mlflow_run_id.clone() else {
        return Ok((0, 0, created));
    };
    let ended = abandoned || record.status.is_terminal();

    let mut samples: Vec<TelemetrySnapshot> = Vec::new();
    let telemetry = run_dir.join(manifest::files::TELEMETRY);
    if telemetry.is_file() {
        manifest::read_jsonl(&telemetry, |_, s: TelemetrySnapshot| samples.push(s)).map_err(
            |source| Error::Run {
                path: telemetry.clone(),
                source,
            },
        )?;
    }
    let mut throughput = StepThroughput::default();
    let mut metrics: Vec<Metric> = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        throughput.add(sample);
        if index >= state.samples_sent {
            metrics.extend(sample_metrics(sample, index));
        }
    }
    let mut steps_now = Vec::new();
    for step in &record.steps {
        if state.steps_sent.contains(&step.step_id) {
            continue;
        }
        let values = step_metrics(step, &throughput);
        if !values.is_empty() {
            metrics.extend(values);
            steps_now.push(step.step_id.clone());
        }
    }
    let end_ms = mapping::end_time_ms(record);
    if ended {
        metrics.extend(mapping::run_metrics(record, end_ms));
    }
    let mut tags = run_tags(record, abandoned);
    if ended {
        tags.push(Tag::new(
            "tracker.recommendations",
            recommendations.len().to_string(),
        ));
    }
    let sent = metrics.len();
    for batch in batches(metrics, Vec::new(), tags) {
        target.client.log_batch(&run_id, &batch)?;
    }
    state.samples_sent = samples.len();
    state.steps_sent.extend(steps_now);
    let mut artifacts = 0;
    if ended {
        artifacts = target.upload_artifacts(run_dir, recommendations, state)?;
    }
    target.client.update_run(
        &run_id,
        mlflow_status(record.status, abandoned),
        ended.then_some(end_ms),
    )?;
    Ok((sent, artifacts, created))
}
