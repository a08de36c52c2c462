//! A tracked run of commands: the run's creation under its signal guard,
//! each step as a supervised process tree with its log, progress channel
//! and resource sampling, the end-of-run rating, and the end of the run
//! (docs/reliability.md says what each failure does).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use manifest::{ArtifactRoot, Retention};
use progress::{Display, FailureGuard, ProgressTracker, StepSpec, TrackerOptions};
use telemetry_model::{PerformanceRecommendation, PipelineRunRecord, RunStatus};

use crate::channel::{Follower, channel_path};
use crate::observer::{Event, Observer, Observers};
use crate::pipeline::{Pipeline, Step};
use crate::stall::{StallSettings, StallWatch};
use crate::storage::StorageLedger;
use crate::{Error, Reporter, Result, Supervisor, error_text, rate, sys};

/// Environment variables every step gets (docs/pipeline-file.md).
pub mod env {
    /// The run id.
    pub const RUN_ID: &str = "TRACKER_RUN_ID";
    /// The step id.
    pub const STEP_ID: &str = "TRACKER_STEP_ID";
    /// The progress channel file.
    pub const PROGRESS: &str = "TRACKER_PROGRESS";
    /// The run directory (absolute): a place for the step's outputs.
    pub const RUN_DIR: &str = "TRACKER_RUN_DIR";
}

/// How often the final record is tried again when it cannot be written,
/// and the pause between tries: a full disk may be freed meanwhile.
const FINAL_WRITE_RETRIES: usize = 10;
const FINAL_WRITE_PAUSE: Duration = Duration::from_millis(500);

/// The HTML report written next to `summary.md` when a run ends.
pub const REPORT_FILE: &str = "report.html";

/// How a run is set up: where it goes, how it is shown and sampled, and
/// how its steps are started.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// The artifact root the run is created under (and whose history
    /// rates it).
    pub root: ArtifactRoot,
    /// Pipeline name of the run (history, ETA).
    pub pipeline: String,
    /// Recorded as `scenario_config_path`.
    pub scenario: Option<String>,
    /// The run's own options (its id).
    pub run: manifest::RunOptions,
    /// Which older runs of the pipeline to delete (default: none).
    pub retention: Retention,
    /// How progress is shown.
    pub display: Display,
    /// Plain display: time between heartbeat lines of a running step.
    pub heartbeat: Duration,
    /// Time between telemetry samples; `None`: no sampling.
    pub telemetry: Option<Duration>,
    /// Where the steps run: relative artifact paths are relative to it.
    pub workdir: PathBuf,
    /// The program that supervises each step (docs/reliability.md);
    /// `None` for a host whose steps are its own code
    /// ([`Settings::hosted`]).
    pub supervisor: Option<Supervisor>,
    /// The rules the run is rated by at its end.
    pub thresholds: recommend::Thresholds,
    /// Continue this failed, cancelled or abandoned run instead of
    /// starting one: the steps it completed are kept, not run again.
    pub resume: Option<progress::Resume>,
    /// Where plain progress lines go instead of stderr (unless `display`
    /// is [`Display::Quiet`]): a host whose output is not the process's
    /// stderr (a notebook) gives its own writer.
    pub plain_output: Option<PlainOutput>,
    /// Who is told of what (`[[notify]]` of the pipeline file, and of
    /// `tracker.toml` where the front end adds them): docs/notify.md.
    pub notify: Vec<crate::NotifyRule>,
    /// Longest the end of the run waits for its notifications.
    pub notify_wait: Duration,
    /// Stall detection: the pipeline's `stall_seconds` and the clock.
    pub stall: StallSettings,
}

/// A writer for a run's plain progress lines ([`Settings::plain_output`]),
/// made when the run starts.
#[derive(Clone)]
pub struct PlainOutput(Arc<dyn Fn() -> Box<dyn Write + Send> + Send + Sync>);

impl PlainOutput {
    /// Lines go to the writer `make` returns.
    pub fn new(make: impl Fn() -> Box<dyn Write + Send> + Send + Sync + 'static) -> Self {
        Self(Arc::new(make))
    }
}

