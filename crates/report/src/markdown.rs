//! The Markdown form of a run: `summary.md`, `tracker show --format
//! markdown` and `tracker export --format markdown` are this one document.

use std::fmt::Write as _;

use telemetry_model::{StepStatus, Timestamp, format_duration, format_eta};

use crate::ReportInput;
use crate::format::{clock, grouped, num};

/// Text made safe for Markdown, the one rule for everything a run's files
/// put into the document: the characters Markdown would read as markup
/// (`| \ ` * _ < > [ ]`) are backslash-escaped, line breaks become spaces,
/// and other control characters (a terminal's escape sequences) become
/// `?`.
///
/// ```
/// assert_eq!(report::markdown_escape("a|b_c\nd\u{1b}[1m"), "a\\|b\\_c d?\\[1m");
/// ```
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// How often a run was resumed, and what the last resumption kept:
/// `2 times, last at 2026-01-01 10:00:00 UTC after it failed (kept collect,
/// train)`; `None` for a run never resumed.
///
/// ```
/// use telemetry_model::{PipelineRunRecord, Resumption, RunStatus, Timestamp};
/// let mut record = PipelineRunRecord::new("r");
/// assert_eq!(report::resumed_line(&record), None);
/// record.summary.resumptions.push(Resumption {
///     at: Timestamp::from_unix_ms(0),
///     initiator: None,
///     host: None,
///     previous_status: RunStatus::Cancelled,
///     kept: vec!["collect".into()],
///     dropped: vec![],
/// });
/// assert_eq!(
///     report::resumed_line(&record).unwrap(),
///     "once, at 1970-01-01 00:00:00 UTC after it was cancelled (kept collect)"
/// );
/// ```
pub fn resumed_line(record: &telemetry_model::PipelineRunRecord) -> Option<String> {
    let last = record.summary.resumptions.last()?;
    let times = match record.summary.resumptions.len() {
        1 => "once, at".to_owned(),
        n => format!("{n} times, last at"),
    };
    let after = match last.previous_status {
        telemetry_model::RunStatus::Failed => "after it failed",
        telemetry_model::RunStatus::Cancelled => "after it was cancelled",
        _ => "after its writer died",
    };
    let kept = if last.kept.is_empty() {
        "nothing kept".to_owned()
    } else {
        format!("kept {}", last.kept.join(", "))
    };
    Some(format!("{times} {} {after} ({kept})", clock(last.at)))
}

/// `-` for a missing figure.
const NONE: &str = "-";

/// Renders the run as Markdown: a header list, the steps with their
/// resources, the recommendations, the performance tests, and what was
/// unavailable or not written. A pure function of `input`, as
/// [`crate::render_html`] is.
///
/// ```
/// use report::{render_markdown, ReportInput};
/// use telemetry_model::{PipelineRunRecord, StepExecutionEntry};
///
/// let mut record = PipelineRunRecord::new("run-1");
/// record.steps.push(StepExecutionEntry::new("train", "Train | fast", 1));
/// let text = render_markdown(&ReportInput::new(&record));
/// assert!(text.starts_with("# Run `run-1`\n"));
/// assert!(text.contains("| 1 | Train \\| fast | pending |"));
/// ```
pub fn render_markdown(input: &ReportInput<'_>) -> String {
    let record = input.record;
    let mut out = String::new();
    let _ = write!(
        out,
        "# Run `{}`\n\n",
        markdown_escape(&record.run_id).replace('`', "'")
    );
    for (key, value) in header(input) {
        let _ = writeln!(out, "- **{key}**: {value}");
    }
    if !record.steps.is_empty() {
        out.push_str("\n## Steps\n\n");
        steps(&mut out, input);
    }
    out.push_str("\n## Recommendations\n\n");
    if input.recommendations.is_empty() {
        out.push_str("None.\n");
    }
    for rec in input.recommendations {
        let _ = writeln!(
            out,
            "- **{}** `{}`: {}",
            rec.severity,
            rec.trigger.replace('`', "'"),
            markdown_escape(&rec.message)
        );
        for action in &rec.suggested_actions {
            let _ = writeln!(out, "  - {}", markdown_escape(action));
        }
    }
    if !input.perf_tests.is_empty() {
        out.push_str("\n## Performance tests\n\n");
        perf_tests(&mut out, input);
    }
    let notes = record
        .summary
        .resources
        .as_ref()
        .map_or(&[][..], |r| &r.overall.notes[..]);
    if !notes.is_empty() {
        out.push_str("\n## Unavailable sensors\n\n");
        for note in notes {
            let _ = writeln!(out, "- {}", markdown_escape(note));
        }
    }
    if !record.summary.storage_errors.is_empty() {
        out.push_str("\n## Not written\n\n");
        for line in &record.summary.storage_errors {
            let _ = writeln!(out, "- {}", markdown_escape(line));
        }
    }
    out
}

