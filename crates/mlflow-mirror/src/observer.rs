//! The live mirror: a [`runner::Observer`] that hands each event to its
//! own worker thread, which sends it to the tracking server. The run's
//! threads only copy the event into a bounded queue; an unreachable, slow
//! or erroring server costs them nothing, and the end of the run waits for
//! the last uploads only while the server answers, and at most
//! [`MirrorOptions::end_wait`]. After a failure the worker tries the server
//! again now and then ([`MirrorOptions::retry_first`]); once it answers,
//! what the run recorded meanwhile is sent from its files and the mirror
//! goes on live.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use runner::{Event, Observer, ObserverError, Reporter};
use telemetry_model::{PerformanceRecommendation, PipelineRunRecord, TelemetrySnapshot};

use crate::client::Timeouts;
use crate::error::{Error, Result};
use crate::mapping::{
    Metric, StepThroughput, Tag, batches, mlflow_status, run_metrics, run_tags, sample_metrics,
    step_metrics, tracker_status,
};
use crate::state::{MirrorFile, MirrorState, STATE_FILE};
use crate::sync::Target;

/// How long after the run's start its end may wait for a server that has
/// not answered the first request yet (then [`MirrorOptions::end_wait`]
/// once it has): a run that ends sooner gives a healthy server time to
/// open the MLflow run; a server that hangs costs a run at most this, and
/// nothing to a run that lasted longer.
pub const FIRST_ANSWER_GRACE: Duration = Duration::from_secs(1);

/// Longest a sample waits in the worker to be sent with the next ones:
/// one request per this, not per sample.
const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Most events sent in one go (within MLflow's LogBatch limits after
/// [`crate::batches`]).
const MAX_BUFFERED: usize = 100;

/// Events queued for the worker before further samples are dropped (and
/// left to `tracker sync`).
const QUEUE: usize = 4096;

/// How the live mirror behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MirrorOptions {
    /// The experiment; `None`: `$MLFLOW_EXPERIMENT_NAME`, else the
    /// pipeline's name.
    pub experiment: Option<String>,
    /// Time limits of each request.
    pub timeouts: Timeouts,
    /// Longest the end of the run waits for the last uploads (final
    /// status, artifacts), and only while no request has failed; for a
    /// server that has not answered at all yet, only until
    /// [`FIRST_ANSWER_GRACE`] after the run started.
    pub end_wait: Duration,
    /// After a failure, how long until the server is tried again; each
    /// further failure doubles the wait, up to [`MirrorOptions::retry_longest`].
    pub retry_first: Duration,
    /// The longest wait between two tries.
    pub retry_longest: Duration,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        Self {
            experiment: None,
            timeouts: Timeouts::LIVE,
            end_wait: Duration::from_secs(5),
            retry_first: Duration::from_secs(5),
            retry_longest: Duration::from_secs(300),
        }
    }
}

/// What the worker is told.
enum Msg {
    Started {
        run_dir: PathBuf,
        base: usize,
    },
    /// A sample and its index in `telemetry.jsonl`.
    Sample(usize, Box<TelemetrySnapshot>),
    Step(Box<PipelineRunRecord>),
    Ended(Box<PipelineRunRecord>),
}

/// The state shared by the observer and its worker.
struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    reporter: Mutex<Option<Arc<dyn Reporter>>>,
    /// The current failure was said (reset when the server answers again).
    warned: AtomicBool,
    /// Samples the run has produced since it started here.
    samples_seen: AtomicUsize,
}

#[derive(Default)]
struct Inner {
    run_dir: Option<PathBuf>,
    state: MirrorState,
    /// The sample index of the first sample of this session.
    base: usize,
    /// The server answered a request.
    answered: bool,
    failed: bool,
    /// The ended run, once it ended.
    ended: Option<String>,
    steps_finished: Vec<String>,
    /// The worker finished the ended run.
    done: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Says `text` once per failure, through the run's reporter.
    fn warn_once(&self, text: &str) {
        if self.warned.swap(true, Ordering::SeqCst) {
            return;
        }
        self.say(text);
    }

