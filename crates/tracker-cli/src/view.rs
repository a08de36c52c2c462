//! What the commands print, built from the model types. The JSON shapes
//! here are the CLI's machine interface (docs/cli.md): add fields, never
//! rename or remove them.

use manifest::{ManifestContents, ReadWarning, RunEntry, RunState};
use perf_gate::PerfSummary;
use serde::Serialize;
use telemetry_model::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, RunStatus,
    StepExecutionEntry, StepStatus, TelemetrySnapshot, Timestamp,
};

/// Version of the JSON documents below.
pub(crate) const OUTPUT_VERSION: u32 = 1;

/// `kind` of a run of a pipeline.
pub(crate) const KIND_PIPELINE: &str = "pipeline";
/// `kind` of a perf run.
pub(crate) const KIND_PERF_TEST: &str = "perf-test";

/// One element of `tracker list --format json`.
#[derive(Debug, Serialize)]
pub(crate) struct ListEntry<'a> {
    pub run_id: &'a str,
    /// Directory below run-tracker/ (differs from run_id for some Python runs).
    pub path: &'a str,
    pub pipeline: Option<&'a str>,
    /// Derived state (`abandoned` included).
    pub status: RunState,
    /// Status as the writer last recorded it.
    pub recorded_status: RunStatus,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub duration_seconds: Option<f64>,
    pub steps_total: usize,
    pub steps_completed: usize,
    /// The running step, else the failed one, else the last completed one.
    pub current_step: Option<&'a str>,
    pub last_completed_step: Option<&'a str>,
    pub scenario_config_path: Option<&'a str>,
    pub artifact_dir: String,
    /// `perf-test` for runs of `cargo xtask perf` and `tracker perf-tests`,
    /// else `pipeline`.
    pub kind: &'static str,
    /// A perf run's counts and verdict (`summary.perf_tests`), else null.
    pub perf_tests: Option<PerfSummary>,
    /// How often the run was resumed (`tracker run --resume`).
    pub resumed: usize,
    /// The stalled step of a running run (no progress, output or CPU for
    /// its `stall_seconds`), else null.
    pub stalled_step: Option<&'a str>,
    /// Seconds since that step's last sign of life, else null.
    pub stalled_seconds: Option<f64>,
}

impl<'a> ListEntry<'a> {
    pub(crate) fn new(entry: &'a RunEntry, now: Timestamp) -> Self {
        let record = &entry.record;
        let perf_tests = record.summary.perf_tests.clone();
        Self {
            run_id: &record.run_id,
            path: &entry.rel_path,
            pipeline: record.pipeline.as_deref(),
            status: entry.state,
            recorded_status: record.status,
            created_at: record.created_at,
            completed_at: record.completed_at,
            duration_seconds: entry.duration_seconds(now),
            steps_total: record.counted_steps().count(),
            steps_completed: completed_steps(record),
            current_step: focus_step(record).map(StepExecutionEntry::label),
            last_completed_step: record.last_completed_step().map(StepExecutionEntry::label),
            scenario_config_path: record.scenario_config_path.as_deref(),
            artifact_dir: entry.dir.display().to_string(),
            kind: if perf_tests.is_some() {
                KIND_PERF_TEST
            } else {
                KIND_PIPELINE
            },
            perf_tests,
            resumed: record.summary.resumptions.len(),
            stalled_step: stalled(record, entry.state, now).map(|(step, _)| step),
            stalled_seconds: stalled(record, entry.state, now).map(|(_, secs)| secs),
        }
    }
}

/// The stalled step of a live run and the seconds since its last sign of
/// life; stale stall marks of a run no longer running are ignored.
pub(crate) fn stalled(
    record: &PipelineRunRecord,
    state: RunState,
    now: Timestamp,
) -> Option<(&str, f64)> {
    let stall = record.summary.stalled.as_ref()?;
    let running = record
        .step(&stall.step_id)
        .is_some_and(|s| s.status == StepStatus::Running);
    (state == RunState::Running && running).then(|| {
        (
            stall.step_id.as_str(),
            now.seconds_since(stall.since).max(0.0),
        )
    })
}

/// `stalled for 12m`.
pub(crate) fn stalled_for(seconds: f64) -> String {
    format!("stalled for {}", telemetry_model::format_eta(seconds))
}

pub(crate) fn completed_steps(record: &PipelineRunRecord) -> usize {
    record
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .count()
}

