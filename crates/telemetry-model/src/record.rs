//! The run records (docs/artifact-layout.md). Field names are a contract shared with the Python
//! tracker: do not rename them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::status::{PerfStatus, RunStatus, Severity, StepStatus};
use crate::summary::RunSummary;
use crate::timestamp::Timestamp;

/// Version of the record layout this crate writes (`schema_version`).
///
/// Records without the field (the Python tracker's) are read as version 1.
pub const SCHEMA_VERSION: u32 = 1;

fn schema_version_default() -> u32 {
    SCHEMA_VERSION
}

/// Reads `null` as the type's default, so `"steps": null` is an empty list.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Epoch milliseconds as an integer, or as a float (Python may write
/// `1735812000123.0`); `null` reads as 0.
fn epoch_ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ms {
        Int(i64),
        Float(f64),
    }
    match Option::<Ms>::deserialize(deserializer)? {
        None => Ok(0),
        Some(Ms::Int(ms)) => Ok(ms),
        Some(Ms::Float(ms)) if ms.is_finite() => Ok(ms.round() as i64),
        Some(Ms::Float(ms)) => Err(serde::de::Error::custom(format!(
            "timestamp_ms must be finite, got {ms}"
        ))),
    }
}

/// `notes` as a list, a comma-separated string (Python tracker) or null.
fn notes_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Notes {
        List(Vec<String>),
        Joined(String),
    }
    Ok(match Option::<Notes>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(Notes::List(list)) => list,
        Some(Notes::Joined(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// One run of a pipeline: the state a manifest line records.
///
/// Every record line of `manifest.jsonl` is a complete snapshot of this
/// struct; the last complete one is the run's current state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRunRecord {
    /// Layout version, [`SCHEMA_VERSION`] for records written by this crate.
    #[serde(default = "schema_version_default")]
    pub schema_version: u32,
    /// The run's identifier, also its directory name.
    pub run_id: String,
    /// Pipeline name; groups runs for history-based ETA.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// When the run was created.
    pub created_at: Timestamp,
    /// When the run reached a terminal status; `None` while it runs.
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// Status as recorded by the writer. A `running` run whose writer died
    /// is *abandoned*; that is derived by readers, never written.
    pub status: RunStatus,
    /// The command line that started the run.
    #[serde(default)]
    pub initiator: Option<String>,
    /// Host name of the writer.
    #[serde(default)]
    pub host: Option<String>,
    /// Process id of the writer.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Scenario or pipeline configuration the run used.
    #[serde(default)]
    pub scenario_config_path: Option<String>,
    /// Step ids of the enabled steps, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled_steps: Vec<String>,
    /// Directory holding the run's files.
    #[serde(default)]
    pub artifact_dir: Option<String>,
    /// Aggregates (total duration and free-form extras).
    #[serde(default, deserialize_with = "null_as_default")]
    pub summary: RunSummary,
    /// Every step, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub steps: Vec<StepExecutionEntry>,
}

impl PipelineRunRecord {
    /// A `pending` record created now with no steps.
    pub fn new(run_id: impl Into<String>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.into(),
            pipeline: None,
            created_at: Timestamp::now(),
            completed_at: None,
            status: RunStatus::Pending,
            initiator: None,
            host: None,
            pid: None,
            scenario_config_path: None,
            enabled_steps: Vec::new(),
            artifact_dir: None,
            summary: RunSummary::default(),
            steps: Vec::new(),
        }
    }

    /// The step with this id.
    pub fn step(&self, step_id: &str) -> Option<&StepExecutionEntry> {
        self.steps.iter().find(|s| s.step_id == step_id)
    }

    /// The step with this id, mutably.
    pub fn step_mut(&mut self, step_id: &str) -> Option<&mut StepExecutionEntry> {
        self.steps.iter_mut().find(|s| s.step_id == step_id)
    }

    /// Steps that count towards the total: all but skipped ones.
    pub fn counted_steps(&self) -> impl Iterator<Item = &StepExecutionEntry> {
        self.steps
            .iter()
            .filter(|s| s.status != StepStatus::Skipped)
    }

    /// The step currently running, if any.
    pub fn running_step(&self) -> Option<&StepExecutionEntry> {
        self.steps.iter().find(|s| s.status == StepStatus::Running)
    }

    /// The completed step with the highest order.
    pub fn last_completed_step(&self) -> Option<&StepExecutionEntry> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Completed)
            .max_by_key(|s| s.order)
    }

    /// Whether any timestamp in the record was read without an offset.
    pub fn has_naive_timestamps(&self) -> bool {
        let naive = |t: &Option<Timestamp>| t.is_some_and(|t| t.was_naive());
        self.created_at.was_naive()
            || naive(&self.completed_at)
            || self
                .steps
                .iter()
                .any(|s| naive(&s.started_at) || naive(&s.ended_at))
    }
}

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepExecutionEntry {
    /// Stable identifier (`collect_expert`).
    pub step_id: String,
    /// Human name (`Collect expert trajectories`).
    #[serde(default)]
    pub display_name: String,
    /// 1-based position among the enabled steps.
    #[serde(default)]
    pub order: u32,
    /// Where the step is.
    pub status: StepStatus,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When it finished.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// Wall time in seconds, ≥ 0.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// The ETA for the rest of the run shown when this step started.
    #[serde(default)]
    pub eta_snapshot_seconds: Option<f64>,
    /// The band `[low, high]` the rest of the run was expected to take when
    /// this step started (about a 10th to 90th percentile); only with enough
    /// history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_range_seconds: Option<[f64; 2]>,
    /// Files the step produced.
    #[serde(default, deserialize_with = "null_as_default")]
    pub artifacts: Vec<String>,
    /// Exit status of a wrapper step's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// CPU seconds used by a wrapper step's process tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time_seconds: Option<f64>,
    /// Peak resident memory of a wrapper step's process tree, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mb: Option<f64>,
}