    /// Says `text` through the run's reporter.
    fn say(&self, text: &str) {
        let reporter = self
            .reporter
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(Arc::clone));
        match reporter {
            Some(reporter) => reporter.warn(text),
            None => runner::StderrReporter.warn(text),
        }
    }

    /// Lists what is not on the server yet and writes `mlflow.json`.
    fn record(&self, inner: &mut Inner) {
        let Some(run_dir) = inner.run_dir.clone() else {
            return;
        };
        let seen = inner.base + self.samples_seen.load(Ordering::SeqCst);
        let state = &mut inner.state;
        let mut pending = Vec::new();
        if state.mlflow_run_id.is_none() {
            pending.push("the whole run".to_owned());
        } else {
            if seen > state.samples_sent {
                pending.push(format!("telemetry from sample {}", state.samples_sent));
            }
            for step in &inner.steps_finished {
                if !state.steps_sent.contains(step) {
                    pending.push(format!("step `{step}`"));
                }
            }
            if let Some(word) = &inner.ended {
                if state.status_sent.as_deref() != Some(word.as_str()) {
                    pending.push(format!("final status ({word})"));
                }
                if !state.complete {
                    pending.push("artifacts".to_owned());
                }
            }
        }
        state.pending = pending;
        let mut file = MirrorFile::read(&run_dir).unwrap_or_default();
        file.put(state.clone());
        if let Err(e) = file.write(&run_dir) {
            self.warn_once(&format!("MLflow mirror: {e}"));
        }
    }
}

/// Mirrors each run it observes, live, to an MLflow tracking server
/// (docs/mlflow.md). Never fails the run: a problem is said once through
/// the run's reporter, the server is tried again on a backoff (and caught
/// up from the run's files once it answers), and what could not be sent is
/// listed in the run directory's `mlflow.json` for `tracker sync`.
pub struct MlflowObserver {
    target: Target,
    options: MirrorOptions,
    shared: Arc<Shared>,
    tx: Option<SyncSender<Msg>>,
    /// The index in `telemetry.jsonl` of this session's first sample.
    base: usize,
    /// When the run started (its `Started` event).
    started: Option<Instant>,
}

