//! `summary.json` and `summary.md`, written when a run ends or aborts.

use std::fmt::Write as _;

use manifest::{RunWriter, files};
use serde::Serialize;
use telemetry_model::{PipelineRunRecord, StepExecutionEntry, Timestamp, format_duration};

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
}

impl<'a> RunSummaryDoc<'a> {
    /// The summary of a record.
    pub fn new(record: &'a PipelineRunRecord) -> Self {
        Self {
            run_id: &record.run_id,
            pipeline: record.pipeline.as_deref(),
            status: record.status.as_str(),
            reason: record.summary.extra.get("reason").and_then(|r| r.as_str()),
            created_at: record.created_at,
            completed_at: record.completed_at,
            total_duration: record.summary.total_duration,
            steps: &record.steps,
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
            "| # | Step | Status | Duration | Exit | Artifacts |\n|---:|---|---|---:|---:|---|\n",
        );
        for s in self.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                if s.order == 0 {
                    "-".into()
                } else {
                    s.order.to_string()
                },
                s.label().replace('|', "\\|"),
                s.status,
                s.duration_seconds
                    .map_or_else(|| "-".into(), format_duration),
                s.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
                s.artifacts
                    .iter()
                    .map(|a| format!("[{0}]({0})", a.replace('|', "\\|")))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        out
    }
}

/// Writes `summary.json` and `summary.md` into the run directory, atomically.
pub(crate) fn write_summary(
    writer: &RunWriter,
    record: &PipelineRunRecord,
) -> manifest::Result<()> {
    let doc = RunSummaryDoc::new(record);
    writer.write_json(files::SUMMARY_JSON, &doc)?;
    writer.write_file(files::SUMMARY_MD, doc.to_markdown().as_bytes())
}