/// The header's key/value lines, values escaped.
fn header(input: &ReportInput<'_>) -> Vec<(&'static str, String)> {
    let record = input.record;
    let text = |v: Option<&str>| {
        v.filter(|v| !v.is_empty())
            .map_or_else(|| NONE.to_owned(), markdown_escape)
    };
    let counted = record.counted_steps().count();
    let completed = record
        .counted_steps()
        .filter(|s| s.status == StepStatus::Completed)
        .count();
    let mut fields = vec![("status", status(input))];
    if let Some(reason) = &record.summary.reason {
        fields.push(("reason", markdown_escape(reason)));
    }
    fields.extend([
        ("pipeline", text(record.pipeline.as_deref())),
        ("created", clock(record.created_at)),
        (
            "completed",
            record.completed_at.map_or_else(|| NONE.to_owned(), clock),
        ),
        (
            "duration",
            run_seconds(input).map_or_else(|| NONE.to_owned(), format_duration),
        ),
        ("steps", format!("{completed}/{counted} completed")),
    ]);
    if !record.status.is_terminal()
        && !input.abandoned
        && let Some(step) = record.running_step()
    {
        fields.push(("current step", markdown_escape(step.label())));
    }
    if let Some(line) = resumed_line(record) {
        fields.push(("resumed", markdown_escape(&line)));
    }
    if let Some(perf) = &record.summary.perf_tests {
        let finished = record.status.is_terminal() || input.abandoned;
        let against = perf
            .baselines
            .as_deref()
            .map(|b| format!(" against {}", markdown_escape(b)))
            .unwrap_or_default();
        fields.push((
            "perf tests",
            format!("{}{against}", perf.describe_run(finished)),
        ));
    }
    fields.extend([
        ("scenario", text(record.scenario_config_path.as_deref())),
        ("initiator", text(record.initiator.as_deref())),
        (
            "host",
            match (record.host.as_deref(), record.pid) {
                (Some(host), Some(pid)) => format!("{} (pid {pid})", markdown_escape(host)),
                (host, _) => text(host),
            },
        ),
    ]);
    let directory = input
        .run_dir
        .as_ref()
        .map(|d| d.display().to_string())
        .or_else(|| record.artifact_dir.clone());
    fields.push(("directory", text(directory.as_deref())));
    fields
}

/// `completed`, or `abandoned (recorded running, but its writer is gone; it
/// died after step 2/5 `train` completed)`.
fn status(input: &ReportInput<'_>) -> String {
    let record = input.record;
    if !input.abandoned || record.status.is_terminal() {
        return record.status.to_string();
    }
    abandoned_status(record)
}

/// The status of an abandoned run (recorded live, its writer gone), with
/// where it died: `abandoned (recorded running, but its writer is gone;
/// it died after step 2/5 `Pre-train` completed)`. The step's name is
/// made safe for a terminal and for Markdown code spans (control
/// characters `?`, backticks `'`); `tracker show` says the same.
pub fn abandoned_status(record: &telemetry_model::PipelineRunRecord) -> String {
    let last = record.last_completed_step().map_or_else(
        || "before any step completed".to_owned(),
        |s| {
            let label: String = s
                .label()
                .chars()
                .map(|c| match c {
                    '`' => '\'',
                    c if c.is_control() => '?',
                    c => c,
                })
                .collect();
            format!(
                "after step {}/{} `{label}` completed",
                s.order,
                record.counted_steps().count(),
            )
        },
    );
    format!(
        "abandoned (recorded {}, but its writer is gone; it died {last})",
        record.status
    )
}

/// Seconds the run took; a live run's so far (by [`ReportInput::now`]); an
/// abandoned run's until its last recorded step event.
fn run_seconds(input: &ReportInput<'_>) -> Option<f64> {
    let record = input.record;
    let end: Option<Timestamp> = if record.status.is_terminal() {
        if let Some(total) = record.summary.total_duration {
            return Some(total);
        }
        record.completed_at
    } else if input.abandoned {
        record
            .steps
            .iter()
            .filter_map(|s| s.ended_at.or(s.started_at))
            .max()
    } else {
        input.now
    };
    end.map(|end| end.seconds_since(record.created_at).max(0.0))
}

/// A figure with `digits` decimals, or `-`.
fn figure(value: Option<f64>, digits: usize) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or_else(|| NONE.to_owned(), |v| format!("{v:.digits$}"))
}