impl std::fmt::Debug for MlflowObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowObserver")
            .field("uri", &self.target.client.uri())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl MlflowObserver {
    /// A mirror to the tracking server at `uri` (`http://HOST:PORT`),
    /// authenticated from the environment, into `experiment` (else
    /// `$MLFLOW_EXPERIMENT_NAME`, else the pipeline's name). Fails only
    /// on an invalid URI; nothing is sent before the run starts.
    pub fn new(uri: &str, experiment: Option<String>) -> Result<Self> {
        Self::with_options(
            uri,
            MirrorOptions {
                experiment,
                ..MirrorOptions::default()
            },
        )
    }

    /// A mirror with explicit options.
    pub fn with_options(uri: &str, options: MirrorOptions) -> Result<Self> {
        let target = Target::from_env(uri, options.experiment.clone(), options.timeouts)?;
        Ok(Self {
            target,
            options,
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner::default()),
                changed: Condvar::new(),
                reporter: Mutex::new(None),
                warned: AtomicBool::new(false),
                samples_seen: AtomicUsize::new(0),
            }),
            tx: None,
            base: 0,
            started: None,
        })
    }

    /// The tracking URI.
    pub fn uri(&self) -> &str {
        self.target.client.uri()
    }

    fn start(&mut self, run_dir: &Path) {
        self.started = Some(Instant::now());
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let base = count_lines(&run_dir.join(manifest::files::TELEMETRY));
        self.base = base;
        let mut worker = Worker {
            target: self.target.clone(),
            shared: Arc::clone(&self.shared),
            throughput: StepThroughput::default(),
            next_sample: base,
            contiguous: true,
            retry: Retry::new(self.options.retry_first, self.options.retry_longest),
        };
        let spawned = std::thread::Builder::new()
            .name("mlflow-mirror".to_owned())
            .spawn(move || worker.run(&rx));
        match spawned {
            Ok(_) => {
                let _ = tx.try_send(Msg::Started {
                    run_dir: run_dir.to_owned(),
                    base,
                });
                self.tx = Some(tx);
            }
            Err(e) => {
                let mut inner = self.shared.lock();
                inner.run_dir = Some(run_dir.to_owned());
                inner.state = MirrorState::new(self.uri());
                inner.failed = true;
                self.shared.record(&mut inner);
                drop(inner);
                self.shared
                    .warn_once(&format!("MLflow mirror: cannot start its thread: {e}"));
            }
        }
    }

    fn send(&mut self, msg: Msg) {
        if let Some(tx) = &self.tx {
            match tx.try_send(msg) {
                Ok(()) => {}
                // Too far behind: the sample waits for `tracker sync`.
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// The run ended: let the worker finish while the server answers, at
    /// most `end_wait`, then record what is still pending.
    fn end(&mut self, record: &PipelineRunRecord) {
        {
            let mut inner = self.shared.lock();
            inner.ended = Some(tracker_status(record.status, false));
            inner.steps_finished = finished_steps(record);
        }
        self.send(Msg::Ended(Box::new(record.clone())));
        let now = Instant::now();
        let started = self.started.unwrap_or(now);
        let mut inner = self.shared.lock();
        while !inner.done && !inner.failed {
            let deadline = if inner.answered {
                now + self.options.end_wait
            } else {
                started + FIRST_ANSWER_GRACE.min(self.options.end_wait)
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inner = self
                .shared
                .changed
                .wait_timeout(inner, left)
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
        }
        if inner.done {
            return;
        }
        let said = if inner.failed {
            None
        } else if inner.answered {
            Some(format!(
                "did not take the end of the run within {} s",
                self.options.end_wait.as_secs_f64()
            ))
        } else {
            Some("has not answered yet".to_owned())
        };
        self.shared.record(&mut inner);
        let run_dir = inner.run_dir.clone().unwrap_or_default();
        drop(inner);
        if let Some(said) = said {
            self.shared.warn_once(&format!(
                "MLflow mirror: the server at {uri} {said}; the run is done, and what was not sent \
                 is listed in {file} (`tracker sync --mlflow {uri}` sends it)",
                uri = self.uri(),
                file = run_dir.join(STATE_FILE).display(),
            ));
        }
    }
}

impl Observer for MlflowObserver {
    fn name(&self) -> &str {
        "MLflow mirror"
    }

    fn attach(&mut self, reporter: Arc<dyn Reporter>) {
        if let Ok(mut slot) = self.shared.reporter.lock() {
            *slot = Some(reporter);
        }
    }

    fn observe(&mut self, event: &Event<'_>) -> Result<(), ObserverError> {
        match event {
            Event::Started { run_dir, .. } => self.start(run_dir),
            Event::Sample(snapshot) => {
                let index = self.base + self.shared.samples_seen.fetch_add(1, Ordering::SeqCst);
                self.send(Msg::Sample(index, Box::new((*snapshot).clone())));
            }
            Event::StepEnded { record, .. } => self.send(Msg::Step(Box::new((*record).clone()))),
            Event::Ended(record) => self.end(record),
            _ => {}
        }
        Ok(())
    }
}

/// Steps of `record` that finished (completed or failed).
fn finished_steps(record: &PipelineRunRecord) -> Vec<String> {
    record
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.status,
                telemetry_model::StepStatus::Completed | telemetry_model::StepStatus::Failed
            )
        })
        .map(|s| s.step_id.clone())
        .collect()
}

/// Lines in a file (0 if it cannot be read): where a resumed run's
/// samples continue.
fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count())
}

/// When a failed mirror tries the server again: `first` after the
/// failure, then twice as late after each failed try, up to `longest`.
#[derive(Debug)]
struct Retry {
    first: Duration,
    longest: Duration,
    wait: Duration,
    /// The next try; `None` while the mirror works.
    at: Option<Instant>,
}

impl Retry {
    fn new(first: Duration, longest: Duration) -> Self {
        Self {
            first,
            longest: longest.max(first),
            wait: first,
            at: None,
        }
    }

    /// A try failed (or the mirror did): the next one, `wait` from now.
    fn failed(&mut self, now: Instant) {
        self.at = Some(now + self.wait);
        self.wait = (self.wait * 2).min(self.longest);
    }

    /// The server answered: no tries until the next failure, which waits
    /// `first` again.
    fn answered(&mut self) {
        self.at = None;
        self.wait = self.first;
    }

    /// How long until the next try is due (zero if it is), `None` if none is.
    fn due_in(&self, now: Instant) -> Option<Duration> {
        self.at.map(|at| at.saturating_duration_since(now))
    }
}

