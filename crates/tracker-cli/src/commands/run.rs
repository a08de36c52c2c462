//! `tracker run PIPELINE.toml`: a pipeline whose steps are commands, run
//! by the `runner` engine; this module turns the flags into its settings
//! and prints what the run ended with.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use progress::Display;
use runner::{Pipeline, Settings, StderrReporter, Supervisor, TensorboardObserver};
use telemetry_model::{PerformanceRecommendation, PipelineRunRecord, RunStatus};

use crate::cli::RunArgs;
use crate::commands::Context;
use crate::exit::Outcome;

/// The hidden subcommand the runner starts each step through.
pub(crate) const SUPERVISE: &str = "__supervise";

pub(crate) fn run(
    ctx: &Context,
    args: &RunArgs,
    _out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let mut pipeline = Pipeline::load(&args.pipeline)?;
    let selected = select_steps(&pipeline, args)?;
    if let Some(path) = &args.rules {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --rules {}", path.display()))?;
        pipeline.thresholds = pipeline
            .thresholds
            .overlay_toml_str(&text, &path.display().to_string())?;
    }
    let mut settings = settings(ctx, &pipeline, args.plain, args.no_telemetry, args.interval)?;
    settings.run.name = args.run_id.clone();
    if let Some(arg) = &args.resume {
        settings.resume = Some(resumable(ctx, arg, &pipeline, args.force)?);
    }
    settings.retention = ctx.retention(args.keep);
    settings.heartbeat = Duration::from_secs_f64(args.heartbeat);
    let mut observers: Vec<Box<dyn runner::Observer>> = args
        .tensorboard
        .iter()
        .map(|dir| Box::new(TensorboardObserver::new(dir)) as Box<dyn runner::Observer>)
        .collect();
    observers.extend(crate::commands::mlflow::observer(ctx, args)?);
    let ended = runner::run(
        &pipeline,
        &selected,
        &settings,
        observers,
        Arc::new(StderrReporter),
    )?;
    if let Some(interrupt) = ended.interrupt {
        if !interrupt.while_running {
            // The signal came while the run was being rated or ended.
            print_resources(err, &ended.record)?;
            print_recommendations(err, &ended.recommendations, &ended.run_dir)?;
        }
        interrupt.reraise();
        return Ok(Outcome::Failure);
    }
    print_resources(err, &ended.record)?;
    print_recommendations(err, &ended.recommendations, &ended.run_dir)?;
    Ok(if ended.record.status == RunStatus::Completed {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

/// The runner settings every command that runs a pipeline shares: the
/// artifact root, the display, telemetry, and this executable as the
/// steps' supervisor.
pub(crate) fn settings(
    ctx: &Context,
    pipeline: &Pipeline,
    plain: bool,
    no_telemetry: bool,
    interval: Option<f64>,
) -> anyhow::Result<Settings> {
    let exe = std::env::current_exe().context("cannot find the tracker's own executable")?;
    let mut settings = Settings::new(
        ctx.root.clone(),
        pipeline,
        Supervisor::new(exe).arg(SUPERVISE),
    );
    let (telemetry, interval) = ctx.telemetry(no_telemetry, interval);
    settings.telemetry = telemetry.then(|| Duration::from_secs_f64(interval));
    if plain {
        settings.display = Display::Plain;
    }
    // The project's [[notify]] tables apply to every pipeline, before the
    // pipeline's own.
    if let Some(project) = &ctx.project {
        let mut notify = runner::project_notify_rules(&project.path)?;
        notify.append(&mut settings.notify);
        settings.notify = notify;
    }
    Ok(settings)
}

/// The per-step resource table printed at the end of a run.
pub(crate) fn print_resources(
    err: &mut dyn Write,
    record: &PipelineRunRecord,
) -> std::io::Result<()> {
    if let Some(resources) = &record.summary.resources {
        err.write_all(
            crate::commands::show::resources_table(record, resources)
                .to_text()
                .as_bytes(),
        )?;
    }
    Ok(())
}

/// The recommendations of a run and where its summary and report are.
pub(crate) fn print_recommendations(
    err: &mut dyn Write,
    recommendations: &[PerformanceRecommendation],
    run_dir: &Path,
) -> std::io::Result<()> {
    if recommendations.is_empty() {
        writeln!(err, "No recommendations.")?;
    } else {
        writeln!(err, "Recommendations ({}):", recommendations.len())?;
        for rec in recommendations {
            writeln!(err, "  [{}] {}: {}", rec.severity, rec.trigger, rec.message)?;
            for action in &rec.suggested_actions {
                writeln!(err, "      → {action}")?;
            }
        }
    }
    writeln!(
        err,
        "Summary: {}",
        run_dir.join(manifest::files::SUMMARY_MD).display()
    )?;
    let report = run_dir.join(runner::REPORT_FILE);
    if report.is_file() {
        writeln!(err, "Report:  {}", report.display())?;
    }
    Ok(())
}

/// The run `--resume RUN` names, if it can go on: not completed, not live,
/// and (unless `--force`) of this pipeline.
fn resumable(
    ctx: &Context,
    arg: &str,
    pipeline: &Pipeline,
    force: bool,
) -> anyhow::Result<progress::Resume> {
    let entry = match manifest::resolve_run(&ctx.root, arg) {
        Ok(entry) => entry,
        Err(e @ manifest::Error::RunNotFound { .. }) => {
            anyhow::bail!("--resume {arg}: {e}\nhint: {}", ctx.root_hint())
        }
        Err(e) => return Err(e).with_context(|| format!("--resume {arg}")),
    };
    let run_id = entry.run_id();
    match entry.state {
        manifest::RunState::Completed => {
            anyhow::bail!("--resume {arg}: run `{run_id}` completed: there is nothing to resume")
        }
        manifest::RunState::Pending | manifest::RunState::Running => anyhow::bail!(
            "--resume {arg}: run `{run_id}` is still running (its writer holds the run's lock); \
             stop it first, or wait for it to end"
        ),
        _ => {}
    }
    let recorded = entry.record.pipeline.as_deref().unwrap_or("");
    if recorded != pipeline.name && !force {
        anyhow::bail!(
            "--resume {arg}: run `{run_id}` is a run of pipeline \"{recorded}\", not \"{}\" \
             (--force resumes it anyway)",
            pipeline.name
        );
    }
    let Some(dir_name) = entry.dir.file_name().and_then(|n| n.to_str()) else {
        anyhow::bail!("--resume {arg}: run `{run_id}` has a directory name that is not UTF-8");
    };
    Ok(progress::Resume {
        run: dir_name.to_owned(),
        force,
    })
}

/// The ids of the steps to run: enabled in the file, minus `--skip`, and
/// only `--only` if given. Unknown ids are an error naming the flag.
fn select_steps(pipeline: &Pipeline, args: &RunArgs) -> anyhow::Result<Vec<String>> {
    pipeline
        .select(&args.only, &args.skip, &args.pipeline)
        .map_err(|e| match &e {
            runner::SelectError::UnknownStep { only, id, .. } => {
                let flag = if *only { "--only" } else { "--skip" };
                anyhow::anyhow!("{flag} {id}: {e}")
            }
            runner::SelectError::NothingLeft { .. } => e.into(),
        })
}