impl std::fmt::Debug for PlainOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainOutput")
    }
}

impl Settings {
    /// The settings of a run of `pipeline` under `root`, its steps started
    /// through `supervisor`: progress shown as the terminal allows, a
    /// sample a second, every older run kept, the pipeline's own rules.
    pub fn new(root: ArtifactRoot, pipeline: &Pipeline, supervisor: Supervisor) -> Self {
        Self {
            root,
            pipeline: pipeline.name.clone(),
            scenario: pipeline.scenario.clone(),
            run: manifest::RunOptions::default(),
            retention: Retention::KeepAll,
            display: Display::Auto,
            heartbeat: Duration::from_secs(10),
            telemetry: Some(Duration::from_secs(1)),
            workdir: pipeline.dir.clone(),
            supervisor: Some(supervisor),
            thresholds: pipeline.thresholds.clone(),
            resume: None,
            plain_output: None,
            notify: pipeline.notify.clone(),
            notify_wait: crate::EXIT_WAIT,
            stall: StallSettings {
                seconds: pipeline
                    .stall_seconds
                    .and_then(|s| Duration::try_from_secs_f64(s).ok()),
                ..StallSettings::default()
            },
        }
    }

    /// The settings of a run whose steps are the host's own code (the
    /// Python package's `with run.step(…)`), started and ended through
    /// [`Session::begin_step`] and [`Session::end_step`]: no supervisor,
    /// and no signal handlers, since the host owns its signals and ends
    /// the run through [`Session::end`]. Telemetry samples this process
    /// and its children; the working directory is this process's.
    pub fn hosted(root: ArtifactRoot, pipeline: impl Into<String>) -> Self {
        Self {
            root,
            pipeline: pipeline.into(),
            scenario: None,
            run: manifest::RunOptions::default(),
            retention: Retention::KeepAll,
            display: Display::Auto,
            heartbeat: Duration::from_secs(10),
            telemetry: Some(Duration::from_secs(1)),
            workdir: std::env::current_dir().unwrap_or_default(),
            supervisor: None,
            thresholds: recommend::Thresholds::default(),
            resume: None,
            plain_output: None,
            notify: Vec::new(),
            notify_wait: crate::EXIT_WAIT,
            stall: StallSettings::default(),
        }
    }
}

/// How a run of steps ended.
#[derive(Debug)]
pub struct Ended {
    /// The run's final record.
    pub record: PipelineRunRecord,
    /// What the end-of-run rating recommends (also in the manifest).
    pub recommendations: Vec<PerformanceRecommendation>,
    /// The run directory, absolute.
    pub run_dir: PathBuf,
    /// Set when SIGINT, SIGTERM or SIGHUP cancelled the run.
    pub interrupt: Option<Interrupt>,
}

/// A signal cancelled the run (flushed as `cancelled` when it came). The
/// signal handlers stay installed until this is dropped or
/// [`Interrupt::reraise`]d.
#[derive(Debug)]
pub struct Interrupt {
    guard: FailureGuard,
    /// Whether it came while steps were running (the run was neither
    /// concluded nor rated as completed or failed).
    pub while_running: bool,
}

impl Interrupt {
    /// The signal that came.
    pub fn signal(&self) -> Option<i32> {
        self.guard.received()
    }

    /// Ends this process by the signal, as any program ends by one (status
    /// 130 for SIGINT, 143 for SIGTERM). A command-line host calls this
    /// last.
    pub fn reraise(self) {
        let _ = std::io::stdout().flush();
        self.guard.reraise();
    }
}

