//! `tracker export`: one run to a file.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use manifest::RunState;
use telemetry_model::{PipelineRunRecord, TelemetrySnapshot, Timestamp};

use crate::cli::{ExportArgs, ExportFormat};
use crate::commands::{Context, load_run, print_warnings, show};
use crate::exit::Outcome;
use crate::view::RunView;

pub(crate) fn run(
    ctx: &Context,
    args: &ExportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    let mut telemetry = || -> anyhow::Result<Vec<TelemetrySnapshot>> {
        let (samples, warnings) = view.telemetry().with_context(|| {
            format!(
                "cannot read the telemetry of run `{}`",
                view.record().run_id
            )
        })?;
        print_warnings(err, &warnings)?;
        Ok(samples)
    };
    let mut bytes = match args.format {
        ExportFormat::Json => {
            let samples = telemetry()?;
            let mut document = view.document(ctx.now);
            document.telemetry = Some(&samples);
            serde_json::to_vec_pretty(&document)?
        }
        ExportFormat::Markdown => {
            let links = artifact_links(&view, args.output.as_deref());
            show::markdown(&view, ctx.now, links).into_bytes()
        }
        ExportFormat::Html => {
            let samples = telemetry()?;
            let links = artifact_links(&view, args.output.as_deref());
            html_report(&ctx.root, &view, &samples, ctx.now, links).into_bytes()
        }
    };
    if args.format == ExportFormat::Json {
        bytes.push(b'\n');
    }
    deliver(&bytes, args.output.as_deref(), out, err)?;
    Ok(Outcome::Success)
}

/// Writes a document to `output` (replaced atomically, and said on `err`)
/// or, without one or with `-`, to `out`.
pub(crate) fn deliver(
    bytes: &[u8],
    output: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    match output {
        None => out.write_all(bytes)?,
        Some(path) if path == Path::new("-") => out.write_all(bytes)?,
        Some(path) => {
            if path.is_dir() {
                anyhow::bail!(
                    "cannot write --output {}: it is a directory; give a file name",
                    path.display()
                );
            }
            // Replaced atomically: an existing file is kept or fully replaced.
            manifest::write_atomic(path, bytes, true)
                .with_context(|| format!("cannot write --output {}", path.display()))?;
            writeln!(err, "wrote {}", path.display())?;
        }
    }
    Ok(())
}

/// Artifact links relative to where the document goes: the directory of
/// `output`, or the working directory for stdout.
pub(crate) fn artifact_links(view: &RunView, output: Option<&Path>) -> report::ArtifactLinks {
    let report_dir = match output {
        Some(path) if path != Path::new("-") => std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_owned)),
        _ => std::env::current_dir().ok(),
    };
    let run_dir = std::path::absolute(&view.entry.dir).unwrap_or(view.entry.dir.clone());
    let base_dir = view
        .record()
        .artifact_dir
        .as_deref()
        .and_then(|a| report::ArtifactLinks::infer_base_dir(&run_dir, a));
    report::ArtifactLinks {
        base_dir,
        report_dir,
    }
}

/// Earlier completed runs of a pipeline the HTML report compares a run with.
const HISTORY_RUNS: usize = 20;

/// The HTML report of a run as read from disk, with the pipeline's
/// history under `root`.
pub(crate) fn html_report(
    root: &manifest::ArtifactRoot,
    view: &RunView,
    samples: &[TelemetrySnapshot],
    now: Timestamp,
    links: report::ArtifactLinks,
) -> String {
    let history: Vec<PipelineRunRecord> = view
        .record()
        .pipeline
        .clone()
        .and_then(|pipeline| {
            let query = manifest::Query {
                limit: Some(HISTORY_RUNS),
                state: Some(RunState::Completed),
                scenario: Some(pipeline),
                ..manifest::Query::default()
            };
            manifest::list_runs(root, &query).ok()
        })
        .map(|listing| listing.runs.into_iter().map(|e| e.record).collect())
        .unwrap_or_default();
    let mut input = report::ReportInput::new(view.record());
    input.history = &history;
    input.snapshots = samples;
    input.recommendations = &view.contents.recommendations;
    input.perf_tests = &view.contents.perf_tests;
    input.abandoned = view.entry.state == RunState::Abandoned;
    input.now = Some(now);
    input.links = links;
    report::render_html(&input)
}
