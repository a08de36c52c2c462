//! `tracker show` (alias `summary`): one run in full.

use std::fmt::Write as _;
use std::io::Write;

use manifest::RunState;
use perf_gate::{ResultsDoc, format_throughput};
use telemetry_model::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, ResourceSummary,
    Timestamp, format_eta,
};

use crate::cli::{ShowArgs, ShowFormat};
use crate::commands::{Context, load_run, print_warnings};
use crate::exit::Outcome;
use crate::render::{Align, Table, clean, duration_cell, opt_cell, time_cell};
use crate::view::{RunView, completed_steps, focus_step};

pub(crate) fn run(
    ctx: &Context,
    args: &ShowArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    match args.format {
        ShowFormat::Human => out.write_all(human(&view, ctx.now).as_bytes())?,
        ShowFormat::Markdown => {
            let links = crate::commands::export::artifact_links(&view, None);
            out.write_all(markdown(&view, ctx.now, links).as_bytes())?;
        }
        ShowFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &view.document(ctx.now))?;
            writeln!(out)?;
        }
    }
    Ok(Outcome::Success)
}

/// `completed`, or `abandoned (recorded running: its writer died after step 2/5 …)`.
fn state_line(view: &RunView) -> String {
    if view.entry.state != RunState::Abandoned {
        return view.entry.state.to_string();
    }
    report::abandoned_status(view.record())
}

/// Key/value header lines shared by the text and Markdown forms.
fn header_fields(view: &RunView, now: Timestamp) -> Vec<(&'static str, String)> {
    let record = view.record();
    let mut fields = vec![
        ("status", state_line(view)),
        ("pipeline", opt_cell(record.pipeline.as_deref())),
        (
            "created",
            format!("{} UTC", time_cell(Some(record.created_at))),
        ),
        (
            "completed",
            record
                .completed_at
                .map_or_else(|| "-".to_owned(), |t| format!("{} UTC", time_cell(Some(t)))),
        ),
        ("duration", duration_cell(view.entry.duration_seconds(now))),
        (
            "steps",
            format!(
                "{}/{} completed",
                completed_steps(record),
                record.counted_steps().count()
            ),
        ),
    ];
    if let Some(step) = focus_step(record).filter(|_| !view.entry.state.is_finished()) {
        fields.push(("current step", clean(step.label())));
    }
    if let Some(line) = report::resumed_line(record) {
        fields.push(("resumed", clean(&line)));
    }
    if let Some(perf) = record.summary.perf_tests.clone() {
        let against = perf
            .baselines
            .as_deref()
            .map(|b| format!(" against {}", clean(b)))
            .unwrap_or_default();
        let verdict = perf.describe_run(view.entry.state.is_finished());
        fields.push(("perf tests", format!("{verdict}{against}")));
    }
    fields.extend([
        ("scenario", opt_cell(record.scenario_config_path.as_deref())),
        ("initiator", opt_cell(record.initiator.as_deref())),
        (
            "host",
            match (record.host.as_deref(), record.pid) {
                (Some(host), Some(pid)) => format!("{} (pid {pid})", clean(host)),
                (host, _) => opt_cell(host),
            },
        ),
        ("directory", view.entry.dir.display().to_string()),
    ]);
    for line in mlflow_mirror::describe(&view.entry.dir) {
        fields.push(("mlflow", clean(&line)));
    }
    fields
}

fn steps_table(record: &PipelineRunRecord) -> Table {
    let mut table = Table::new(&[
        ("#", Align::Right),
        ("STEP", Align::Left),
        ("STATUS", Align::Left),
        ("STARTED (UTC)", Align::Left),
        ("DURATION", Align::Right),
        ("ETA AT START", Align::Right),
        ("EXIT", Align::Right),
        ("ARTIFACTS", Align::Left),
    ]);
    for step in &record.steps {
        table.row(vec![
            if step.order == 0 {
                "-".to_owned()
            } else {
                step.order.to_string()
            },
            clean(step.label()),
            step.status.to_string(),
            time_cell(step.started_at),
            duration_cell(step.duration_seconds),
            step.eta_snapshot_seconds
                .map_or_else(|| "-".to_owned(), format_eta),
            step.exit_code
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            if step.artifacts.is_empty() {
                "-".to_owned()
            } else {
                clean(&step.artifacts.join(", "))
            },
        ]);
    }
    table
}

