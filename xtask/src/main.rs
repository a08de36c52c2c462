//! Development tasks, run as `cargo xtask <task>` (alias in .cargo/config.toml).
//!
//! Tasks:
//! - `perf`: performance smoke tests against `perf/baselines.json` (SPEC §6;
//!   not implemented yet).

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>\n\ntasks:\n  perf    performance smoke tests against perf/baselines.json (not implemented yet)";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let (code, text) = match task.as_deref() {
        None | Some("help" | "--help" | "-h") => (0, USAGE.to_owned()),
        Some("perf") => (
            2,
            "error: `cargo xtask perf` is not implemented yet".to_owned(),
        ),
        Some(other) => (2, format!("error: unknown task `{other}`\n\n{USAGE}")),
    };
    #[allow(clippy::print_stderr)] // a developer tool reports on stderr
    {
        eprintln!("{text}");
    }
    ExitCode::from(code)
}
