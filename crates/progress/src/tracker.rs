//! The tracked run: declare steps, move them through their lifecycle,
//! persist every transition, tell the operator.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use manifest::{ArtifactRoot, Retention, RunOptions, RunWriter};
use telemetry_model::{PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus, Timestamp};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::eta::{Estimate, Phase, Prior, StepView, estimate};
use crate::history::{median_of, step_durations};
use crate::render::{Display, Event, Sink, sink_for};
use crate::summary::write_summary;

/// One step of a pipeline, as declared before the run starts.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSpec {
    /// Stable identifier (`collect_expert`): letters, digits, `_`, `.`, `-`.
    pub id: String,
    /// Human name (`Collect expert trajectories`).
    pub name: String,
    /// Disabled steps are recorded as skipped and left out of the total.
    pub enabled: bool,
    /// What the step is expected to take, if anyone knows.
    pub expected: Option<Duration>,
}

impl StepSpec {
    /// An enabled step with no expected duration.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            enabled: true,
            expected: None,
        }
    }

    /// Sets the expected duration.
    #[must_use]
    pub fn expected(mut self, duration: Duration) -> Self {
        self.expected = Some(duration);
        self
    }

    /// Enables or disables the step.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// How a tracked run is set up. [`TrackerOptions::new`] gives the defaults.
#[derive(Debug)]
pub struct TrackerOptions {
    /// Pipeline name: groups runs for history-based ETA.
    pub pipeline: String,
    /// Where the run is written.
    pub root: ArtifactRoot,
    /// Run name and durability.
    pub run: RunOptions,
    /// Which older runs of this pipeline to delete when the run starts and
    /// when it ends. The default keeps every run; deletions are announced
    /// through the display ([`Event::RunsDeleted`]).
    pub retention: Retention,
    /// Scenario or pipeline file, recorded as `scenario_config_path`.
    pub scenario_config_path: Option<String>,
    /// The command line; defaults to this process's arguments.
    pub initiator: Option<String>,
    /// Live bar, plain lines, or nothing.
    pub display: Display,
    /// Plain mode: at most one heartbeat line per step per this interval.
    pub heartbeat: Duration,
    /// How often a background thread refreshes a live display; `None`
    /// leaves refreshing to [`ProgressTracker::tick`]. The thread wakes only
    /// when there is something to do: every `refresh` for a live display,
    /// when a heartbeat is due for a plain one, when in-step progress is due
    /// to be persisted; never while no step runs.
    pub refresh: Option<Duration>,
    /// How many earlier completed runs feed history-based ETA (0 = none).
    pub history_runs: usize,
    /// The clock (a manual one in tests).
    pub clock: Arc<dyn Clock>,
    /// Where events go instead of the display chosen by `display`.
    pub sink: Option<Box<dyn Sink>>,
    /// Continue this earlier run instead of creating one (its completed
    /// steps are kept; see [`Resume`]).
    pub resume: Option<Resume>,
}

/// Which run to continue, and how strictly ([`TrackerOptions::resume`]).
///
/// A failed, cancelled or abandoned run goes on in the same run id and
/// directory: each step it completed is kept as it was (not run again, its
/// duration and artifacts stay), every other step starts afresh, and the
/// record says it was resumed (`summary.resumptions`). The steps given must
/// continue the run: every step it completed is among them, in the same
/// order, unless `force`, which drops the completed steps that are gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The run's directory name under `run-tracker/` (its run id).
    pub run: String,
    /// Resume even where completed steps are gone or reordered.
    pub force: bool,
}

impl std::fmt::Debug for dyn Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

impl TrackerOptions {
    /// Defaults: every run kept, automatic display, heartbeat every 10 s,
    /// refresh every second, ETA from the last 5 completed runs, the system clock.
    pub fn new(pipeline: impl Into<String>, root: ArtifactRoot) -> Self {
        Self {
            pipeline: pipeline.into(),
            root,
            run: RunOptions::default(),
            retention: Retention::KeepAll,
            scenario_config_path: None,
            initiator: None,
            display: Display::Auto,
            heartbeat: Duration::from_secs(10),
            refresh: Some(Duration::from_secs(1)),
            history_runs: 5,
            clock: Arc::new(SystemClock),
            resume: None,
            sink: None,
        }
    }
}

/// In-step progress a step reports. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Fraction done, 0–1.
    pub fraction: Option<f64>,
    /// Work items done so far (cumulative); gives `steps_per_sec`.
    pub items: Option<u64>,
    /// Frames per second.
    pub fps: Option<f64>,
    /// A short note for the operator.
    pub message: Option<String>,
}

/// Throughput of the running step, for the telemetry sampler.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveMetrics {
    /// The running step.
    pub step_id: Option<String>,
    /// Items per second over the last reports.
    pub steps_per_sec: Option<f64>,
    /// Frames per second last reported.
    pub fps: Option<f64>,
}

/// The running step and its throughput as [`ProgressTracker::live_metrics`]
/// gives them: published by the run's state whenever they change, under
/// a lock of their own, so that the telemetry sampler, which asks at every
/// sample, neither waits for the state's lock nor walks the steps.
#[derive(Debug, Default)]
struct LiveBoard(Mutex<LiveMetrics>);

impl LiveBoard {
    fn read(&self) -> LiveMetrics {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone, Debug, Default)]
struct Live {
    fraction: Option<f64>,
    items: Option<u64>,
    rate: Option<f64>,
    fps: Option<f64>,
    message: Option<String>,
    /// Items and time of the report the rate is measured from.
    rate_base: Option<(u64, Timestamp)>,
    changed: bool,
}

/// How a run ends ([`ProgressTracker::finish`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending<'a> {
    /// `completed`, or `failed` ("a step failed") if a step failed.
    FromSteps,
    /// This terminal status, with the reason it is recorded with
    /// (`summary.reason`): a `continue_on_error` failure can still end
    /// `completed`, a signal `cancelled`.
    Status(RunStatus, Option<&'a str>),
}