/// Runs the steps of `pipeline` whose ids are in `selected`, in the file's
/// order, as one tracked run, and ends it: `completed` if every step that
/// ran completed (or may fail), `failed` otherwise, `cancelled` if a signal
/// came. Observers get every [`Event`]; diagnostics go to `reporter`.
///
/// The steps run through `settings.supervisor`, whose program must call
/// [`crate::supervise`].
pub fn run(
    pipeline: &Pipeline,
    selected: &[String],
    settings: &Settings,
    observers: Vec<Box<dyn Observer>>,
    reporter: Arc<dyn Reporter>,
) -> Result<Ended> {
    let specs: Vec<StepSpec> = pipeline
        .steps
        .iter()
        .map(|step| {
            let mut spec = StepSpec::new(&step.id, &step.name).enabled(selected.contains(&step.id));
            spec.expected = step.expected_seconds.map(Duration::from_secs_f64);
            spec
        })
        .collect();
    let mut session = Session::start(settings, specs, observers, reporter)?;
    // A resumed run's completed steps are kept, not run again.
    let started = session.tracker().record();
    let plan: Vec<(String, &Step)> = pipeline
        .steps
        .iter()
        .filter(|s| selected.contains(&s.id))
        .filter(|s| {
            started
                .step(&s.id)
                .is_none_or(|e| e.status != telemetry_model::StepStatus::Completed)
        })
        .map(|s| (s.id.clone(), s))
        .collect();
    let failure = session.run_steps(pipeline, &plan);
    session.stop_sampling();
    if session.interrupted() {
        return Ok(session.end_interrupted());
    }
    let status = if failure.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    let recommendations = session.assess();
    let record = session.conclude(status, failure.as_deref())?;
    // A signal while the run was rated or ended cancels it all the same.
    Ok(session.into_ended(record, recommendations, false))
}

