//! The parts of the page, top to bottom.

use std::fmt::Write as _;

use serde_json::Value;
use telemetry_model::{
    PerfStatus, PerformanceRecommendation, PerformanceTestResult, RunStatus, StepStatus,
    TelemetrySnapshot, format_duration,
};

use crate::ReportInput;
use crate::format::{clock, grouped, megabytes, num, time_of_day};
use crate::frame::Frame;
use crate::html::esc;
use crate::svg::{self, Chart, Series};

/// The status the report shows: `abandoned` when the caller says the
/// writer died, else the recorded one.
pub(crate) fn status_label(input: &ReportInput<'_>) -> &'static str {
    if input.abandoned && !input.record.status.is_terminal() {
        "abandoned"
    } else {
        input.record.status.as_str()
    }
}

/// Seconds the run took, or has taken so far; and whether it is still going.
fn run_seconds(input: &ReportInput<'_>, frame: &Frame) -> (Option<f64>, bool) {
    let record = input.record;
    if record.status.is_terminal() {
        let total = record
            .summary
            .total_duration
            .or_else(|| Some(record.completed_at?.seconds_since(record.created_at)))
            .filter(|d| d.is_finite() && *d >= 0.0);
        return (total, false);
    }
    let so_far = (frame.end_ms - record.created_at.unix_ms()) as f64 / 1000.0;
    (Some(so_far.max(0.0)), true)
}

fn mean_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut n, mut sum, mut max) = (0usize, 0.0, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        n += 1;
        sum += v;
        max = max.max(v);
    }
    (n > 0).then(|| (sum / n as f64, max))
}

pub(crate) fn header(
    out: &mut String,
    input: &ReportInput<'_>,
    frame: &Frame,
    timed: &[&TelemetrySnapshot],
) {
    let record = input.record;
    let status = status_label(input);
    let title = record.pipeline.as_deref().unwrap_or("Pipeline run");
    let _ = write!(
        out,
        "<header class=\"run\"><p class=\"eyebrow\">Run report</p>\
         <h1>{} <span class=\"badge st-{status}\">{status}</span></h1>\
         <p class=\"run-id\"><code>{}</code></p>",
        esc(title),
        esc(&record.run_id)
    );
    if input.abandoned && !record.status.is_terminal() {
        out.push_str(
            "<p class=\"warn\">The process writing this run stopped without recording an end \
             (killed, or the machine went down). What follows is its last recorded state.</p>",
        );
    }

    // Tiles: the figures people look for first.
    out.push_str("<div class=\"tiles\">");
    let (seconds, ongoing) = run_seconds(input, frame);
    let duration = seconds.map_or_else(|| "–".to_owned(), format_duration);
    let duration_note = match (ongoing, input.abandoned) {
        (true, true) => "until its last record",
        (true, false) => "so far",
        (false, _) => "",
    };
    tile(out, "Duration", &duration, duration_note);
    let counted: Vec<_> = record.counted_steps().collect();
    let completed = counted
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .count();
    let failed = counted
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .count();
    let steps_note = if failed > 0 {
        format!("{failed} failed")
    } else {
        "completed".to_owned()
    };
    tile(
        out,
        "Steps",
        &format!("{completed} / {}", counted.len()),
        &steps_note,
    );
    match mean_max(timed.iter().filter_map(|s| s.cpu_percent_process)) {
        Some((avg, max)) => tile(
            out,
            "CPU (tracked)",
            &format!("{} %", num(avg, 0)),
            &format!("average · peak {} %", num(max, 0)),
        ),
        None => tile(out, "CPU (tracked)", "–", "not measured"),
    }
    match mean_max(timed.iter().filter_map(|s| s.memory_rss_mb)) {
        Some((_, max)) => tile(out, "Peak memory", &megabytes(max), "resident, tracked"),
        None => tile(out, "Peak memory", "–", "not measured"),
    }
    match mean_max(timed.iter().filter_map(|s| s.gpu_util_percent)) {
        Some((avg, max)) => tile(
            out,
            "GPU",
            &format!("{} %", num(avg, 0)),
            &format!("average · peak {} %", num(max, 0)),
        ),
        None => tile(out, "GPU", "–", "not measured"),
    }
    let worst = input.recommendations.iter().map(|r| r.severity).max();
    let worst = worst.map_or_else(|| "none".to_owned(), |w| format!("worst: {w}"));
    tile(
        out,
        "Recommendations",
        &input.recommendations.len().to_string(),
        &worst,
    );
    out.push_str("</div>");

    // Facts.
    out.push_str("<dl class=\"facts\">");
    let host = match (&record.host, record.pid) {
        (Some(h), Some(p)) => format!("{h} · pid {p}"),
        (Some(h), None) => h.clone(),
        (None, Some(p)) => format!("pid {p}"),
        (None, None) => "–".to_owned(),
    };
    fact(out, "Host", &host, false);
    fact(out, "Started", &clock(record.created_at), false);
    let ended = match record.completed_at {
        Some(t) => clock(t),
        None if record.status == RunStatus::Running && !input.abandoned => {
            "still running".to_owned()
        }
        None => "–".to_owned(),
    };
    fact(out, "Ended", &ended, false);
    let samples = match timed.len() {
        0 => "none".to_owned(),
        1 => "1 sample".to_owned(),
        n => format!("{n} samples"),
    };
    fact(out, "Telemetry", &samples, false);
    if let Some(cmd) = &record.initiator {
        fact(out, "Command", cmd, true);
    }
    if let Some(config) = &record.scenario_config_path {
        fact(out, "Configuration", config, true);
    }
    if let Some(dir) = &record.artifact_dir {
        fact(out, "Run directory", dir, true);
    }
    out.push_str("</dl></header>");
}

