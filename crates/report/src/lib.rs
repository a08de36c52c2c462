//! A self-contained HTML report of one run: one file with inline CSS and
//! inline SVG charts, no JavaScript, nothing fetched from the network; and
//! the same run as Markdown ([`render_markdown`]: `summary.md`, `tracker
//! show --format markdown`, `tracker export --format markdown`).
//!
//! The page holds the run header (id, pipeline, status, host, start, end,
//! duration, key figures), a step timeline coloured by status, charts over
//! time of CPU, memory, GPU and throughput with the step boundaries marked,
//! the step table (duration, status, CPU time, peak memory, exit code,
//! artifacts as links), the recommendations, the performance-test results
//! and the sensors that were unavailable.
//!
//! Rendering is a pure function of [`ReportInput`]: the same input gives the
//! same bytes (the current time appears only if passed in as
//! [`ReportInput::now`]). Every string taken from the run is HTML-escaped.
//! Empty telemetry, a single sample, metrics that are always `null` and
//! runs still in progress all render.
//!
//! # Example
//!
//! ```
//! use report::{render_html, ReportInput};
//! use telemetry_model::{PipelineRunRecord, StepExecutionEntry, TelemetrySnapshot};
//!
//! let mut record = PipelineRunRecord::new("run-1");
//! record.pipeline = Some("imitation-demo".into());
//! record.steps.push(StepExecutionEntry::new("collect", "Collect <expert> data", 1));
//! let samples = [TelemetrySnapshot { cpu_percent_process: Some(42.0), ..Default::default() }];
//!
//! let mut input = ReportInput::new(&record);
//! input.snapshots = &samples;
//! let html = render_html(&input);
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("Collect &lt;expert&gt; data"));
//! assert!(!html.contains("<script"));
//! ```

pub mod compare;
mod format;
mod frame;
mod html;
mod links;
mod markdown;
mod sections;
mod svg;
pub mod trend;

use telemetry_model::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, TelemetrySnapshot,
    Timestamp,
};

pub use links::{ArtifactLinks, linked_files};
pub use markdown::{abandoned_status, markdown_escape, render_markdown, resumed_line};

/// The stylesheet, inlined into every report.
const STYLE: &str = include_str!("style.css");

/// Everything a report shows, borrowed from wherever the caller read it
/// (`manifest::read_manifest` for the record, recommendations and perf
/// tests; `manifest::read_jsonl` over `telemetry.jsonl` for the samples).
///
/// Construct with [`ReportInput::new`] and set the fields that apply.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReportInput<'a> {
    /// The run's last record: header, steps, timeline.
    pub record: &'a PipelineRunRecord,
    /// Telemetry samples, in any order; samples without a timestamp are
    /// left out of the charts.
    pub snapshots: &'a [TelemetrySnapshot],
    /// The run's recommendations, in manifest order.
    pub recommendations: &'a [PerformanceRecommendation],
    /// The run's performance-test results.
    pub perf_tests: &'a [PerformanceTestResult],
    /// The run says `running` but its writer is gone (`RunState::Abandoned`
    /// in the manifest crate): shown as *abandoned*, and the timeline ends
    /// at the last thing recorded.
    pub abandoned: bool,
    /// When the report is made: the end of a live run's timeline, and a
    /// line in the footer. `None` keeps the output free of the clock.
    pub now: Option<Timestamp>,
    /// How artifact paths become links.
    pub links: ArtifactLinks,
    /// The run's directory, named in the Markdown header (else the
    /// record's `artifact_dir`).
    pub run_dir: Option<std::path::PathBuf>,
    /// Earlier completed runs of the pipeline: the HTML report's "Compared
    /// with history" section sets each step against their median.
    pub history: &'a [PipelineRunRecord],
}

impl<'a> ReportInput<'a> {
    /// A report of `record` with no telemetry, recommendations or perf tests.
    pub fn new(record: &'a PipelineRunRecord) -> Self {
        Self {
            record,
            snapshots: &[],
            recommendations: &[],
            perf_tests: &[],
            abandoned: false,
            now: None,
            links: ArtifactLinks::default(),
            run_dir: None,
            history: &[],
        }
    }
}

/// Renders the report: a complete HTML document.
pub fn render_html(input: &ReportInput<'_>) -> String {
    let timed = frame::timed_snapshots(input.snapshots);
    let frame = frame::Frame::new(input, &timed);
    let record = input.record;
    let mut out = String::with_capacity(32 * 1024 + 40 * timed.len());
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"run tracker report\">\n<title>",
    );
    out.push_str(&format!(
        "{} – {} ({})",
        html::esc(record.pipeline.as_deref().unwrap_or("run")),
        html::esc(&record.run_id),
        sections::status_label(input)
    ));
    out.push_str("</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<main>\n");
    sections::header(&mut out, input, &frame, &timed);
    out.push('\n');
    sections::timeline(&mut out, input, &frame);
    out.push('\n');
    sections::telemetry(&mut out, input, &frame, &timed);
    out.push('\n');
    sections::steps(&mut out, input);
    out.push('\n');
    sections::history(&mut out, input);
    sections::recommendations(&mut out, input);
    out.push('\n');
    sections::perf_tests(&mut out, input);
    sections::sensors(&mut out, input);
    out.push('\n');
    sections::footer(&mut out, input);
    out.push_str("\n</main>\n</body>\n</html>\n");
    out
}
