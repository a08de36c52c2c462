//! Which scalars a run becomes: tag names and where their values come from.

use telemetry_model::{PipelineRunRecord, StepExecutionEntry, StepStatus, TelemetrySnapshot};

/// One telemetry metric and the TensorBoard tag it is written under.
#[derive(Clone, Copy, Debug)]
pub struct TelemetryTag {
    /// The tag (`cpu/process_percent`).
    pub tag: &'static str,
    /// The snapshot field it comes from (`cpu_percent_process`).
    pub field: &'static str,
    read: fn(&TelemetrySnapshot) -> Option<f64>,
}

impl TelemetryTag {
    /// The metric's value in `snapshot`: `None` when the sample has none
    /// (`null`) or it is not a finite number.
    pub fn value(&self, snapshot: &TelemetrySnapshot) -> Option<f64> {
        (self.read)(snapshot).filter(|v| v.is_finite())
    }
}

/// Every telemetry metric, in the order they are written. Plotted against
/// the sample index (0 for a run's first sample) and its wall time.
pub const TELEMETRY_TAGS: &[TelemetryTag] = &[
    TelemetryTag {
        tag: "cpu/process_percent",
        field: "cpu_percent_process",
        read: |s| s.cpu_percent_process,
    },
    TelemetryTag {
        tag: "cpu/system_percent",
        field: "cpu_percent_system",
        read: |s| s.cpu_percent_system,
    },
    TelemetryTag {
        tag: "memory/rss_mb",
        field: "memory_rss_mb",
        read: |s| s.memory_rss_mb,
    },
    TelemetryTag {
        tag: "memory/system_used_mb",
        field: "memory_system_used_mb",
        read: |s| s.memory_system_used_mb,
    },
    TelemetryTag {
        tag: "memory/system_total_mb",
        field: "memory_system_total_mb",
        read: |s| s.memory_system_total_mb,
    },
    TelemetryTag {
        tag: "gpu/util_percent",
        field: "gpu_util_percent",
        read: |s| s.gpu_util_percent,
    },
    TelemetryTag {
        tag: "gpu/mem_used_mb",
        field: "gpu_mem_used_mb",
        read: |s| s.gpu_mem_used_mb,
    },
    TelemetryTag {
        tag: "throughput/steps_per_sec",
        field: "steps_per_sec",
        read: |s| s.steps_per_sec,
    },
    TelemetryTag {
        tag: "throughput/fps",
        field: "fps",
        read: |s| s.fps,
    },
];

/// The tag of every finished step's duration, plotted against the step's
/// order: one chart comparing the steps of a run.
pub const STEPS_DURATION_TAG: &str = "steps/duration_seconds";

/// The tag of a finished run's total duration, at step 0.
pub const RUN_DURATION_TAG: &str = "run/duration_seconds";

/// The scalars of one telemetry sample: `(tag, value)` for every metric it
/// has, in [`TELEMETRY_TAGS`] order.
pub fn snapshot_scalars(snapshot: &TelemetrySnapshot) -> Vec<(&'static str, f64)> {
    TELEMETRY_TAGS
        .iter()
        .filter_map(|t| t.value(snapshot).map(|v| (t.tag, v)))
        .collect()
}

/// The wall time of a sample, in seconds since the Unix epoch.
pub fn snapshot_wall_time(snapshot: &TelemetrySnapshot) -> f64 {
    snapshot.timestamp_ms as f64 / 1000.0
}

/// The scalars of one finished step, or nothing for a step that has not
/// finished (pending, running) or was skipped:
///
/// | tag | value |
/// |---|---|
/// | `steps/<step_id>/duration_seconds` | wall time of the step |
/// | `steps/<step_id>/cpu_time_seconds` | CPU seconds of a wrapper step's tree, when recorded |
/// | `steps/<step_id>/peak_rss_mb` | peak memory of a wrapper step's tree, when recorded |
/// | `steps/duration_seconds` | the duration again, on the chart of all steps |
///
/// All are written at the step's `order` and its end time. A missing
/// `duration_seconds` is computed from `started_at` and `ended_at`.
pub fn step_scalars(step: &StepExecutionEntry) -> Vec<(String, f64)> {
    if !matches!(step.status, StepStatus::Completed | StepStatus::Failed) {
        return Vec::new();
    }
    let duration = step.finished_duration();
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    let id = &step.step_id;
    let mut out = Vec::new();
    if let Some(d) = duration {
        out.push((format!("steps/{id}/duration_seconds"), d));
    }
    if let Some(cpu) = finite(step.cpu_time_seconds) {
        out.push((format!("steps/{id}/cpu_time_seconds"), cpu));
    }
    if let Some(rss) = finite(step.peak_rss_mb) {
        out.push((format!("steps/{id}/peak_rss_mb"), rss));
    }
    if let Some(d) = duration {
        out.push((STEPS_DURATION_TAG.to_owned(), d));
    }
    out
}