fn tile(out: &mut String, label: &str, value: &str, note: &str) {
    let _ = writeln!(
        out,
        "<div class=\"tile\"><div class=\"tl\">{}</div><div class=\"tv\">{}</div><div class=\"tn\">{}</div></div>",
        esc(label),
        esc(value),
        esc(note)
    );
}

fn fact(out: &mut String, label: &str, value: &str, code: bool) {
    let wide = if code { " class=\"wide\"" } else { "" };
    let value = if code {
        format!("<code>{}</code>", esc(value))
    } else {
        esc(value).to_string()
    };
    let _ = writeln!(
        out,
        "<div{wide}><dt>{}</dt><dd>{value}</dd></div>",
        esc(label)
    );
}

pub(crate) fn timeline(out: &mut String, input: &ReportInput<'_>, frame: &Frame) {
    out.push_str("<section class=\"card\" id=\"timeline\"><h2>Step timeline</h2>");
    svg::gantt(out, frame, &input.record.steps);
    out.push_str(
        "<p class=\"legend\"><span class=\"key st-completed\"></span>completed\
         <span class=\"key st-failed\"></span>failed<span class=\"key st-running\"></span>running\
         <span class=\"muted\"> · pending and skipped steps have no bar</span></p></section>",
    );
}

/// Notes of the samples, each with how many samples carried it, in order
/// of first appearance.
fn note_counts(snapshots: &[TelemetrySnapshot]) -> Vec<(&str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for note in snapshots.iter().flat_map(|s| &s.notes) {
        match counts.iter_mut().find(|(n, _)| *n == note.as_str()) {
            Some((_, c)) => *c += 1,
            None => counts.push((note.as_str(), 1)),
        }
    }
    counts
}

/// The first note about a sensor whose name starts with one of `keys`
/// (`gpu: no NVIDIA driver found: GPU metrics off` for `gpu`), else
/// `fallback`.
fn reason(notes: &[(&str, usize)], keys: &[&str], fallback: &str) -> String {
    notes
        .iter()
        .find(|(note, _)| {
            let sensor = note
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            keys.iter().any(|k| sensor.starts_with(k))
        })
        .map_or_else(|| fallback.to_owned(), |(note, _)| (*note).to_owned())
}

