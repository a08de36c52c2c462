//! `tracker run PIPELINE.toml`: run a pipeline whose steps are commands,
//! each tracked as a child process tree.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use manifest::{Retention, RunOptions};
use progress::{Display, FailureGuard, ProgressTracker, StepSpec, TrackerOptions};
use telemetry_model::{PipelineRunRecord, RunStatus};

use crate::channel::Follower;
use crate::cli::RunArgs;
use crate::commands::Context;
use crate::exit::Outcome;
use crate::pipeline::{Pipeline, Step};
use crate::storage::StorageLedger;
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
    let (telemetry, interval) = ctx.telemetry(args.no_telemetry, args.interval);
    let settings = Settings {
        pipeline: &pipeline.name,
        scenario: pipeline.scenario.clone(),
        run: RunOptions {
            name: args.run_id.clone(),
            ..RunOptions::default()
        },
        retention: ctx.retention(args.keep),
        plain: args.plain,
        heartbeat: args.heartbeat,
        no_telemetry: !telemetry,
        interval,
        workdir: pipeline.dir.clone(),
        tensorboard: args.tensorboard.clone(),
    };
    let mut session = Session::start(ctx, &settings, specs)?;
    let plan: Vec<(String, &Step)> = pipeline
        .steps
        .iter()
        .filter(|s| selected.contains(&s.id))
        .map(|s| (s.id.clone(), s))
        .collect();
    let failure = session.run_steps(&pipeline, &plan, err);
    session.stop_sampling();
    if session.interrupted() {
        return Ok(session.end_interrupted(ctx, &pipeline.name, &thresholds));
    }
    let status = if failure.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    let tracker = &session.tracker;
    let recommendations = assess(tracker, ctx, &pipeline.name, &thresholds, &session.run_dir);
    let record = session.conclude(status, failure.as_deref())?;
    print_resources(err, &record)?;
    print_recommendations(err, &recommendations, &session.run_dir)?;
    if session.interrupted() {
        // The signal came while the run was being rated or ended: the run
        // is cancelled, and the tracker ends by the signal.
        return Ok(session.reraise());
    }
    Ok(if status == RunStatus::Completed {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

/// How often the final record is tried again when it cannot be written,
/// and the pause between tries: a full disk may be freed meanwhile.
const FINAL_WRITE_RETRIES: usize = 10;
const FINAL_WRITE_PAUSE: Duration = Duration::from_millis(500);

/// The HTML report `tracker run` writes next to `summary.md`.
pub(crate) const REPORT_FILE: &str = "report.html";

/// How a [`Session`] is set up.
pub(crate) struct Settings<'a> {
    /// Pipeline name of the run (history, ETA).
    pub pipeline: &'a str,
    /// Recorded as `scenario_config_path`.
    pub scenario: Option<String>,
    pub run: RunOptions,
    /// Which older runs of the pipeline to delete (default: none).
    pub retention: Retention,
    pub plain: bool,
    /// Seconds between heartbeat lines in plain mode.
    pub heartbeat: f64,
    pub no_telemetry: bool,
    /// Seconds between telemetry samples.
    pub interval: f64,
    /// Where the steps run: relative artifact paths are relative to it.
    pub workdir: PathBuf,
    /// Mirror telemetry and step durations to TensorBoard under this
    /// directory.
    pub tensorboard: Option<PathBuf>,
}

/// A tracked run of commands: the tracker, its signal handling and its
/// resource sampling. `tracker run` and `tracker perf-tests` drive one.
pub(crate) struct Session {
    pub tracker: Arc<ProgressTracker>,
    /// The run directory, absolute.
    pub run_dir: PathBuf,
    signals: Signals,
    telemetry: Option<Telemetry>,
    warn: Arc<dyn Fn(String) + Send + Sync>,
    /// Writes of the run's files that failed (a full disk).
    storage: Arc<StorageLedger>,
    /// Where the steps run (for the report's artifact links).
    workdir: PathBuf,
    /// The live TensorBoard mirror, until it fails.
    mirror: Option<Arc<TensorboardMirror>>,
}

impl Session {
    /// Creates the run (under `ctx.root`), installs the signal handlers and
    /// starts sampling.
    pub(crate) fn start(
        ctx: &Context,
        settings: &Settings<'_>,
        specs: Vec<StepSpec>,
    ) -> anyhow::Result<Self> {
        let mut options = TrackerOptions::new(settings.pipeline, ctx.root.clone());
        options.scenario_config_path = settings.scenario.clone();
        options.run = settings.run.clone();
        options.retention = settings.retention;
        options.heartbeat = Duration::from_secs_f64(settings.heartbeat);
        if settings.plain {
            options.display = Display::Plain;
        }
        // A signal between the run's creation and its guard would kill the
        // tracker and leave the run `running` (abandoned): hold the guarded
        // signals until the guard is in place, then take what came.
        let held = sys::hold_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
            .context("cannot hold signals while the run starts")?;
        let tracker =
            Arc::new(ProgressTracker::start(options, specs).with_context(|| {
                format!("cannot start a run under {}", ctx.root.path().display())
            })?);
        let run_dir =
            std::path::absolute(tracker.dir()).unwrap_or_else(|_| tracker.dir().to_owned());
        let signals = Signals::install(&tracker)?;
        drop(held);
        let storage = Arc::new(StorageLedger::default());
        let mirror = settings
            .tensorboard
            .as_deref()
            .and_then(|dir| TensorboardMirror::create(dir, tracker.run_id()))
            .map(Arc::new);
        let telemetry = Telemetry::start(
            settings,
            &tracker,
            &signals.current,
            &storage,
            mirror.clone(),
        );
        let warn: Arc<dyn Fn(String) + Send + Sync> = Arc::new(|text| {
            let _ = writeln!(std::io::stderr(), "warning: {text}");
        });
        Ok(Self {
            tracker,
            run_dir,
            signals,
            telemetry,
            warn,
            storage,
            workdir: std::path::absolute(&settings.workdir)
                .unwrap_or_else(|_| settings.workdir.clone()),
            mirror,
        })
    }

    /// Runs `(tracked step id, pipeline step)` in order until one fails
    /// (without `continue_on_error`) or a signal comes; returns why the run
    /// failed, if it did.
    pub(crate) fn run_steps(
        &self,
        pipeline: &Pipeline,
        plan: &[(String, &Step)],
        err: &mut dyn Write,
    ) -> Option<String> {
        for (tracked, step) in plan {
            if self.interrupted() {
                break;
            }
            match run_step(self, pipeline, tracked, step) {
                Ok(StepEnd::Completed) => {}
                Ok(StepEnd::Failed(reason)) => {
                    if !step.continue_on_error {
                        return Some(format!("step `{tracked}` failed: {reason}"));
                    }
                }
                Ok(StepEnd::Interrupted) => break,
                Err(e) => {
                    // Could not even record the step: the run's files are broken.
                    let text = crate::error_text(&e);
                    let _ = writeln!(err, "error: {text}");
                    return Some(text);
                }
            }
        }
        None
    }

    /// Ends the run with `status`: records what could not be written on the
    /// way (`summary.storage_errors`), then the final record and summary. If
    /// even that cannot be written (the disk is still full), it tries again
    /// for a few seconds before giving up with an error.
    pub(crate) fn conclude(
        &self,
        status: RunStatus,
        reason: Option<&str>,
    ) -> anyhow::Result<PipelineRunRecord> {
        self.note_storage_errors();
        let mut result = self.tracker.conclude(status, reason);
        for _ in 0..FINAL_WRITE_RETRIES {
            // Only a write that may succeed later (a full disk) is retried,
            // and not once a signal asks the tracker to go.
            let Err(progress::Error::Manifest(e)) = &result else {
                break;
            };
            if matches!(e, manifest::Error::LineTooLong { .. }) || self.interrupted() {
                break;
            }
            std::thread::sleep(FINAL_WRITE_PAUSE);
            // The run is finished in memory: write its record and summary again.
            result = self
                .tracker
                .rewrite_summary()
                .map(|()| self.tracker.record());
        }
        let record = result.with_context(|| {
            format!(
                "cannot write the final state of run {} (it will list as abandoned)",
                self.tracker.run_id()
            )
        })?;
        self.finish_extras(&record);
        Ok(record)
    }

    /// Puts what could not be written on the way into the summary
    /// (`summary.storage_errors`), for the next record written.
    fn note_storage_errors(&self) {
        let lost = self.storage.summary();
        if !lost.is_empty() {
            self.tracker
                .set_summary_value("storage_errors", serde_json::json!(lost));
        }
    }

    /// What comes after the run's own files: `report.html` next to the
    /// summary, the TensorBoard mirror's last steps. Failures are warnings.
    fn finish_extras(&self, record: &PipelineRunRecord) {
        if let Err(e) = self.write_report(record) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: report.html not written: {}",
                crate::error_text(&e)
            );
        }
        if let Some(mirror) = &self.mirror {
            mirror.record_run(record);
        }
    }

    /// Renders `report.html` into the run directory (atomically).
    fn write_report(&self, record: &PipelineRunRecord) -> anyhow::Result<()> {
        let contents = manifest::read_manifest(&self.run_dir.join(manifest::files::MANIFEST))?;
        let (samples, _) = crate::view::read_telemetry(&self.run_dir)?;
        let mut input = report::ReportInput::new(record);
        input.snapshots = &samples;
        input.recommendations = &contents.recommendations;
        input.perf_tests = &contents.perf_tests;
        input.links = report::ArtifactLinks {
            base_dir: Some(self.workdir.clone()),
            report_dir: Some(self.run_dir.clone()),
        };
        let html = report::render_html(&input);
        manifest::write_atomic(&self.run_dir.join(REPORT_FILE), html.as_bytes(), false)?;
        Ok(())
    }

    /// Whether SIGINT, SIGTERM or SIGHUP arrived.
    pub(crate) fn interrupted(&self) -> bool {
        self.signals.interrupted().is_some()
    }

    /// Stops the resource sampler (the run's telemetry is then complete).
    pub(crate) fn stop_sampling(&mut self) {
        if let Some(telemetry) = self.telemetry.take() {
            telemetry.sampler.stop();
        }
    }

    /// After a signal: the run was flushed as cancelled when it came; now
    /// that the step has stopped, add what the summary of any run has, then
    /// end by the signal, so the caller sees 130 / 143 as from any program.
    pub(crate) fn end_interrupted(
        mut self,
        ctx: &Context,
        pipeline: &str,
        thresholds: &recommend::Thresholds,
    ) -> Outcome {
        self.stop_sampling();
        assess(&self.tracker, ctx, pipeline, thresholds, &self.run_dir);
        self.note_storage_errors();
        let _ = self.tracker.rewrite_summary();
        self.finish_extras(&self.tracker.record());
        self.reraise()
    }

    /// Ends the tracker by the signal that came (the run was flushed as
    /// `cancelled` when it came). Returns only if none came.
    pub(crate) fn reraise(self) -> Outcome {
        let Self {
            tracker, signals, ..
        } = self;
        drop(tracker);
        let _ = std::io::stdout().flush();
        signals.guard.reraise();
        Outcome::Failure
    }
}