/// A tracked run of commands: the tracker, its signal handling, its
/// resource sampling and its observers. [`run`] drives one from start to
/// end; a front end that measures between the steps and the end (`tracker
/// perf-tests`) drives one itself.
pub struct Session {
    pub(crate) tracker: Arc<ProgressTracker>,
    /// The run directory, absolute.
    run_dir: PathBuf,
    /// `None` for a hosted run: the host owns its signals.
    signals: Option<Signals>,
    pub(crate) telemetry: Option<Telemetry>,
    pub(crate) reporter: Arc<dyn Reporter>,
    /// Writes of the run's files that failed (a full disk).
    pub(crate) storage: Arc<StorageLedger>,
    pub(crate) observers: Observers,
    /// `None` for a hosted run: its steps are the host's own code.
    supervisor: Option<Supervisor>,
    /// Hosted steps that are running: when each began, its stall watch.
    pub(crate) hosted: Mutex<std::collections::HashMap<String, crate::hosted::Running>>,
    /// Expected durations of the steps, in seconds (stall thresholds).
    pub(crate) expected: std::collections::HashMap<String, f64>,
    root: ArtifactRoot,
    pipeline: String,
    thresholds: recommend::Thresholds,
    /// Where the steps run (for the report's artifact links).
    workdir: PathBuf,
    pub(crate) stall: StallSettings,
    /// Median step durations of the pipeline's history, for the stall
    /// thresholds (read when first needed).
    medians: std::sync::OnceLock<std::collections::HashMap<String, f64>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("run_id", &self.tracker.run_id())
            .field("run_dir", &self.run_dir)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Creates the run (under `settings.root`) with `specs` as its steps,
    /// installs the signal handlers, starts sampling and tells the
    /// observers.
    pub fn start(
        settings: &Settings,
        specs: Vec<StepSpec>,
        observers: Vec<Box<dyn Observer>>,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Self> {
        let expected = specs
            .iter()
            .filter_map(|s| Some((s.id.clone(), s.expected?.as_secs_f64())))
            .collect();
        let mut options = TrackerOptions::new(&settings.pipeline, settings.root.clone());
        options.scenario_config_path = settings.scenario.clone();
        options.run = settings.run.clone();
        options.retention = settings.retention;
        options.resume = settings.resume.clone();
        options.heartbeat = settings.heartbeat;
        options.display = settings.display;
        if let Some(output) = &settings.plain_output
            && settings.display != Display::Quiet
        {
            options.sink = Some(Box::new(progress::PlainSink::new(
                (output.0)(),
                settings.heartbeat,
            )));
        }
        let hosted = settings.supervisor.is_none();
        // A signal between the run's creation and its guard would kill the
        // tracker and leave the run `running` (abandoned): hold the guarded
        // signals until the guard is in place, then take what came. A host
        // that owns its signals handles them itself.
        let held = if hosted {
            None
        } else {
            Some(
                sys::hold_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
                    .map_err(Error::HoldSignals)?,
            )
        };
        let tracker =
            Arc::new(
                ProgressTracker::start(options, specs).map_err(|source| Error::Start {
                    root: settings.root.path().to_owned(),
                    source,
                })?,
            );
        let run_dir =
            std::path::absolute(tracker.dir()).unwrap_or_else(|_| tracker.dir().to_owned());
        let signals = if hosted {
            None
        } else {
            Some(Signals::install(&tracker)?)
        };
        drop(held);
        // Diagnostics land above a live bar, never on it.
        let reporter: Arc<dyn Reporter> = Arc::new(AboveTheDisplay {
            inner: reporter,
            tracker: Arc::downgrade(&tracker),
        });
        let storage = Arc::new(StorageLedger::new(Arc::clone(&reporter)));
        let mut observers = observers;
        if !settings.notify.is_empty() {
            observers.push(Box::new(crate::notify::notifier_for(
                settings, &tracker, &reporter,
            )));
        }
        let observers = Observers::new(observers, Arc::clone(&reporter));
        observers.emit(&Event::Started {
            run_id: tracker.run_id(),
            run_dir: &run_dir,
        });
        // A hosted run samples this process (its steps are its own code);
        // any other, the tree under the running step's supervisor.
        let sampled = match &signals {
            Some(signals) => Sampled {
                root: Arc::clone(&signals.current),
                supervised: true,
            },
            None => Sampled {
                root: Arc::new(AtomicU32::new(std::process::id())),
                supervised: false,
            },
        };
        let telemetry = settings.telemetry.and_then(|interval| {
            Telemetry::start(interval, &tracker, sampled, &storage, &observers)
        });
        Ok(Self {
            tracker,
            run_dir,
            signals,
            telemetry,
            reporter,
            storage,
            observers,
            supervisor: settings.supervisor.clone(),
            hosted: Mutex::default(),
            expected,
            root: settings.root.clone(),
            pipeline: settings.pipeline.clone(),
            thresholds: settings.thresholds.clone(),
            workdir: std::path::absolute(&settings.workdir)
                .unwrap_or_else(|_| settings.workdir.clone()),
            stall: settings.stall.clone(),
            medians: std::sync::OnceLock::new(),
        })
    }

    /// The run's tracker.
    pub fn tracker(&self) -> &Arc<ProgressTracker> {
        &self.tracker
    }

    /// The run directory, absolute.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Runs `(tracked step id, pipeline step)` in order until one fails
    /// (without `continue_on_error`) or a signal comes; returns why the run
    /// failed, if it did. The tracked id may differ from the step's own
    /// (`tracker perf-tests` runs `train` as `train.r1`, `train.r2`…).
    pub fn run_steps(&self, pipeline: &Pipeline, plan: &[(String, &Step)]) -> Option<String> {
        for (tracked, step) in plan {
            if self.interrupted() {
                break;
            }
            match self.run_step(pipeline, tracked, step) {
                Ok(StepEnd::Completed) => {}
                Ok(StepEnd::Failed(reason)) => {
                    if !step.continue_on_error {
                        return Some(format!("step `{tracked}` failed: {reason}"));
                    }
                }
                Ok(StepEnd::Interrupted) => break,
                Err(e) => {
                    // Could not even record the step: the run's files are broken.
                    let text = error_text(&e);
                    self.reporter.error(&text);
                    return Some(text);
                }
            }
        }
        None
    }

    /// Rates the run: recommendations (appended to the manifest) and
    /// resource aggregates (`summary.resources`), from its telemetry, its
    /// steps and the history of the pipeline. Never fails the run:
    /// unreadable inputs count as absent.
    pub fn assess(&self) -> Vec<PerformanceRecommendation> {
        let rated = rate::assess(
            &self.tracker,
            &self.root,
            &self.pipeline,
            &self.thresholds,
            &self.run_dir,
        );
        if let Err(e) = rated.recorded {
            self.reporter
                .warn(&format!("recommendations not recorded: {e}"));
        }
        if self.observers.any() && !rated.recommendations.is_empty() {
            let record = self.tracker.record();
            for recommendation in &rated.recommendations {
                self.observers.emit(&Event::Recommendation {
                    recommendation,
                    record: &record,
                });
            }
        }
        rated.recommendations
    }

    /// Ends the run with `status`: records what could not be written on the
    /// way (`summary.storage_errors`), then the final record and summary. If
    /// even that cannot be written (the disk is still full), it tries again
    /// for a few seconds before giving up with an error. Then writes
    /// `report.html` and tells the observers.
    pub fn conclude(&self, status: RunStatus, reason: Option<&str>) -> Result<PipelineRunRecord> {
        self.note_storage_errors();
        let mut result = self
            .tracker
            .finish(progress::Ending::Status(status, reason));
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
        let record = result.map_err(|source| Error::Final {
            run_id: self.tracker.run_id().to_owned(),
            source,
        })?;
        self.finish_extras(&record);
        Ok(record)
    }

    /// Puts what could not be written on the way into the summary
    /// (`summary.storage_errors`), for the next record written.
    pub(crate) fn note_storage_errors(&self) {
        let lost = self.storage.summary();
        if !lost.is_empty() {
            self.tracker.update_summary(|s| s.storage_errors = lost);
        }
    }

    /// What comes after the run's own files: `report.html` next to the
    /// summary, the observers' last event. Failures are warnings.
    pub(crate) fn finish_extras(&self, record: &PipelineRunRecord) {
        if let Err(e) = self.write_report(record) {
            self.reporter
                .warn(&format!("report.html not written: {}", error_text(&e)));
        }
        self.observers.emit(&Event::Ended(record));
    }

    /// Renders `report.html` into the run directory (atomically).
    fn write_report(&self, record: &PipelineRunRecord) -> manifest::Result<()> {
        let contents = manifest::read_manifest(&self.run_dir.join(manifest::files::MANIFEST))?;
        let mut samples = Vec::new();
        let telemetry = self.run_dir.join(manifest::files::TELEMETRY);
        if telemetry.is_file() {
            manifest::read_jsonl(&telemetry, |_, s| samples.push(s))?;
        }
        // The pipeline's earlier completed runs, for "Compared with history".
        let history: Vec<PipelineRunRecord> = manifest::list_runs(
            &self.root,
            &manifest::Query {
                limit: Some(rate::HISTORY_RUNS),
                state: Some(manifest::RunState::Completed),
                scenario: Some(self.pipeline.clone()),
                ..manifest::Query::default()
            },
        )
        .map(|listing| listing.runs.into_iter().map(|e| e.record).collect())
        .unwrap_or_default();
        let mut input = report::ReportInput::new(record);
        input.history = &history;
        input.snapshots = &samples;
        input.recommendations = &contents.recommendations;
        input.perf_tests = &contents.perf_tests;
        input.links = report::ArtifactLinks {
            base_dir: Some(self.workdir.clone()),
            report_dir: Some(self.run_dir.clone()),
        };
        let html = report::render_html(&input);
        manifest::write_atomic(&self.run_dir.join(REPORT_FILE), html.as_bytes(), false)
    }

    /// Whether SIGINT, SIGTERM or SIGHUP arrived.
    pub fn interrupted(&self) -> bool {
        self.signals
            .as_ref()
            .is_some_and(|s| s.interrupted().is_some())
    }

    /// Stops the resource sampler (the run's telemetry is then complete).
    pub fn stop_sampling(&mut self) {
        if let Some(telemetry) = self.telemetry.take() {
            telemetry.sampler.stop();
        }
    }

    /// After a signal: the run is ended as cancelled (the signal's handler
    /// has done so as it came, or is about to); now that the step has
    /// stopped, add what the summary of any run has (its rating, what could
    /// not be written) and write the report.
    pub fn end_interrupted(mut self) -> Ended {
        // The handler records the signal before it takes the run's lock to
        // end it, so this can come first: end it as the handler does (a run
        // ends once, so whichever is second changes nothing). Otherwise the
        // tracker, dropped unfinished below, would record the run `failed`.
        if let Some(signal) = self.signals.as_ref().and_then(Signals::interrupted) {
            let reason = progress::interruption_reason(signal);
            let _ = self.tracker.finish(progress::Ending::Status(
                RunStatus::Cancelled,
                Some(&reason),
            ));
        }
        self.stop_sampling();
        let recommendations = self.assess();
        self.note_storage_errors();
        let _ = self.tracker.rewrite_summary();
        let record = self.tracker.record();
        self.finish_extras(&record);
        self.into_ended(record, recommendations, true)
    }

    /// Ends the session: the tracker is dropped (its display cleared), the
    /// signal handlers stay while the [`Interrupt`] lives, if one came.
    pub fn into_ended(
        self,
        record: PipelineRunRecord,
        recommendations: Vec<PerformanceRecommendation>,
        while_running: bool,
    ) -> Ended {
        let Self {
            tracker,
            signals,
            run_dir,
            ..
        } = self;
        drop(tracker);
        let interrupt = signals
            .filter(|s| s.guard.received().is_some())
            .map(|signals| Interrupt {
                guard: signals.guard,
                while_running,
            });
        Ended {
            record,
            recommendations,
            run_dir,
            interrupt,
        }
    }

    /// Runs `step` as the tracked step `id`; the command sees the
    /// pipeline's step id in `TRACKER_STEP_ID`.
    fn run_step(&self, pipeline: &Pipeline, id: &str, step: &Step) -> Result<StepEnd> {
        let Self {
            tracker,
            run_dir,
            signals,
            telemetry,
            storage,
            ..
        } = self;
        let (Some(supervisor), Some(signals)) = (&self.supervisor, signals) else {
            return Err(Error::NoSupervisor);
        };
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
        let channel = channel_path(run_dir, id);
        for dir in [Some(logs.as_path()), channel.parent()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = std::fs::create_dir_all(dir) {
                storage.note("log", &format!("cannot create {}: {e}", dir.display()));
            }
        }
        let log_path = logs.join(format!("{id}.log"));
        // An earlier attempt's files (a resumed run) are kept, renamed.
        for earlier in [&log_path, &channel] {
            if let Err(e) = set_aside(earlier) {
                storage.note("log", &format!("cannot keep {}: {e}", earlier.display()));
            }
        }
        let log = match File::create(&log_path) {
            Ok(file) => Some(file),
            Err(e) => {
                storage.note("log", &format!("cannot create {}: {e}", log_path.display()));
                None
            }
        };
        let log = Arc::new(Mutex::new(log));
        if let Err(e) = File::create(&channel) {
            storage.note(
                "progress channel",
                &format!("cannot create {}: {e}", channel.display()),
            );
        }

        let spawned = supervisor
            .command(std::process::id(), &step.run)
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
                let reason = format!(
                    "cannot start the step's supervisor {}: {e}",
                    supervisor.program().display()
                );
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
                .map(|s| self.tee(Box::new(s), false, Arc::clone(&log))),
            child
                .stderr
                .take()
                .map(|s| self.tee(Box::new(s), true, Arc::clone(&log))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let stall = StallWatch::start(
            self.stall_threshold(id, step),
            crate::stall::Watched {
                step_id: id,
                root_pid: child.id(),
                files: &[&log_path, &channel],
                pulse: None,
            },
            &self.stall,
            tracker,
            &self.observers,
            &self.reporter,
        );
        let follower = Follower::start(
            Arc::clone(tracker),
            id.to_owned(),
            channel,
            std::path::absolute(&pipeline.dir).unwrap_or_else(|_| pipeline.dir.clone()),
            Arc::clone(&self.reporter),
        );
        // wait4: the supervisor reaps the whole tree, so its usage is the step's.
        let waited = sys::wait_with_usage(child.id());
        signals.current.store(0, Ordering::SeqCst);
        if let Some(stall) = stall {
            stall.finish();
        }
        for tee in tees {
            let _ = tee.join();
        }
        // An unfinished last line of its output, held back under a live bar.
        tracker.flush_output();
        follower.finish();
        let waited = waited.map_err(Error::Wait)?;
        let (code, reason) = describe(waited.status);
        let peak = telemetry.and_then(|t| t.peak_rss_mb(id));
        let _ = tracker.set_step_resources(
            id,
            progress::StepResources {
                exit_code: Some(code),
                cpu_time_seconds: Some(waited.cpu_seconds),
                peak_rss_mb: peak,
            },
        );
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
        if self.observers.any() {
            self.observers.emit(&Event::StepEnded {
                step_id: id,
                record: &tracker.record(),
            });
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

    /// The median duration of step `id` in the pipeline's history.
    pub(crate) fn history_median(&self, id: &str) -> Option<f64> {
        let medians = self
            .medians
            .get_or_init(|| progress::step_medians(&self.root, &self.pipeline, rate::HISTORY_RUNS));
        medians.get(id).copied()
    }

    /// The stall threshold of `step` run as `id` (`None`: off).
    fn stall_threshold(&self, id: &str, step: &Step) -> Option<Duration> {
        let explicit = step.stall_seconds.is_some() || self.stall.seconds.is_some();
        let median = if explicit {
            None
        } else {
            let medians = self.medians.get_or_init(|| {
                progress::step_medians(&self.root, &self.pipeline, rate::HISTORY_RUNS)
            });
            medians.get(id).or_else(|| medians.get(&step.id)).copied()
        };
        crate::stall_threshold(
            step.stall_seconds,
            self.stall.seconds,
            median,
            step.expected_seconds,
        )
    }

    /// Copies a child's stream to the terminal and to the step's log (if it
    /// could be created; a failed write is noted, the copying goes on).
    fn tee(
        &self,
        mut source: Box<dyn Read + Send>,
        to_stderr: bool,
        log: Arc<Mutex<Option<File>>>,
    ) -> std::thread::JoinHandle<()> {
        let tracker = Arc::clone(&self.tracker);
        let storage = Arc::clone(&self.storage);
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
}

/// The caller's reporter, its words printed with the tracker's live display
/// out of the way (while the tracker lives).
struct AboveTheDisplay {
    inner: Arc<dyn Reporter>,
    tracker: std::sync::Weak<ProgressTracker>,
}

impl AboveTheDisplay {
    fn say(&self, say: impl FnOnce(&dyn Reporter)) {
        match self.tracker.upgrade() {
            Some(tracker) => tracker.suspend_display(|| say(&*self.inner)),
            None => say(&*self.inner),
        }
    }
}

impl Reporter for AboveTheDisplay {
    fn warn(&self, text: &str) {
        self.say(|inner| inner.warn(text));
    }

    fn error(&self, text: &str) {
        self.say(|inner| inner.error(text));
    }
}

/// Renames an existing `NAME.EXT` to the first free `NAME.N.EXT` (N from
/// 1), so that a step run again (in a resumed run) does not overwrite what
/// its earlier attempt wrote.
fn set_aside(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let (Some(stem), Some(ext)) = (path.file_stem(), path.extension()) else {
        return Ok(());
    };
    for n in 1..10_000 {
        let mut name = stem.to_owned();
        name.push(format!(".{n}."));
        name.push(ext);
        let target = path.with_file_name(name);
        if std::fs::symlink_metadata(&target).is_err() {
            return std::fs::rename(path, target);
        }
    }
    Ok(())
}

enum StepEnd {
    Completed,
    Failed(String),
    Interrupted,
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

/// Telemetry samples written to disk together at `interval`: as many as
/// fit in [`TELEMETRY_WRITE_EVERY`], at least one. At one sample a second
/// or slower each is written at once; at five a second, five together.
fn samples_per_write(interval: Duration) -> usize {
    sampler::samples_in(interval, TELEMETRY_WRITE_EVERY) as usize
}

/// The samples of at most this long wait in memory to be handed over and
/// written together: what a tracker killed outright (SIGKILL) can lose of
/// its telemetry. See docs/telemetry.md.
const TELEMETRY_WRITE_EVERY: Duration = Duration::from_secs(1);

/// The process whose tree telemetry measures.
struct Sampled {
    /// Its pid; 0 between steps.
    root: Arc<AtomicU32>,
    /// Whether it is a step's supervisor, which only waits for its command:
    /// left out, so that the step's figures are its command's tree alone.
    supervised: bool,
}

/// Resource sampling of the running step's process tree.
pub(crate) struct Telemetry {
    sampler: sampler::Sampler,
    peaks: Arc<Mutex<std::collections::HashMap<String, f64>>>,
}

impl Telemetry {
    /// Starts sampling every `interval`, unless `TRACKER_TELEMETRY=0`.
    fn start(
        interval: Duration,
        tracker: &Arc<ProgressTracker>,
        sampled: Sampled,
        storage: &Arc<StorageLedger>,
        observers: &Observers,
    ) -> Option<Self> {
        if sampler::disabled_by_env() {
            return None;
        }
        // A missing GPU library is said in the samples' notes, and so once
        // in `show` and the report; not on every run's terminal.
        let peaks: Arc<Mutex<std::collections::HashMap<String, f64>>> = Arc::default();
        // Handed over and written a second's samples at a time: the first
        // of a batch costs the woken-up sampler most of what storing one
        // does. A step's end and the run's end flush what is held.
        let config = sampler::SamplerConfig {
            interval,
            deliver_every: TELEMETRY_WRITE_EVERY,
            ..sampler::SamplerConfig::default()
        };
        tracker.batch_telemetry(samples_per_write(interval));
        let probe = {
            let tracker = Arc::clone(tracker);
            move || {
                let live = tracker.live_metrics();
                sampler::Probe {
                    root_pid: Some(sampled.root.load(Ordering::SeqCst)).filter(|pid| *pid != 0),
                    exclude_root: sampled.supervised,
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
            let observers = observers.clone();
            move |snapshot: &telemetry_model::TelemetrySnapshot| {
                if let (Some(step), Some(rss)) = (&snapshot.step_id, snapshot.memory_rss_mb)
                    && let Ok(mut peaks) = peaks.lock()
                {
                    // The step's own entry once it has one: no key to
                    // allocate at every sample.
                    match peaks.get_mut(step) {
                        Some(peak) => *peak = peak.max(rss),
                        None => {
                            peaks.insert(step.clone(), rss.max(0.0));
                        }
                    }
                }
                // Telemetry never fails a run; it is counted and said once.
                if let Err(e) = tracker.append_telemetry(snapshot) {
                    storage.note("telemetry", &e);
                }
                observers.emit(&Event::Sample(snapshot));
            }
        };
        let sampler = sampler::Sampler::start(config, probe, sink);
        // However the run ends (a signal's handler included), the samples
        // held back are recorded first. The flusher does not keep the
        // sink, which keeps the tracker, alive.
        let flusher = sampler.flusher();
        tracker.before_end(move || flusher.flush());
        Some(Self { sampler, peaks })
    }

    /// The step's peak memory, from every sample taken so far.
    pub(crate) fn peak_rss_mb(&self, step_id: &str) -> Option<f64> {
        self.sampler.flush();
        self.peaks.lock().ok()?.get(step_id).copied()
    }
}

/// Signal handling of a run: the first SIGINT/SIGTERM/SIGHUP ends the run
/// as `cancelled`, flushed at once, and is forwarded to the running step
/// (its supervisor); a second one ends the process immediately.
struct Signals {
    guard: FailureGuard,
    /// The running step's supervisor, 0 between steps.
    current: Arc<AtomicU32>,
}

impl Signals {
    fn install(tracker: &ProgressTracker) -> Result<Self> {
        let current = Arc::new(AtomicU32::new(0));
        let forward_to = Arc::clone(&current);
        let guard = FailureGuard::install_deferred(tracker, move |signal| {
            let pid = forward_to.load(Ordering::SeqCst);
            if pid != 0 {
                sys::signal_process(pid, signal);
            }
        })
        .map_err(Error::InstallSignals)?;
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
    fn samples_are_written_a_second_at_a_time() {
        let per_write = |ms| samples_per_write(Duration::from_millis(ms));
        assert_eq!(per_write(200), 5);
        assert_eq!(per_write(300), 3);
        assert_eq!(per_write(500), 2);
        assert_eq!(per_write(700), 1);
        assert_eq!(per_write(1000), 1);
        assert_eq!(per_write(60_000), 1);
    }

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
