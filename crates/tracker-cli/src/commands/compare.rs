//! `tracker compare RUN_A RUN_B [RUN…]`: runs side by side, step by step
//! (the comparison itself is `report::compare`).

use std::fmt::Write as _;
use std::io::Write;

use manifest::{Query, RunState, list_runs};
use report::compare::{Comparison, Delta, StepDeltas, StepFigures, percent, run_letter};
use telemetry_model::format_duration;

use crate::cli::{CompareArgs, CompareFormat};
use crate::commands::export::deliver;
use crate::commands::{Context, load_run, print_warnings};
use crate::exit::Outcome;
use crate::render::{Align, Table, clean};
use crate::view::RunView;

/// Earlier completed runs of the pipeline whose spread is the noise.
const HISTORY_RUNS: usize = 20;

pub(crate) fn run(
    ctx: &Context,
    args: &CompareArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let views: Vec<RunView> = args
        .runs
        .iter()
        .map(|arg| load_run(ctx, arg))
        .collect::<anyhow::Result<_>>()?;
    for view in &views {
        print_warnings(err, view.warnings())?;
    }
    let history = match views[0].record().pipeline.clone() {
        Some(pipeline) => {
            let query = Query {
                limit: Some(HISTORY_RUNS),
                state: Some(RunState::Completed),
                scenario: Some(pipeline),
                ..Query::default()
            };
            let listing = list_runs(&ctx.root, &query)?;
            print_warnings(err, &listing.warnings)?;
            listing.runs.into_iter().map(|e| e.record).collect()
        }
        None => Vec::new(),
    };
    let statuses: Vec<String> = views.iter().map(|v| v.entry.state.to_string()).collect();
    let runs: Vec<_> = views
        .iter()
        .zip(&statuses)
        .map(|(v, s)| (v.record(), s.as_str()))
        .collect();
    let comparison = Comparison::new(&runs, &history);
    let mut bytes = match args.format {
        CompareFormat::Table => text(&comparison, false).into_bytes(),
        CompareFormat::Markdown => text(&comparison, true).into_bytes(),
        CompareFormat::Json => serde_json::to_vec_pretty(&comparison)?,
        CompareFormat::Html => report::compare::render_comparison_html(&comparison).into_bytes(),
    };
    if args.format == CompareFormat::Json {
        bytes.push(b'\n');
    }
    deliver(&bytes, args.output.as_deref(), out, err)?;
    Ok(Outcome::Success)
}

/// The tables for a terminal, or in Markdown.
fn text(comparison: &Comparison, markdown: bool) -> String {
    let mut out = String::new();
    let heading = |out: &mut String, title: &str| {
        if markdown {
            let _ = write!(out, "\n## {title}\n\n");
        } else {
            let _ = write!(out, "\n{title}\n");
        }
    };
    let pipeline = comparison
        .runs
        .first()
        .and_then(|r| r.pipeline.as_deref())
        .unwrap_or("-");
    let noise = format!(
        "changes beyond the noise of {} earlier completed run{} flagged",
        comparison.history_runs,
        if comparison.history_runs == 1 {
            ""
        } else {
            "s"
        }
    );
    if markdown {
        let _ = write!(
            out,
            "# Comparison of {} runs of {}\n\nDeltas against run A; {noise}.\n",
            comparison.runs.len(),
            report::markdown_escape(pipeline)
        );
    } else {
        let _ = writeln!(
            out,
            "Comparing {} runs of {} (deltas against A; {noise})",
            comparison.runs.len(),
            clean(pipeline)
        );
    }
    let mut runs = Table::new(&[
        ("", Align::Left),
        ("RUN", Align::Left),
        ("STATUS", Align::Left),
        ("STARTED (UTC)", Align::Left),
        ("DURATION", Align::Right),
    ]);
    for (i, run) in comparison.runs.iter().enumerate() {
        runs.row(vec![
            run_letter(i),
            clean(&run.run_id),
            run.status.clone(),
            crate::render::time_cell(Some(run.created_at)),
            crate::render::duration_cell(run.duration_seconds),
        ]);
    }
    heading(&mut out, "Runs");
    out.push_str(&render(&runs, markdown));

    let status = |f: &StepFigures| match f.exit_code {
        Some(code) if code != 0 => format!("{} (exit {code})", f.status),
        _ => f.status.to_string(),
    };
    heading(&mut out, "Steps");
    out.push_str(&render(
        &figure_table(comparison, &|f| Some(status(f)), &|_| None, &[]),
        markdown,
    ));
    let sections: [(&str, Figure<'_>, Change<'_>, &[&str]); 4] = [
        (
            "Duration",
            &|f| f.duration_seconds.map(format_duration),
            &|d| d.duration_seconds,
            &["slower", "faster", "failed", "fixed"],
        ),
        (
            "CPU seconds",
            &|f| f.cpu_time_seconds.map(|v| format!("{v:.1}")),
            &|d| d.cpu_time_seconds,
            &[],
        ),
        (
            "Peak RSS MB",
            &|f| f.peak_rss_mb.map(|v| format!("{v:.0}")),
            &|d| d.peak_rss_mb,
            &[],
        ),
        (
            "Items/s",
            &|f| f.items_per_sec.map(progress::render::format_quantity),
            &|d| d.items_per_sec,
            &["lower throughput", "higher throughput"],
        ),
    ];
    for (title, figure, change, flags) in sections {
        heading(&mut out, title);
        out.push_str(&render(
            &figure_table(comparison, figure, change, flags),
            markdown,
        ));
    }
    out
}

/// How a step's figure is shown.
type Figure<'a> = &'a dyn Fn(&StepFigures) -> Option<String>;
/// Which delta goes with it.
type Change<'a> = &'a dyn Fn(&StepDeltas) -> Option<Delta>;

/// One row per step, one column per run: the figure, its change against
/// run A, and the flags named in `flags`.
fn figure_table(
    comparison: &Comparison,
    figure: Figure<'_>,
    change: Change<'_>,
    flags: &[&str],
) -> Table {
    let letters: Vec<String> = (0..comparison.runs.len()).map(run_letter).collect();
    let mut columns: Vec<(&str, Align)> = vec![("STEP", Align::Left)];
    columns.extend(letters.iter().map(|l| (l.as_str(), Align::Right)));
    let mut table = Table::new(&columns);
    for step in &comparison.steps {
        let mut row = vec![clean(&step.name)];
        for (i, figures) in step.runs.iter().enumerate() {
            let cell = match figures {
                None => "not in this run".to_owned(),
                Some(f) => {
                    let mut cell = figure(f).unwrap_or_else(|| "-".to_owned());
                    let delta = step.deltas[i].and_then(|d| change(&d));
                    let relative = percent(delta);
                    if !relative.is_empty() {
                        let _ = write!(cell, " ({relative})");
                    }
                    for flag in &step.flags[i] {
                        if flags.contains(&flag.as_str()) {
                            let _ = write!(cell, " {}", flag.as_str());
                        }
                    }
                    cell
                }
            };
            row.push(cell);
        }
        table.row(row);
    }
    table
}

fn render(table: &Table, markdown: bool) -> String {
    if markdown {
        table.to_markdown()
    } else {
        table.to_text()
    }
}
