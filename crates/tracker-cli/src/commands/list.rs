//! `tracker list`.

use std::io::Write;

use manifest::{Query, list_runs};

use crate::cli::{ListArgs, ListFormat};
use crate::commands::{Context, print_warnings};
use crate::exit::Outcome;
use crate::render::{Align, Table, duration_cell, opt_cell, time_cell};
use crate::view::ListEntry;

pub(crate) fn run(
    ctx: &Context,
    args: &ListArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let query = Query {
        limit: (args.limit > 0).then_some(args.limit),
        state: args.status.map(Into::into),
        since: args.since,
        until: args.until,
        scenario: args.scenario.clone(),
    };
    let listing = list_runs(&ctx.root, &query)?;
    print_warnings(err, &listing.warnings)?;
    let entries: Vec<ListEntry<'_>> = listing
        .runs
        .iter()
        .map(|run| ListEntry::new(run, ctx.now))
        .collect();
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &entries)?;
            writeln!(out)?;
        }
        ListFormat::Table | ListFormat::Markdown => {
            let table = table(&entries);
            if args.format == ListFormat::Markdown {
                out.write_all(table.to_markdown().as_bytes())?;
            } else if entries.is_empty() {
                writeln!(err, "no runs under {}", ctx.root.runs_dir().display())?;
                writeln!(err, "hint: {}", ctx.root_hint())?;
            } else {
                out.write_all(table.to_text().as_bytes())?;
            }
            if listing.matched > entries.len() {
                writeln!(
                    err,
                    "showing {} of {} runs; --limit 0 shows all",
                    entries.len(),
                    listing.matched
                )?;
            }
        }
    }
    Ok(Outcome::Success)
}

fn table(entries: &[ListEntry<'_>]) -> Table {
    let mut table = Table::new(&[
        ("RUN", Align::Left),
        ("PIPELINE", Align::Left),
        ("STATUS", Align::Left),
        ("PERF TESTS", Align::Left),
        ("CREATED (UTC)", Align::Left),
        ("DURATION", Align::Right),
        ("STEPS", Align::Right),
        ("CURRENT/LAST STEP", Align::Left),
    ]);
    for e in entries {
        table.row(vec![
            opt_cell(Some(e.run_id)),
            opt_cell(e.pipeline),
            match (e.stalled_seconds, e.resumed > 0) {
                (Some(secs), _) => format!("{} ({})", e.status, crate::view::stalled_for(secs)),
                (None, true) => format!("{} (resumed)", e.status),
                (None, false) => e.status.to_string(),
            },
            e.perf_tests.as_ref().map_or_else(
                || "-".to_owned(),
                |p| p.describe_run(e.status.is_finished()),
            ),
            time_cell(Some(e.created_at)),
            duration_cell(e.duration_seconds),
            format!("{}/{}", e.steps_completed, e.steps_total),
            opt_cell(e.current_step),
        ]);
    }
    table
}
