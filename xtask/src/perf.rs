//! `cargo xtask perf`: measure the scenarios, judge them against the
//! baselines, record the perf run, print the verdict.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use manifest::{ArtifactRoot, RootSource};
use perf_gate::{Baselines, Gate, Measurement, Verdict};
use progress::{Display, ProgressTracker, StepSpec, TrackerOptions};
use telemetry_model::RunStatus;

use crate::PerfArgs;
use crate::confirm::measure_confirmed;
use crate::measure::{Plan, Scenario};

/// Repetitions per scenario unless `--repeat` says otherwise.
pub(crate) const DEFAULT_REPEAT: u32 = 5;
/// Timed work per repetition.
const BUDGET: Duration = Duration::from_millis(300);
/// Timed work of the warm-up.
const WARM_UP: Duration = Duration::from_millis(100);
/// Pipeline name of perf runs (their history feeds each other's ETA).
const PIPELINE: &str = "xtask-perf";
/// `summary.perf_tests.kind` of these runs.
const KIND: &str = "xtask";
/// The build profile, checked against the baselines' `profile`.
const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// The workspace root (this crate's parent directory).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `path` relative to the working directory where it is below it, for
/// shorter messages.
fn shown(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}

pub(crate) fn run(args: &PerfArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    let scenarios = select(&args.scenario)?;
    if args.list {
        for s in &scenarios {
            writeln!(out, "{:<18} {:<12} {}", s.name(), s.unit(), s.title())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let root = workspace_root();
    let baselines_path = match &args.baselines {
        Some(path) => path.clone(),
        None => shown(&root.join("perf").join("baselines.json")),
    };
    let (baselines, existed) = Baselines::load_or_empty(&baselines_path)?;
    if !existed {
        writeln!(
            err,
            "note: {} does not exist: every scenario is recorded as a candidate",
            baselines_path.display()
        )?;
    }
    if !args.update_baselines {
        baselines.check_profile(PROFILE).context(
            "`cargo xtask perf` builds in release; run it through the alias, not `cargo run`",
        )?;
    }
    let mut artifact_root = ArtifactRoot::resolve(args.output.as_deref());
    if artifact_root.source() == RootSource::Default {
        artifact_root = ArtifactRoot::new(shown(&root.join(manifest::DEFAULT_ARTIFACT_ROOT)));
    }

    let specs = scenarios
        .iter()
        .map(|s| StepSpec::new(s.name(), s.title()))
        .collect();
    let mut options = TrackerOptions::new(PIPELINE, artifact_root.clone());
    options.display = Display::Plain;
    // No refresh thread competing with the measurements.
    options.refresh = None;
    options.scenario_config_path = Some(baselines_path.display().to_string());
    let tracker = ProgressTracker::start(options, specs).with_context(|| {
        format!(
            "cannot start a perf run under {}",
            artifact_root.path().display()
        )
    })?;
    perf_gate::mark_perf_run(&tracker, KIND, Some(&baselines_path));
    let plan = Plan {
        repeat: args.repeat,
        budget: BUDGET,
        warm_up: WARM_UP,
    };

    let mut measurements = Vec::new();
    // By value: each fixture (temporary files, a process tree) goes as
    // soon as its scenario is measured.
    for mut scenario in scenarios {
        let judge = (!args.update_baselines).then_some(&baselines);
        match measure_one(&tracker, scenario.as_mut(), plan, judge, &mut err) {
            Ok(m) => measurements.push(m),
            Err(e) => {
                let reason = format!("scenario `{}`: {e:#}", scenario.name());
                let _ = tracker.fail_step(scenario.name(), &reason);
                let _ = tracker.finish(progress::Ending::Status(RunStatus::Failed, Some(&reason)));
                bail!(reason);
            }
        }
    }
    let gate = Gate {
        kind: KIND,
        baselines_path: &baselines_path,
        baselines,
        source_dir: &root,
        repeats: format!("{} repeats each", args.repeat),
        profile: Some(PROFILE),
        update_baselines: args.update_baselines,
    };
    let verdict = perf_gate::finish::<anyhow::Error>(
        &tracker,
        gate,
        &measurements,
        |status, reason, _| {
            tracker.finish(progress::Ending::Status(status, reason))?;
            Ok(())
        },
        || false,
        &mut out,
        &mut err,
    )?;
    Ok(match verdict {
        Verdict::Passed | Verdict::BaselinesUpdated => ExitCode::SUCCESS,
        Verdict::Failed | Verdict::Interrupted => ExitCode::from(1),
    })
}

/// The scenarios named (all without names); an unknown name is an error
/// listing the known ones.
fn select(names: &[String]) -> anyhow::Result<Vec<Box<dyn Scenario>>> {
    let all = crate::scenarios::all();
    for name in names {
        if !all.iter().any(|s| s.name() == name) {
            let known: Vec<&str> = all.iter().map(|s| s.name()).collect();
            bail!(
                "--scenario {name}: no such scenario (scenarios: {})",
                known.join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name()))
        .collect())
}

/// Sets up and measures one scenario as a step of the perf run; a breach
/// of `baselines` is measured again before it counts
/// ([`measure_confirmed`]).
fn measure_one(
    tracker: &ProgressTracker,
    scenario: &mut dyn Scenario,
    plan: Plan,
    baselines: Option<&Baselines>,
    notes: &mut dyn std::io::Write,
) -> anyhow::Result<Measurement> {
    tracker.start_step(scenario.name())?;
    scenario.setup()?;
    let measured = measure_confirmed(scenario, plan, baselines, notes)?;
    tracker.complete_step(scenario.name())?;
    Ok(measured)
}
