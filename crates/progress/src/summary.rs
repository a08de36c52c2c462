//! `summary.json` and `summary.md`, written when a run ends or aborts.

use std::fmt::Write as _;

use manifest::{RunWriter, files};
use serde::Serialize;
use telemetry_model::{
    PerformanceRecommendation, PipelineRunRecord, ResourceSummary, StepExecutionEntry, Timestamp,
    format_duration,
};

/// `summary.json`: the run's outcome at a glance.
#[derive(Debug, Serialize)]
pub struct RunSummaryDoc<'a> {
    /// Run id.
    pub run_id: &'a str,
    /// Pipeline name.
    pub pipeline: Option<&'a str>,
    /// Final status.
    pub status: &'a str,
    /// Why it failed or was cancelled.
    pub reason: Option<&'a str>,
    /// Creation time.
    pub created_at: Timestamp,
    /// End time.
    pub completed_at: Option<Timestamp>,
    /// Seconds from creation to the end.
    pub total_duration: Option<f64>,
    /// Every step.
    pub steps: &'a [StepExecutionEntry],
    /// Resource aggregates (`summary.resources` of the record), if measured.
    pub resources: Option<&'a ResourceSummary>,
    /// Recommendations raised for the run.
    pub recommendations: &'a [PerformanceRecommendation],
    /// What the run could not write while it ran (`summary.storage_errors`
    /// of the record: a full disk), one line per kind of file.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub storage_errors: &'a [String],
}

impl<'a> RunSummaryDoc<'a> {
    /// The summary of a record and its recommendations.
    pub fn new(
        record: &'a PipelineRunRecord,
        recommendations: &'a [PerformanceRecommendation],
    ) -> Self {
        Self {
            run_id: &record.run_id,
            pipeline: record.pipeline.as_deref(),
            status: record.status.as_str(),
            reason: record.summary.reason.as_deref(),
            created_at: record.created_at,
            completed_at: record.completed_at,
            total_duration: record.summary.total_duration,
            steps: &record.steps,
            resources: record.summary.resources.as_ref(),
            recommendations,
            storage_errors: &record.summary.storage_errors,
        }
    }

    /// The Markdown form.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Run `{}`\n", self.run_id.replace('`', "'"));
        let _ = writeln!(out, "- **pipeline**: {}", self.pipeline.unwrap_or("-"));
        let _ = writeln!(out, "- **status**: {}", self.status);
        if let Some(reason) = self.reason {
            let _ = writeln!(out, "- **reason**: {reason}");
        }
        let _ = writeln!(out, "- **created**: {}", self.created_at);
        let duration = self
            .total_duration
            .map_or_else(|| "-".into(), format_duration);
        let _ = writeln!(out, "- **duration**: {duration}\n");
        out.push_str(
            "| # | Step | Status | Duration | CPU s | CPU % avg / max | Peak RSS MB | GPU % max | Items/s | Baseline | Exit | Artifacts |\n",
        );
        out.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|\n");
        // Per-step aggregates from `summary.resources`, when the run was
        // sampled.
        let resources = |step_id: &str| {
            self.resources
                .and_then(|r| r.steps.iter().find(|s| s.step_id == step_id))
        };
        let number = |x: Option<f64>, digits: usize| {
            x.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
        };
        for s in self.steps {
            let r = resources(&s.step_id);
            let order = if s.order == 0 {
                "-".to_owned()
            } else {
                s.order.to_string()
            };
            let aggregate = r.map(|r| &r.resources);
            let peak = number(
                s.peak_rss_mb
                    .or_else(|| aggregate.and_then(|a| a.memory_rss_peak_mb)),
                0,
            );
            let artifacts: Vec<String> = s
                .artifacts
                .iter()
                .map(|a| format!("[{0}]({0})", a.replace('|', "\\|")))
                .collect();
            let _ = writeln!(
                out,
                "| {order} | {} | {} | {} | {} | {} / {} | {peak} | {} | {} | {} | {} | {} |",
                s.label().replace('|', "\\|"),
                s.status,
                s.duration_seconds
                    .map_or_else(|| "-".into(), format_duration),
                s.cpu_time_seconds
                    .map_or_else(|| "-".into(), |c| format!("{c:.1}")),
                number(aggregate.and_then(|a| a.cpu_percent_avg), 0),
                number(aggregate.and_then(|a| a.cpu_percent_max), 0),
                number(aggregate.and_then(|a| a.gpu_util_percent_max), 0),
                number(aggregate.and_then(|a| a.steps_per_sec_mean), 1),
                r.map_or("-", |r| r.baseline_status.as_str()),
                s.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
                artifacts.join(", "),
            );
        }
        out.push_str("\n## Recommendations\n\n");
        if self.recommendations.is_empty() {
            out.push_str("None.\n");
        }
        for rec in self.recommendations {
            let _ = writeln!(
                out,
                "- **{}** `{}`: {}",
                rec.severity, rec.trigger, rec.message
            );
            for action in &rec.suggested_actions {
                let _ = writeln!(out, "  - {action}");
            }
        }
        let notes: &[String] = self.resources.map_or(&[], |r| &r.overall.notes);
        if !notes.is_empty() {
            out.push_str("\n## Unavailable sensors\n\n");
            for note in notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        if !self.storage_errors.is_empty() {
            out.push_str("\n## Not written\n\n");
            for line in self.storage_errors {
                let _ = writeln!(out, "- {line}");
            }
        }
        out
    }
}

