//! `tracker trend`: how a pipeline's steps change over its runs (the
//! figures themselves are `report::trend`).

use std::fmt::Write as _;
use std::io::Write;

use anyhow::bail;
use manifest::{Query, RunState, list_runs};
use report::trend::{Series, Trend, sparkline};
use telemetry_model::format_duration;

use crate::cli::{TrendArgs, TrendFormat};
use crate::commands::{Context, print_warnings};
use crate::exit::Outcome;
use crate::render::{Align, Table, clean, time_cell};

pub(crate) fn run(
    ctx: &Context,
    args: &TrendArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let pipeline = match &args.pipeline {
        Some(pipeline) => pipeline.clone(),
        None => {
            let newest = list_runs(
                &ctx.root,
                &Query {
                    limit: Some(1),
                    ..Query::default()
                },
            )?;
            print_warnings(err, &newest.warnings)?;
            match newest.runs.first().and_then(|r| r.record.pipeline.clone()) {
                Some(pipeline) => pipeline,
                None => bail!(
                    "no run with a pipeline name under {}: name one with --pipeline\nhint: {}",
                    ctx.root.path().display(),
                    ctx.root_hint()
                ),
            }
        }
    };
    let query = Query {
        limit: (args.limit > 0).then_some(args.limit),
        state: Some(RunState::Completed),
        scenario: Some(pipeline.clone()),
        ..Query::default()
    };
    let listing = list_runs(&ctx.root, &query)?;
    print_warnings(err, &listing.warnings)?;
    let records: Vec<_> = listing.runs.into_iter().map(|e| e.record).collect();
    let trend = Trend::new(&pipeline, &records, args.step.as_deref());
    if trend.runs.is_empty() {
        bail!(
            "no completed run of pipeline \"{}\" under {}\nhint: {}",
            clean(&pipeline),
            ctx.root.path().display(),
            ctx.root_hint()
        );
    }
    if let Some(step) = &args.step
        && trend.steps.is_empty()
    {
        let all = Trend::new(&pipeline, &records, None);
        let ids: Vec<String> = all.steps.iter().map(|s| clean(&s.step_id)).collect();
        bail!(
            "--step {}: no such step in the completed runs of \"{}\" (steps: {})",
            clean(step),
            clean(&pipeline),
            ids.join(", ")
        );
    }
    match args.format {
        TrendFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &trend)?;
            writeln!(out)?;
        }
        TrendFormat::Table => out.write_all(text(&trend, false).as_bytes())?,
        TrendFormat::Markdown => out.write_all(text(&trend, true).as_bytes())?,
    }
    Ok(Outcome::Success)
}

fn text(trend: &Trend, markdown: bool) -> String {
    let mut out = String::new();
    let span = match (trend.runs.first(), trend.runs.last()) {
        (Some(first), Some(last)) => format!(
            "{} to {} UTC",
            time_cell(Some(first.created_at)),
            time_cell(Some(last.created_at))
        ),
        _ => String::new(),
    };
    let n = trend.runs.len();
    let runs = format!("{n} completed run{}", if n == 1 { "" } else { "s" });
    if markdown {
        let _ = write!(
            out,
            "# Trend of {}\n\nOver {runs}, {span}; each series oldest to newest.\n",
            report::markdown_escape(&trend.pipeline)
        );
    } else {
        let _ = writeln!(
            out,
            "Trend of {} over {runs}, {span} (oldest to newest)",
            clean(&trend.pipeline)
        );
    }
    let heading = |out: &mut String, title: &str| {
        if markdown {
            let _ = write!(out, "\n## {title}\n\n");
        } else {
            let _ = write!(out, "\n{title}\n");
        }
    };
    heading(&mut out, "Duration");
    let mut durations = table("DURATIONS");
    for step in &trend.steps {
        durations.row(row(
            &step.name,
            &step.duration,
            &sparkline(&step.durations),
            &|v| format_duration(v),
            step.duration.drift.of_duration(),
        ));
    }
    out.push_str(&render(&durations, markdown));
    if trend.steps.iter().any(|s| s.throughput.is_some()) {
        heading(&mut out, "Throughput (items/s)");
        let mut rates = table("ITEMS/S");
        for step in &trend.steps {
            if let Some(series) = &step.throughput {
                rates.row(row(
                    &step.name,
                    series,
                    &sparkline(&step.items_per_sec),
                    &progress::render::format_quantity,
                    series.drift.of_throughput(),
                ));
            }
        }
        out.push_str(&render(&rates, markdown));
    }
    out
}

fn table(series: &str) -> Table {
    Table::new(&[
        ("STEP", Align::Left),
        ("RUNS", Align::Right),
        ("MEDIAN", Align::Right),
        ("P90", Align::Right),
        ("CHANGE", Align::Right),
        (series, Align::Left),
        ("VERDICT", Align::Left),
    ])
}

fn row(
    name: &str,
    series: &Series,
    spark: &str,
    show: &dyn Fn(f64) -> String,
    verdict: &str,
) -> Vec<String> {
    let value = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), show);
    vec![
        clean(name),
        series.runs.to_string(),
        value(series.median),
        value(series.p90),
        series
            .change
            .map_or_else(|| "-".to_owned(), |c| format!("{:+.0}%", 100.0 * c)),
        spark.to_owned(),
        verdict.to_owned(),
    ]
}

fn render(table: &Table, markdown: bool) -> String {
    if markdown {
        table.to_markdown()
    } else {
        table.to_text()
    }
}