pub(crate) fn telemetry(
    out: &mut String,
    input: &ReportInput<'_>,
    frame: &Frame,
    timed: &[&TelemetrySnapshot],
) {
    out.push_str("<section class=\"card\" id=\"telemetry\"><h2>Resources over time</h2>");
    let (Some(first), Some(last)) = (timed.first(), timed.last()) else {
        out.push_str(
            "<p class=\"muted\">No telemetry was recorded for this run: sampling was off, \
             or the run ended before the first sample.</p></section>",
        );
        return;
    };
    let mut gaps: Vec<i64> = timed
        .windows(2)
        .map(|w| w[1].timestamp_ms - w[0].timestamp_ms)
        .collect();
    gaps.sort_unstable();
    let median = gaps.get(gaps.len() / 2).copied();
    let every = median.map_or(String::new(), |m| {
        format!(", about every {} s", num(m as f64 / 1000.0, 1))
    });
    let _ = write!(
        out,
        "<p class=\"muted\">{} sample{} from {} to {}{every}. Shaded bands and dashed lines \
         mark the steps (numbered as in the timeline); lines break where a value is missing.</p>",
        timed.len(),
        if timed.len() == 1 { "" } else { "s" },
        time_of_day(telemetry_model::Timestamp::from_unix_ms(first.timestamp_ms)),
        time_of_day(telemetry_model::Timestamp::from_unix_ms(last.timestamp_ms)),
    );
    let gap_ms = median.map_or(2_000, |m| (3 * m).max(2_000));
    let notes = note_counts(input.snapshots);
    let series = |name, class, dashed, read: fn(&TelemetrySnapshot) -> Option<f64>| Series {
        name,
        class,
        dashed,
        points: timed
            .iter()
            .map(|s| (s.timestamp_ms, read(s).filter(|v| v.is_finite())))
            .collect(),
    };
    let charts = [
        Chart {
            id: "cpu",
            title: "CPU",
            unit: "% of the machine",
            fixed_max: Some(100.0),
            series: vec![
                series("tracked", "s-cpu", false, |s| s.cpu_percent_process),
                series("machine", "s-sys", false, |s| s.cpu_percent_system),
            ],
            empty_reason: reason(&notes, &["cpu"], "no CPU figures were recorded"),
        },
        Chart {
            id: "memory-rss",
            title: "Memory, tracked",
            unit: "MB resident",
            fixed_max: None,
            series: vec![series("RSS", "s-rss", false, |s| s.memory_rss_mb)],
            empty_reason: reason(&notes, &["mem", "rss"], "no memory figures were recorded"),
        },
        Chart {
            id: "memory-system",
            title: "Memory, machine",
            unit: "MB",
            fixed_max: None,
            series: vec![
                series("used", "s-used", false, |s| s.memory_system_used_mb),
                series("total", "s-total", true, |s| s.memory_system_total_mb),
            ],
            empty_reason: reason(&notes, &["mem"], "no memory figures were recorded"),
        },
        Chart {
            id: "gpu-util",
            title: "GPU utilisation",
            unit: "%",
            fixed_max: Some(100.0),
            series: vec![series("util", "s-gpu", false, |s| s.gpu_util_percent)],
            empty_reason: reason(&notes, &["gpu", "nvml"], "no GPU figures were recorded"),
        },
        Chart {
            id: "gpu-mem",
            title: "GPU memory",
            unit: "MB",
            fixed_max: None,
            series: vec![series("used", "s-gmem", false, |s| s.gpu_mem_used_mb)],
            empty_reason: reason(&notes, &["gpu", "nvml"], "no GPU figures were recorded"),
        },
        Chart {
            id: "throughput",
            title: "Throughput",
            unit: "items / s",
            fixed_max: None,
            series: vec![series("items/s", "s-sps", false, |s| s.steps_per_sec)],
            empty_reason: reason(
                &notes,
                &["steps_per_sec", "throughput"],
                if input.perf_tests.is_empty() {
                    "the steps reported no throughput while they ran"
                } else {
                    // A perf step may report its count only at its end: the
                    // gate measured it all the same.
                    "no throughput while the steps ran; the measured throughput is under \
                     Performance tests"
                },
            ),
        },
        Chart {
            id: "fps",
            title: "Frame rate",
            unit: "frames / s",
            fixed_max: None,
            series: vec![series("fps", "s-fps", false, |s| s.fps)],
            empty_reason: reason(&notes, &["fps"], "the steps reported no frame rate"),
        },
    ];
    out.push_str("<div class=\"charts\">");
    // A chart with no data whose absence a sensor note explains is left
    // out: the note is said once, under Sensors (a machine without a GPU
    // would otherwise say so on both GPU charts too).
    let explained = |chart: &Chart| {
        chart
            .series
            .iter()
            .all(|s| s.points.iter().all(|(_, v)| v.is_none()))
            && notes.iter().any(|(note, _)| *note == chart.empty_reason)
    };
    for chart in charts.iter().filter(|c| !explained(c)) {
        svg::chart(out, frame, chart, gap_ms);
    }
    out.push_str("</div></section>");
}

