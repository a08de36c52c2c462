//! The MLflow mirror's settings for `tracker run --mlflow`, and `tracker
//! sync`: runs uploaded afterwards (docs/mlflow.md).

use std::io::Write;

use anyhow::Context as _;
use manifest::RunState;
use mlflow_mirror::{ENV_EXPERIMENT, ENV_TRACKING_URI, MlflowObserver, Synced, Target, Timeouts};

use crate::cli::{RunArgs, SyncArgs};
use crate::commands::Context;
use crate::exit::Outcome;

/// A setting and where it came from.
pub(crate) struct Found {
    pub(crate) value: String,
    /// Where, for error messages (`[mlflow] uri of /path/tracker.toml`).
    pub(crate) from: String,
    /// Where, as `tracker config` names sources (`tracker.toml`).
    pub(crate) source: String,
}

fn env(name: &str) -> Option<Found> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|value| Found {
            value,
            from: format!("${name}"),
            source: format!("${name}"),
        })
}

fn project(ctx: &Context, key: &str, value: Option<&String>) -> Option<Found> {
    let path = ctx.project.as_ref()?.path.display().to_string();
    value.map(|value| Found {
        value: value.clone(),
        from: format!("[mlflow] {key} of {path}"),
        source: manifest::PROJECT_FILE.to_owned(),
    })
}

/// The tracking URI: `flag` unless empty, `$MLFLOW_TRACKING_URI`, the
/// project file's `[mlflow] uri`.
pub(crate) fn uri(ctx: &Context, flag: Option<&str>) -> Option<Found> {
    flag.filter(|f| !f.is_empty())
        .map(|value| Found {
            value: value.to_owned(),
            from: "--mlflow".to_owned(),
            source: "--mlflow".to_owned(),
        })
        .or_else(|| env(ENV_TRACKING_URI))
        .or_else(|| {
            project(
                ctx,
                "uri",
                ctx.project.as_ref().and_then(|p| p.mlflow_uri.as_ref()),
            )
        })
}

/// The experiment: `--mlflow-experiment`, `$MLFLOW_EXPERIMENT_NAME`, the
/// project file's `[mlflow] experiment`; `None`: each run's pipeline name.
pub(crate) fn experiment_found(ctx: &Context, flag: Option<&String>) -> Option<Found> {
    flag.map(|value| Found {
        value: value.clone(),
        from: "--mlflow-experiment".to_owned(),
        source: "--mlflow-experiment".to_owned(),
    })
    .or_else(|| env(ENV_EXPERIMENT))
    .or_else(|| {
        project(
            ctx,
            "experiment",
            ctx.project
                .as_ref()
                .and_then(|p| p.mlflow_experiment.as_ref()),
        )
    })
}

fn experiment(ctx: &Context, flag: Option<&String>) -> Option<String> {
    experiment_found(ctx, flag).map(|found| found.value)
}

/// The live mirror `tracker run` adds, if asked: `--mlflow [URI]`, or a
/// project file with `[mlflow] uri` (unless `--no-mlflow`).
pub(crate) fn observer(
    ctx: &Context,
    args: &RunArgs,
) -> anyhow::Result<Option<Box<dyn runner::Observer>>> {
    let from_project = ctx.project.as_ref().is_some_and(|p| p.mlflow_uri.is_some());
    if args.no_mlflow || (args.mlflow.is_none() && !from_project) {
        return Ok(None);
    }
    let Some(found) = uri(ctx, args.mlflow.as_deref()) else {
        anyhow::bail!(
            "--mlflow without a URI needs ${ENV_TRACKING_URI} or [mlflow] uri in {}",
            manifest::PROJECT_FILE
        );
    };
    let observer = MlflowObserver::new(
        &found.value,
        experiment(ctx, args.mlflow_experiment.as_ref()),
    )
    .with_context(|| format!("MLflow tracking URI from {}", found.from))?;
    Ok(Some(Box::new(observer)))
}

/// `tracker sync`: mirrors the named runs (all when none is) that are not
/// fully mirrored yet.
pub(crate) fn sync(
    ctx: &Context,
    args: &SyncArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let Some(found) = uri(ctx, args.mlflow.as_deref()) else {
        anyhow::bail!(
            "no MLflow tracking server: give --mlflow URI, or set ${ENV_TRACKING_URI} or [mlflow] \
             uri in {}",
            manifest::PROJECT_FILE
        );
    };
    let target = Target::from_env(
        &found.value,
        experiment(ctx, args.mlflow_experiment.as_ref()),
        Timeouts::SYNC,
    )
    .with_context(|| format!("MLflow tracking URI from {}", found.from))?;
    let entries = if args.runs.is_empty() {
        let listing = manifest::list_runs(&ctx.root, &manifest::Query::default())?;
        crate::commands::print_warnings(err, &listing.warnings)?;
        if listing.runs.is_empty() {
            writeln!(err, "no runs under {}", ctx.root.path().display())?;
            return Ok(Outcome::Success);
        }
        // Oldest first, as they happened.
        listing.runs.into_iter().rev().collect()
    } else {
        let mut entries = Vec::new();
        for arg in &args.runs {
            entries.push(crate::commands::load_run(ctx, arg)?.entry);
        }
        entries
    };
    let uri = target.client.uri().to_owned();
    let mut failed = 0;
    for entry in &entries {
        let run_id = crate::render::clean(entry.run_id());
        if matches!(entry.state, RunState::Pending | RunState::Running) {
            writeln!(
                out,
                "{run_id}  skipped: still running (its writer holds the run's lock)"
            )?;
            continue;
        }
        let abandoned = entry.state == RunState::Abandoned;
        match mlflow_mirror::sync_run(&target, &entry.dir, abandoned) {
            Ok(Synced::AlreadyMirrored(state)) => {
                writeln!(out, "{run_id}  already mirrored: {}", place(&uri, &state))?
            }
            Ok(Synced::Uploaded {
                state,
                metrics,
                artifacts,
                created,
            }) => writeln!(
                out,
                "{run_id}  {}: {} ({metrics} metric values, {artifacts} artifacts{})",
                if created { "mirrored" } else { "completed" },
                place(&uri, &state),
                if abandoned { ", marked abandoned" } else { "" },
            )?,
            Ok(_) => {}
            Err(e) if e.is_unreachable() => {
                return Err(anyhow::Error::new(e)).context(format!(
                    "{run_id}: not mirrored ({} of {} runs done)",
                    entries.iter().position(|x| x.dir == entry.dir).unwrap_or(0),
                    entries.len()
                ));
            }
            Err(e) => {
                failed += 1;
                writeln!(
                    err,
                    "error: {run_id}: {}",
                    crate::render::clean(&e.to_string())
                )?;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} runs could not be mirrored to {uri}",
            entries.len()
        );
    }
    Ok(Outcome::Success)
}

/// `experiment `train` (3), run 0f2c…`.
fn place(uri: &str, state: &mlflow_mirror::MirrorState) -> String {
    format!(
        "{uri}, experiment `{}` ({}), run {}",
        state.experiment_name.as_deref().unwrap_or("?"),
        state.experiment_id.as_deref().unwrap_or("?"),
        state.mlflow_run_id.as_deref().unwrap_or("?"),
    )
}
