//! `tracker run PIPELINE.toml`: run a pipeline whose steps are commands,
//! each tracked as a child process tree.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use manifest::{Retention, RunOptions};
use progress::{Display, FailureGuard, ProgressTracker, StepSpec, TrackerOptions};
use telemetry_model::RunStatus;

use crate::channel::Follower;
use crate::cli::RunArgs;
use crate::commands::Context;
use crate::exit::Outcome;
use crate::pipeline::{Pipeline, Step};
use crate::{supervise, sys};

/// Environment variables every step gets.
pub(crate) mod env {
    /// The run id.
    pub(crate) const RUN_ID: &str = "TRACKER_RUN_ID";
    /// The step id.
    pub(crate) const STEP_ID: &str = "TRACKER_STEP_ID";
    /// The progress channel file.
    pub(crate) const PROGRESS: &str = "TRACKER_PROGRESS";
    /// The run directory (absolute): a place for the step's outputs.
    pub(crate) const RUN_DIR: &str = "TRACKER_RUN_DIR";
}

pub(crate) fn run(
    ctx: &Context,
    args: &RunArgs,
    _out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let pipeline = Pipeline::load(&args.pipeline)?;
    let selected = select_steps(&pipeline, args)?;
    let thresholds = match &args.rules {
        None => pipeline.thresholds.clone(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --rules {}", path.display()))?;
            pipeline
                .thresholds
                .overlay_toml_str(&text, &path.display().to_string())?
        }
    };
    let specs: Vec<StepSpec> = pipeline
        .steps
        .iter()
        .map(|step| {
            let mut spec = StepSpec::new(&step.id, &step.name).enabled(selected.contains(&step.id));
            spec.expected = step.expected_seconds.map(Duration::from_secs_f64);
            spec
        })
        .collect();

    let mut options = TrackerOptions::new(&pipeline.name, ctx.root.clone());
    options.scenario_config_path = pipeline.scenario.clone();
    options.run = RunOptions {
        name: args.run_id.clone(),
        retention: Retention { keep: args.keep },
        ..RunOptions::default()
    };
    options.heartbeat = Duration::from_secs_f64(args.heartbeat);
    if args.plain {
        options.display = Display::Plain;
    }
    let tracker = Arc::new(
        ProgressTracker::start(options, specs)
            .with_context(|| format!("cannot start a run under {}", ctx.root.path().display()))?,
    );
    let run_dir = std::path::absolute(tracker.dir()).unwrap_or_else(|_| tracker.dir().to_owned());
    let signals = Signals::install(&tracker)?;
    let telemetry = Telemetry::start(args, &tracker, &signals.current);
    let warn: Arc<dyn Fn(String) + Send + Sync> = Arc::new(|text| {
        let _ = writeln!(std::io::stderr(), "warning: {text}");
    });

    let mut failure: Option<String> = None;
    for step in pipeline.steps.iter().filter(|s| selected.contains(&s.id)) {
        if signals.interrupted().is_some() {
            break;
        }
        match run_step(
            &tracker,
            &pipeline,
            step,
            &run_dir,
            &signals,
            &warn,
            telemetry.as_ref(),
        ) {
            Ok(StepEnd::Completed) => {}
            Ok(StepEnd::Failed(reason)) => {
                if !step.continue_on_error {
                    failure = Some(format!("step `{}` failed: {reason}", step.id));
                    break;
                }
            }
            Ok(StepEnd::Interrupted) => break,
            Err(e) => {
                // Could not even record the step: the run's files are broken.
                let _ = writeln!(err, "error: {e:#}");
                failure = Some(format!("{e:#}"));
                break;
            }
        }
    }
    if let Some(telemetry) = telemetry {
        telemetry.sampler.stop();
    }
    if signals.interrupted().is_some() {
        // The run was flushed as cancelled when the signal came; now that the
        // step has stopped, add what the summary of any run has.
        assess(&tracker, ctx, &pipeline.name, &thresholds, &run_dir);
        let _ = tracker.rewrite_summary();
        drop(tracker);
        let _ = std::io::stdout().flush();
        // Die by the signal, so the caller sees 130 / 143 as from any program.
        signals.guard.reraise();
        return Ok(Outcome::Failure);
    }
    let status = if failure.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    let recommendations = assess(&tracker, ctx, &pipeline.name, &thresholds, &run_dir);
    let record = tracker.conclude(status, failure.as_deref())?;
    if let Some(resources) = record.summary.extra.get("resources") {
        err.write_all(
            crate::commands::show::resources_table(&record, resources)
                .to_text()
                .as_bytes(),
        )?;
    }
    print_recommendations(err, &recommendations, &run_dir)?;
    Ok(if status == RunStatus::Completed {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

/// Rates the run: recommendations (appended to the manifest) and resource
/// aggregates (`summary.resources`), from its telemetry, its steps and the
/// history of the pipeline. Never fails the run: unreadable inputs count as
/// absent.
fn assess(
    tracker: &ProgressTracker,
    ctx: &Context,
    pipeline: &str,
    thresholds: &recommend::Thresholds,
    run_dir: &Path,
) -> Vec<telemetry_model::PerformanceRecommendation> {
    let mut snapshots = Vec::new();
    let telemetry = run_dir.join(manifest::files::TELEMETRY);
    if telemetry.is_file() {
        let _ = manifest::read_jsonl(&telemetry, |_, s| snapshots.push(s));
    }
    let record = tracker.record();
    let history = step_history(ctx, pipeline);
    let (baselines, measured) = (Default::default(), Default::default());
    let inputs = recommend::Inputs {
        snapshots: &snapshots,
        steps: &record.steps,
        history: &history,
        baselines: &baselines,
        measured_throughput: &measured,
        now_ms: None,
    };
    let recommendations = recommend::recommend(&inputs, thresholds);
    let summary = recommend::summarize(&inputs, thresholds);
    if let Ok(value) = serde_json::to_value(&summary) {
        tracker.set_summary_value("resources", value);
    }
    if let Err(e) = tracker.add_recommendations(&recommendations) {
        let _ = writeln!(
            std::io::stderr(),
            "warning: recommendations not recorded: {e}"
        );
    }
    recommendations
}

/// How long each step took in the newest completed runs of `pipeline` (the
/// run being rated is still running, so it is not among them).
fn step_history(
    ctx: &Context,
    pipeline: &str,
) -> std::collections::BTreeMap<String, recommend::StepHistory> {
    progress::step_durations(&ctx.root, pipeline, 20)
        .into_iter()
        .filter_map(|(id, d)| recommend::StepHistory::from_durations(d).map(|h| (id, h)))
        .collect()
}

fn print_recommendations(
    err: &mut dyn Write,
    recommendations: &[telemetry_model::PerformanceRecommendation],
    run_dir: &Path,
) -> std::io::Result<()> {
    if recommendations.is_empty() {
        writeln!(err, "No recommendations.")?;
    } else {
        writeln!(err, "Recommendations ({}):", recommendations.len())?;
        for rec in recommendations {
            writeln!(err, "  [{}] {}: {}", rec.severity, rec.trigger, rec.message)?;
            for action in &rec.suggested_actions {
                writeln!(err, "      → {action}")?;
            }
        }
    }
    writeln!(
        err,
        "Summary: {}",
        run_dir.join(manifest::files::SUMMARY_MD).display()
    )
}

/// The ids of the steps to run: enabled in the file, minus `--skip`, and
/// only `--only` if given. Unknown ids are an error naming the flag.
fn select_steps(pipeline: &Pipeline, args: &RunArgs) -> anyhow::Result<Vec<String>> {
    let known = |flag: &str, id: &String| -> anyhow::Result<()> {
        if pipeline.steps.iter().any(|s| &s.id == id) {
            return Ok(());
        }
        let ids: Vec<&str> = pipeline.steps.iter().map(|s| s.id.as_str()).collect();
        bail!(
            "{flag} {id}: no such step in {} (steps: {})",
            args.pipeline.display(),
            ids.join(", ")
        )
    };
    for id in &args.skip {
        known("--skip", id)?;
    }
    for id in &args.only {
        known("--only", id)?;
    }
    let selected: Vec<String> = pipeline
        .steps
        .iter()
        .filter(|s| {
            if args.only.is_empty() {
                s.enabled && !args.skip.contains(&s.id)
            } else {
                args.only.contains(&s.id) && !args.skip.contains(&s.id)
            }
        })
        .map(|s| s.id.clone())
        .collect();
    if selected.is_empty() {
        bail!(
            "no step left to run in {}: every step is disabled or skipped",
            args.pipeline.display()
        );
    }
    Ok(selected)
}

enum StepEnd {
    Completed,
    Failed(String),
    Interrupted,
}

fn run_step(
    tracker: &Arc<ProgressTracker>,
    pipeline: &Pipeline,
    step: &Step,
    run_dir: &Path,
    signals: &Signals,
    warn: &Arc<dyn Fn(String) + Send + Sync>,
    telemetry: Option<&Telemetry>,
) -> anyhow::Result<StepEnd> {
    match tracker.start_step(&step.id) {
        Ok(()) => {}
        Err(progress::Error::Finished) => return Ok(StepEnd::Interrupted),
        Err(e) => return Err(e.into()),
    }
    let logs = run_dir.join(manifest::files::LOGS_DIR);
    let channels = run_dir.join("progress");
    for dir in [&logs, &channels] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{}.log", step.id));
    let log =
        Arc::new(Mutex::new(File::create(&log_path).with_context(|| {
            format!("cannot create {}", log_path.display())
        })?));
    let channel = channels.join(format!("{}.jsonl", step.id));
    File::create(&channel).with_context(|| format!("cannot create {}", channel.display()))?;

    let exe = std::env::current_exe().context("cannot find the tracker's own executable")?;
    let spawned = Command::new(exe)
        .arg(supervise::SUBCOMMAND)
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(&step.run)
        .current_dir(&pipeline.dir)
        .env(env::RUN_ID, tracker.run_id())
        .env(env::STEP_ID, &step.id)
        .env(env::PROGRESS, &channel)
        .env(env::RUN_DIR, run_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let reason = format!("cannot start the step: {e}");
            tracker.fail_step(&step.id, &reason)?;
            return Ok(StepEnd::Failed(reason));
        }
    };
    signals.current.store(child.id(), Ordering::SeqCst);
    if let Some(signal) = signals.interrupted() {
        sys::signal_process(child.id(), signal); // it arrived while we were starting
    }
    let tees: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| tee(Box::new(s), false, Arc::clone(&log), Arc::clone(tracker))),
        child
            .stderr
            .take()
            .map(|s| tee(Box::new(s), true, Arc::clone(&log), Arc::clone(tracker))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let follower = Follower::start(
        Arc::clone(tracker),
        step.id.clone(),
        channel,
        Arc::clone(warn),
    );
    // wait4: the supervisor reaps the whole tree, so its usage is the step's.
    let waited = sys::wait_with_usage(child.id());
    signals.current.store(0, Ordering::SeqCst);
    for tee in tees {
        let _ = tee.join();
    }
    follower.finish();
    let waited = waited.context("cannot wait for the step's process")?;
    let (code, reason) = describe(waited.status);
    let peak = telemetry.and_then(|t| t.peak_rss_mb(&step.id));
    let _ = tracker.set_step_resources(&step.id, Some(code), Some(waited.cpu_seconds), peak);
    let status = waited.status;
    if signals.interrupted().is_some() {
        return Ok(StepEnd::Interrupted);
    }
    let result = if status.success() {
        tracker.complete_step(&step.id).map(|()| StepEnd::Completed)
    } else {
        tracker
            .fail_step(&step.id, &reason)
            .map(|()| StepEnd::Failed(reason))
    };
    match result {
        Err(progress::Error::Finished) => Ok(StepEnd::Interrupted),
        other => Ok(other?),
    }
}

/// Exit code as recorded (a signal `N` is `-N`, as Python's subprocess says)
/// and the failure reason.
fn describe(status: ExitStatus) -> (i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, format!("exit status {code}")),
        (None, Some(signal)) => {
            let name = signal_hook::low_level::signal_name(signal).unwrap_or("a signal");
            (-signal, format!("killed by {name}"))
        }
        _ => (-1, "ended abnormally".to_owned()),
    }
}