/// Writes `summary.json` and `summary.md` into the run directory, atomically.
pub(crate) fn write_summary(
    writer: &RunWriter,
    record: &PipelineRunRecord,
    recommendations: &[PerformanceRecommendation],
) -> manifest::Result<()> {
    let doc = RunSummaryDoc::new(record, recommendations);
    writer.write_json(files::SUMMARY_JSON, &doc)?;
    writer.write_file(files::SUMMARY_MD, doc.to_markdown().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::{RunStatus, Severity, StepStatus};

    #[test]
    fn markdown_with_resources_recommendations_and_notes() {
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        let mut record = PipelineRunRecord::new("r-1");
        record.pipeline = Some("demo".into());
        record.created_at = at("2025-01-01T10:00:00Z");
        record.status = RunStatus::Completed;
        record.summary.total_duration = Some(130.0);
        let mut train = StepExecutionEntry::new("train", "Train | fast", 1);
        train.status = StepStatus::Completed;
        train.duration_seconds = Some(124.0);
        train.cpu_time_seconds = Some(240.5);
        train.peak_rss_mb = Some(812.4);
        train.exit_code = Some(0);
        train.artifacts = vec!["out/model.bin".into()];
        let mut skipped = StepExecutionEntry::new("eval", "Evaluate", 0);
        skipped.status = StepStatus::Skipped;
        record.steps = vec![train, skipped];
        record.summary.resources = Some(
            serde_json::from_value(serde_json::json!({
                "overall": {"samples": 0, "notes": ["gpu: NVML unavailable (no driver)"]},
                "steps": [{"step_id": "train", "samples": 120, "notes": [],
                           "cpu_percent_avg": 97.2, "cpu_percent_max": 100.0,
                           "memory_rss_peak_mb": 800.0, "gpu_util_percent_max": null,
                           "steps_per_sec_mean": 1520.25, "baseline_status": "no baseline"}],
                "baseline_status": "no baseline"
            }))
            .unwrap(),
        );
        let recs = [PerformanceRecommendation {
            trigger: "cpu_saturation".into(),
            severity: Severity::Warning,
            message: "Step 'train' kept the CPU at 97 % for 120 s.".into(),
            evidence: Default::default(),
            suggested_actions: vec!["Lower the number of workers.".into()],
            timestamp_ms: 0,
        }];
        insta::assert_snapshot!(RunSummaryDoc::new(&record, &recs).to_markdown());
    }
}