fn steps(out: &mut String, input: &ReportInput<'_>) {
    let record = input.record;
    out.push_str(
        "| # | Step | Status | Started (UTC) | Duration | ETA at start | CPU s | CPU % avg / max \
         | Peak RSS MB | GPU % max | Items/s | Baseline | Exit | Artifacts |\n\
         |---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n",
    );
    let resources = record.summary.resources.as_ref();
    for step in &record.steps {
        let summary = resources.and_then(|r| r.steps.iter().find(|s| s.step_id == step.step_id));
        let aggregate = summary.map(|s| &s.resources);
        let order = if step.order == 0 {
            NONE.to_owned()
        } else {
            step.order.to_string()
        };
        let started = step.started_at.map_or_else(
            || NONE.to_owned(),
            |t| clock(t).trim_end_matches(" UTC").to_owned(),
        );
        let artifacts: Vec<String> = step
            .artifacts
            .iter()
            .map(|a| format!("[{}]({})", markdown_escape(a), input.links.href(a)))
            .collect();
        let _ = writeln!(
            out,
            "| {order} | {} | {} | {started} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} |",
            markdown_escape(step.label()),
            step.status,
            step.duration_seconds
                .map_or_else(|| NONE.to_owned(), format_duration),
            step.eta_snapshot_seconds
                .map_or_else(|| NONE.to_owned(), format_eta),
            figure(step.cpu_time_seconds, 1),
            figure(aggregate.and_then(|a| a.cpu_percent_avg), 0),
            figure(aggregate.and_then(|a| a.cpu_percent_max), 0),
            figure(
                step.peak_rss_mb
                    .or_else(|| aggregate.and_then(|a| a.memory_rss_peak_mb)),
                0
            ),
            figure(aggregate.and_then(|a| a.gpu_util_percent_max), 0),
            figure(aggregate.and_then(|a| a.steps_per_sec_mean), 1),
            summary.map_or(NONE, |s| s.baseline_status.as_str()),
            step.exit_code
                .map_or_else(|| NONE.to_owned(), |c| c.to_string()),
            if artifacts.is_empty() {
                NONE.to_owned()
            } else {
                artifacts.join(", ")
            },
        );
    }
}