/// Copies a child's stream to the terminal and to the step's log.
fn tee(
    mut source: Box<dyn Read + Send>,
    to_stderr: bool,
    log: Arc<Mutex<File>>,
    tracker: Arc<ProgressTracker>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Ok(mut file) = log.lock() {
                let _ = file.write_all(&buf[..n]);
            }
            tracker.print_output(to_stderr, &buf[..n]);
        }
    })
}

/// Resource sampling of the running step's process tree.
struct Telemetry {
    sampler: sampler::Sampler,
    peaks: Arc<Mutex<std::collections::HashMap<String, f64>>>,
}

impl Telemetry {
    /// Starts sampling unless `--no-telemetry` or `TRACKER_TELEMETRY=0`.
    fn start(
        args: &RunArgs,
        tracker: &Arc<ProgressTracker>,
        current: &Arc<AtomicU32>,
    ) -> Option<Self> {
        if args.no_telemetry || sampler::disabled_by_env() {
            return None;
        }
        // The one log line about a missing GPU library; samples carry it as a note.
        if let Some(note) = sampler::gpu::unavailable_note() {
            let _ = writeln!(std::io::stderr(), "note: {note}");
        }
        let peaks: Arc<Mutex<std::collections::HashMap<String, f64>>> = Arc::default();
        let config = sampler::SamplerConfig {
            interval: Duration::from_secs_f64(args.interval),
            ..sampler::SamplerConfig::default()
        };
        let probe = {
            let tracker = Arc::clone(tracker);
            let current = Arc::clone(current);
            move || {
                let live = tracker.live_metrics();
                sampler::Probe {
                    root_pid: Some(current.load(Ordering::SeqCst)).filter(|pid| *pid != 0),
                    step_id: live.step_id,
                    steps_per_sec: live.steps_per_sec,
                    fps: live.fps,
                }
            }
        };
        let sink = {
            let tracker = Arc::clone(tracker);
            let peaks = Arc::clone(&peaks);
            let mut warned = false;
            move |snapshot: &telemetry_model::TelemetrySnapshot| {
                if let (Some(step), Some(rss)) = (&snapshot.step_id, snapshot.memory_rss_mb)
                    && let Ok(mut peaks) = peaks.lock()
                {
                    let peak = peaks.entry(step.clone()).or_insert(0.0);
                    *peak = peak.max(rss);
                }
                // Telemetry never fails a run; say once that it is degraded.
                if let Err(e) = tracker.append_telemetry(snapshot)
                    && !std::mem::replace(&mut warned, true)
                {
                    let _ = writeln!(std::io::stderr(), "warning: telemetry not written: {e}");
                }
            }
        };
        Some(Self {
            sampler: sampler::Sampler::start(config, probe, sink),
            peaks,
        })
    }

