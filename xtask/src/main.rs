//! Development tasks, run as `cargo xtask <task>` (alias in
//! `.cargo/config.toml`, which builds this crate in release: `perf` measures
//! optimised code).
//!
//! Tasks:
//! - `perf`: performance smoke tests of the tracker's hot paths against
//!   `perf/baselines.json` (docs/perf.md).
//!
//! Exit status: 0 success (soft breaches included), 1 a perf test failed,
//! 2 usage, configuration or I/O error.

mod confirm;
mod cpu;
#[cfg(target_os = "linux")]
mod in_situ;
mod measure;
mod perf;
mod scenarios;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Development tasks of the run tracker workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", max_term_width = 100)]
#[command(
    after_help = "Exit status: 0 success, 1 a perf test failed, 2 usage, configuration or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Performance smoke tests of the tracker's hot paths against stored baselines.
    Perf(PerfArgs),
}

/// `cargo xtask perf`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each scenario is measured --repeat times after a warm-up; the median \
throughput is compared with its baseline: above soft_ratio x baseline passed, at or below it \
soft-breach (a warning), at or below hard_ratio x baseline failed (exit 1). Results are recorded \
as a tracked run under the output root (perf_test_results.json, metrics.json). See docs/perf.md."
)]
pub(crate) struct PerfArgs {
    /// Run only this scenario (repeatable; see --list).
    #[arg(long, value_name = "NAME")]
    pub scenario: Vec<String>,
    /// Baselines file [default: perf/baselines.json in the workspace].
    #[arg(long, value_name = "FILE")]
    pub baselines: Option<PathBuf>,
    /// Artifact root for the perf run [default: $TRACKER_ARTIFACT_ROOT or $ROBOT_SF_ARTIFACT_ROOT, else the workspace's output/].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Measurements per scenario; the median is compared.
    #[arg(long, value_name = "N", default_value_t = perf::DEFAULT_REPEAT, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Rewrite the baselines file from this measurement (keeps each scenario's ratios).
    #[arg(long)]
    pub update_baselines: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.task {
        Task::Perf(args) => perf::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
