//! The `tracker` command line: run history, status and exports over the
//! files under one artifact root.
//!
//! `main.rs` only calls [`run`]; everything else lives here so it can be
//! tested without spawning processes. Machine output (tables, JSON) goes to
//! stdout, diagnostics to stderr. Exit statuses are mapped in one place
//! ([`exit`]): 0 success, 1 a reported failure, 2 usage/configuration/I/O.
//!
//! # Example
//!
//! ```
//! # let tmp = tempfile::tempdir()?;
//! let root = tmp.path().to_str().unwrap();
//! let mut out = Vec::new();
//! let mut err = Vec::new();
//! let status = tracker_cli::run_with(["tracker", "--artifact-root", root, "list"], &mut out, &mut err);
//! assert_eq!(status, 0);
//! assert!(String::from_utf8(err)?.starts_with("no runs under"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cli;
mod commands;
pub mod exit;
mod render;
mod timearg;
mod view;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use manifest::ArtifactRoot;
use telemetry_model::Timestamp;

pub use cli::Cli;
use cli::Command;
use commands::Context;

/// Runs the command line of this process and returns its exit status.
pub fn run() -> ExitCode {
    // Unlocked handles: `tracker run`'s threads write to both streams too.
    let mut out = io::BufWriter::new(io::stdout());
    let mut err = io::stderr();
    let code = run_with(std::env::args_os(), &mut out, &mut err);
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            let _ = writeln!(err, "error: cannot write output: {e}");
            ExitCode::from(exit::USAGE)
        }
        _ => ExitCode::from(code),
    }
}

/// `tracker run --mlflow PIPELINE.toml`: `--mlflow` takes an optional URI,
/// so clap gives it the pipeline file and then misses the pipeline. A
/// tracking URI has a scheme (`http://…`), a pipeline file does not: when
/// the pipeline is what is missing and the value `--mlflow` took has no
/// `://`, the arguments are read again with `--mlflow` bare (the default
/// URI) and the value as the pipeline.
fn mlflow_took_the_pipeline(error: &clap::Error, args: &[OsString]) -> Option<Vec<OsString>> {
    if error.kind() != clap::error::ErrorKind::MissingRequiredArgument
        || !args.iter().any(|a| a == "run")
    {
        return None;
    }
    let at = args.iter().position(|a| a == "--mlflow")?;
    let value = args.get(at + 1)?.to_str()?;
    if value.starts_with('-') || value.contains("://") {
        return None;
    }
    let mut fixed = args.to_vec();
    fixed[at] = "--mlflow=".into();
    Some(fixed)
}

/// Runs `args` (the first is the program name) with the given output
/// streams and returns the exit status.
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let parsed =
        Cli::try_parse_from(&args).or_else(|e| match mlflow_took_the_pipeline(&e, &args) {
            Some(fixed) => Cli::try_parse_from(fixed),
            None => Err(e),
        });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version go to stdout with status 0.
            let text = e.render().to_string();
            let target: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = target.write_all(text.as_bytes());
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    if let Command::Supervise(args) = &cli.command {
        return runner::supervise(args.parent, &args.command);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let (root, project) = match ArtifactRoot::discover(cli.global.artifact_root.as_deref(), &cwd) {
        Ok(found) => found,
        Err(e) => {
            let _ = writeln!(err, "error: {}", render::clean(&e.to_string()));
            return exit::USAGE;
        }
    };
    let ctx = Context {
        root,
        project,
        now: Timestamp::now(),
    };
    let result = match &cli.command {
        Command::Run(args) => commands::run::run(&ctx, args, out, err),
        Command::Supervise(_) => unreachable!("handled above"),
        Command::List(args) => commands::list::run(&ctx, args, out, err),
        Command::Show(args) => commands::show::run(&ctx, args, out, err),
        Command::Status(args) => commands::status::run(&ctx, args, out, err),
        Command::Watch(args) => commands::status::watch(&ctx, args, out, err),
        Command::Export(args) => commands::export::run(&ctx, args, out, err),
        Command::Compare(args) => commands::compare::run(&ctx, args, out, err),
        Command::Trend(args) => commands::trend::run(&ctx, args, out, err),
        Command::Tensorboard(args) => commands::tensorboard::run(&ctx, args, out, err),
        Command::PerfTests(args) => commands::perf_tests::run(&ctx, args, out, err),
        Command::Prune(args) => commands::prune::run(&ctx, args, out, err),
        Command::Config(args) => commands::config::run(&ctx, args, out, err),
        Command::Sync(args) => commands::mlflow::sync(&ctx, args, out, err),
    };
    match result {
        Ok(outcome) => outcome.code(),
        Err(e) if is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            let _ = writeln!(err, "error: {}", render::clean(&error_text(&e)));
            exit::USAGE
        }
    }
}

/// An error and its causes, `: `-separated, each said once: many errors
/// already end with their cause's text (`cannot create DIR: No such file
/// or directory`), which `{:#}` would print again.
pub(crate) fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// A reader that went away (`tracker list | head`) is not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                .is_some_and(|k| k == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let inner = anyhow::Error::new(io)
            .context("cannot create `/proc/foo/x`: No such file or directory");
        let outer = inner.context("cannot write TensorBoard events under /proc/foo/x");
        assert_eq!(
            super::error_text(&outer),
            "cannot write TensorBoard events under /proc/foo/x: \
             cannot create `/proc/foo/x`: No such file or directory"
        );
        let plain = anyhow::anyhow!("a").context("b");
        assert_eq!(super::error_text(&plain), "b: a");
    }
}