/// The worker thread: sends what the observer queues. After a failure it
/// only keeps count (for `mlflow.json`) and tries the server again on the
/// [`Retry`] schedule, catching up from the run's files when it answers.
struct Worker {
    target: Target,
    shared: Arc<Shared>,
    throughput: StepThroughput,
    /// The index of the next sample to send: those below were sent.
    next_sample: usize,
    /// Every sample of the run so far was sent.
    contiguous: bool,
    retry: Retry,
}

impl Worker {
    fn run(&mut self, rx: &Receiver<Msg>) {
        let mut msgs: Vec<Msg> = Vec::new();
        let mut last = Instant::now();
        loop {
            // Samples wait up to FLUSH_EVERY to go in one request; the
            // run's start, a step's end and the run's end go at once.
            let mut left = FLUSH_EVERY.saturating_sub(last.elapsed());
            if let Some(due) = self.retry.due_in(Instant::now()) {
                if due.is_zero() {
                    self.process(std::mem::take(&mut msgs));
                    self.recover();
                    continue;
                }
                left = left.min(due);
            }
            match rx.recv_timeout(left) {
                Ok(msg) => {
                    let urgent = !matches!(msg, Msg::Sample(..));
                    msgs.push(msg);
                    if !urgent && msgs.len() < MAX_BUFFERED && last.elapsed() < FLUSH_EVERY {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Timeout) if last.elapsed() < FLUSH_EVERY => continue,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.process(std::mem::take(&mut msgs));
                    return;
                }
            }
            last = Instant::now();
            self.process(std::mem::take(&mut msgs));
        }
    }

    /// Sends (or, after a failure, counts) what was buffered.
    fn process(&mut self, msgs: Vec<Msg>) {
        if msgs.is_empty() {
            return;
        }
        let failed = self.shared.lock().failed;
        let result = if failed {
            self.count_only(msgs);
            Ok(())
        } else {
            self.handle(msgs)
        };
        if let Err(e) = result {
            self.fail(&e);
        }
    }

    /// After a failure: only keep count, and finish the record at the end.
    fn count_only(&mut self, msgs: Vec<Msg>) {
        for msg in msgs {
            match msg {
                Msg::Started { run_dir, base } => self.begin_offline(run_dir, base),
                // Sent from the file if the server answers again.
                Msg::Sample(_, snapshot) => self.throughput.add(&snapshot),
                Msg::Step(_) => {}
                Msg::Ended(_) => self.finish(false),
            }
        }
    }

    fn begin_offline(&mut self, run_dir: PathBuf, base: usize) {
        let mut inner = self.shared.lock();
        inner.run_dir = Some(run_dir);
        inner.base = base;
    }

    fn handle(&mut self, msgs: Vec<Msg>) -> Result<()> {
        let mut metrics: Vec<Metric> = Vec::new();
        let mut tags: Vec<Tag> = Vec::new();
        let mut steps_now: Vec<String> = Vec::new();
        let mut ended: Option<Box<PipelineRunRecord>> = None;
        let mut samples_now = 0;
        for msg in msgs {
            match msg {
                Msg::Started { run_dir, base } => self.open(run_dir, base)?,
                Msg::Sample(index, snapshot) => {
                    self.throughput.add(&snapshot);
                    // Below: sent already, from the file, by a catch-up.
                    if index >= self.next_sample {
                        // Above: samples the queue dropped, left to sync.
                        self.contiguous &= index == self.next_sample;
                        metrics.extend(sample_metrics(&snapshot, index));
                        self.next_sample = index + 1;
                        samples_now += 1;
                    }
                }
                Msg::Step(record) => {
                    self.new_step_metrics(&record, &mut steps_now, &mut metrics);
                }
                Msg::Ended(record) => {
                    self.new_step_metrics(&record, &mut steps_now, &mut metrics);
                    metrics.extend(run_metrics(&record, crate::mapping::end_time_ms(&record)));
                    tags.extend(run_tags(&record, false));
                    ended = Some(record);
                }
            }
        }
        let run_id = self.shared.lock().state.mlflow_run_id.clone();
        let Some(run_id) = run_id else {
            return Ok(());
        };
        if let Some(record) = &ended {
            let recommendations = read_recommendations(&self.shared);
            tags.push(Tag::new(
                "tracker.recommendations",
                recommendations.len().to_string(),
            ));
            self.send_batches(&run_id, metrics, tags)?;
            self.sent(samples_now, &steps_now, false);
            let mut state = self.shared.lock().state.clone();
            let run_dir = self.shared.lock().run_dir.clone().unwrap_or_default();
            let uploaded = self
                .target
                .upload_artifacts(&run_dir, &recommendations, &mut state);
            // Keep what was uploaded, even if one upload failed.
            self.shared.lock().state.artifacts_sent = state.artifacts_sent;
            uploaded?;
            let end_ms = crate::mapping::end_time_ms(record);
            self.target.client.update_run(
                &run_id,
                mlflow_status(record.status, false),
                Some(end_ms),
            )?;
            {
                let mut inner = self.shared.lock();
                inner.state.status_sent = Some(tracker_status(record.status, false));
                inner.state.complete = self.contiguous;
                inner.state.last_error = None;
            }
            self.finish(true);
        } else {
            self.send_batches(&run_id, metrics, tags)?;
            self.sent(samples_now, &steps_now, !steps_now.is_empty());
        }
        Ok(())
    }

