//! `tracker config`: the settings in force here and where each comes from.

use std::io::Write;

use manifest::{ProjectConfig, RootSource};
use serde_json::json;

use crate::cli::{ConfigArgs, StatusFormat};
use crate::commands::Context;
use crate::commands::mlflow::Found;
use crate::exit::Outcome;

/// Where a setting's value came from: the environment variable `env` if
/// set, else the project file if it sets the value, else the default.
fn source_of(env: Option<&str>, in_file: bool) -> String {
    match env {
        Some(env) => format!("${env}"),
        None if in_file => manifest::PROJECT_FILE.to_owned(),
        None => "default".to_owned(),
    }
}

pub(crate) fn run(
    ctx: &Context,
    args: &ConfigArgs,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let project: Option<&ProjectConfig> = ctx.project.as_ref();
    let root_source = match ctx.root.source() {
        RootSource::Explicit => "--artifact-root".to_owned(),
        RootSource::Env(name) => format!("${name}"),
        RootSource::ProjectFile => manifest::PROJECT_FILE.to_owned(),
        RootSource::Default => "default".to_owned(),
    };
    let retention = ctx.retention(None);
    let retention_source = source_of(None, project.is_some_and(|p| p.keep.is_some()));
    let (telemetry, interval) = ctx.telemetry(false, None);
    let env_telemetry = std::env::var_os(sampler::ENV_TELEMETRY)
        .is_some()
        .then_some(sampler::ENV_TELEMETRY);
    let telemetry_source = source_of(
        env_telemetry,
        project.is_some_and(|p| p.telemetry.is_some()),
    );
    let interval_source = source_of(
        None,
        project.is_some_and(|p| p.telemetry_interval.is_some()),
    );
    let mlflow = Mlflow::in_force(ctx);
    let absolute =
        std::path::absolute(ctx.root.path()).unwrap_or_else(|_| ctx.root.path().to_owned());
    match args.format {
        StatusFormat::Json => {
            let doc = json!({
                "project_file": project.map(|p| p.path.display().to_string()),
                "artifact_root": { "path": absolute.display().to_string(), "source": root_source },
                "retention": { "keep": ctx.project.as_ref().and_then(|p| p.keep), "source": retention_source },
                "telemetry": {
                    "enabled": telemetry, "enabled_source": telemetry_source,
                    "interval_seconds": interval, "interval_source": interval_source,
                },
                "mlflow": {
                    "every_run": mlflow.every_run, "every_run_source": mlflow.every_run_source(),
                    "uri": mlflow.uri.as_ref().map(|uri| &uri.value),
                    "uri_source": mlflow.uri.as_ref().map(|uri| &uri.source),
                    "experiment": mlflow.experiment.as_ref().map(|name| &name.value),
                    "experiment_source": mlflow.experiment.as_ref().map(|name| &name.source),
                },
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        StatusFormat::Human => {
            let file = project.map_or_else(
                || format!("none ({} not found here or above)", manifest::PROJECT_FILE),
                |p| p.path.display().to_string(),
            );
            writeln!(out, "project file:   {file}")?;
            writeln!(
                out,
                "artifact root:  {} ({root_source})",
                absolute.display()
            )?;
            writeln!(
                out,
                "retention:      {retention} ({retention_source}; --keep N for one run)"
            )?;
            let on = if telemetry { "on" } else { "off" };
            writeln!(
                out,
                "telemetry:      {on} ({telemetry_source}), every {interval} s ({interval_source})"
            )?;
            writeln!(out, "mlflow:         {}", mlflow.describe())?;
        }
    }
    Ok(Outcome::Success)
}

/// The MLflow mirror's settings, as `tracker run` and `tracker sync` resolve
/// them (docs/mlflow.md).
struct Mlflow {
    /// `[mlflow] uri` in the project file mirrors every run.
    every_run: bool,
    /// The tracking URI `--mlflow` (without one) and `sync` use, and where
    /// it comes from.
    uri: Option<Found>,
    /// The experiment, and where it comes from; `None`: each run's
    /// pipeline name.
    experiment: Option<Found>,
}

impl Mlflow {
    /// As `tracker run` (without `--mlflow URI`) and `tracker sync` resolve
    /// them.
    fn in_force(ctx: &Context) -> Self {
        Self {
            every_run: ctx.project.as_ref().is_some_and(|p| p.mlflow_uri.is_some()),
            uri: crate::commands::mlflow::uri(ctx, None),
            experiment: crate::commands::mlflow::experiment_found(ctx, None),
        }
    }

    fn every_run_source(&self) -> &'static str {
        if self.every_run {
            manifest::PROJECT_FILE
        } else {
            "default"
        }
    }

    /// One line: whether runs are mirrored, where to, into which experiment.
    fn describe(&self) -> String {
        let mirrored = if self.every_run {
            format!(
                "every run ({}; --no-mlflow for one run)",
                manifest::PROJECT_FILE
            )
        } else {
            "off (default; --mlflow [URI] for one run)".to_owned()
        };
        let uri = match &self.uri {
            Some(uri) => format!("{} ({})", uri.value, uri.source),
            None => format!(
                "none (${} or [mlflow] uri in {})",
                mlflow_mirror::ENV_TRACKING_URI,
                manifest::PROJECT_FILE
            ),
        };
        let experiment = match &self.experiment {
            Some(name) => format!("{} ({})", name.value, name.source),
            None => "the pipeline's name (default)".to_owned(),
        };
        format!("{mirrored}, server {uri}, experiment {experiment}")
    }
}
