//! `imitation-demo-step`: one step of the imitation-learning demo per process,
//! for pipelines whose steps are commands (`tracker run pipeline.toml`).
//!
//! ```text
//! imitation-demo-step collect  --out DIR                          [--scale quick|default] [--seed N]
//! imitation-demo-step pretrain --data DIR --out DIR               [...]
//! imitation-demo-step finetune --policy DIR --out DIR             [...]
//! imitation-demo-step evaluate --policy DIR [--baseline DIR] --out DIR [...]
//! ```
//!
//! Inputs may name the directory an earlier step wrote or the file itself.
//! Each step writes its artifacts into `--out` (created if missing), prints a
//! one-line result on stdout and notes on stderr, and reports progress on the
//! tracker's channel when `TRACKER_PROGRESS` names a file.
//!
//! Exit status: 0 success; 1 the step failed (training diverged); 2 usage,
//! configuration or I/O error (bad flag, unreadable input, unwritable output).

// A command-line tool prints its result to stdout and its notes to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use imitation_demo::artifact::{
    DATASET_FILE, EVAL_REPORT_FILE, FINETUNE_REPORT_FILE, POLICY_FILE, PRETRAIN_REPORT_FILE,
    load_dataset, load_policy, save_json,
};
use imitation_demo::channel::ProgressChannel;
use imitation_demo::{DemoConfig, Policy, PolicyOrigin, Progress, Scale};

/// Exit status for a step that ran and failed.
const EXIT_FAILURE: u8 = 1;
/// Exit status for usage, configuration and I/O errors.
const EXIT_USAGE: u8 = 2;

/// Runs one step of the imitation-learning demo.
#[derive(Debug, Parser)]
#[command(name = "imitation-demo-step", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record expert demonstrations into OUT/dataset.json.
    Collect {
        /// Directory for the artifacts.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Behaviour cloning: fit a policy to a dataset, write OUT/policy.json.
    Pretrain {
        /// Dataset directory (or file) from `collect`.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Directory for the artifacts.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// RL fine-tuning of a policy, write OUT/policy.json.
    Finetune {
        /// Policy directory (or file) from `pretrain`.
        #[arg(long, value_name = "DIR")]
        policy: PathBuf,
        /// Directory for the artifacts.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Evaluate the expert and policies on fresh episodes, write OUT/eval-report.json.
    Evaluate {
        /// Policy directory (or file) to evaluate.
        #[arg(long, value_name = "DIR")]
        policy: PathBuf,
        /// Another policy to compare with (e.g. the behaviour-cloned one).
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
        /// Directory for the artifacts.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Workload size.
    #[arg(long, value_enum, default_value_t = ScaleArg::Default)]
    scale: ScaleArg,
    /// Seed of all random choices.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    /// Under a second; for tests.
    Quick,
    /// About a minute in a release build.
    Default,
}

impl Common {
    fn config(&self) -> DemoConfig {
        let scale = match self.scale {
            ScaleArg::Quick => Scale::Quick,
            ScaleArg::Default => Scale::Default,
        };
        DemoConfig::new(scale).with_seed(self.seed)
    }
}

/// Progress to the channel (if any) and notes to stderr.
struct StepProgress {
    channel: Option<ProgressChannel>,
}

impl StepProgress {
    fn warn_once(&mut self) {
        if let Some(w) = self
            .channel
            .as_mut()
            .and_then(ProgressChannel::take_warning)
        {
            eprintln!("imitation-demo-step: warning: {w}");
        }
    }

    fn artifact(&mut self, path: &Path) {
        if let Some(ch) = self.channel.as_mut() {
            ch.artifact(path);
        }
        self.warn_once();
    }

    fn result(&mut self, text: &str) {
        if let Some(ch) = self.channel.as_mut() {
            ch.result(text);
        }
        self.warn_once();
    }
}

impl Progress for StepProgress {
    fn update(&mut self, fraction_done: f64, items_done: u64) {
        if let Some(ch) = self.channel.as_mut() {
            ch.update(fraction_done, items_done);
        }
        self.warn_once();
    }

    fn message(&mut self, text: &str) {
        eprintln!("imitation-demo-step: {text}");
    }
}

/// `path` itself if it is a file, else `path/name`.
fn input(path: &Path, name: &str) -> PathBuf {
    if path.is_dir() {
        path.join(name)
    } else {
        path.to_owned()
    }
}

fn out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))
}

/// Writes `value` to `dir/name` and announces it on the channel.
fn write<T: serde::Serialize>(
    progress: &mut StepProgress,
    value: &T,
    dir: &Path,
    name: &str,
    compact: bool,
) -> Result<()> {
    let path = dir.join(name);
    save_json(value, &path, compact).context("cannot save artifact")?;
    progress.artifact(&path);
    Ok(())
}

fn short_name(policy: &Policy) -> &'static str {
    match policy.origin {
        PolicyOrigin::Random => "random",
        PolicyOrigin::BehaviourCloning => "bc",
        PolicyOrigin::FineTuned => "fine-tuned",
    }
}

