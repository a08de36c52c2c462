//! One module per subcommand. Each writes its result to `out` (stdout) and
//! diagnostics to `err` (stderr), so tests can run them without a process.

pub(crate) mod export;
pub(crate) mod list;
pub(crate) mod perf_tests;
pub(crate) mod prune;
pub(crate) mod run;
pub(crate) mod show;
pub(crate) mod status;
pub(crate) mod tensorboard;

use std::io::Write;

use anyhow::Context as _;
use manifest::{ArtifactRoot, ReadWarning, resolve_run};
use telemetry_model::Timestamp;

use crate::view::RunView;

/// What every command needs besides its own arguments.
#[derive(Debug)]
pub(crate) struct Context {
    pub root: ArtifactRoot,
    pub now: Timestamp,
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
    let entry = resolve_run(&ctx.root, arg)?;
    let contents = manifest::read_manifest(&entry.manifest_path())
        .with_context(|| format!("cannot read run `{}`", entry.run_id()))?;
    Ok(RunView { entry, contents })
}
