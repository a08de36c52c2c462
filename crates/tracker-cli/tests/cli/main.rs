//! End-to-end tests of the `tracker` binary: each runs the real executable
//! in a temporary artifact root and checks its output and exit status.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod compare;
mod config;
mod errors;
mod export;
mod fixture;
mod list;
mod mlflow;
mod notify;
mod perf_tests;
mod prune;
mod pty;
mod resume;
mod run;
mod show;
mod trend;

use std::path::Path;
use std::process::{Command, Output};

/// The `tracker` binary with an environment cleaned of anything that would
/// point it elsewhere or change its defaults.
pub(crate) fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracker"));
    command
        .env_remove("TRACKER_ARTIFACT_ROOT")
        .env_remove("ROBOT_SF_ARTIFACT_ROOT")
        .env_remove("TRACKER_TELEMETRY")
        .env("NO_COLOR", "1");
    command
}

/// Runs `tracker --artifact-root <root> <args…>` with a clean environment.
pub(crate) fn tracker(root: &Path, args: &[&str]) -> Output {
    command()
        .arg("--artifact-root")
        .arg(root)
        .args(args)
        .output()
        .expect("run tracker")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// insta settings that redact what changes between runs: the temporary
/// root and generated run ids. The fixture pins host, pid and timestamps.
pub(crate) fn redactions(root: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&root.display().to_string()), "[ROOT]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
