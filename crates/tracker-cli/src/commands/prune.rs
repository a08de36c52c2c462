//! `tracker prune`: deletes old runs, explicitly.

use std::io::Write;

use manifest::{PipelineSel, PruneRule, PrunedRun, prune};
use serde::Serialize;

use crate::cli::{PruneArgs, PruneFormat};
use crate::commands::Context;
use crate::exit::Outcome;
use crate::render::{Align, Table, opt_cell, time_cell};

/// `tracker prune --format json`: a stable machine interface
/// (docs/cli.md).
#[derive(Serialize)]
struct PruneJson<'a> {
    /// Nothing was deleted: `deleted` lists what would have been.
    dry_run: bool,
    /// Runs deleted (or that would be), newest first.
    deleted: Vec<RunJson<'a>>,
    /// Runs the rule selects that a live writer holds: never deleted.
    kept_live: Vec<RunJson<'a>>,
}

#[derive(Serialize)]
struct RunJson<'a> {
    run_id: &'a str,
    pipeline: Option<&'a str>,
    created_at: String,
    path: String,
}

impl<'a> RunJson<'a> {
    fn of(run: &'a PrunedRun) -> Self {
        Self {
            run_id: &run.run_id,
            pipeline: run.pipeline.as_deref(),
            created_at: run.created_at.to_string(),
            path: run.dir.display().to_string(),
        }
    }
}

pub(crate) fn run(
    ctx: &Context,
    args: &PruneArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let rule = PruneRule {
        keep: args.keep,
        pipeline: args.pipeline.clone().map(PipelineSel::Named),
        older_than: args.older_than,
        dry_run: args.dry_run,
    };
    let report = prune(&ctx.root, &rule, None)?;
    if report.skipped_busy {
        anyhow::bail!(
            "another process is pruning {} right now; nothing was deleted, try again",
            ctx.root.runs_dir().display()
        );
    }
    match args.format {
        PruneFormat::Json => {
            let doc = PruneJson {
                dry_run: report.dry_run,
                deleted: report.removed.iter().map(RunJson::of).collect(),
                kept_live: report.kept_live.iter().map(RunJson::of).collect(),
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        PruneFormat::Table => {
            let action = if report.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            let mut table = Table::new(&[
                ("ACTION", Align::Left),
                ("RUN", Align::Left),
                ("PIPELINE", Align::Left),
                ("CREATED (UTC)", Align::Left),
            ]);
            let rows = report
                .removed
                .iter()
                .map(|run| (action, run))
                .chain(report.kept_live.iter().map(|run| ("kept (live)", run)));
            for (action, run) in rows {
                table.row(vec![
                    action.to_owned(),
                    run.run_id.clone(),
                    opt_cell(run.pipeline.as_deref()),
                    time_cell(Some(run.created_at)),
                ]);
            }
            if !report.removed.is_empty() || !report.kept_live.is_empty() {
                out.write_all(table.to_text().as_bytes())?;
            }
        }
    }
    match report.announcement(&rule.to_string()) {
        Some(line) => writeln!(err, "{line}")?,
        None => writeln!(
            err,
            "nothing to delete under {} ({})",
            ctx.root.runs_dir().display(),
            rule
        )?,
    }
    if !report.kept_live.is_empty() {
        writeln!(
            err,
            "kept {} live run(s) the rule selects: a live run is never deleted",
            report.kept_live.len()
        )?;
    }
    Ok(Outcome::Success)
}