/// The per-step resource table `tracker run` prints at the end.
pub(crate) fn print_resources(
    err: &mut dyn Write,
    record: &telemetry_model::PipelineRunRecord,
) -> std::io::Result<()> {
    if let Some(resources) = record.summary.extra.get("resources") {
        err.write_all(
            crate::commands::show::resources_table(record, resources)
                .to_text()
                .as_bytes(),
        )?;
    }
    Ok(())
}

/// The progress channel file of a tracked step.
pub(crate) fn channel_path(run_dir: &Path, tracked_id: &str) -> PathBuf {
    run_dir.join("progress").join(format!("{tracked_id}.jsonl"))
}

/// Rates the run: recommendations (appended to the manifest) and resource
/// aggregates (`summary.resources`), from its telemetry, its steps and the
/// history of the pipeline. Never fails the run: unreadable inputs count as
/// absent.
pub(crate) fn assess(
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

pub(crate) fn print_recommendations(
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
    )?;
    let report = run_dir.join(REPORT_FILE);
    if report.is_file() {
        writeln!(err, "Report:  {}", report.display())?;
    }
    Ok(())
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

/// Runs `step` as the tracked step `id` (its own id in `tracker run`, a
/// per-repetition id in `tracker perf-tests`); the command sees the
/// pipeline's step id in `TRACKER_STEP_ID`.
fn run_step(
    session: &Session,
    pipeline: &Pipeline,
    id: &str,
    step: &Step,
) -> anyhow::Result<StepEnd> {
    let Session {
        tracker,
        run_dir,
        signals,
        telemetry,
        warn,
        storage,
        mirror,
        ..
    } = session;
    let telemetry = telemetry.as_ref();
    match tracker.start_step(id) {
        Ok(()) => {}
        Err(progress::Error::Finished) => return Ok(StepEnd::Interrupted),
        // Started in memory; the next record written says so.
        Err(progress::Error::Manifest(e)) => storage.note("manifest", &e),
        Err(e) => return Err(e.into()),
    }
    // The step runs even if its log and channel cannot be created (a full
    // disk): its output still reaches the terminal.
    let logs = run_dir.join(manifest::files::LOGS_DIR);
    let channels = run_dir.join("progress");
    for dir in [&logs, &channels] {
        if let Err(e) = std::fs::create_dir_all(dir) {
            storage.note("log", &format!("cannot create {}: {e}", dir.display()));
        }
    }
    let log_path = logs.join(format!("{id}.log"));
    let log = match File::create(&log_path) {
        Ok(file) => Some(file),
        Err(e) => {
            storage.note("log", &format!("cannot create {}: {e}", log_path.display()));
            None
        }
    };
    let log = Arc::new(Mutex::new(log));
    let channel = channel_path(run_dir, id);
    if let Err(e) = File::create(&channel) {
        storage.note(
            "progress channel",
            &format!("cannot create {}: {e}", channel.display()),
        );
    }

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
        // Python block-buffers stdout into a pipe: without this, a Python
        // step's prints would reach the terminal and its log only when it
        // ends. A value already in the environment is kept.
        .env(
            "PYTHONUNBUFFERED",
            std::env::var_os("PYTHONUNBUFFERED").unwrap_or_else(|| "1".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let reason = format!("cannot start the step: {e}");
            match tracker.fail_step(id, &reason) {
                Err(progress::Error::Manifest(e)) => storage.note("manifest", &e),
                other => other?,
            }
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
            .map(|s| tee(Box::new(s), false, Arc::clone(&log), session)),
        child
            .stderr
            .take()
            .map(|s| tee(Box::new(s), true, Arc::clone(&log), session)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let follower = Follower::start(
        Arc::clone(tracker),
        id.to_owned(),
        channel,
        std::path::absolute(&pipeline.dir).unwrap_or_else(|_| pipeline.dir.clone()),
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
    let peak = telemetry.and_then(|t| t.peak_rss_mb(id));
    let _ = tracker.set_step_resources(id, Some(code), Some(waited.cpu_seconds), peak);
    let status = waited.status;
    if signals.interrupted().is_some() {
        return Ok(StepEnd::Interrupted);
    }
    let result = if status.success() {
        tracker.complete_step(id).map(|()| StepEnd::Completed)
    } else {
        tracker
            .fail_step(id, &reason)
            .map(|()| StepEnd::Failed(reason.clone()))
    };
    if let Some(mirror) = mirror {
        mirror.record_run(&tracker.record());
    }
    match result {
        Err(progress::Error::Finished) => Ok(StepEnd::Interrupted),
        // Ended in memory; the next record written says so.
        Err(progress::Error::Manifest(e)) => {
            storage.note("manifest", &e);
            Ok(if status.success() {
                StepEnd::Completed
            } else {
                StepEnd::Failed(reason)
            })
        }
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

/// Copies a child's stream to the terminal and to the step's log (if it
/// could be created; a failed write is noted, the copying goes on).
fn tee(
    mut source: Box<dyn Read + Send>,
    to_stderr: bool,
    log: Arc<Mutex<Option<File>>>,
    session: &Session,
) -> std::thread::JoinHandle<()> {
    let tracker = Arc::clone(&session.tracker);
    let storage = Arc::clone(&session.storage);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Ok(mut file) = log.lock()
                && let Some(file) = file.as_mut()
                && let Err(e) = file.write_all(&buf[..n])
            {
                storage.note("log", &e);
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
        settings: &Settings<'_>,
        tracker: &Arc<ProgressTracker>,
        current: &Arc<AtomicU32>,
        storage: &Arc<StorageLedger>,
        mirror: Option<Arc<TensorboardMirror>>,
    ) -> Option<Self> {
        if settings.no_telemetry || sampler::disabled_by_env() {
            return None;
        }
        // A missing GPU library is said in the samples' notes, and so once
        // in `show` and the report; not on every run's terminal.
        let peaks: Arc<Mutex<std::collections::HashMap<String, f64>>> = Arc::default();
        let config = sampler::SamplerConfig {
            interval: Duration::from_secs_f64(settings.interval),
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
            let storage = Arc::clone(storage);
            move |snapshot: &telemetry_model::TelemetrySnapshot| {
                if let (Some(step), Some(rss)) = (&snapshot.step_id, snapshot.memory_rss_mb)
                    && let Ok(mut peaks) = peaks.lock()
                {
                    let peak = peaks.entry(step.clone()).or_insert(0.0);
                    *peak = peak.max(rss);
                }
                // Telemetry never fails a run; it is counted and said once.
                if let Err(e) = tracker.append_telemetry(snapshot) {
                    storage.note("telemetry", &e);
                }
                if let Some(mirror) = &mirror {
                    mirror.record_snapshot(snapshot);
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

/// The live TensorBoard mirror of `tracker run --tensorboard DIR`. It never
/// fails the run: the first error is reported and the mirror stops.
struct TensorboardMirror {
    inner: Mutex<Option<tensorboard::Mirror>>,
}

impl TensorboardMirror {
    /// A mirror under `DIR/RUN_ID`, or `None` (with a warning) if it cannot
    /// be created.
    fn create(dir: &Path, run_id: &str) -> Option<Self> {
        let logdir = tensorboard::run_logdir(dir, run_id);
        match tensorboard::Mirror::create(&logdir) {
            Ok(mirror) => Some(Self {
                inner: Mutex::new(Some(mirror)),
            }),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: no TensorBoard mirror: {e}; the run goes on without it"
                );
                None
            }
        }
    }

    fn with(&self, write: impl FnOnce(&mut tensorboard::Mirror) -> tensorboard::Result<usize>) {
        let Ok(mut slot) = self.inner.lock() else {
            return;
        };
        if let Some(mirror) = slot.as_mut()
            && let Err(e) = write(mirror)
        {
            let _ = writeln!(
                std::io::stderr(),
                "warning: TensorBoard mirror stopped: {e}; the run goes on without it"
            );
            *slot = None;
        }
    }

    fn record_snapshot(&self, snapshot: &telemetry_model::TelemetrySnapshot) {
        self.with(|m| m.record_snapshot(snapshot));
    }

    fn record_run(&self, record: &PipelineRunRecord) {
        self.with(|m| m.record_run(record));
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