/// When a step's scalars are stamped: its end, else its start plus its
/// duration, else its start; `None` without any of them.
pub fn step_wall_time(step: &StepExecutionEntry) -> Option<f64> {
    let secs = |ms: i64| ms as f64 / 1000.0;
    step.ended_at
        .map(|t| secs(t.unix_ms()))
        .or_else(|| {
            let start = secs(step.started_at?.unix_ms());
            Some(start + step.duration_seconds.filter(|d| d.is_finite())?)
        })
        .or_else(|| step.started_at.map(|t| secs(t.unix_ms())))
}

/// The total duration of a run that has ended (`summary.total_duration`,
/// else `completed_at − created_at`); `None` while it runs.
pub fn run_duration(record: &PipelineRunRecord) -> Option<f64> {
    if !record.status.is_terminal() {
        return None;
    }
    record
        .summary
        .total_duration
        .or_else(|| Some(record.completed_at?.seconds_since(record.created_at)))
        .filter(|d| d.is_finite() && *d >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::Timestamp;

    #[test]
    fn nulls_and_non_finite_values_are_skipped() {
        let snap = TelemetrySnapshot {
            cpu_percent_process: Some(12.5),
            memory_rss_mb: Some(f64::NAN),
            gpu_util_percent: Some(0.0),
            ..serde_json::from_str(r#"{"timestamp_ms": 1500}"#).unwrap()
        };
        assert_eq!(
            snapshot_scalars(&snap),
            [("cpu/process_percent", 12.5), ("gpu/util_percent", 0.0)]
        );
        assert_eq!(snapshot_wall_time(&snap), 1.5);
    }

    #[test]
    fn every_snapshot_metric_has_a_tag() {
        // A snapshot with every metric set yields one scalar per tag.
        let snap: TelemetrySnapshot = serde_json::from_str(
            r#"{"timestamp_ms": 0, "steps_per_sec": 1, "fps": 2, "cpu_percent_process": 3,
                "cpu_percent_system": 4, "memory_rss_mb": 5, "memory_system_used_mb": 6,
                "memory_system_total_mb": 7, "gpu_util_percent": 8, "gpu_mem_used_mb": 9}"#,
        )
        .unwrap();
        let values: Vec<f64> = snapshot_scalars(&snap).iter().map(|(_, v)| *v).collect();
        assert_eq!(values.len(), TELEMETRY_TAGS.len());
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    }

    #[test]
    fn only_finished_steps_have_scalars() {
        let mut step = StepExecutionEntry::new("train", "Train", 2);
        step.status = StepStatus::Running;
        step.started_at = Some(Timestamp::from_unix_ms(10_000));
        assert!(step_scalars(&step).is_empty());
        step.status = StepStatus::Completed;
        step.ended_at = Some(Timestamp::from_unix_ms(12_500));
        step.peak_rss_mb = Some(42.0);
        assert_eq!(
            step_scalars(&step),
            [
                ("steps/train/duration_seconds".to_owned(), 2.5),
                ("steps/train/peak_rss_mb".to_owned(), 42.0),
                ("steps/duration_seconds".to_owned(), 2.5),
            ]
        );
        assert_eq!(step_wall_time(&step), Some(12.5));
        step.status = StepStatus::Skipped;
        assert!(step_scalars(&step).is_empty());
    }

    #[test]
    fn run_duration_only_when_ended() {
        let mut record = PipelineRunRecord::new("r");
        record.created_at = Timestamp::from_unix_ms(0);
        assert_eq!(run_duration(&record), None);
        record.status = telemetry_model::RunStatus::Failed;
        record.completed_at = Some(Timestamp::from_unix_ms(90_000));
        assert_eq!(run_duration(&record), Some(90.0));
        record.summary.total_duration = Some(91.0);
        assert_eq!(run_duration(&record), Some(91.0));
    }
}
