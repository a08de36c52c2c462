//! `tracker status`: where a run is right now; `tracker watch`: the same,
//! refreshed until the run ends.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use manifest::{LockState, RunLock, RunState};
use serde::Serialize;
use telemetry_model::{
    LiveProgress, PipelineRunRecord, StepStatus, Timestamp, format_duration, format_eta,
};

use crate::cli::{StatusArgs, StatusFormat, WatchArgs};
use crate::commands::{Context, load_run, print_warnings, show};
use crate::exit::Outcome;
use crate::render::clean;
use crate::view::{RunView, completed_steps};

/// `tracker status --format json`.
#[derive(Debug, Serialize)]
struct StatusDocument<'a> {
    run_id: &'a str,
    pipeline: Option<&'a str>,
    status: RunState,
    writer_alive: bool,
    elapsed_seconds: Option<f64>,
    /// Predicted seconds until the run ends; null when not running or unknown.
    eta_seconds: Option<f64>,
    /// The band of the seconds left, with enough history.
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_range_seconds: Option<[f64; 2]>,
    steps_total: usize,
    steps_completed: usize,
    current_step: Option<CurrentStep<'a>>,
    last_completed_step: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct CurrentStep<'a> {
    step_id: &'a str,
    display_name: &'a str,
    order: u32,
    elapsed_seconds: Option<f64>,
    /// Fraction done, from the step's last progress report.
    fraction: Option<f64>,
    /// Work items per second at the last report.
    steps_per_sec: Option<f64>,
    /// The step's last progress message.
    message: Option<&'a str>,
    /// Seconds since its last sign of life, while it is stalled (no
    /// progress, output or CPU for its `stall_seconds`); else null.
    stalled_seconds: Option<f64>,
}

pub(crate) fn run(
    ctx: &Context,
    args: &StatusArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    let alive = RunLock::state(&view.entry.dir)? == LockState::Held;
    let doc = document(&view, alive, ctx.now);
    match args.format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        StatusFormat::Human => out.write_all(human(&doc).as_bytes())?,
    }
    Ok(Outcome::Success)
}

/// The running step's live view persisted by the tracker, if it is current.
fn live<'a>(record: &'a PipelineRunRecord, step_id: &str) -> Option<&'a LiveProgress> {
    record
        .summary
        .live
        .as_ref()
        .filter(|live| live.step_id == step_id)
}

fn document(view: &RunView, alive: bool, now: Timestamp) -> StatusDocument<'_> {
    let record = view.record();
    let running = record
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Running)
        .filter(|_| view.entry.state == RunState::Running);
    let live = running.and_then(|s| live(record, &s.step_id));
    // The freshest prediction: the live one, else the one shown at the step's
    // start; both counted down to now.
    let eta_seconds = running.and_then(|step| {
        let age_of = |t: Option<Timestamp>| t.map_or(0.0, |t| now.seconds_since(t).max(0.0));
        match live.and_then(|l| l.eta_seconds.map(|eta| (eta, l.updated_at))) {
            Some((eta, updated)) => Some(eta - age_of(updated)),
            None => step
                .eta_snapshot_seconds
                .map(|eta| eta - age_of(step.started_at)),
        }
        .map(|eta| eta.max(0.0))
    });
    // Its band, from the same prediction, counted down the same way.
    let eta_range_seconds = running.and_then(|step| {
        let age_of = |t: Option<Timestamp>| t.map_or(0.0, |t| now.seconds_since(t).max(0.0));
        let (range, age) = match live.filter(|l| l.eta_seconds.is_some()) {
            Some(l) => (l.eta_range_seconds, age_of(l.updated_at)),
            None => (step.eta_range_seconds, age_of(step.started_at)),
        };
        range.map(|[low, high]| [(low - age).max(0.0), (high - age).max(0.0)])
    });
    StatusDocument {
        run_id: &record.run_id,
        pipeline: record.pipeline.as_deref(),
        status: view.entry.state,
        writer_alive: alive,
        elapsed_seconds: view.entry.duration_seconds(now),
        eta_seconds,
        eta_range_seconds,
        steps_total: record.counted_steps().count(),
        steps_completed: completed_steps(record),
        current_step: running.map(|s| CurrentStep {
            step_id: &s.step_id,
            display_name: s.label(),
            order: s.order,
            elapsed_seconds: s.started_at.map(|t| now.seconds_since(t).max(0.0)),
            fraction: live.and_then(|l| l.fraction),
            steps_per_sec: live.and_then(|l| l.steps_per_sec),
            message: live.and_then(|l| l.message.as_deref()),
            stalled_seconds: crate::view::stalled(record, view.entry.state, now)
                .filter(|(id, _)| *id == s.step_id)
                .map(|(_, secs)| secs),
        }),
        last_completed_step: record.last_completed_step().map(|s| s.label()),
    }
}

