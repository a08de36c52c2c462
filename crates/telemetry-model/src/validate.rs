//! Checks of the data-model rules that types alone cannot express.

use std::fmt;

use crate::record::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, TelemetrySnapshot,
};
use crate::status::{RunStatus, StepStatus};

/// One broken rule: where (a JSON-path-like location) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Location in the record, e.g. `steps[2].duration_seconds`.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation {
            path: path.into(),
            message: message.into(),
        });
    }

    fn non_negative(&mut self, path: impl Into<String>, value: Option<f64>) {
        if let Some(v) = value
            && !(v.is_finite() && v >= 0.0)
        {
            self.push(path, format!("must be a finite number ≥ 0, got {v}"));
        }
    }

    fn percent(&mut self, path: &str, value: Option<f64>) {
        if let Some(v) = value
            && !(0.0..=100.0).contains(&v)
        {
            self.push(path, format!("must be a percentage in [0, 100], got {v}"));
        }
    }
}

/// Checks a run record: step order contiguous (1..=n over the steps that are
/// not skipped), durations ≥ 0, a finished step has `ended_at` not before
/// `started_at`, a terminal run has `completed_at`.
///
/// ```
/// use telemetry_model::{validate_record, PipelineRunRecord, StepExecutionEntry};
/// let mut record = PipelineRunRecord::new("run-1");
/// record.steps.push(StepExecutionEntry::new("a", "A", 1));
/// record.steps.push(StepExecutionEntry::new("b", "B", 3));
/// let problems = validate_record(&record);
/// assert_eq!(problems[0].path, "steps[1].order");
/// ```
pub fn validate_record(record: &PipelineRunRecord) -> Vec<Violation> {
    let mut v = Violations::default();
    if record.run_id.is_empty() {
        v.push("run_id", "must not be empty");
    }
    if record.status.is_terminal() && record.completed_at.is_none() {
        v.push(
            "completed_at",
            format!("must be set when status is {}", record.status),
        );
    }
    if let Some(done) = record.completed_at
        && done < record.created_at
    {
        v.push("completed_at", "is before created_at");
    }
    v.non_negative("summary.total_duration", record.summary.total_duration);

    let mut expected_order = 1;
    for (i, step) in record.steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{i}].{field}");
        if step.status != StepStatus::Skipped {
            if step.order != expected_order {
                v.push(
                    at("order"),
                    format!(
                        "expected {expected_order} (contiguous from 1), got {}",
                        step.order
                    ),
                );
            }
            expected_order += 1;
        }
        v.non_negative(at("duration_seconds"), step.duration_seconds);
        v.non_negative(at("eta_snapshot_seconds"), step.eta_snapshot_seconds);
        v.non_negative(at("cpu_time_seconds"), step.cpu_time_seconds);
        v.non_negative(at("peak_rss_mb"), step.peak_rss_mb);
        let finished = matches!(step.status, StepStatus::Completed | StepStatus::Failed);
        if finished && step.ended_at.is_none() {
            v.push(
                at("ended_at"),
                format!("must be set when status is {}", step.status),
            );
        }
        if matches!(step.status, StepStatus::Running | StepStatus::Completed)
            && step.started_at.is_none()
        {
            v.push(
                at("started_at"),
                format!("must be set when status is {}", step.status),
            );
        }
        if let (Some(start), Some(end)) = (step.started_at, step.ended_at)
            && end < start
        {
            v.push(at("ended_at"), "is before started_at");
        }
    }
    if record.status == RunStatus::Completed
        && let Some((i, step)) = record
            .steps
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s.status, StepStatus::Running | StepStatus::Pending))
    {
        v.push(
            format!("steps[{i}].status"),
            format!("is {} in a completed run", step.status),
        );
    }
    v.0
}

/// Checks a telemetry sample: percentages in [0, 100], sizes and rates ≥ 0.
pub fn validate_snapshot(snapshot: &TelemetrySnapshot) -> Vec<Violation> {
    let mut v = Violations::default();
    v.percent("cpu_percent_process", snapshot.cpu_percent_process);
    v.percent("cpu_percent_system", snapshot.cpu_percent_system);
    v.percent("gpu_util_percent", snapshot.gpu_util_percent);
    v.non_negative("memory_rss_mb", snapshot.memory_rss_mb);
    v.non_negative("memory_system_used_mb", snapshot.memory_system_used_mb);
    v.non_negative("memory_system_total_mb", snapshot.memory_system_total_mb);
    v.non_negative("gpu_mem_used_mb", snapshot.gpu_mem_used_mb);
    v.non_negative("steps_per_sec", snapshot.steps_per_sec);
    v.non_negative("fps", snapshot.fps);
    v.0
}