/// What a step run as a command used, recorded on its entry
/// ([`ProgressTracker::set_step_resources`]). A figure left `None` is not
/// recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepResources {
    /// The command's exit code (a signal `N` as `-N`).
    pub exit_code: Option<i32>,
    /// CPU seconds of its process tree.
    pub cpu_time_seconds: Option<f64>,
    /// Peak resident memory of its process tree, MB.
    pub peak_rss_mb: Option<f64>,
}

/// Ends a run from another thread: `(status, reason)`.
pub(crate) type Aborter = Arc<dyn Fn(RunStatus, &str) + Send + Sync>;

/// Minimum time between two in-step progress records in the manifest.
const PERSIST_EVERY: f64 = 5.0;
/// Minimum span for a throughput measurement.
const RATE_WINDOW: f64 = 1.0;

pub(crate) struct State {
    writer: RunWriter,
    record: PipelineRunRecord,
    recommendations: Vec<telemetry_model::PerformanceRecommendation>,
    priors: Vec<Prior>,
    live: Vec<Live>,
    sink: Box<dyn Sink>,
    clock: Arc<dyn Clock>,
    finished: bool,
    last_persist: Timestamp,
    root: ArtifactRoot,
    retention: Retention,
    /// Under a live display: the last, unfinished line of a step's stdout
    /// (`[0]`) and stderr (`[1]`), held back until its newline comes, so
    /// that the bar is never drawn on the same line.
    partial: [Vec<u8>; 2],
    /// What [`ProgressTracker::live_metrics`] reads: kept up to date by
    /// [`State::publish_live`] at every transition and progress report.
    board: Arc<LiveBoard>,
}

/// Longest unfinished line held back under a live display; a longer one
/// is shown as it is.
const MAX_PARTIAL_LINE: usize = 64 * 1024;

struct Shared {
    state: Mutex<State>,
    /// The state's [`LiveBoard`], read without the state's lock.
    board: Arc<LiveBoard>,
    control: Mutex<Control>,
    wake: Condvar,
    /// What [`ProgressTracker::before_end`] was given.
    before_end: Mutex<Vec<EndHook>>,
}

/// A hook run just before the run ends.
type EndHook = Arc<dyn Fn() + Send + Sync>;

impl Shared {
    /// Runs the hooks given to [`ProgressTracker::before_end`], outside
    /// every lock of the tracker (they may call its methods).
    fn before_end(&self) {
        let hooks = self
            .before_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for hook in hooks {
            hook();
        }
    }
}

/// What the refresh thread is told while it sleeps. Lock order: `state`
/// before the live board (see [`LiveBoard`]), and `state`
/// before `control`, never the other way round.
#[derive(Debug, Default)]
struct Control {
    /// The tracker is going away.
    stop: bool,
    /// The next refresh may be due sooner than the thread planned (a step
    /// started, new progress to persist).
    reschedule: bool,
}

/// A tracked pipeline run.
///
/// Cheap to share: the methods take `&self`, and a background thread
/// refreshes the display while a step runs. Every transition is written to
/// the manifest (record line + `steps.json`) before its line is printed.
/// Once the run has finished (or was aborted by a signal) nothing changes it.
///
/// Dropping an unfinished tracker marks the run `failed` (a panic unwinding
/// through the pipeline, or an early return).
///
/// ```
/// use progress::{Display, Ending, ProgressTracker, StepSpec, TrackerOptions};
/// # let tmp = tempfile::tempdir()?;
/// let mut options = TrackerOptions::new("demo", manifest::ArtifactRoot::new(tmp.path()));
/// options.display = Display::Quiet;
/// let tracker = ProgressTracker::start(options, vec![
///     StepSpec::new("collect", "Collect expert trajectories"),
///     StepSpec::new("train", "Train"),
/// ])?;
/// tracker.start_step("collect")?;
/// tracker.complete_step("collect")?;
/// tracker.start_step("train")?;
/// tracker.complete_step("train")?;
/// let record = tracker.finish(Ending::FromSteps)?;
/// assert_eq!(record.status, telemetry_model::RunStatus::Completed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ProgressTracker {
    shared: Arc<Shared>,
    live_display: bool,
    ticker: Option<JoinHandle<()>>,
    run_id: String,
    dir: std::path::PathBuf,
}

impl std::fmt::Debug for ProgressTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressTracker")
            .field("run_id", &self.run_id)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Longest step id.
pub const MAX_STEP_ID_LEN: usize = 64;

/// Most artifacts one step records: every manifest record lists every
/// step's artifacts, and a record must stay under the readers' line limit
/// ([`manifest::MAX_LINE_BYTES`]; an artifact that would push it over is
/// refused too).
pub const MAX_ARTIFACTS_PER_STEP: usize = 1000;

/// Longest artifact path recorded, in bytes (Linux's `PATH_MAX`).
pub const MAX_ARTIFACT_PATH_BYTES: usize = 4096;

