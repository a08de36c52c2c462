//! `imitation-demo`: the whole imitation-learning pipeline in one process,
//! tracked through the `progress` library (the README's first command).
//!
//! It runs collect → pre-train → fine-tune → evaluate on the built-in default
//! artifact root (`./output`, or `--artifact-root` /
//! `TRACKER_ARTIFACT_ROOT`), shows live progress with an ETA, persists every
//! step to the run's manifest, and ends by saying where the run's files are.
//! Ctrl-C ends the run as `cancelled`, flushed.
//!
//! The same pipeline as separate processes is `examples/imitation-demo/pipeline.toml`
//! for `tracker run`.

// A command-line tool prints its result to stdout and its notes to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use imitation_demo::artifact::{
    DATASET_FILE, EVAL_REPORT_FILE, FINETUNE_REPORT_FILE, POLICY_FILE, PRETRAIN_REPORT_FILE,
    save_json,
};
use imitation_demo::{DemoConfig, Progress, Scale};
use manifest::{ArtifactRoot, RunOptions};
use progress::{Display, FailureGuard, ProgressTracker, Report, StepSpec, TrackerOptions};
use sampler::{Probe, Sampler, SamplerConfig};
use telemetry_model::RunStatus;

/// Runs the imitation-learning demo pipeline, tracked.
#[derive(Debug, Parser)]
#[command(name = "imitation-demo", version)]
struct Cli {
    /// Workload size: `default` takes about a minute in a release build.
    #[arg(long, value_enum, default_value_t = ScaleArg::Default)]
    scale: ScaleArg,
    /// Seed for every random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Artifact root [default: $TRACKER_ARTIFACT_ROOT, else $ROBOT_SF_ARTIFACT_ROOT, else ./output].
    #[arg(long, value_name = "DIR")]
    artifact_root: Option<PathBuf>,
    /// Name the run instead of generating an id.
    #[arg(long, value_name = "NAME")]
    run_id: Option<String>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    plain: bool,
    /// Do not sample CPU, memory and GPU (also: TRACKER_TELEMETRY=0).
    #[arg(long)]
    no_telemetry: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScaleArg {
    Quick,
    Default,
}

/// Forwards the computation's progress to the tracker.
struct Bridge<'a> {
    tracker: &'a ProgressTracker,
    step: &'static str,
}

