//! One module per subcommand. Each writes its result to `out` (stdout) and
//! diagnostics to `err` (stderr), so tests can run them without a process.

pub(crate) mod compare;
pub(crate) mod config;
pub(crate) mod export;
pub(crate) mod list;
pub(crate) mod mlflow;
pub(crate) mod perf_tests;
pub(crate) mod prune;
pub(crate) mod run;
pub(crate) mod show;
pub(crate) mod status;
pub(crate) mod tensorboard;
pub(crate) mod trend;

use std::io::Write;

use anyhow::Context as _;
use manifest::{ArtifactRoot, ProjectConfig, ReadWarning, RootSource, resolve_run};
use telemetry_model::Timestamp;

use crate::view::RunView;

/// What every command needs besides its own arguments.
#[derive(Debug)]
pub(crate) struct Context {
    pub root: ArtifactRoot,
    /// The project file (`tracker.toml`) found at or above the working
    /// directory: defaults for runs.
    pub project: Option<ProjectConfig>,
    pub now: Timestamp,
}

impl Context {
    /// How the artifact root was chosen, and how to choose another, for a
    /// command that found nothing there.
    pub(crate) fn root_hint(&self) -> String {
        let how = match self.root.source() {
            RootSource::Explicit => "given by --artifact-root".to_owned(),
            RootSource::Env(name) => format!("from ${name}"),
            RootSource::ProjectFile => format!(
                "from artifact_root in {}",
                self.project.as_ref().map_or_else(
                    || manifest::PROJECT_FILE.to_owned(),
                    |p| p.path.display().to_string()
                )
            ),
            RootSource::Default => format!(
                "the default ./{}: no --artifact-root, no $TRACKER_ARTIFACT_ROOT, no {} here or above",
                manifest::DEFAULT_ARTIFACT_ROOT,
                manifest::PROJECT_FILE
            ),
        };
        format!(
            "the artifact root is {} ({how}); point elsewhere with --artifact-root DIR, \
             $TRACKER_ARTIFACT_ROOT or artifact_root in {}",
            self.root.path().display(),
            manifest::PROJECT_FILE
        )
    }

    /// The telemetry settings of a run, each from the first that sets it:
    /// `--no-telemetry`, `$TRACKER_TELEMETRY`, `[telemetry] enabled` of the
    /// project file, on; `--interval`, `[telemetry] interval`, 1 s.
    pub(crate) fn telemetry(&self, no_telemetry: bool, interval: Option<f64>) -> (bool, f64) {
        let from_env =
            std::env::var_os(sampler::ENV_TELEMETRY).map(|_| !sampler::disabled_by_env());
        let project = self.project.as_ref();
        let enabled = !no_telemetry
            && from_env
                .or(project.and_then(|p| p.telemetry))
                .unwrap_or(true);
        let interval = interval
            .or(project.and_then(|p| p.telemetry_interval))
            .unwrap_or(1.0);
        (enabled, interval)
    }

    /// The retention of a run, from the first that sets it: `--keep`,
    /// `[retention] keep` of the project file, every run kept.
    pub(crate) fn retention(&self, keep: Option<usize>) -> manifest::Retention {
        let keep = keep.or(self.project.as_ref().and_then(|p| p.keep));
        manifest::Retention::keep_newest(keep.unwrap_or(0))
    }
}

/// Most warnings printed per command; the rest are counted.
const MAX_WARNINGS: usize = 20;

/// Prints read warnings to stderr, capped so a badly damaged root does not
/// drown the output.
pub(crate) fn print_warnings(err: &mut dyn Write, warnings: &[ReadWarning]) -> std::io::Result<()> {
    for warning in warnings.iter().take(MAX_WARNINGS) {
        writeln!(
            err,
            "warning: {}",
            crate::render::clean(&warning.to_string())
        )?;
    }
    if warnings.len() > MAX_WARNINGS {
        writeln!(err, "warning: … and {} more", warnings.len() - MAX_WARNINGS)?;
    }
    Ok(())
}

/// Resolves a RUN argument and reads its whole manifest.
pub(crate) fn load_run(ctx: &Context, arg: &str) -> anyhow::Result<RunView> {
    let entry = match resolve_run(&ctx.root, arg) {
        Ok(entry) => entry,
        Err(e @ manifest::Error::RunNotFound { .. }) => {
            anyhow::bail!("{e}\nhint: {}", ctx.root_hint())
        }
        Err(e) => return Err(e.into()),
    };
    let contents = manifest::read_manifest(&entry.manifest_path())
        .with_context(|| format!("cannot read run `{}`", entry.run_id()))?;
    let mut entry = entry;
    // The full read may have seen a record appended since the lookup.
    if let Some(record) = &contents.record {
        crate::view::follow(&mut entry, record);
    }
    Ok(RunView { entry, contents })
}