/// Runs the step; returns its one-line result.
fn run(command: Command, progress: &mut StepProgress) -> Result<String> {
    match command {
        Command::Collect { out, common } => {
            let config = common.config();
            out_dir(&out)?;
            let dataset = imitation_demo::collect(&config, progress);
            write(progress, &dataset, &out, DATASET_FILE, true)?;
            Ok(format!(
                "collected {} pairs from {} expert episodes (success {:.1} %, mean return {:.2})",
                dataset.len(),
                dataset.stats.episodes,
                100.0 * dataset.stats.success_rate,
                dataset.stats.mean_return
            ))
        }
        Command::Pretrain { data, out, common } => {
            let config = common.config();
            let dataset =
                load_dataset(&input(&data, DATASET_FILE)).context("cannot load dataset")?;
            out_dir(&out)?;
            let bc = imitation_demo::pretrain(&config, &dataset, progress)
                .context("behaviour cloning failed")?;
            write(progress, &bc.policy, &out, POLICY_FILE, false)?;
            write(progress, &bc.report, &out, PRETRAIN_REPORT_FILE, false)?;
            let r = &bc.report;
            Ok(format!(
                "behaviour cloning: loss {:.5} -> {:.5} (validation {:.5}) over {} epochs on {} pairs",
                r.initial_train_loss,
                r.final_train_loss,
                r.final_validation_loss,
                r.epochs,
                r.train_pairs
            ))
        }
        Command::Finetune {
            policy,
            out,
            common,
        } => {
            let config = common.config();
            let policy = load_policy(&input(&policy, POLICY_FILE)).context("cannot load policy")?;
            out_dir(&out)?;
            let tuned = imitation_demo::finetune(&config, &policy, progress)
                .context("fine-tuning failed")?;
            write(progress, &tuned.policy, &out, POLICY_FILE, false)?;
            write(progress, &tuned.report, &out, FINETUNE_REPORT_FILE, false)?;
            let r = &tuned.report;
            Ok(format!(
                "fine-tuning: training return {:.3} -> {:.3}, success {:.1} % -> {:.1} % ({} updates, best at {})",
                r.initial.mean_return,
                r.best.mean_return,
                100.0 * r.initial.success_rate,
                100.0 * r.best.success_rate,
                r.iterations,
                r.best_iteration
            ))
        }
        Command::Evaluate {
            policy,
            baseline,
            out,
            common,
        } => {
            let config = common.config();
            let policy = load_policy(&input(&policy, POLICY_FILE)).context("cannot load policy")?;
            let baseline = baseline
                .map(|b| {
                    load_policy(&input(&b, POLICY_FILE)).context("cannot load baseline policy")
                })
                .transpose()?;
            out_dir(&out)?;
            let mut named: Vec<(&str, &Policy)> = Vec::new();
            match &baseline {
                Some(b) if b.origin == policy.origin => {
                    named.push(("baseline", b));
                    named.push(("policy", &policy));
                }
                Some(b) => {
                    named.push((short_name(b), b));
                    named.push((short_name(&policy), &policy));
                }
                None => named.push((short_name(&policy), &policy)),
            }
            let report = imitation_demo::evaluate(&config, &named, progress);
            write(progress, &report, &out, EVAL_REPORT_FILE, false)?;
            Ok(format!(
                "evaluation over {} episodes (success / mean return): {}",
                config.eval.episodes,
                report.summary_line()
            ))
        }
    }
}

/// Exit status for an error: failures of the computation are 1, the rest 2.
fn exit_code(err: &anyhow::Error) -> u8 {
    let diverged = err.chain().any(|e| {
        matches!(
            e.downcast_ref::<imitation_demo::Error>(),
            Some(imitation_demo::Error::Diverged(_))
        )
    });
    if diverged { EXIT_FAILURE } else { EXIT_USAGE }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut progress = StepProgress {
        channel: ProgressChannel::from_env(),
    };
    progress.warn_once();
    match run(cli.command, &mut progress) {
        Ok(line) => {
            progress.result(&line);
            let mut stdout = std::io::stdout().lock();
            match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // A closed pipe (`... | head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("imitation-demo-step: error: cannot write to stdout: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        Err(err) => {
            eprintln!("imitation-demo-step: error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "imitation-demo-step",
            "evaluate",
            "--policy",
            "a",
            "--baseline",
            "b",
            "--out",
            "c",
            "--scale",
            "quick",
            "--seed",
            "3",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::Evaluate {
                baseline: Some(_),
                common: Common { seed: 3, .. },
                ..
            }
        ));
        assert!(Cli::try_parse_from(["imitation-demo-step", "collect"]).is_err());
    }

    #[test]
    fn only_divergence_is_a_failure() {
        let diverged = anyhow::Error::new(imitation_demo::Error::Diverged("nan".into()))
            .context("behaviour cloning failed");
        assert_eq!(exit_code(&diverged), EXIT_FAILURE);
        let io = anyhow::anyhow!("cannot create output directory");
        assert_eq!(exit_code(&io), EXIT_USAGE);
    }
}