    /// The metrics of `record`'s steps that ended and were not sent yet
    /// (nor queued in this batch, `steps_now`, which they join).
    fn new_step_metrics(
        &self,
        record: &PipelineRunRecord,
        steps_now: &mut Vec<String>,
        metrics: &mut Vec<Metric>,
    ) {
        let sent = self.shared.lock().state.steps_sent.clone();
        for step in &record.steps {
            if sent.contains(&step.step_id) || steps_now.contains(&step.step_id) {
                continue;
            }
            let values = step_metrics(step, &self.throughput);
            if !values.is_empty() {
                metrics.extend(values);
                steps_now.push(step.step_id.clone());
            }
        }
    }

    fn send_batches(&self, run_id: &str, metrics: Vec<Metric>, tags: Vec<Tag>) -> Result<()> {
        for batch in batches(metrics, Vec::new(), tags) {
            self.target.client.log_batch(run_id, &batch)?;
        }
        Ok(())
    }

    /// Notes what the server took (`samples` of them samples); writes
    /// `mlflow.json` if `write`.
    fn sent(&mut self, samples: usize, steps: &[String], write: bool) {
        let mut inner = self.shared.lock();
        if self.contiguous && samples > 0 {
            inner.state.samples_sent = self.next_sample;
        }
        inner.state.steps_sent.extend(steps.iter().cloned());
        if write {
            self.shared.record(&mut inner);
        }
    }

    /// Opens the MLflow run (found again if the run is resumed).
    fn open(&mut self, run_dir: PathBuf, base: usize) -> Result<()> {
        let previous = MirrorFile::read(&run_dir)
            .ok()
            .and_then(|f| f.get(self.target.client.uri()).cloned());
        {
            let mut inner = self.shared.lock();
            inner.run_dir = Some(run_dir.clone());
            inner.base = base;
            let mut state = previous
                .clone()
                .unwrap_or_else(|| MirrorState::new(self.target.client.uri()));
            // A resumed run ends again: its artifacts and status are new.
            state.complete = false;
            state.artifacts_sent.clear();
            state.status_sent = None;
            inner.state = state;
        }
        let manifest_path = run_dir.join(manifest::files::MANIFEST);
        let record = manifest::read_manifest(&manifest_path)
            .map_err(|source| Error::Run {
                path: manifest_path.clone(),
                source,
            })?
            .record
            .ok_or_else(|| Error::State {
                path: manifest_path,
                message: "no run record".to_owned(),
            })?;
        // The first request: once answered, the end of the run may wait
        // for the rest.
        self.target
            .client
            .ensure_experiment(&self.target.experiment_for(&record))?;
        self.shared.lock().answered = true;
        self.shared.changed.notify_all();
        let mut state = self.shared.lock().state.clone();
        self.target.open_run(&record, &mut state, false)?;
        let run_id = state.mlflow_run_id.clone().unwrap_or_default();
        // Resumed (or found again): running again, with this session's tags.
        self.target.client.update_run(&run_id, "RUNNING", None)?;
        self.send_batches(&run_id, Vec::new(), run_tags(&record, false))?;
        self.contiguous = state.samples_sent == base;
        state.status_sent = Some(tracker_status(record.status, false));
        let mut inner = self.shared.lock();
        inner.state = state;
        self.shared.record(&mut inner);
        Ok(())
    }

