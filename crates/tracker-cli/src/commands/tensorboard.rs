//! `tracker tensorboard`: a run's telemetry and step durations as
//! TensorBoard event files.

use std::io::Write;

use anyhow::Context as _;

use manifest::RunState;

use crate::cli::TensorboardArgs;
use crate::commands::{Context, load_run, print_warnings};
use crate::exit::Outcome;

pub(crate) fn run(
    ctx: &Context,
    args: &TensorboardArgs,
    _out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    let (samples, warnings) = view.telemetry().with_context(|| {
        format!(
            "cannot read the telemetry of run `{}`",
            view.record().run_id
        )
    })?;
    print_warnings(err, &warnings)?;
    if args.logdir.is_file() {
        anyhow::bail!(
            "cannot write --logdir {}: it is a file; give a directory",
            args.logdir.display()
        );
    }
    let logdir = tensorboard::run_logdir(&args.logdir, &view.record().run_id);
    // Converting replaces the event files already there; for a live run
    // one of them may be its `tracker run --tensorboard` mirror.
    if view.entry.state == RunState::Running && has_event_files(&logdir) {
        anyhow::bail!(
            "run `{}` is still running and {} already holds event files (its live mirror?); \
             converting would replace them: give another --logdir, or convert once the run ended",
            view.record().run_id,
            logdir.display()
        );
    }
    let done = tensorboard::convert_run(&logdir, view.record(), &samples)
        .with_context(|| format!("cannot write TensorBoard events under {}", logdir.display()))?;
    writeln!(
        err,
        "wrote {} ({} samples, {} scalars{}); view with: tensorboard --logdir {}",
        done.path.display(),
        done.samples,
        done.scalars,
        if done.replaced.is_empty() {
            String::new()
        } else {
            format!(", replacing {} earlier file(s)", done.replaced.len())
        },
        args.logdir.display()
    )?;
    Ok(Outcome::Success)
}

fn has_event_files(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("events.out.tfevents."))
        })
    })
}