/// The step worth naming: running, else the failed step of a run that did
/// not complete (a completed run's failed step was allowed to fail:
/// `continue_on_error`), else the last completed.
pub(crate) fn focus_step(record: &PipelineRunRecord) -> Option<&StepExecutionEntry> {
    let failed = || {
        (record.status != telemetry_model::RunStatus::Completed)
            .then(|| record.steps.iter().find(|s| s.status == StepStatus::Failed))
            .flatten()
    };
    record
        .running_step()
        .or_else(failed)
        .or_else(|| record.last_completed_step())
}

/// The samples of `run_dir/telemetry.jsonl` (none if there is no such
/// file), and warnings for damaged lines.
pub(crate) fn read_telemetry(
    run_dir: &std::path::Path,
) -> manifest::Result<(Vec<TelemetrySnapshot>, Vec<ReadWarning>)> {
    let path = run_dir.join(manifest::files::TELEMETRY);
    let mut samples = Vec::new();
    if !path.is_file() {
        return Ok((samples, Vec::new()));
    }
    let warnings = manifest::read_jsonl(&path, |_, s| samples.push(s))?;
    Ok((samples, warnings))
}

/// The whole run: `show --format json` and `export --format json`.
#[derive(Debug, Serialize)]
pub(crate) struct RunDocument<'a> {
    pub output_version: u32,
    pub run_id: &'a str,
    pub status: RunState,
    pub path: &'a str,
    pub artifact_dir: String,
    pub duration_seconds: Option<f64>,
    pub record: &'a PipelineRunRecord,
    pub recommendations: &'a [PerformanceRecommendation],
    pub perf_tests: &'a [PerformanceTestResult],
    /// Every telemetry sample (`export --format json` only; `show` leaves
    /// it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<&'a [TelemetrySnapshot]>,
    /// How far the run is mirrored to each MLflow tracking server
    /// (`mlflow.json`; empty if it never was).
    pub mlflow: Vec<mlflow_mirror::MirrorState>,
    pub warnings: Vec<String>,
}

/// A run as `show`/`export` read it: the listing entry plus the whole manifest.
#[derive(Debug)]
pub(crate) struct RunView {
    pub entry: RunEntry,
    pub contents: ManifestContents,
}

/// Makes `entry` describe `record`, a newer read of its manifest: a run
/// that has finished meanwhile is listed by its final status.
pub(crate) fn follow(entry: &mut manifest::RunEntry, record: &PipelineRunRecord) {
    entry.record = record.clone();
    if record.status.is_terminal() {
        entry.state = manifest::RunState::derive(record.status, manifest::LockState::Free);
    }
}

impl RunView {
    /// The freshest record: the full read's (it may have seen a record
    /// appended after the listing), else the listing's.
    pub(crate) fn record(&self) -> &PipelineRunRecord {
        self.contents.record.as_ref().unwrap_or(&self.entry.record)
    }

    /// Reads the manifest again (a live run moved on); the listing's record
    /// follows the full read's, so durations and states agree with it.
    pub(crate) fn reload(&mut self) -> manifest::Result<()> {
        let contents = manifest::read_manifest(&self.entry.manifest_path())?;
        if let Some(record) = &contents.record {
            follow(&mut self.entry, record);
        }
        self.contents = contents;
        Ok(())
    }

    pub(crate) fn warnings(&self) -> &[ReadWarning] {
        &self.contents.warnings
    }

    /// The run's telemetry samples in file order (none if it has no
    /// `telemetry.jsonl`), and warnings for damaged lines.
    pub(crate) fn telemetry(&self) -> manifest::Result<(Vec<TelemetrySnapshot>, Vec<ReadWarning>)> {
        read_telemetry(&self.entry.dir)
    }

    pub(crate) fn document(&self, now: Timestamp) -> RunDocument<'_> {
        let mut warnings: Vec<String> = self.warnings().iter().map(ToString::to_string).collect();
        let mlflow = match mlflow_mirror::MirrorFile::read(&self.entry.dir) {
            Ok(file) => file.mirrors,
            Err(e) => {
                warnings.push(e.to_string());
                Vec::new()
            }
        };
        RunDocument {
            output_version: OUTPUT_VERSION,
            run_id: &self.record().run_id,
            status: self.entry.state,
            path: &self.entry.rel_path,
            artifact_dir: self.entry.dir.display().to_string(),
            duration_seconds: self.entry.duration_seconds(now),
            record: self.record(),
            recommendations: &self.contents.recommendations,
            perf_tests: &self.contents.perf_tests,
            telemetry: None,
            mlflow,
            warnings,
        }
    }
}