/// Whether `id` may be a step id: letters, digits, `_`, `.` and `-`, at most
/// [`MAX_STEP_ID_LEN`] bytes, not starting with `.` (it names a log file).
pub fn valid_step_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_STEP_ID_LEN
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl ProgressTracker {
    /// Creates the run (status `running`), predicts its duration and
    /// announces it.
    pub fn start(options: TrackerOptions, steps: Vec<StepSpec>) -> Result<Self> {
        for (i, step) in steps.iter().enumerate() {
            if !valid_step_id(&step.id) {
                return Err(Error::InvalidStepId(step.id.clone()));
            }
            if steps[..i].iter().any(|s| s.id == step.id) {
                return Err(Error::DuplicateStep(step.id.clone()));
            }
        }
        let history = if options.history_runs > 0 {
            step_durations(&options.root, &options.pipeline, options.history_runs)
        } else {
            Default::default()
        };
        let clock = options.clock;
        let priors: Vec<Prior> = steps
            .iter()
            .map(|spec| {
                let durations = history.get(&spec.id).map_or(&[][..], Vec::as_slice);
                Prior {
                    history: median_of(durations),
                    expected: spec.expected.map(|d| d.as_secs_f64()),
                    spread: crate::eta::spread(durations),
                }
            })
            .collect();
        let initiator = options.initiator.unwrap_or_else(command_line);
        let (writer, record) = match &options.resume {
            // The run's first record, written with its directory: a run
            // that exists is always listable, with its pipeline and steps.
            None => RunWriter::create_with(&options.root, &options.run, |record| {
                record.created_at = clock.now();
                record.pipeline = Some(options.pipeline.clone());
                record.scenario_config_path = options.scenario_config_path.clone();
                record.initiator = Some(initiator.clone());
                record.status = RunStatus::Running;
                record.steps = fresh_steps(&steps);
                record.enabled_steps = enabled_ids(&record.steps);
            })?,
            Some(resume) => resume_run(
                &options.root,
                &options.run,
                resume,
                &steps,
                clock.now(),
                &initiator,
            )?,
        };
        let sink = options
            .sink
            .unwrap_or_else(|| sink_for(options.display, options.heartbeat));
        let run_id = writer.run_id().to_owned();
        let dir = writer.dir().to_owned();
        let live = vec![Live::default(); steps.len()];
        let live_display = sink.is_live();
        let board = Arc::new(LiveBoard::default());
        let mut state = State {
            writer,
            record,
            recommendations: Vec::new(),
            priors,
            live,
            sink,
            last_persist: clock.now(),
            clock,
            finished: false,
            root: options.root,
            retention: options.retention,
            partial: Default::default(),
            board: Arc::clone(&board),
        };
        state.publish_live();
        let total = state.record.counted_steps().count();
        let skipped = steps.len() - total;
        let eta = state.estimate().remaining;
        state.sink.show(&Event::RunStarted {
            run_id: &run_id,
            pipeline: &options.pipeline,
            total,
            skipped,
            eta,
        });
        state.apply_retention(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            board,
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            before_end: Mutex::default(),
        });
        let ticker = options.refresh.map(|every| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("progress-refresh".into())
                .spawn(move || refresh_loop(&shared, every))
        });
        let ticker = match ticker {
            Some(Ok(handle)) => Some(handle),
            // No thread, no refresh: the run itself still works.
            Some(Err(_)) | None => None,
        };
        Ok(Self {
            shared,
            live_display,
            ticker,
            run_id,
            dir,
        })
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the current record.
    pub fn record(&self) -> PipelineRunRecord {
        self.lock().record.clone()
    }

    /// The current estimate.
    pub fn estimate(&self) -> Estimate {
        self.lock().estimate()
    }

    /// Throughput of the running step, for the sampler. Cheap: it takes
    /// neither the run's lock nor a walk over its steps (the telemetry
    /// sampler asks at every sample).
    pub fn live_metrics(&self) -> LiveMetrics {
        self.shared.board.read()
    }

    /// Starts a pending step; records the ETA shown now as its
    /// `eta_snapshot_seconds` (and its band as `eta_range_seconds`).
    pub fn start_step(&self, step_id: &str) -> Result<()> {
        let mut state = self.lock();
        let i = state.transition(step_id, "start", &[StepStatus::Pending])?;
        let now = state.clock.now();
        let estimate = state.estimate_at(now);
        let (eta, range) = (estimate.remaining, estimate.range);
        let step = &mut state.record.steps[i];
        step.status = StepStatus::Running;
        step.started_at = Some(now);
        step.eta_snapshot_seconds = eta;
        step.eta_range_seconds = range.map(|(low, high)| [low, high]);
        state.live[i] = Live::default();
        let persisted = state.commit();
        let step = &state.record.steps[i];
        let (order, name) = (step.order, step.label().to_owned());
        let total = state.total();
        let elapsed = now.seconds_since(state.record.created_at);
        state.sink.show(&Event::StepStarted {
            order,
            total,
            name: &name,
            eta,
            eta_range: range,
            elapsed,
        });
        self.reschedule();
        Ok(persisted?)
    }

    /// Folds in-step progress into the ETA and throughput. Reports for a step
    /// that is not running are ignored.
    pub fn report(&self, step_id: &str, report: Report) -> Result<()> {
        let mut state = self.lock();
        let i = state.index(step_id)?;
        if state.finished || state.record.steps[i].status != StepStatus::Running {
            return Ok(());
        }
        let now = state.clock.now();
        let live = &mut state.live[i];
        if let Some(f) = report.fraction.filter(|f| f.is_finite()) {
            live.fraction = Some(f.clamp(0.0, 1.0));
        }
        if let Some(n) = report.items {
            match live.rate_base {
                None => live.rate_base = Some((n, now)),
                Some((base, at)) => {
                    let span = now.seconds_since(at);
                    if n < base {
                        live.rate_base = Some((n, now)); // a counter reset
                    } else if span >= RATE_WINDOW {
                        live.rate = Some((n - base) as f64 / span);
                        live.rate_base = Some((n, now));
                    }
                }
            }
            live.items = Some(n);
        }
        if let Some(fps) = report.fps.filter(|f| f.is_finite() && *f >= 0.0) {
            live.fps = Some(fps);
        }
        if let Some(message) = report.message {
            live.message = Some(message);
        }
        let changed = std::mem::replace(&mut live.changed, true);
        // (The walk in `publish_live` costs what `index` above did.)
        state.publish_live();
        if !changed {
            // New progress to persist: the refresh thread may sleep longer.
            self.reschedule();
        }
        Ok(())
    }

    /// Records a file the step produced (once; at most
    /// [`MAX_ARTIFACTS_PER_STEP`] per step, so every record stays a line
    /// readers accept).
    pub fn add_artifact(&self, step_id: &str, path: impl Into<String>) -> Result<()> {
        let mut state = self.lock();
        let i = state.index(step_id)?;
        if state.finished {
            return Err(Error::Finished);
        }
        let path = path.into();
        if path.len() > MAX_ARTIFACT_PATH_BYTES {
            return Err(Error::ArtifactTooLong {
                step: step_id.to_owned(),
                len: path.len(),
                limit: MAX_ARTIFACT_PATH_BYTES,
            });
        }
        let artifacts = &state.record.steps[i].artifacts;
        if artifacts.contains(&path) {
            return Ok(());
        }
        if artifacts.len() >= MAX_ARTIFACTS_PER_STEP {
            return Err(Error::TooManyArtifacts {
                step: step_id.to_owned(),
                limit: MAX_ARTIFACTS_PER_STEP,
            });
        }
        state.record.steps[i].artifacts.push(path);
        match state.commit() {
            // The record would no longer be a line readers accept: take the
            // artifact back, so the run stays recordable.
            Err(e @ manifest::Error::LineTooLong { .. }) => {
                state.record.steps[i].artifacts.pop();
                Err(e.into())
            }
            other => Ok(other?),
        }
    }

    /// Records what a step run as a command used (exit code, CPU seconds,
    /// peak RSS) before the step is completed or failed; a figure left
    /// `None` keeps what was recorded before.
    pub fn set_step_resources(&self, step_id: &str, resources: StepResources) -> Result<()> {
        let mut state = self.lock();
        let i = state.index(step_id)?;
        let step = &mut state.record.steps[i];
        step.exit_code = resources.exit_code.or(step.exit_code);
        step.cpu_time_seconds = resources.cpu_time_seconds.or(step.cpu_time_seconds);
        step.peak_rss_mb = resources.peak_rss_mb.or(step.peak_rss_mb);
        Ok(())
    }

    /// Completes the running step.
    pub fn complete_step(&self, step_id: &str) -> Result<()> {
        self.end_step(step_id, StepStatus::Completed, None)
    }

    /// Fails the running step with a reason (`exit status 3`).
    pub fn fail_step(&self, step_id: &str, reason: &str) -> Result<()> {
        self.end_step(step_id, StepStatus::Failed, Some(reason))
    }

    /// Skips a pending step; it leaves the total.
    pub fn skip_step(&self, step_id: &str) -> Result<()> {
        let mut state = self.lock();
        let i = state.transition(step_id, "skip", &[StepStatus::Pending])?;
        state.record.steps[i].status = StepStatus::Skipped;
        state.renumber();
        let persisted = state.commit();
        let name = state.record.steps[i].label().to_owned();
        state.sink.show(&Event::StepSkipped { name: &name });
        Ok(persisted?)
    }

    fn end_step(&self, step_id: &str, status: StepStatus, reason: Option<&str>) -> Result<()> {
        let mut state = self.lock();
        let action = if status == StepStatus::Completed {
            "complete"
        } else {
            "fail"
        };
        let i = state.transition(step_id, action, &[StepStatus::Running])?;
        let now = state.clock.now();
        state.close_step(i, status, now);
        state.live[i] = Live::default();
        let persisted = state.commit();
        state.show_step_end(i, reason);
        Ok(persisted?)
    }

    /// Ends the run, the one way to: with [`Ending::FromSteps`],
    /// `completed` (steps never started recorded as skipped), or `failed`
    /// if a step failed; or with the status and reason given. The running
    /// step, if any, fails with the run. Writes the final record,
    /// `summary.json` and `summary.md`, and stops the refresh thread.
    ///
    /// Through a shared reference, so a tracker shared with threads (an
    /// `Arc`) ends the same way. A run ends once: ending it again, or after
    /// a signal ended it, changes nothing and returns the record as it
    /// ended.
    pub fn finish(&self, ending: Ending<'_>) -> Result<PipelineRunRecord> {
        self.shared.before_end();
        let result = {
            let mut state = self.lock();
            let (status, reason) = match ending {
                Ending::FromSteps => {
                    let failed = state
                        .record
                        .steps
                        .iter()
                        .any(|s| s.status == StepStatus::Failed);
                    if failed {
                        (RunStatus::Failed, Some("a step failed"))
                    } else {
                        (RunStatus::Completed, None)
                    }
                }
                Ending::Status(status, reason) => (status, reason),
            };
            state.finish(status, reason)
        };
        // Told to stop; joined when the tracker is dropped.
        self.signal_ticker_stop();
        result
    }

    /// Records recommendations: appended to the manifest at once and
    /// included in the summary written when the run ends.
    pub fn add_recommendations(
        &self,
        recommendations: &[telemetry_model::PerformanceRecommendation],
    ) -> Result<()> {
        let mut state = self.lock();
        for rec in recommendations {
            state.writer.append_recommendation(rec)?;
            state.recommendations.push(rec.clone());
        }
        Ok(())
    }

    /// Persists the current record now (a record line and `steps.json`),
    /// its status unchanged: for a change made with
    /// [`ProgressTracker::update_summary`] that must not wait for the next
    /// transition (a stalled step, a notification's outcome). A finished
    /// run's record is written again as it is, with the change.
    pub fn persist(&self) -> Result<()> {
        Ok(self.lock().commit()?)
    }

    /// How many recommendations the run has recorded so far: the manifest
    /// index (`recommendations_ref`) the next one will get.
    pub fn recommendation_count(&self) -> usize {
        self.lock().recommendations.len()
    }

    /// Records performance smoke test results: one `{"perf_test": …}` line
    /// each, appended to the manifest at once.
    pub fn add_perf_tests(&self, results: &[telemetry_model::PerformanceTestResult]) -> Result<()> {
        let mut state = self.lock();
        for result in results {
            state.writer.append_perf_test(result)?;
        }
        Ok(())
    }

    /// Changes the record's summary (the resource aggregates, a perf
    /// verdict, what could not be written): persisted with the next
    /// transition and included in `summary.json`. After the run finished,
    /// [`ProgressTracker::rewrite_summary`] persists it.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let mut options = progress::TrackerOptions::new("p", manifest::ArtifactRoot::new(tmp.path()));
    /// # options.display = progress::Display::Quiet;
    /// # let tracker = progress::ProgressTracker::start(options, vec![progress::StepSpec::new("a", "A")])?;
    /// tracker.update_summary(|summary| summary.storage_errors.push("log: 1 write failed".into()));
    /// assert_eq!(tracker.record().summary.storage_errors, ["log: 1 write failed"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_summary(&self, change: impl FnOnce(&mut telemetry_model::RunSummary)) {
        change(&mut self.lock().record.summary);
    }

    /// Persists the current record (same status: a finished run stays
    /// finished) and rewrites `summary.json` and `summary.md`, so aggregates
    /// computed after the run ended (an abort by a signal) reach them.
    pub fn rewrite_summary(&self) -> Result<()> {
        let mut state = self.lock();
        state.commit()?;
        write_summary(&state.writer, &state.record, &state.recommendations)?;
        Ok(())
    }

    /// Appends a telemetry sample to the run's `telemetry.jsonl`. Samples
    /// arriving after the run finished are dropped.
    pub fn append_telemetry(&self, snapshot: &telemetry_model::TelemetrySnapshot) -> Result<()> {
        let mut state = self.lock();
        if state.finished {
            return Ok(());
        }
        Ok(state.writer.append_telemetry(snapshot)?)
    }

    /// Writes telemetry samples `lines` at a time (see
    /// [`manifest::RunWriter::batch_telemetry`]); those held are written
    /// with the run's next record, so before every transition and its end.
    pub fn batch_telemetry(&self, lines: usize) {
        self.lock().writer.batch_telemetry(lines);
    }

    /// Writes output that is not the tracker's own (a wrapped step's stdout
    /// or stderr) without tearing the live display: under one, whole lines
    /// only, each above the bar (an unfinished line waits for its newline,
    /// or for [`ProgressTracker::flush_output`]); otherwise the bytes as
    /// they come. Errors are ignored.
    pub fn print_output(&self, to_stderr: bool, bytes: &[u8]) {
        if !self.live_display {
            write_output(to_stderr, bytes);
            return;
        }
        let mut state = self.lock();
        let partial = &mut state.partial[usize::from(to_stderr)];
        partial.extend_from_slice(bytes);
        let whole = match partial.iter().rposition(|&b| b == b'\n') {
            Some(end) => end + 1,
            None if partial.len() > MAX_PARTIAL_LINE => partial.len(),
            None => return,
        };
        let lines: Vec<u8> = partial.drain(..whole).collect();
        state.sink.suspend(&mut || write_output(to_stderr, &lines));
    }

    /// Whether progress is drawn as a live bar, which output printed by
    /// others must go around ([`ProgressTracker::print_output`]).
    pub fn is_live(&self) -> bool {
        self.live_display
    }

    /// Shows what [`ProgressTracker::print_output`] held back of an
    /// unfinished line, ended with a newline: call it when the output's
    /// writer is done (a step's process exited).
    pub fn flush_output(&self) {
        if !self.live_display {
            return;
        }
        let mut state = self.lock();
        for to_stderr in [false, true] {
            let mut line = std::mem::take(&mut state.partial[usize::from(to_stderr)]);
            if !line.is_empty() {
                line.push(b'\n');
                state.sink.suspend(&mut || write_output(to_stderr, &line));
            }
        }
    }

    /// Runs `write` with the display cleared, so that what it prints
    /// (a diagnostic of the caller's) lands above a live bar rather than
    /// on it.
    pub fn suspend_display(&self, write: impl FnOnce()) {
        if !self.live_display {
            write();
            return;
        }
        let mut write = Some(write);
        self.lock().sink.suspend(&mut || {
            if let Some(write) = write.take() {
                write();
            }
        });
    }

    /// Refreshes the display and persists in-step progress. The background
    /// thread calls this every `refresh`; call it yourself without one.
    pub fn tick(&self) {
        self.lock().tick();
    }

    /// Tells the refresh thread to plan its next wake-up again.
    fn reschedule(&self) {
        if self.ticker.is_some() {
            self.shared
                .control
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reschedule = true;
            self.shared.wake.notify_all();
        }
    }

    /// Tells the refresh thread to end.
    fn signal_ticker_stop(&self) {
        self.shared
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_all();
    }

    fn stop_ticker(&mut self) {
        self.signal_ticker_stop();
        if let Some(handle) = self.ticker.take() {
            let _ = handle.join();
        }
    }

    /// Runs `hook` just before the run ends, however it ends:
    /// [`ProgressTracker::finish`], a signal the [`crate::FailureGuard`]
    /// handles, or the tracker dropped unfinished. It is for a caller that
    /// holds back something the run should record, such as telemetry
    /// samples handed over a second at a time: the hook hands it over
    /// while the run still takes it. It runs on the thread that ends the
    /// run, outside the tracker's locks, so it may call the tracker's
    /// methods (not end the run); hooks run in the order given.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use progress::{Display, Ending, ProgressTracker, StepSpec, TrackerOptions};
    ///
    /// # let tmp = tempfile::tempdir()?;
    /// let mut options = TrackerOptions::new("demo", manifest::ArtifactRoot::new(tmp.path()));
    /// options.display = Display::Plain;
    /// let tracker = ProgressTracker::start(options, vec![StepSpec::new("only", "Only")])?;
    /// let told = Arc::new(AtomicBool::new(false));
    /// let hook_told = Arc::clone(&told);
    /// tracker.before_end(move || hook_told.store(true, Ordering::SeqCst));
    /// tracker.finish(Ending::FromSteps)?;
    /// assert!(told.load(Ordering::SeqCst));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn before_end(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.shared
            .before_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(hook));
    }

    /// A handle that aborts this run from another thread (the failure guard).
    pub(crate) fn aborter(&self) -> Aborter {
        let shared = Arc::clone(&self.shared);
        Arc::new(move |status, reason| {
            shared.before_end();
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = state.finish(status, Some(reason));
        })
    }
}