pub(crate) fn steps(out: &mut String, input: &ReportInput<'_>) {
    out.push_str(
        "<section class=\"card\" id=\"steps\"><h2>Steps</h2><div class=\"scroll\"><table>\
         <thead><tr><th class=\"num\">#</th><th>Step</th><th>Status</th><th>Started</th>\
         <th class=\"num\">Duration</th><th class=\"num\">CPU time</th><th class=\"num\">Peak RSS</th>\
         <th class=\"num\">Exit</th><th>Artifacts</th></tr></thead><tbody>",
    );
    if input.record.steps.is_empty() {
        out.push_str("<tr><td colspan=\"9\" class=\"muted\">No steps recorded.</td></tr>");
    }
    for step in &input.record.steps {
        let started = step.started_at.map_or_else(|| "–".to_owned(), time_of_day);
        let started_title = step.started_at.map_or_else(String::new, clock);
        let duration = match (step.duration_seconds, step.status) {
            (Some(d), _) => format_duration(d),
            (None, StepStatus::Running) => "running".to_owned(),
            _ => "–".to_owned(),
        };
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| {
            v.filter(|v| v.is_finite())
                .map_or_else(|| "–".to_owned(), f)
        };
        let cpu = opt(step.cpu_time_seconds, &|v| format!("{} s", num(v, 1)));
        let rss = opt(step.peak_rss_mb, &megabytes);
        let exit = match step.exit_code {
            Some(0) => "<td class=\"num\">0</td>".to_owned(),
            Some(code) => format!("<td class=\"num bad\">{code}</td>"),
            None => "<td class=\"num muted\">–</td>".to_owned(),
        };
        let _ = write!(
            out,
            "<tr class=\"st-{}\"><td class=\"num\">{}</td><td><div class=\"name\">{}</div><code class=\"id\">{}</code></td>\
             <td><span class=\"badge st-{}\">{}</span></td><td title=\"{}\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{exit}<td class=\"artifacts\">",
            step.status,
            step.order,
            esc(step.label()),
            esc(&step.step_id),
            step.status,
            step.status,
            esc(&started_title),
            esc(&started),
            esc(&duration),
            esc(&cpu),
            esc(&rss),
        );
        if step.artifacts.is_empty() {
            out.push_str("<span class=\"muted\">–</span>");
        }
        for artifact in &step.artifacts {
            let _ = write!(
                out,
                "<a href=\"{}\"><code>{}</code></a>",
                esc(&input.links.href(artifact)),
                esc(artifact)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table></div></section>");
}

/// "Compared with history": each completed step against the median of
/// the pipeline's earlier completed runs; left out without any.
pub(crate) fn history(out: &mut String, input: &ReportInput<'_>) {
    let rows = crate::compare::against_history(input.record, input.history);
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "<section class=\"card\" id=\"history\"><h2>Compared with history</h2>\
         <div class=\"scroll\"><table><thead><tr><th>Step</th><th class=\"num\">This run</th>\
         <th class=\"num\">Median before</th><th class=\"num\">Change</th><th>Verdict</th>\
         </tr></thead><tbody>",
    );
    for row in rows {
        let duration = |d: Option<f64>| d.map_or_else(|| "–".to_owned(), format_duration);
        let verdict = row.flag.map_or_else(
            || "<span class=\"muted\">within the noise</span>".to_owned(),
            |flag| format!("<span class=\"badge st-warning\">{}</span>", flag.as_str()),
        );
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\" title=\"{} earlier run{}\">{}</td>\
             <td class=\"num\">{}</td><td>{verdict}</td></tr>",
            esc(&row.name),
            esc(&duration(row.duration_seconds)),
            row.history_runs,
            if row.history_runs == 1 { "" } else { "s" },
            esc(&duration(row.history_median_seconds)),
            esc(&crate::compare::percent(row.change)),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn evidence_value(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| grouped(f, 3)),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn recommendations(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<section class=\"card\" id=\"recommendations\"><h2>Recommendations</h2>");
    if input.recommendations.is_empty() {
        out.push_str(
            "<p class=\"muted\">None: no rule found anything worth changing in this run.</p></section>",
        );
        return;
    }
    let mut sorted: Vec<&PerformanceRecommendation> = input.recommendations.iter().collect();
    // Most urgent first; the manifest's order within a severity.
    sorted.sort_by_key(|r| std::cmp::Reverse(r.severity));
    for rec in sorted {
        let sev = rec.severity.as_str();
        let _ = write!(
            out,
            "<article class=\"rec sev-{sev}\"><header><span class=\"badge sev-{sev}\">{sev}</span> \
             <code class=\"trigger\">{}</code>",
            esc(&rec.trigger)
        );
        if rec.timestamp_ms > 0 {
            let _ = write!(
                out,
                "<span class=\"when\">{}</span>",
                time_of_day(telemetry_model::Timestamp::from_unix_ms(rec.timestamp_ms))
            );
        }
        let _ = write!(out, "</header><p class=\"msg\">{}</p>", esc(&rec.message));
        if !rec.evidence.is_empty() {
            out.push_str("<dl class=\"evidence\">");
            for (key, value) in &rec.evidence {
                let _ = write!(
                    out,
                    "<div><dt>{}</dt><dd>{}</dd></div>",
                    esc(key),
                    esc(&evidence_value(value))
                );
            }
            out.push_str("</dl>");
        }
        if !rec.suggested_actions.is_empty() {
            out.push_str("<ul class=\"actions\">");
            for action in &rec.suggested_actions {
                let _ = write!(out, "<li>{}</li>", esc(action));
            }
            out.push_str("</ul>");
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>");
}

pub(crate) fn perf_tests(out: &mut String, input: &ReportInput<'_>) {
    if input.perf_tests.is_empty() {
        return;
    }
    out.push_str(
        "<section class=\"card\" id=\"perf-tests\"><h2>Performance tests</h2><div class=\"scroll\"><table>\
         <thead><tr><th>Test</th><th>Matrix</th><th class=\"num\">Baseline</th><th class=\"num\">Measured</th>\
         <th class=\"num\">vs baseline</th><th class=\"num\">Duration</th><th>Status</th></tr></thead><tbody>",
    );
    for test in input.perf_tests {
        perf_row(out, test);
    }
    out.push_str("</tbody></table></div></section>");
}

fn perf_row(out: &mut String, test: &PerformanceTestResult) {
    let fmt = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or_else(|| "–".to_owned(), |v| grouped(v, 2))
    };
    let ratio = match (test.throughput_measured, test.throughput_baseline) {
        (Some(m), Some(b)) if b > 0.0 && m.is_finite() => format!("{} %", num(100.0 * m / b, 1)),
        (_, None) => "no baseline".to_owned(),
        _ => "–".to_owned(),
    };
    let duration = test
        .duration_seconds
        .filter(|d| d.is_finite())
        .map_or_else(|| "–".to_owned(), format_duration);
    let status = test.status.as_str();
    let class = match test.status {
        PerfStatus::Passed => "completed",
        PerfStatus::SoftBreach => "warning",
        PerfStatus::Failed => "failed",
    };
    let _ = writeln!(
        out,
        "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td><span class=\"badge st-{class}\">{status}</span></td></tr>",
        esc(&test.test_id),
        esc(test.matrix.as_deref().unwrap_or("–")),
        fmt(test.throughput_baseline),
        fmt(test.throughput_measured),
        esc(&ratio),
        esc(&duration),
    );
}

pub(crate) fn sensors(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<section class=\"card\" id=\"sensors\"><h2>Sensors</h2>");
    let total = input.snapshots.len();
    if total == 0 {
        out.push_str(
            "<p class=\"muted\">No samples, so nothing to say about sensors.</p></section>",
        );
        return;
    }
    let notes = note_counts(input.snapshots);
    if notes.is_empty() {
        out.push_str("<p class=\"muted\">Every sensor reported in every sample.</p></section>");
        return;
    }
    out.push_str("<p>Some figures were unavailable; the samples say why:</p><ul class=\"notes\">");
    for (note, count) in notes {
        let _ = writeln!(
            out,
            "<li><code>{}</code> <span class=\"muted\">— {count} of {total} sample{}</span></li>",
            esc(note),
            if total == 1 { "" } else { "s" }
        );
    }
    out.push_str("</ul></section>");
}

pub(crate) fn footer(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<footer>Written by the run tracker from the run's manifest and telemetry");
    if let Some(now) = input.now {
        let _ = write!(out, " at {}", clock(now));
    }
    out.push_str(". One self-contained file: no scripts, nothing fetched.</footer>");
}