/// Checks a recommendation: a message and at least one suggested action.
pub fn validate_recommendation(rec: &PerformanceRecommendation) -> Vec<Violation> {
    let mut v = Violations::default();
    if rec.trigger.is_empty() {
        v.push("trigger", "must not be empty");
    }
    if rec.message.is_empty() {
        v.push("message", "must not be empty");
    }
    if rec.suggested_actions.is_empty() {
        v.push("suggested_actions", "must hold at least one action");
    }
    v.0
}

/// Checks a perf test result: throughputs and duration ≥ 0.
pub fn validate_perf_result(result: &PerformanceTestResult) -> Vec<Violation> {
    let mut v = Violations::default();
    if result.test_id.is_empty() {
        v.push("test_id", "must not be empty");
    }
    v.non_negative("throughput_baseline", result.throughput_baseline);
    v.non_negative("throughput_measured", result.throughput_measured);
    v.non_negative("duration_seconds", result.duration_seconds);
    v.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StepExecutionEntry, Timestamp};

    fn done_step(id: &str, order: u32, secs: f64) -> StepExecutionEntry {
        let start = Timestamp::from_unix_ms(1_000_000);
        let mut s = StepExecutionEntry::new(id, id, order);
        s.status = StepStatus::Completed;
        s.started_at = Some(start);
        s.ended_at = Some(Timestamp::from_unix_ms(1_000_000 + (secs * 1000.0) as i64));
        s.duration_seconds = Some(secs);
        s
    }

    #[test]
    fn a_good_record_has_no_violations() {
        let mut r = PipelineRunRecord::new("r");
        r.created_at = Timestamp::from_unix_ms(0);
        r.steps = vec![done_step("a", 1, 1.0), done_step("b", 2, 2.0)];
        let mut skipped = StepExecutionEntry::new("c", "c", 0);
        skipped.status = StepStatus::Skipped;
        r.steps.push(skipped);
        r.status = RunStatus::Completed;
        r.completed_at = Some(Timestamp::from_unix_ms(5_000_000));
        assert_eq!(validate_record(&r), vec![]);
    }

    #[test]
    fn each_rule_fires() {
        let mut r = PipelineRunRecord::new("r");
        r.status = RunStatus::Completed;
        let mut neg = done_step("a", 1, 1.0);
        neg.duration_seconds = Some(-1.0);
        let mut no_end = done_step("b", 3, 1.0);
        no_end.ended_at = None;
        let mut backwards = done_step("c", 4, 1.0);
        backwards.ended_at = Some(Timestamp::from_unix_ms(0));
        let mut running = StepExecutionEntry::new("d", "d", 5);
        running.status = StepStatus::Running;
        r.steps = vec![neg, no_end, backwards, running];
        let paths: Vec<String> = validate_record(&r).into_iter().map(|v| v.path).collect();
        assert_eq!(
            paths,
            [
                "completed_at",
                "steps[0].duration_seconds",
                "steps[1].order",
                "steps[1].ended_at",
                "steps[2].order",
                "steps[2].ended_at",
                "steps[3].order",
                "steps[3].started_at",
                "steps[3].status",
            ]
        );
    }

    #[test]
    fn snapshot_percentages_in_range() {
        let mut s = TelemetrySnapshot {
            cpu_percent_process: Some(100.0),
            cpu_percent_system: Some(0.0),
            ..TelemetrySnapshot::default()
        };
        assert!(validate_snapshot(&s).is_empty());
        s.cpu_percent_process = Some(180.0);
        s.gpu_util_percent = Some(-1.0);
        s.fps = Some(f64::NAN);
        let paths: Vec<String> = validate_snapshot(&s).into_iter().map(|v| v.path).collect();
        assert_eq!(paths, ["cpu_percent_process", "gpu_util_percent", "fps"]);
    }

    #[test]
    fn recommendation_needs_an_action() {
        let rec = PerformanceRecommendation {
            trigger: "cpu_saturation".into(),
            severity: crate::Severity::Warning,
            message: "CPU saturated".into(),
            evidence: Default::default(),
            suggested_actions: vec![],
            timestamp_ms: 0,
        };
        assert_eq!(validate_recommendation(&rec)[0].path, "suggested_actions");
    }
}