/// The perf tests of a run, with the unit and ratios from
/// `perf_test_results.json` where the run directory has it.
fn perf_table(results: &[PerformanceTestResult], details: Option<&ResultsDoc>) -> Table {
    let mut table = Table::new(&[
        ("TEST", Align::Left),
        ("STATUS", Align::Left),
        ("MEASURED", Align::Right),
        ("BASELINE", Align::Right),
        ("UNIT", Align::Left),
        ("RATIO", Align::Right),
        ("SOFT/HARD", Align::Left),
        ("DURATION", Align::Right),
    ]);
    let num = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format_throughput);
    for r in results {
        let detail = details.and_then(|d| d.results.iter().find(|o| o.result.test_id == r.test_id));
        let ratio = match (r.throughput_measured, r.throughput_baseline) {
            (Some(m), Some(b)) if b > 0.0 => format!("{:.2}", m / b),
            (_, None) => "no baseline".to_owned(),
            _ => "-".to_owned(),
        };
        table.row(vec![
            clean(&r.test_id),
            r.status.to_string(),
            num(r.throughput_measured),
            num(r.throughput_baseline),
            detail.map_or_else(|| "-".to_owned(), |d| clean(&d.unit)),
            ratio,
            detail.and_then(|d| d.tolerance).map_or_else(
                || "-".to_owned(),
                |t| format!("{:.2}/{:.2}", t.soft_ratio, t.hard_ratio),
            ),
            duration_cell(r.duration_seconds),
        ]);
    }
    table
}

/// Per-step aggregates from `summary.resources` (the `recommend` crate's
/// resource summary), with the CPU seconds and peak RSS recorded on the steps.
pub(crate) fn resources_table(record: &PipelineRunRecord, resources: &ResourceSummary) -> Table {
    let mut table = Table::new(&[
        ("STEP", Align::Left),
        ("CPU S", Align::Right),
        // A share of the whole machine (100 = every core busy), as in the
        // samples; the header says so.
        ("CPU % OF MACHINE AVG/MAX", Align::Right),
        ("PEAK RSS MB", Align::Right),
        ("GPU % MAX", Align::Right),
        ("ITEMS/S", Align::Right),
        ("BASELINE", Align::Left),
    ]);
    let number = |x: Option<f64>, digits: usize| {
        x.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
    };
    for step in record.counted_steps() {
        let r = resources.steps.iter().find(|s| s.step_id == step.step_id);
        let aggregate = r.map(|r| &r.resources);
        table.row(vec![
            clean(step.label()),
            number(step.cpu_time_seconds, 1),
            format!(
                "{}/{}",
                number(aggregate.and_then(|a| a.cpu_percent_avg), 0),
                number(aggregate.and_then(|a| a.cpu_percent_max), 0)
            ),
            number(
                step.peak_rss_mb
                    .or_else(|| aggregate.and_then(|a| a.memory_rss_peak_mb)),
                0,
            ),
            number(aggregate.and_then(|a| a.gpu_util_percent_max), 0),
            // As the live progress line writes it (`517k`).
            aggregate
                .and_then(|a| a.steps_per_sec_mean)
                .map_or_else(|| "-".to_owned(), progress::render::format_quantity),
            r.map_or_else(|| "-".to_owned(), |r| r.baseline_status.to_string()),
        ]);
    }
    table
}

fn recommendation_lines(recs: &[PerformanceRecommendation]) -> String {
    let mut out = String::new();
    for rec in recs {
        let _ = writeln!(
            out,
            "  [{}] {}: {}",
            rec.severity,
            clean(&rec.trigger),
            clean(&rec.message)
        );
        for action in &rec.suggested_actions {
            let _ = writeln!(out, "      → {}", clean(action));
        }
    }
    out
}