fn perf_tests(out: &mut String, input: &ReportInput<'_>) {
    out.push_str(
        "| Test | Matrix | Baseline | Measured | vs baseline | Duration | Status |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    let throughput = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or_else(|| NONE.to_owned(), |v| grouped(v, 2))
    };
    for test in input.perf_tests {
        let ratio = match (test.throughput_measured, test.throughput_baseline) {
            (Some(m), Some(b)) if b > 0.0 && m.is_finite() => {
                format!("{} %", num(100.0 * m / b, 1))
            }
            (_, None) => "no baseline".to_owned(),
            _ => NONE.to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {ratio} | {} | {} |",
            markdown_escape(&test.test_id),
            test.matrix
                .as_deref()
                .map_or_else(|| NONE.to_owned(), markdown_escape),
            throughput(test.throughput_baseline),
            throughput(test.throughput_measured),
            test.duration_seconds
                .filter(|d| d.is_finite())
                .map_or_else(|| NONE.to_owned(), format_duration),
            test.status,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::{
        PerfStatus, PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, RunStatus,
        Severity, StepExecutionEntry,
    };

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// A finished run with everything a summary can hold: resources, a
    /// recommendation, a perf test, unavailable sensors and lost writes.
    fn finished() -> PipelineRunRecord {
        let mut record = PipelineRunRecord::new("r-1");
        record.pipeline = Some("demo".into());
        record.created_at = at("2025-01-01T10:00:00Z");
        record.completed_at = Some(at("2025-01-01T10:02:10Z"));
        record.status = RunStatus::Failed;
        record.host = Some("lab-01".into());
        record.pid = Some(4242);
        record.summary.total_duration = Some(130.0);
        record.summary.reason = Some("step `eval` failed: exit status 3".into());
        record.summary.storage_errors =
            vec!["log: 2 writes failed (No space left on device)".into()];
        let mut train = StepExecutionEntry::new("train", "Train | fast_*", 1);
        train.status = StepStatus::Completed;
        train.started_at = Some(at("2025-01-01T10:00:01Z"));
        train.duration_seconds = Some(124.0);
        train.eta_snapshot_seconds = Some(150.0);
        train.cpu_time_seconds = Some(240.5);
        train.peak_rss_mb = Some(812.4);
        train.exit_code = Some(0);
        train.artifacts = vec!["out/model [v2].bin".into()];
        let mut eval = StepExecutionEntry::new("eval", "Evaluate", 2);
        eval.status = StepStatus::Failed;
        eval.exit_code = Some(3);
        let mut skipped = StepExecutionEntry::new("export", "Export", 0);
        skipped.status = StepStatus::Skipped;
        record.steps = vec![train, eval, skipped];
        record.summary.resources = Some(
            serde_json::from_value(serde_json::json!({
                "overall": {"samples": 0, "notes": ["gpu: no NVIDIA driver found: GPU metrics off"]},
                "steps": [{"step_id": "train", "samples": 120, "notes": [],
                           "cpu_percent_avg": 97.2, "cpu_percent_max": 100.0,
                           "memory_rss_peak_mb": 800.0, "gpu_util_percent_max": null,
                           "steps_per_sec_mean": 1520.25, "baseline_status": "no baseline"}],
                "baseline_status": "no baseline"
            }))
            .unwrap(),
        );
        record
    }

    #[test]
    fn a_finished_run_with_everything() {
        let record = finished();
        let recs = [PerformanceRecommendation {
            trigger: "cpu_saturation".into(),
            severity: Severity::Warning,
            message: "Step 'train' kept the CPU at 97 % for 120 s.".into(),
            evidence: Default::default(),
            suggested_actions: vec!["Lower the number of `workers`.".into()],
            timestamp_ms: 0,
        }];
        let perf = [PerformanceTestResult {
            test_id: "demo/train".into(),
            matrix: Some("pipeline.toml".into()),
            throughput_baseline: Some(1600.0),
            throughput_measured: Some(1520.25),
            duration_seconds: Some(124.0),
            status: PerfStatus::Passed,
            recommendations_ref: Vec::new(),
        }];
        let mut input = ReportInput::new(&record);
        input.recommendations = &recs;
        input.perf_tests = &perf;
        input.links.report_dir = Some("/work/output/run-tracker/r-1".into());
        input.links.base_dir = Some("/work".into());
        input.run_dir = input.links.report_dir.clone();
        insta::assert_snapshot!(render_markdown(&input));
    }

    #[test]
    fn a_live_run_counts_to_now_and_an_abandoned_one_to_its_last_record() {
        let mut record = PipelineRunRecord::new("r-2");
        record.created_at = at("2025-01-01T10:00:00Z");
        record.status = RunStatus::Running;
        let mut done = StepExecutionEntry::new("collect", "Collect", 1);
        done.status = StepStatus::Completed;
        done.started_at = Some(at("2025-01-01T10:00:01Z"));
        done.ended_at = Some(at("2025-01-01T10:00:30Z"));
        let mut running = StepExecutionEntry::new("train", "Train", 2);
        running.status = StepStatus::Running;
        running.started_at = Some(at("2025-01-01T10:00:31Z"));
        record.steps = vec![done, running];
        let mut input = ReportInput::new(&record);
        input.now = Some(at("2025-01-01T10:05:00Z"));
        let live = render_markdown(&input);
        assert!(live.contains("- **status**: running\n"), "{live}");
        assert!(live.contains("- **duration**: 5m00s\n"), "{live}");
        assert!(live.contains("- **current step**: Train\n"), "{live}");

        input.abandoned = true;
        let dead = render_markdown(&input);
        assert!(
            dead.contains(
                "- **status**: abandoned (recorded running, but its writer is gone; \
                 it died after step 1/2 `Collect` completed)\n"
            ),
            "{dead}"
        );
        assert!(dead.contains("- **duration**: 31s\n"), "{dead}");
        assert!(!dead.contains("current step"), "{dead}");
    }

    #[test]
    fn an_abandoned_status_names_its_last_step_safely() {
        let mut record = PipelineRunRecord::new("r-3");
        record.status = RunStatus::Running;
        assert_eq!(
            abandoned_status(&record),
            "abandoned (recorded running, but its writer is gone; it died before any step completed)"
        );
        let mut done = StepExecutionEntry::new("s", "a `quoted`\u{1b}[2J step", 1);
        done.status = StepStatus::Completed;
        record.steps = vec![done];
        assert_eq!(
            abandoned_status(&record),
            "abandoned (recorded running, but its writer is gone; it died after step 1/1 \
             `a 'quoted'?[2J step` completed)"
        );
    }

    #[test]
    fn text_from_the_run_cannot_break_the_document() {
        let mut record = PipelineRunRecord::new("a`b");
        record.pipeline = Some("p\n# heading | x".into());
        let mut step = StepExecutionEntry::new("s", "<b>bold</b>\u{1b}[2J", 1);
        step.artifacts = vec!["x](javascript:alert(1)".into()];
        record.steps.push(step);
        let text = render_markdown(&ReportInput::new(&record));
        assert!(text.starts_with("# Run `a\\'b`\n"), "{text}");
        assert!(
            text.contains("- **pipeline**: p # heading \\| x\n"),
            "{text}"
        );
        assert!(text.contains("| \\<b\\>bold\\</b\\>?\\[2J |"), "{text}");
        assert!(
            text.contains("[x\\](javascript:alert(1)](x%5D%28javascript%3Aalert%281%29)"),
            "{text}"
        );
    }
}