impl Progress for Bridge<'_> {
    fn update(&mut self, fraction_done: f64, items_done: u64) {
        let report = Report {
            fraction: Some(fraction_done),
            items: Some(items_done),
            ..Report::default()
        };
        let _ = self.tracker.report(self.step, report);
    }

    fn message(&mut self, text: &str) {
        let report = Report {
            message: Some(text.to_owned()),
            ..Report::default()
        };
        let _ = self.tracker.report(self.step, report);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Seconds each step takes at the default scale in a release build on a
/// 2-core machine; the first run's ETA comes from these, later runs' from
/// history.
fn expected(scale: Scale, default_secs: u64) -> Duration {
    match scale {
        Scale::Default => Duration::from_secs(default_secs),
        Scale::Quick => Duration::from_millis(default_secs * 20),
    }
}

fn run(cli: &Cli) -> Result<bool> {
    let scale = match cli.scale {
        ScaleArg::Quick => Scale::Quick,
        ScaleArg::Default => Scale::Default,
    };
    let config = DemoConfig::new(scale).with_seed(cli.seed);
    let cwd = std::env::current_dir().unwrap_or_default();
    let (root, project) = ArtifactRoot::discover(cli.artifact_root.as_deref(), &cwd)?;
    let mut options = TrackerOptions::new("imitation-demo", root);
    options.retention = project.map_or_else(Default::default, |p| p.retention());
    options.scenario_config_path = Some(format!("imitation-demo:{scale}"));
    options.run = RunOptions {
        name: cli.run_id.clone(),
        ..RunOptions::default()
    };
    if cli.plain {
        options.display = Display::Plain;
    }
    let steps = vec![
        StepSpec::new("collect_expert", "Collect expert trajectories")
            .expected(expected(scale, 10)),
        StepSpec::new("pretrain", "Pre-train by behaviour cloning").expected(expected(scale, 15)),
        StepSpec::new("finetune", "Fine-tune with RL").expected(expected(scale, 22)),
        StepSpec::new("evaluate", "Evaluate").expected(expected(scale, 5)),
    ];
    let tracker = Arc::new(ProgressTracker::start(options, steps).context("cannot start the run")?);
    let _guard = FailureGuard::install(&tracker).context("cannot install signal handlers")?;
    let telemetry_off = cli.no_telemetry || sampler::disabled_by_env();
    let sampler = (!telemetry_off).then(|| sample_this_process(&tracker));
    let out = tracker.dir().join("artifacts");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    let run_id = tracker.run_id().to_owned();
    let outcome = pipeline(&tracker, &config, &out);
    if let Some(sampler) = sampler {
        sampler.stop();
    }
    match outcome {
        Ok(summary) => {
            let record = tracker.finish(progress::Ending::Status(RunStatus::Completed, None))?;
            write_report(&tracker, &record);
            println!("{summary}");
            println!("Inspect it: tracker show {run_id}   (history: tracker list)");
            Ok(true)
        }
        Err((step, error)) => {
            let reason = format!("{error:#}");
            let _ = tracker.fail_step(step, &reason);
            let record =
                tracker.finish(progress::Ending::Status(RunStatus::Failed, Some(&reason)))?;
            write_report(&tracker, &record);
            Ok(false)
        }
    }
}

/// Samples this process (the pipeline runs in it) every second into the
/// run's `telemetry.jsonl`, tagged with the running step and its throughput.
fn sample_this_process(tracker: &Arc<ProgressTracker>) -> Sampler {
    let probe = {
        let tracker = Arc::clone(tracker);
        move || {
            let live = tracker.live_metrics();
            Probe {
                root_pid: Some(std::process::id()),
                exclude_root: false,
                step_id: live.step_id,
                steps_per_sec: live.steps_per_sec,
                fps: live.fps,
            }
        }
    };
    let sink = {
        let tracker = Arc::clone(tracker);
        let mut warned = false;
        move |snapshot: &telemetry_model::TelemetrySnapshot| {
            if let Err(e) = tracker.append_telemetry(snapshot)
                && !std::mem::replace(&mut warned, true)
            {
                eprintln!("warning: telemetry not written: {e}");
            }
        }
    };
    Sampler::start(SamplerConfig::default(), probe, sink)
}

type StepResult<T> = std::result::Result<T, (&'static str, anyhow::Error)>;

/// The four steps; an error says which step it came from.
fn pipeline(
    tracker: &ProgressTracker,
    config: &DemoConfig,
    out: &std::path::Path,
) -> StepResult<String> {
    let begin = |step: &'static str| tracker.start_step(step).map_err(|e| (step, e.into()));
    let save = |step: &'static str, value: &dyn ErasedSave, file: &str| -> StepResult<()> {
        let path = out.join(file);
        value.save(&path).map_err(|e| (step, e))?;
        tracker
            .add_artifact(step, path.display().to_string())
            .map_err(|e| (step, e.into()))
    };
    let end = |step: &'static str| tracker.complete_step(step).map_err(|e| (step, e.into()));

    begin("collect_expert")?;
    let dataset = imitation_demo::collect(
        config,
        &mut Bridge {
            tracker,
            step: "collect_expert",
        },
    );
    save("collect_expert", &dataset, DATASET_FILE)?;
    end("collect_expert")?;

    begin("pretrain")?;
    let bc = imitation_demo::pretrain(
        config,
        &dataset,
        &mut Bridge {
            tracker,
            step: "pretrain",
        },
    )
    .map_err(|e| ("pretrain", e.into()))?;
    save("pretrain", &bc.policy, POLICY_FILE)?;
    save("pretrain", &bc.report, PRETRAIN_REPORT_FILE)?;
    end("pretrain")?;

    begin("finetune")?;
    let tuned = imitation_demo::finetune(
        config,
        &bc.policy,
        &mut Bridge {
            tracker,
            step: "finetune",
        },
    )
    .map_err(|e| ("finetune", e.into()))?;
    save("finetune", &tuned.report, FINETUNE_REPORT_FILE)?;
    save(
        "finetune",
        &tuned.policy,
        &format!("finetuned-{POLICY_FILE}"),
    )?;
    end("finetune")?;

    begin("evaluate")?;
    let report = imitation_demo::evaluate(
        config,
        &[
            ("behaviour cloning", &bc.policy),
            ("fine-tuned", &tuned.policy),
        ],
        &mut Bridge {
            tracker,
            step: "evaluate",
        },
    );
    save("evaluate", &report, EVAL_REPORT_FILE)?;
    end("evaluate")?;
    Ok(format!(
        "Success rate / mean return: {}",
        report.summary_line()
    ))
}

/// Saving any artifact through one closure.
trait ErasedSave {
    fn save(&self, path: &std::path::Path) -> Result<()>;
}

impl<T: serde::Serialize> ErasedSave for T {
    fn save(&self, path: &std::path::Path) -> Result<()> {
        save_json(self, path, true).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Writes `report.html` next to the summary, as `tracker run` does: the
/// few lines a library user adds for the HTML report. A failure is a
/// warning; the run is already recorded.
fn write_report(tracker: &ProgressTracker, record: &telemetry_model::PipelineRunRecord) {
    let dir = tracker.dir();
    let render = || -> Result<std::path::PathBuf> {
        let contents = manifest::read_manifest(&dir.join(manifest::files::MANIFEST))?;
        let mut samples = Vec::new();
        let telemetry = dir.join(manifest::files::TELEMETRY);
        if telemetry.is_file() {
            manifest::read_jsonl(&telemetry, |_, s| samples.push(s))?;
        }
        let mut input = report::ReportInput::new(record);
        input.snapshots = &samples;
        input.recommendations = &contents.recommendations;
        input.perf_tests = &contents.perf_tests;
        // Artifacts are recorded relative to the working directory; links
        // are made relative to the report's own folder.
        input.links = report::ArtifactLinks {
            base_dir: std::env::current_dir().ok(),
            report_dir: std::path::absolute(dir).ok(),
        };
        let html = report::render_html(&input);
        let path = dir.join("report.html");
        manifest::write_atomic(&path, html.as_bytes(), false)?;
        Ok(path)
    };
    match render() {
        Ok(path) => eprintln!("Report: {}", path.display()),
        Err(e) => eprintln!("warning: report.html not written: {e:#}"),
    }
}