    fn peak_rss_mb(&self, step_id: &str) -> Option<f64> {
        self.peaks.lock().ok()?.get(step_id).copied()
    }
}

/// Signal handling of `tracker run`: the first SIGINT/SIGTERM/SIGHUP ends
/// the run as `cancelled`, flushed at once, and is forwarded to the running
/// step (its supervisor); a second one ends the tracker immediately.
struct Signals {
    guard: FailureGuard,
    /// The running step's supervisor, 0 between steps.
    current: Arc<AtomicU32>,
}

impl Signals {
    fn install(tracker: &ProgressTracker) -> anyhow::Result<Self> {
        let current = Arc::new(AtomicU32::new(0));
        let forward_to = Arc::clone(&current);
        let guard = FailureGuard::install_deferred(tracker, move |signal| {
            let pid = forward_to.load(Ordering::SeqCst);
            if pid != 0 {
                sys::signal_process(pid, signal);
            }
        })
        .context("cannot install signal handlers")?;
        Ok(Self { guard, current })
    }

    fn interrupted(&self) -> Option<i32> {
        self.guard.received()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_described() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe(ExitStatus::from_raw(0)),
            (0, "exit status 0".into())
        );
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            (3, "exit status 3".into())
        );
        assert_eq!(
            describe(ExitStatus::from_raw(15)),
            (-15, "killed by SIGTERM".into())
        );
    }
}