fn human(doc: &StatusDocument<'_>) -> String {
    let pipeline = doc
        .pipeline
        .map(|p| format!(" ({})", clean(p)))
        .unwrap_or_default();
    let elapsed = doc
        .elapsed_seconds
        .map_or_else(|| "-".into(), format_duration);
    let writer = if doc.writer_alive {
        "writer alive"
    } else {
        "no live writer"
    };
    let eta = doc
        .eta_seconds
        .map(|e| match doc.eta_range_seconds {
            Some([low, high]) => format!(
                ", ETA {} ({}–{})",
                format_eta(e),
                format_eta(low),
                format_eta(high)
            ),
            None => format!(", ETA {}", format_eta(e)),
        })
        .unwrap_or_default();
    let mut out = format!(
        "Run {}{pipeline}: {}, {writer}, elapsed {elapsed}{eta}\n",
        clean(doc.run_id),
        doc.status
    );
    if let Some(step) = &doc.current_step {
        let step_elapsed = step
            .elapsed_seconds
            .map_or_else(|| "-".into(), format_duration);
        let fraction = step
            .fraction
            .map(|f| format!("{:.0}%, ", f * 100.0))
            .unwrap_or_default();
        let mut message = step
            .message
            .map(|m| format!(" – {}", clean(m)))
            .unwrap_or_default();
        if let Some(secs) = step.stalled_seconds {
            message.push_str(&format!(" – {}", crate::view::stalled_for(secs)));
        }
        out.push_str(&format!(
            "Step {}/{} – {} ({fraction}elapsed {step_elapsed}){message}\n",
            step.order,
            doc.steps_total,
            clean(step.display_name)
        ));
    }
    out.push_str(&format!(
        "{}/{} steps completed",
        doc.steps_completed, doc.steps_total
    ));
    match doc.last_completed_step {
        Some(last) => out.push_str(&format!("; last completed: {}\n", clean(last))),
        None => out.push('\n'),
    }
    out
}

/// `tracker watch`: prints the status every `--interval` until the run
/// ends, then the run's summary; exits 0 if it completed, 1 otherwise.
pub(crate) fn watch(
    ctx: &Context,
    args: &WatchArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let mut view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    let terminal = std::io::stdout().is_terminal();
    let mut last = String::new();
    loop {
        let now = Timestamp::now();
        let lock = RunLock::state(&view.entry.dir)?;
        view.entry.state = RunState::derive(view.record().status, lock);
        if view.entry.state.is_finished() {
            if terminal {
                write!(out, "\x1b[H\x1b[2J")?;
            }
            out.write_all(show::human(&view, now).as_bytes())?;
            out.flush()?;
            return Ok(if view.entry.state == RunState::Completed {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
        let text = human(&document(&view, lock == LockState::Held, now));
        if terminal {
            // Redraw in place on a terminal; elsewhere, print only changes.
            write!(out, "\x1b[H\x1b[2J{text}")?;
        } else if strip_times(&text) != strip_times(&last) {
            writeln!(out, "{text}")?;
        }
        out.flush()?;
        last = text;
        std::thread::sleep(Duration::from_secs_f64(args.interval));
        // A manifest briefly unreadable (being compacted) is read next time.
        let _ = view.reload();
    }
}

/// The status without its clocks, to tell real changes from time passing.
fn strip_times(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(", elapsed")
                .next()
                .unwrap_or(line)
                .split(" (")
                .next()
                .unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