impl Drop for ProgressTracker {
    fn drop(&mut self) {
        // Outside the run's lock: the hooks may take it.
        let finished = self.lock().finished;
        if !finished {
            self.shared.before_end();
        }
        {
            let mut state = self.lock();
            if !state.finished {
                let reason = if std::thread::panicking() {
                    "the pipeline panicked"
                } else {
                    "the tracker was dropped before the run finished"
                };
                let _ = state.finish(RunStatus::Failed, Some(reason));
            }
        }
        self.stop_ticker();
        let mut state = self.lock();
        if state.retention != Retention::KeepAll {
            // The run is over: release it first, so that it can go too if
            // newer runs of its pipeline pushed it past the limit, and wait
            // for a concurrent pruner, so that the last run to end leaves
            // the newest N.
            state.writer.release();
            state.apply_retention(true);
        }
    }
}

/// The entries of a run's steps before any ran: pending and numbered, or
/// skipped when disabled.
fn fresh_steps(steps: &[StepSpec]) -> Vec<StepExecutionEntry> {
    let mut order = 0;
    steps
        .iter()
        .map(|spec| {
            let mut entry = StepExecutionEntry::new(&spec.id, &spec.name, 0);
            if spec.enabled {
                order += 1;
                entry.order = order;
            } else {
                entry.status = StepStatus::Skipped;
            }
            entry
        })
        .collect()
}