/// One line per notification: `failed → webhook HOST: sent (1 try)`, and
/// why it failed.
fn notification_lines(notes: &[telemetry_model::NotificationRecord]) -> String {
    let mut out = String::new();
    for note in notes {
        let step = note
            .step_id
            .as_deref()
            .map(|s| format!(" (step {})", clean(s)))
            .unwrap_or_default();
        let tries = match note.attempts {
            0 => String::new(),
            1 => " (1 try)".to_owned(),
            n => format!(" ({n} tries)"),
        };
        let why = note
            .reason
            .as_deref()
            .map(|r| format!(": {}", clean(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}{step} → {}: {}{tries}{why}",
            note.event,
            clean(&note.target),
            note.outcome
        );
    }
    out
}

/// The text form: header, steps, recommendations, notifications, perf tests.
pub(crate) fn human(view: &RunView, now: Timestamp) -> String {
    let record = view.record();
    let mut out = String::new();
    let _ = writeln!(out, "Run {}", clean(&record.run_id));
    let fields = header_fields(view, now);
    let key_width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in &fields {
        let _ = writeln!(out, "  {key:<key_width$}  {value}");
    }
    if !record.steps.is_empty() {
        out.push('\n');
        out.push_str(&steps_table(record).to_text());
    }
    if let Some(resources) = &record.summary.resources {
        out.push_str("\nResources\n");
        out.push_str(&resources_table(record, resources).to_text());
        for note in &resources.overall.notes {
            let _ = writeln!(out, "  unavailable: {}", clean(note));
        }
    }
    let recs = &view.contents.recommendations;
    if !recs.is_empty() {
        let _ = write!(out, "\nRecommendations ({})\n", recs.len());
        out.push_str(&recommendation_lines(recs));
    }
    let notes = &record.summary.notifications;
    if !notes.is_empty() {
        let _ = write!(out, "\nNotifications ({})\n", notes.len());
        out.push_str(&notification_lines(notes));
    }
    if let Some((step, secs)) = crate::view::stalled(record, view.entry.state, now) {
        let _ = writeln!(
            out,
            "\nStep {} is {} (no progress, output or CPU)",
            clean(step),
            crate::view::stalled_for(secs)
        );
    }
    let perf = &view.contents.perf_tests;
    if !perf.is_empty() {
        let _ = write!(out, "\nPerformance tests ({})\n", perf.len());
        let details = ResultsDoc::read(&view.entry.dir);
        out.push_str(&perf_table(perf, details.as_ref()).to_text());
    }
    out
}

/// The Markdown form (also `export --format markdown`): the run's one
/// Markdown rendering, as `summary.md` has it.
pub(crate) fn markdown(view: &RunView, now: Timestamp, links: report::ArtifactLinks) -> String {
    let mut input = report::ReportInput::new(view.record());
    input.recommendations = &view.contents.recommendations;
    input.perf_tests = &view.contents.perf_tests;
    input.abandoned = view.entry.state == RunState::Abandoned;
    input.now = Some(now);
    input.links = links;
    input.run_dir = Some(view.entry.dir.clone());
    report::render_markdown(&input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_table_says_whose_cpu_and_writes_rates_as_the_live_line() {
        let mut record = PipelineRunRecord::new("r");
        let mut step = telemetry_model::StepExecutionEntry::new("pretrain", "Pre-train", 1);
        step.cpu_time_seconds = Some(12.34);
        record.steps.push(step);
        let resources: ResourceSummary = serde_json::from_value(serde_json::json!({
            "overall": {"samples": 0, "notes": []},
            "steps": [{
                "step_id": "pretrain",
                "samples": 10,
                "notes": [],
                "cpu_percent_avg": 48.2,
                "cpu_percent_max": 50.0,
                "steps_per_sec_mean": 562_166.1,
                "baseline_status": "no baseline",
            }],
            "baseline_status": "no baseline",
        }))
        .unwrap();
        let text = resources_table(&record, &resources).to_text();
        let mut lines = text.lines();
        assert!(
            lines.next().unwrap().contains("CPU % OF MACHINE AVG/MAX"),
            "{text}"
        );
        let row = lines.next().unwrap();
        assert!(row.contains(" 48/50 "), "{row}");
        assert!(row.contains(" 562k "), "{row}");
        assert!(!row.contains("562166"), "{row}");
    }
}