impl StepExecutionEntry {
    /// A pending step.
    pub fn new(step_id: impl Into<String>, display_name: impl Into<String>, order: u32) -> Self {
        Self {
            step_id: step_id.into(),
            display_name: display_name.into(),
            order,
            status: StepStatus::Pending,
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            eta_snapshot_seconds: None,
            eta_range_seconds: None,
            artifacts: Vec::new(),
            exit_code: None,
            cpu_time_seconds: None,
            peak_rss_mb: None,
        }
    }

    /// How long the step took: its recorded `duration_seconds`, else the
    /// time between its start and end; `None` when neither is known or the
    /// figure is not a finite number of seconds of 0 or more.
    pub fn finished_duration(&self) -> Option<f64> {
        self.duration_seconds
            .or_else(|| Some(self.ended_at?.seconds_since(self.started_at?)))
            .filter(|d| d.is_finite() && *d >= 0.0)
    }

    /// The display name, or the id where the name is empty.
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() {
            &self.step_id
        } else {
            &self.display_name
        }
    }
}

/// One resource sample. `None` means the metric was unavailable; `notes`
/// says why (`gpu: no NVIDIA driver found: GPU metrics off`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySnapshot {
    /// When the sample was taken, milliseconds since the Unix epoch.
    #[serde(deserialize_with = "epoch_ms")]
    pub timestamp_ms: i64,
    /// The step running at the time.
    #[serde(default)]
    pub step_id: Option<String>,
    /// Work items per second the pipeline reported.
    #[serde(default)]
    pub steps_per_sec: Option<f64>,
    /// Frames per second the pipeline reported.
    #[serde(default)]
    pub fps: Option<f64>,
    /// CPU use of the tracked process tree, % of the whole machine (0–100).
    #[serde(default)]
    pub cpu_percent_process: Option<f64>,
    /// CPU use of the whole machine, % (0–100).
    #[serde(default)]
    pub cpu_percent_system: Option<f64>,
    /// Resident memory of the tracked process tree, MB.
    #[serde(default)]
    pub memory_rss_mb: Option<f64>,
    /// Memory in use on the machine (total − available), MB.
    #[serde(default)]
    pub memory_system_used_mb: Option<f64>,
    /// Memory of the machine, MB.
    #[serde(default)]
    pub memory_system_total_mb: Option<f64>,
    /// GPU utilisation, % (0–100).
    #[serde(default)]
    pub gpu_util_percent: Option<f64>,
    /// GPU memory used by the tracked tree (or the device), MB.
    #[serde(default)]
    pub gpu_mem_used_mb: Option<f64>,
    /// Why metrics are missing. Also read from the Python tracker's single
    /// comma-separated string.
    #[serde(default, deserialize_with = "notes_list")]
    pub notes: Vec<String>,
}

/// Advice derived by a rule from telemetry, steps, history or baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerformanceRecommendation {
    /// The rule that fired (`throughput_below_baseline`).
    pub trigger: String,
    /// How urgent it is.
    pub severity: Severity,
    /// One sentence for humans.
    pub message: String,
    /// The numbers behind it, including the threshold that fired.
    #[serde(default, deserialize_with = "null_as_default")]
    pub evidence: BTreeMap<String, Value>,
    /// At least one concrete thing to do.
    #[serde(default, deserialize_with = "null_as_default")]
    pub suggested_actions: Vec<String>,
    /// When it was raised, milliseconds since the Unix epoch.
    #[serde(default, deserialize_with = "epoch_ms")]
    pub timestamp_ms: i64,
}

/// One performance smoke test compared with its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerformanceTestResult {
    /// Scenario name.
    pub test_id: String,
    /// The configuration it ran with (scenario matrix name or path).
    #[serde(default)]
    pub matrix: Option<String>,
    /// Expected throughput; `None` when there is no baseline yet.
    #[serde(default)]
    pub throughput_baseline: Option<f64>,
    /// Measured throughput (median over repetitions).
    #[serde(default)]
    pub throughput_measured: Option<f64>,
    /// How long the measurement took.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Verdict against the baseline.
    pub status: PerfStatus,
    /// Indices of the recommendations (manifest order) this result raised.
    #[serde(default, deserialize_with = "null_as_default")]
    pub recommendations_ref: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_ms_accepts_integers_floats_and_null() {
        let snap = |ms: &str| {
            serde_json::from_str::<TelemetrySnapshot>(&format!(r#"{{"timestamp_ms": {ms}}}"#))
        };
        assert_eq!(
            snap("1735812000123").unwrap().timestamp_ms,
            1_735_812_000_123
        );
        assert_eq!(
            snap("1735812000123.0").unwrap().timestamp_ms,
            1_735_812_000_123
        );
        assert_eq!(
            snap("1735812000122.6").unwrap().timestamp_ms,
            1_735_812_000_123
        );
        assert_eq!(snap("null").unwrap().timestamp_ms, 0);
        assert!(snap("\"soon\"").is_err());
        let rec: PerformanceRecommendation = serde_json::from_str(
            r#"{"trigger": "t", "severity": "info", "message": "m", "timestamp_ms": 5.0}"#,
        )
        .unwrap();
        assert_eq!(rec.timestamp_ms, 5);
    }
}