/// The ids of the steps that count, in order.
fn enabled_ids(steps: &[StepExecutionEntry]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.status != StepStatus::Skipped)
        .map(|s| s.step_id.clone())
        .collect()
}

/// Reopens `resume.run` and writes the record it goes on with: its
/// completed steps kept, the others afresh, the resumption noted.
fn resume_run(
    root: &ArtifactRoot,
    options: &RunOptions,
    resume: &Resume,
    steps: &[StepSpec],
    now: Timestamp,
    initiator: &str,
) -> Result<(RunWriter, PipelineRunRecord)> {
    let (mut writer, contents) = RunWriter::resume(root, &resume.run, options)?;
    let Some(previous) = contents.record else {
        // RunWriter::resume refuses a manifest without a record.
        return Err(Error::Manifest(manifest::Error::NoRecord {
            path: writer.dir().join(manifest::files::MANIFEST),
        }));
    };
    let run_id = previous.run_id.clone();
    if previous.status == RunStatus::Completed {
        return Err(Error::NothingToResume { run_id });
    }
    let completed: Vec<&StepExecutionEntry> = previous
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .collect();
    let gone: Vec<String> = completed
        .iter()
        .filter(|s| !steps.iter().any(|spec| spec.id == s.step_id))
        .map(|s| s.step_id.clone())
        .collect();
    let kept_in_new_order: Vec<&str> = steps
        .iter()
        .filter(|spec| completed.iter().any(|s| s.step_id == spec.id))
        .map(|spec| spec.id.as_str())
        .collect();
    let kept_in_old_order: Vec<&str> = completed
        .iter()
        .filter(|s| !gone.contains(&s.step_id))
        .map(|s| s.step_id.as_str())
        .collect();
    if !resume.force {
        if !gone.is_empty() {
            return Err(Error::ResumeMismatch {
                run_id,
                reason: format!(
                    "it completed {} that the pipeline no longer has (--force drops them)",
                    gone.iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        if kept_in_new_order != kept_in_old_order {
            return Err(Error::ResumeMismatch {
                run_id,
                reason: format!(
                    "its completed steps ran in the order {}, the pipeline now has them in the \
                     order {} (--force resumes anyway)",
                    kept_in_old_order.join(", "),
                    kept_in_new_order.join(", ")
                ),
            });
        }
    }
    let mut record = previous.clone();
    record.status = RunStatus::Running;
    record.completed_at = None;
    record.pid = Some(std::process::id());
    record.host = writer.new_record().host;
    record.summary.reason = None;
    record.summary.live = None;
    record.summary.total_duration = None;
    let mut fresh = fresh_steps(steps);
    let mut kept = Vec::new();
    for entry in &mut fresh {
        if entry.status == StepStatus::Skipped {
            continue;
        }
        if let Some(done) = completed.iter().find(|s| s.step_id == entry.step_id) {
            let order = entry.order;
            *entry = (*done).clone();
            entry.order = order;
            kept.push(entry.step_id.clone());
        }
    }
    record.steps = fresh;
    record.enabled_steps = enabled_ids(&record.steps);
    record
        .summary
        .resumptions
        .push(telemetry_model::Resumption {
            at: now,
            initiator: Some(initiator.to_owned()),
            host: record.host.clone(),
            previous_status: previous.status,
            kept,
            dropped: gone,
        });
    writer.commit(&record)?;
    Ok((writer, record))
}

/// Writes a step's output to this process's stdout or stderr.
fn write_output(to_stderr: bool, bytes: &[u8]) {
    use std::io::Write as _;
    let _ = if to_stderr {
        std::io::stderr().write_all(bytes)
    } else {
        let mut out = std::io::stdout();
        out.write_all(bytes).and_then(|()| out.flush())
    };
}

/// The refresh thread: sleeps until [`State::refresh_due_in`] says a tick
/// has something to do (or it is told to plan again), ticks, and so on.
fn refresh_loop(shared: &Shared, every: Duration) {
    let mut wait = shared
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .refresh_due_in(every);
    loop {
        let control = shared
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let asleep = |c: &mut Control| !c.stop && !c.reschedule;
        let mut control = match wait {
            Some(wait) => {
                shared
                    .wake
                    .wait_timeout_while(control, wait, asleep)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .wake
                .wait_while(control, asleep)
                .unwrap_or_else(PoisonError::into_inner),
        };
        if control.stop {
            return;
        }
        control.reschedule = false;
        drop(control);
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tick();
        wait = state.refresh_due_in(every);
    }
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

impl State {
    /// Applies the run's retention to its pipeline and announces what it
    /// deleted: when the run starts (sparing the run itself, `at_end`
    /// false) and once it has ended and released its lock (waiting for a
    /// concurrent pruner). Best effort: retention never fails a run; a
    /// failure is announced instead.
    fn apply_retention(&mut self, at_end: bool) {
        let pipeline = self.record.pipeline.clone();
        let own = self.writer.dir().to_owned();
        let (exclude, wait) = if at_end {
            (None, manifest::END_OF_RUN_PRUNE_WAIT)
        } else {
            (Some(own.as_path()), Duration::ZERO)
        };
        let text = match manifest::apply_retention(
            &self.root,
            self.retention,
            pipeline.as_deref(),
            exclude,
            wait,
        ) {
            Ok(report) => report.announcement(&self.retention.to_string()),
            Err(e) => Some(format!(
                "could not apply retention ({}): {e}",
                self.retention
            )),
        };
        if let Some(text) = text {
            self.sink.show(&Event::RunsDeleted { text: &text });
        }
    }

    /// Persists a transition (and publishes it to the live board first,
    /// whether or not the write succeeds: the change stands in memory).
    fn commit(&mut self) -> manifest::Result<()> {
        self.publish_live();
        self.writer.commit(&self.record)
    }

    /// Publishes the running step and its throughput for
    /// [`ProgressTracker::live_metrics`]. Called after every change to a
    /// step's status or live throughput.
    fn publish_live(&self) {
        let running = self
            .record
            .steps
            .iter()
            .position(|s| s.status == StepStatus::Running);
        let mut board = self.board.0.lock().unwrap_or_else(PoisonError::into_inner);
        match running {
            Some(i) => {
                let step = &self.record.steps[i].step_id;
                if board.step_id.as_ref() != Some(step) {
                    board.step_id = Some(step.clone());
                }
                board.steps_per_sec = self.live[i].rate;
                board.fps = self.live[i].fps;
            }
            None => *board = LiveMetrics::default(),
        }
    }

    fn index(&self, step_id: &str) -> Result<usize> {
        self.record
            .steps
            .iter()
            .position(|s| s.step_id == step_id)
            .ok_or_else(|| Error::UnknownStep(step_id.to_owned()))
    }

    /// The step's index if the run is live and the step in one of `from`.
    fn transition(
        &self,
        step_id: &str,
        action: &'static str,
        from: &[StepStatus],
    ) -> Result<usize> {
        if self.finished {
            return Err(Error::Finished);
        }
        let i = self.index(step_id)?;
        let status = self.record.steps[i].status;
        if !from.contains(&status) {
            return Err(Error::InvalidTransition {
                step: step_id.to_owned(),
                action,
                status,
            });
        }
        Ok(i)
    }

    fn total(&self) -> usize {
        self.record.counted_steps().count()
    }

    /// Keeps `order` contiguous over the counted steps after a skip.
    fn renumber(&mut self) {
        let mut order = 0;
        for step in &mut self.record.steps {
            if step.status == StepStatus::Skipped {
                step.order = 0;
            } else {
                order += 1;
                step.order = order;
            }
        }
        self.record.enabled_steps = self
            .record
            .counted_steps()
            .map(|s| s.step_id.clone())
            .collect();
    }

    fn estimate(&self) -> Estimate {
        self.estimate_at(self.clock.now())
    }

    fn estimate_at(&self, now: Timestamp) -> Estimate {
        let views: Vec<StepView> = self
            .record
            .steps
            .iter()
            .zip(&self.priors)
            .zip(&self.live)
            .map(|((step, prior), live)| StepView {
                prior: prior.clone(),
                phase: match step.status {
                    StepStatus::Pending => Phase::Pending,
                    StepStatus::Running => Phase::Running {
                        elapsed: step.started_at.map_or(0.0, |t| now.seconds_since(t)),
                        fraction: live.fraction,
                    },
                    StepStatus::Completed => Phase::Done {
                        actual: step.duration_seconds.unwrap_or(0.0),
                    },
                    StepStatus::Failed => Phase::Failed,
                    StepStatus::Skipped => Phase::Skipped,
                },
            })
            .collect();
        estimate(&views)
    }

    fn close_step(&mut self, i: usize, status: StepStatus, now: Timestamp) {
        let step = &mut self.record.steps[i];
        step.status = status;
        step.ended_at = Some(now);
        step.duration_seconds = step.started_at.map(|t| now.seconds_since(t).max(0.0));
        self.record.summary.live = None;
    }

    fn show_step_end(&mut self, i: usize, reason: Option<&str>) {
        let total = self.total();
        let step = &self.record.steps[i];
        let (order, name) = (step.order, step.label().to_owned());
        let duration = step.duration_seconds.unwrap_or(0.0);
        let event = match (step.status, reason) {
            (StepStatus::Failed, reason) => Event::StepFailed {
                order,
                total,
                name: &name,
                duration,
                reason: reason.unwrap_or("failed"),
            },
            _ => Event::StepCompleted {
                order,
                total,
                name: &name,
                duration,
            },
        };
        self.sink.show(&event);
    }

    /// Moves the run to a terminal status once; later calls do nothing.
    fn finish(&mut self, status: RunStatus, reason: Option<&str>) -> Result<PipelineRunRecord> {
        if self.finished {
            return Ok(self.record.clone());
        }
        self.finished = true;
        let now = self.clock.now();
        let running: Vec<usize> = (0..self.record.steps.len())
            .filter(|&i| self.record.steps[i].status == StepStatus::Running)
            .collect();
        for &i in &running {
            self.close_step(i, StepStatus::Failed, now);
        }
        if status == RunStatus::Completed {
            for step in &mut self.record.steps {
                if step.status == StepStatus::Pending {
                    step.status = StepStatus::Skipped;
                }
            }
            self.renumber();
        }
        self.record.summary.live = None;
        self.record.status = status;
        self.record.completed_at = Some(now);
        self.record.summary.total_duration =
            Some(now.seconds_since(self.record.created_at).max(0.0));
        if let Some(reason) = reason {
            self.record.summary.reason = Some(reason.to_owned());
        }
        self.publish_live();
        let persisted = self.writer.commit(&self.record);
        let summary = write_summary(&self.writer, &self.record, &self.recommendations);
        for &i in &running {
            self.show_step_end(i, reason);
        }
        let dir = self.writer.dir().display().to_string();
        let duration = self.record.summary.total_duration.unwrap_or(0.0);
        self.sink.show(&Event::RunFinished {
            run_id: &self.record.run_id,
            status: status.as_str(),
            duration,
            dir: &dir,
            reason,
        });
        persisted?;
        summary?;
        Ok(self.record.clone())
    }

    /// How long until a tick has something to do: show progress the sink
    /// wants (at most every `every`), persist reported progress. `None`:
    /// nothing until a step starts or reports (the run is over, no step
    /// runs, a quiet display with nothing to persist).
    fn refresh_due_in(&self, every: Duration) -> Option<Duration> {
        if self.finished {
            return None;
        }
        let i = self
            .record
            .steps
            .iter()
            .position(|s| s.status == StepStatus::Running)?;
        let now = self.clock.now();
        let elapsed = now.seconds_since(self.record.created_at);
        let show = self
            .sink
            .progress_due_in(self.record.steps[i].order, elapsed)
            .map(|due| due.max(every));
        let persist = self.live[i].changed.then(|| {
            let left = PERSIST_EVERY - now.seconds_since(self.last_persist);
            Duration::try_from_secs_f64(left).unwrap_or(Duration::ZERO)
        });
        // A millisecond late rather than early: a tick a hair before the
        // deadline would do nothing and plan a wake-up right away.
        let due = match (show, persist) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        Some(due.saturating_add(Duration::from_millis(1)))
    }

    fn tick(&mut self) {
        if self.finished {
            return;
        }
        let Some(i) = self
            .record
            .steps
            .iter()
            .position(|s| s.status == StepStatus::Running)
        else {
            return;
        };
        let now = self.clock.now();
        let estimate = self.estimate_at(now);
        let (eta, eta_range) = (estimate.remaining, estimate.range);
        let total = self.total();
        let elapsed = now.seconds_since(self.record.created_at);
        let step = &self.record.steps[i];
        let live = &self.live[i];
        let (order, name) = (step.order, step.label().to_owned());
        self.sink.show(&Event::StepProgress {
            order,
            total,
            name: &name,
            fraction: live.fraction,
            items: live.items,
            rate: live.rate,
            message: live.message.as_deref(),
            eta,
            eta_range,
            elapsed,
        });
        if live.changed && now.seconds_since(self.last_persist) >= PERSIST_EVERY {
            self.record.summary.live = Some(telemetry_model::LiveProgress {
                step_id: step.step_id.clone(),
                fraction: live.fraction,
                items: live.items,
                steps_per_sec: live.rate,
                fps: live.fps,
                message: live.message.clone(),
                eta_seconds: eta,
                eta_range_seconds: eta_range.map(|(low, high)| [low, high]),
                updated_at: Some(now),
            });
            self.live[i].changed = false;
            self.last_persist = now;
            // A failed write here is retried on the next tick.
            let _ = self.writer.append_record(&self.record);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::clock::ManualClock;
    use crate::render::PlainSink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const EVERY: Duration = Duration::from_secs(1);
    const LATE: Duration = Duration::from_millis(1);

    fn start(
        sink: Box<dyn Sink>,
        refresh: Option<Duration>,
    ) -> (tempfile::TempDir, Arc<ManualClock>, ProgressTracker) {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::starting_at_ms(1_750_000_000_000));
        let mut options = TrackerOptions::new("demo", ArtifactRoot::new(tmp.path()));
        options.refresh = refresh;
        options.clock = clock.clone();
        options.sink = Some(sink);
        options.history_runs = 0;
        options.run.sync = false;
        let steps = vec![StepSpec::new("a", "A"), StepSpec::new("b", "B")];
        let tracker = ProgressTracker::start(options, steps).unwrap();
        (tmp, clock, tracker)
    }

    fn due(tracker: &ProgressTracker) -> Option<Duration> {
        tracker.lock().refresh_due_in(EVERY)
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s) + LATE)
    }

    #[test]
    fn a_plain_display_wakes_the_refresh_only_for_heartbeats_and_persists() {
        let plain = PlainSink::new(Box::new(std::io::sink()), Duration::from_secs(10));
        let (_tmp, clock, tracker) = start(Box::new(plain), None);
        assert_eq!(due(&tracker), None, "no step runs: nothing to refresh");
        tracker.start_step("a").unwrap();
        assert_eq!(due(&tracker), secs(10), "the next heartbeat");
        clock.advance_secs(4.0);
        assert_eq!(due(&tracker), secs(6));
        // Progress to persist, 5 s after the last record.
        tracker.report("a", Report::default()).unwrap();
        assert_eq!(due(&tracker), secs(1));
        clock.advance_secs(1.0);
        tracker.tick();
        assert_eq!(due(&tracker), secs(5), "persisted: the heartbeat again");
        clock.advance_secs(5.0);
        tracker.tick();
        assert_eq!(due(&tracker), secs(10), "heartbeat shown at 10 s");
        tracker.complete_step("a").unwrap();
        assert_eq!(due(&tracker), None);
        tracker.start_step("b").unwrap();
        assert_eq!(due(&tracker), secs(10));
        tracker
            .finish(Ending::Status(RunStatus::Completed, None))
            .unwrap();
        assert_eq!(due(&tracker), None, "a finished run is never refreshed");
    }

    /// Counts progress events; refreshed at every tick like a live display.
    #[derive(Clone, Default)]
    struct Live(Arc<AtomicUsize>);

    impl Sink for Live {
        fn show(&mut self, event: &Event<'_>) {
            if matches!(event, Event::StepProgress { .. }) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn a_live_display_is_refreshed_at_its_interval_and_a_quiet_one_only_to_persist() {
        let (_tmp, clock, tracker) = start(Box::new(Live::default()), None);
        tracker.start_step("a").unwrap();
        assert_eq!(due(&tracker), secs(1));
        let (_tmp, clock2, quiet) = start(crate::render::sink_for(Display::Quiet, EVERY), None);
        quiet.start_step("a").unwrap();
        assert_eq!(due(&quiet), None, "nothing to show");
        clock2.advance_secs(2.0);
        quiet.report("a", Report::default()).unwrap();
        assert_eq!(due(&quiet), secs(3));
        clock2.advance_secs(7.0);
        assert_eq!(due(&quiet), Some(LATE), "overdue: now");
        drop(clock);
    }

    #[test]
    fn a_starting_step_wakes_a_refresh_thread_that_sleeps() {
        let live = Live::default();
        let shown = Arc::clone(&live.0);
        // An hour between refreshes: only being told wakes the thread.
        let (_tmp, _clock, tracker) = start(Box::new(live), Some(Duration::from_secs(3600)));
        tracker.start_step("a").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while shown.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            shown.load(Ordering::SeqCst),
            1,
            "refreshed once at the start"
        );
    }
}