    /// A failure: said once, recorded; nothing more is sent until the
    /// server answers a later try ([`Worker::recover`]).
    fn fail(&mut self, e: &Error) {
        let mut inner = self.shared.lock();
        inner.failed = true;
        inner.state.last_error = Some(e.to_string());
        self.shared.record(&mut inner);
        let file = inner
            .run_dir
            .as_ref()
            .map(|d| d.join(STATE_FILE).display().to_string())
            .unwrap_or_else(|| STATE_FILE.to_owned());
        let ended = inner.ended.is_some();
        inner.done = ended;
        drop(inner);
        self.shared.changed.notify_all();
        if !ended {
            self.retry.failed(Instant::now());
        }
        self.shared.warn_once(&format!(
            "MLflow mirror: {e}; the run goes on, the mirror tries the server again now and then \
             (sending what it missed once it answers), and what is not sent is listed in {file} \
             (`tracker sync --mlflow {}` sends it)",
            self.target.client.uri()
        ));
    }

    /// A try after a failure: sends what the run's files hold that the
    /// server lacks, then goes on live; or, failing, waits longer.
    fn recover(&mut self) {
        let (run_dir, mut state) = {
            let inner = self.shared.lock();
            match (&inner.run_dir, inner.ended.is_some() || inner.done) {
                (Some(dir), false) => (dir.clone(), inner.state.clone()),
                // Ended: what is missing is `tracker sync`'s to send.
                _ => {
                    self.retry.at = None;
                    return;
                }
            }
        };
        let caught_up = crate::sync::catch_up(&self.target, &run_dir, &mut state);
        let mut inner = self.shared.lock();
        match caught_up {
            Ok(metrics) => {
                self.retry.answered();
                self.next_sample = state.samples_sent;
                self.contiguous = true;
                state.last_error = None;
                inner.state = state;
                inner.failed = false;
                inner.answered = true;
                self.shared.record(&mut inner);
                drop(inner);
                self.shared.changed.notify_all();
                self.shared.warned.store(false, Ordering::SeqCst);
                self.shared.say(&format!(
                    "MLflow mirror: the server at {} answers again; what the run recorded \
                     meanwhile was sent ({metrics} metric values), and the mirror goes on live",
                    self.target.client.uri()
                ));
            }
            Err(e) => {
                self.retry.failed(Instant::now());
                inner.state.last_error = Some(e.to_string());
                self.shared.record(&mut inner);
            }
        }
    }

    /// The ended run is finished with (sent, or recorded as pending).
    fn finish(&mut self, sent: bool) {
        let mut inner = self.shared.lock();
        if sent && self.contiguous {
            inner.state.complete = true;
        }
        self.shared.record(&mut inner);
        inner.done = true;
        drop(inner);
        self.shared.changed.notify_all();
    }
}

/// The run's recommendations from its manifest (empty if unreadable).
fn read_recommendations(shared: &Shared) -> Vec<PerformanceRecommendation> {
    let Some(run_dir) = shared.lock().run_dir.clone() else {
        return Vec::new();
    };
    manifest::read_manifest(&run_dir.join(manifest::files::MANIFEST))
        .map(|c| c.recommendations)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_after_a_failure_grow_rarer_up_to_the_longest_and_start_over_once_answered() {
        let mut retry = Retry::new(Duration::from_secs(5), Duration::from_secs(300));
        let now = Instant::now();
        assert_eq!(retry.due_in(now), None, "no try while the mirror works");
        let mut waits = Vec::new();
        for _ in 0..9 {
            retry.failed(now);
            waits.push(retry.due_in(now).unwrap().as_secs());
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(
            retry.due_in(now + Duration::from_secs(400)),
            Some(Duration::ZERO)
        );
        retry.answered();
        assert_eq!(retry.due_in(now), None);
        retry.failed(now);
        assert_eq!(retry.due_in(now), Some(Duration::from_secs(5)));
    }
}
