//! `summary.json` and `summary.md`, written when a run ends or aborts.
//! `summary.md` is the run's one Markdown rendering (`report::render_markdown`).

use manifest::{RunWriter, files};
use serde::Serialize;
use telemetry_model::{
    PerformanceRecommendation, PipelineRunRecord, ResourceSummary, StepExecutionEntry, Timestamp,
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
}

/// Writes `summary.json` and `summary.md` into the run directory, atomically.
pub(crate) fn write_summary(
    writer: &RunWriter,
    record: &PipelineRunRecord,
    recommendations: &[PerformanceRecommendation],
) -> manifest::Result<()> {
    let doc = RunSummaryDoc::new(record, recommendations);
    writer.write_json(files::SUMMARY_JSON, &doc)?;
    let mut input = report::ReportInput::new(record);
    input.recommendations = recommendations;
    writer.write_file(
        files::SUMMARY_MD,
        report::render_markdown(&input).as_bytes(),
    )
}
