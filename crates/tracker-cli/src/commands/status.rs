//! `tracker status`: where a run is right now.

use std::io::Write;

use manifest::{LockState, RunLock, RunState};
use serde::Serialize;
use telemetry_model::{StepStatus, Timestamp, format_duration};

use crate::cli::{StatusArgs, StatusFormat};
use crate::commands::{Context, load_run, print_warnings};
use crate::exit::Outcome;
use crate::render::clean;
use crate::view::{RunStateJson, completed_steps};

/// `tracker status --format json`.
#[derive(Debug, Serialize)]
struct StatusDocument<'a> {
    run_id: &'a str,
    pipeline: Option<&'a str>,
    status: RunStateJson,
    writer_alive: bool,
    elapsed_seconds: Option<f64>,
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
}

pub(crate) fn run(
    ctx: &Context,
    args: &StatusArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    let record = view.record();
    let alive = RunLock::state(&view.entry.dir)? == LockState::Held;
    let total = record.counted_steps().count();
    let running = record
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Running)
        .filter(|_| view.entry.state == RunState::Running);
    let doc = StatusDocument {
        run_id: &record.run_id,
        pipeline: record.pipeline.as_deref(),
        status: RunStateJson(view.entry.state),
        writer_alive: alive,
        elapsed_seconds: view.entry.duration_seconds(ctx.now),
        steps_total: total,
        steps_completed: completed_steps(record),
        current_step: running.map(|s| CurrentStep {
            step_id: &s.step_id,
            display_name: s.label(),
            order: s.order,
            elapsed_seconds: s.started_at.map(|t| ctx.now.seconds_since(t).max(0.0)),
        }),
        last_completed_step: record.last_completed_step().map(|s| s.label()),
    };
    match args.format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        StatusFormat::Human => write_human(out, &doc, ctx.now)?,
    }
    Ok(Outcome::Success)
}

fn write_human(
    out: &mut dyn Write,
    doc: &StatusDocument<'_>,
    _now: Timestamp,
) -> std::io::Result<()> {
    let pipeline = doc
        .pipeline
        .map(|p| format!(" ({})", clean(p)))
        .unwrap_or_default();
    let elapsed = doc
        .elapsed_seconds
        .map(format_duration)
        .unwrap_or_else(|| "-".into());
    let writer = if doc.writer_alive {
        "writer alive"
    } else {
        "no live writer"
    };
    writeln!(
        out,
        "Run {}{pipeline}: {}, {writer}, elapsed {elapsed}",
        clean(doc.run_id),
        doc.status.0
    )?;
    if let Some(step) = &doc.current_step {
        let step_elapsed = step
            .elapsed_seconds
            .map(format_duration)
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "Step {}/{} – {} (elapsed {step_elapsed})",
            step.order,
            doc.steps_total,
            clean(step.display_name)
        )?;
    }
    write!(
        out,
        "{}/{} steps completed",
        doc.steps_completed, doc.steps_total
    )?;
    match doc.last_completed_step {
        Some(last) => writeln!(out, "; last completed: {}", clean(last)),
        None => writeln!(out),
    }
}
