//! `tracker._native`: the Python package's native module, the `runner`
//! engine under a Python pipeline whose steps are its own code.
//!
//! The public Python API (`tracker.Run`, `tracker.Step`,
//! `tracker.list_runs`, …) lives in `python/tracker/__init__.py` and is
//! documented in docs/python.md; this module is what it stands on:
//!
//! - `NativeRun`: one hosted run ([`runner::Settings::hosted`]): the
//!   tracker, the telemetry thread over this process and its children, the
//!   rating and the report at the end;
//! - `StepHandle`: what `with run.step(…) as step` gives, whose
//!   `report` is the hot path: no I/O, and the GIL released while the
//!   engine works;
//! - `cli`: the `tracker` command line in process, for `list_runs` and
//!   `load_run` (the same JSON as `tracker list/show --format json`).
//!
//! Every call into the engine releases the GIL first: the engine's own
//! threads (the display's heartbeat, the sampler) may need it to write to
//! Python's `sys.stderr`, and must never wait for a thread that waits for
//! them.
//!
//! ```text
//! >>> from tracker import _native
//! >>> run = _native.NativeRun("demo", [("collect", "Collect", True, None)], artifact_root="output")
//! >>> step = run.begin_step("collect"); step.report(fraction=0.5); run.end_step("collect", None)
//! >>> run.end(None, None)
//! 'completed'
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use progress::{Display, Ending, ProgressTracker, Report, StepSpec};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use runner::error_text;
use telemetry_model::RunStatus;

/// The error Python sees for an engine error: its text and its causes.
fn engine_error(error: &dyn std::error::Error) -> PyErr {
    PyRuntimeError::new_err(error_text(error))
}

/// One tracked run of a Python pipeline (`tracker.Run` wraps it).
#[pyclass(module = "tracker._native", frozen)]
struct NativeRun {
    /// `None` once the run ended.
    session: Mutex<Option<runner::Session>>,
    /// The live run's tracker; `None` once the run ended, so that it is
    /// dropped and its lock released (step handles hold it weakly).
    tracker: Mutex<Option<Arc<ProgressTracker>>>,
    /// The record as the run ended.
    ended: Mutex<Option<telemetry_model::PipelineRunRecord>>,
    run_id: String,
    dir: PathBuf,
    root: PathBuf,
}

impl std::fmt::Debug for NativeRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRun")
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// A step spec from Python: `(id, name, enabled, expected_seconds)`.
type SpecTuple = (String, String, bool, Option<f64>);

/// A notification from Python: `(on, kind, target, timeout_seconds)`,
/// `kind` `"command"`, `"webhook"` or `"webhook_env"` (docs/notify.md).
type NotifySpec = (Vec<String>, String, String, Option<f64>);

/// The MLflow mirror `mlflow=` asks for (docs/mlflow.md): `"auto"`, on
/// when `tracker.toml` has `[mlflow] uri`; `"off"`; `"on"`, to
/// `$MLFLOW_TRACKING_URI` or the project's URI; or a URI.
fn mlflow_observer(
    mode: &str,
    experiment: Option<String>,
    project: Option<&manifest::ProjectConfig>,
) -> PyResult<Option<Box<dyn runner::Observer>>> {
    let from_project = project.and_then(|p| p.mlflow_uri.clone());
    let uri = match mode {
        "off" => None,
        "auto" => from_project,
        "on" => Some(
            std::env::var(mlflow_mirror::ENV_TRACKING_URI)
                .ok()
                .filter(|u| !u.is_empty())
                .or(from_project)
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "mlflow=True needs ${} or [mlflow] uri in {}",
                        mlflow_mirror::ENV_TRACKING_URI,
                        manifest::PROJECT_FILE
                    ))
                })?,
        ),
        uri => Some(uri.to_owned()),
    };
    let Some(uri) = uri else {
        return Ok(None);
    };
    let experiment = experiment.or_else(|| project.and_then(|p| p.mlflow_experiment.clone()));
    let observer = mlflow_mirror::MlflowObserver::new(&uri, experiment)
        .map_err(|e| PyValueError::new_err(format!("mlflow: {}", error_text(&e))))?;
    Ok(Some(Box::new(observer)))
}

/// The `i`th rule of `notify=`; a bad one is a `ValueError` naming it.
fn notify_rule(
    i: usize,
    (on, kind, target, timeout): NotifySpec,
    cwd: &std::path::Path,
) -> PyResult<runner::NotifyRule> {
    let bad = |what: String| PyValueError::new_err(format!("notify[{i}]: {what}"));
    let mut events = Vec::with_capacity(on.len());
    for name in &on {
        events.push(runner::NotifyOn::parse(name).ok_or_else(|| {
            bad(format!(
                "unknown event {name:?} in `on`: expected any of failed, cancelled, stalled, completed, recommendation"
            ))
        })?);
    }
    let rule = match kind.as_str() {
        "command" => runner::NotifyRule::command(&events, target, cwd),
        "webhook" => runner::NotifyRule::webhook(&events, &target),
        "webhook_env" => runner::NotifyRule::webhook_env(&events, &target),
        other => {
            return Err(bad(format!(
                "expected a command, a webhook or a webhook_env, got {other:?}"
            )));
        }
    }
    .map_err(|e| bad(error_text(&e)))?;
    let mut rule = match timeout {
        Some(seconds) => rule
            .with_timeout(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO))
            .map_err(|e| bad(error_text(&e)))?,
        None => rule,
    };
    rule.origin = format!("tracker.Run(notify=[…]) #{}", i + 1);
    Ok(rule)
}

#[pymethods]
impl NativeRun {
    /// Creates the run: its directory and first record, under the artifact
    /// root resolved as the command line resolves it (`artifact_root`,
    /// else `$TRACKER_ARTIFACT_ROOT`, else `tracker.toml`, else
    /// `./output`). `display`: `"auto"` (a live bar on a terminal),
    /// `"plain"`, `"quiet"`, or `"python"` (plain lines through Python's
    /// `sys.stderr`, for notebooks).
    #[new]
    #[pyo3(signature = (pipeline, steps, *, artifact_root=None, telemetry=None, interval=None,
        display="auto", resume=None, force=false, keep=None, scenario=None, notify=Vec::new(),
        stall_seconds=None, mlflow="auto", mlflow_experiment=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        pipeline: String,
        steps: Vec<SpecTuple>,
        artifact_root: Option<PathBuf>,
        telemetry: Option<bool>,
        interval: Option<f64>,
        display: &str,
        resume: Option<String>,
        force: bool,
        keep: Option<usize>,
        scenario: Option<String>,
        notify: Vec<NotifySpec>,
        stall_seconds: Option<f64>,
        mlflow: &str,
        mlflow_experiment: Option<String>,
    ) -> PyResult<Self> {
        let display_mode = match display {
            "auto" => Display::Auto,
            "plain" | "python" => Display::Plain,
            "quiet" => Display::Quiet,
            other => {
                return Err(PyValueError::new_err(format!(
                    "display: expected \"auto\", \"plain\", \"quiet\" or \"python\", got {other:?}"
                )));
            }
        };
        if let Some(seconds) = interval
            && !(seconds.is_finite() && seconds > 0.0)
        {
            return Err(PyValueError::new_err(format!(
                "interval: expected a number of seconds above 0, got {seconds}"
            )));
        }
        let mut specs = Vec::with_capacity(steps.len());
        for (id, name, enabled, expected) in steps {
            let mut spec = StepSpec::new(id, name).enabled(enabled);
            if let Some(seconds) = expected {
                spec.expected = Some(Duration::try_from_secs_f64(seconds).map_err(|_| {
                    PyValueError::new_err(format!(
                        "step `{}`: expected_seconds must be a number of seconds of 0 or more, got {seconds}",
                        spec.id
                    ))
                })?);
            }
            specs.push(spec);
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        let (root, project) = manifest::ArtifactRoot::discover(artifact_root.as_deref(), &cwd)
            .map_err(|e| engine_error(&e))?;
        let mut settings = runner::Settings::hosted(root.clone(), pipeline);
        settings.scenario = scenario;
        settings.display = display_mode;
        let keep = keep.or(project.as_ref().and_then(|p| p.keep));
        settings.retention = manifest::Retention::keep_newest(keep.unwrap_or(0));
        let enabled = telemetry
            .or(project.as_ref().and_then(|p| p.telemetry))
            .unwrap_or(true);
        let interval = interval
            .or(project.as_ref().and_then(|p| p.telemetry_interval))
            .unwrap_or(1.0);
        settings.telemetry = enabled.then(|| Duration::from_secs_f64(interval));
        settings.resume = resume.map(|run| progress::Resume { run, force });
        // The project's [[notify]] tables apply to every pipeline, first.
        if let Some(project) = &project {
            settings.notify = runner::project_notify_rules(&project.path)
                .map_err(|e| PyValueError::new_err(error_text(&e)))?;
        }
        for (i, spec) in notify.into_iter().enumerate() {
            settings.notify.push(notify_rule(i, spec, &cwd)?);
        }
        if let Some(seconds) = stall_seconds {
            settings.stall.seconds = Some(Duration::try_from_secs_f64(seconds).map_err(|_| {
                PyValueError::new_err(format!(
                    "stall_seconds: expected a number of seconds of 0 or more (0: off), got {seconds}"
                ))
            })?);
        }
        if display == "python" {
            settings.plain_output = Some(runner::PlainOutput::new(|| Box::new(PythonStderr)));
        }
        let reporter: Arc<dyn runner::Reporter> = if display == "python" {
            Arc::new(PythonReporter)
        } else {
            Arc::new(runner::StderrReporter)
        };
        let observers = mlflow_observer(mlflow, mlflow_experiment, project.as_ref())?
            .into_iter()
            .collect();
        let session = py
            .detach(|| runner::Session::start(&settings, specs, observers, reporter))
            .map_err(|e| engine_error(&e))?;
        let tracker = Arc::clone(session.tracker());
        Ok(Self {
            run_id: tracker.run_id().to_owned(),
            dir: session.run_dir().to_owned(),
            root: root.path().to_owned(),
            session: Mutex::new(Some(session)),
            tracker: Mutex::new(Some(tracker)),
            ended: Mutex::new(None),
        })
    }

    /// The run id (its directory's name).
    #[getter]
    fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run directory.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The artifact root the run is under.
    #[getter]
    fn artifact_root(&self) -> PathBuf {
        self.root.clone()
    }

    /// The run's status now: `running` until it ends.
    #[getter]
    fn status(&self, py: Python<'_>) -> PyResult<String> {
        Ok(py.detach(|| self.record())?.status.to_string())
    }

    /// A step's status now (`pending`, `running`, `completed`, …).
    fn step_status(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        let record = py.detach(|| self.record())?;
        record
            .step(id)
            .map(|s| s.status.to_string())
            .ok_or_else(|| PyValueError::new_err(unknown_step(id, &record)))
    }

    /// Starts step `id`; returns its handle.
    fn begin_step(&self, py: Python<'_>, id: &str) -> PyResult<StepHandle> {
        let pulse = py.detach(|| {
            let session = self.session.lock().map_err(|_| poisoned())?;
            let session = session.as_ref().ok_or_else(ended)?;
            session.begin_step(id).map_err(|e| step_error(&e))
        })?;
        Ok(StepHandle {
            tracker: Arc::downgrade(&self.tracker()?),
            id: id.to_owned(),
            pulse,
        })
    }

    /// Ends step `id`: completed, or failed with `failure` as the reason.
    #[pyo3(signature = (id, failure=None))]
    fn end_step(&self, py: Python<'_>, id: &str, failure: Option<&str>) -> PyResult<()> {
        py.detach(|| {
            let session = self.session.lock().map_err(|_| poisoned())?;
            let session = session.as_ref().ok_or_else(ended)?;
            session.end_step(id, failure).map_err(|e| step_error(&e))
        })
    }

    /// Records a pending step as skipped (it leaves the total).
    fn skip_step(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        let tracker = self.tracker()?;
        py.detach(|| tracker.skip_step(id))
            .map_err(|e| PyValueError::new_err(format!("step `{id}`: {e}")))
    }

    /// Ends the run: `status` `None` (completed, or failed if a step
    /// failed), `"completed"`, `"failed"` or `"cancelled"`, with `reason`.
    /// Stops sampling, rates the run, writes the summary and `report.html`.
    /// Returns the final status. Ending twice changes nothing.
    #[pyo3(signature = (status=None, reason=None))]
    fn end(&self, py: Python<'_>, status: Option<&str>, reason: Option<&str>) -> PyResult<String> {
        let status = match status {
            None => None,
            Some("completed") => Some(RunStatus::Completed),
            Some("failed") => Some(RunStatus::Failed),
            Some("cancelled") => Some(RunStatus::Cancelled),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "status: expected \"completed\", \"failed\" or \"cancelled\", got {other:?}"
                )));
            }
        };
        py.detach(|| {
            let session = self.session.lock().map_err(|_| poisoned())?.take();
            let Some(session) = session else {
                return Ok(self.record()?.status.to_string());
            };
            let ending = match status {
                None => Ending::FromSteps,
                Some(status) => Ending::Status(status, reason),
            };
            let result = session.end(ending);
            // The run is over either way: its tracker goes, and its lock.
            let tracker = self.tracker.lock().map_err(|_| poisoned())?.take();
            let record = match result {
                Ok(ended) => ended.record,
                Err(e) => {
                    let record = tracker.map(|t| t.record());
                    *self.ended.lock().map_err(|_| poisoned())? = record;
                    return Err(engine_error(&e));
                }
            };
            let status = record.status.to_string();
            *self.ended.lock().map_err(|_| poisoned())? = Some(record);
            Ok(status)
        })
    }

    /// Prints `text` (a step's output from Python) above the live bar, a
    /// whole line at a time; elsewhere as it comes.
    fn print_output(&self, py: Python<'_>, to_stderr: bool, text: &str) {
        match self.tracker() {
            Ok(tracker) => py.detach(|| tracker.print_output(to_stderr, text.as_bytes())),
            Err(_) => {
                let _ = if to_stderr {
                    std::io::stderr().write_all(text.as_bytes())
                } else {
                    std::io::stdout().write_all(text.as_bytes())
                };
            }
        }
    }

    /// Prints what `print_output` held back of an unfinished line.
    fn flush_output(&self, py: Python<'_>) {
        if let Ok(tracker) = self.tracker() {
            py.detach(|| tracker.flush_output());
        }
    }

    /// Whether progress is drawn as a live bar (then Python's own output
    /// must go through `print_output`).
    #[getter]
    fn live_display(&self) -> bool {
        self.tracker().is_ok_and(|t| t.is_live())
    }
}

impl NativeRun {
    /// The live run's tracker; an error once the run ended.
    fn tracker(&self) -> PyResult<Arc<ProgressTracker>> {
        self.tracker
            .lock()
            .map_err(|_| poisoned())?
            .as_ref()
            .map(Arc::clone)
            .ok_or_else(ended)
    }

    /// The run's record: as it is now, or as it ended.
    fn record(&self) -> PyResult<telemetry_model::PipelineRunRecord> {
        if let Ok(tracker) = self.tracker() {
            return Ok(tracker.record());
        }
        self.ended
            .lock()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or_else(ended)
    }
}

/// A running step (`with run.step(…) as step`).
#[pyclass(module = "tracker._native", frozen)]
#[derive(Debug)]
struct StepHandle {
    /// Weak: a handle kept after its run ended must not keep the run (and
    /// its lock) alive.
    tracker: Weak<ProgressTracker>,
    id: String,
    /// Beaten by each report: the step's sign of life for stall detection.
    pulse: runner::StepPulse,
}

#[pymethods]
impl StepHandle {
    /// The step id.
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// In-step progress: `fraction` done (0–1), `items` done so far (a
    /// counter: throughput is its rate), `fps`, a short `message`. Cheap:
    /// no I/O here; the engine persists and shows it from its own thread.
    #[pyo3(signature = (*, fraction=None, items=None, fps=None, message=None))]
    fn report(
        &self,
        py: Python<'_>,
        fraction: Option<f64>,
        items: Option<u64>,
        fps: Option<f64>,
        message: Option<String>,
    ) -> PyResult<()> {
        let report = Report {
            fraction,
            items,
            fps,
            message,
        };
        // A report after the run ended is ignored, as one for a step that
        // is not running.
        let Some(tracker) = self.tracker.upgrade() else {
            return Ok(());
        };
        self.pulse.beat();
        py.detach(|| tracker.report(&self.id, report))
            .map_err(|e| PyValueError::new_err(format!("step `{}`: {e}", self.id)))
    }

    /// Records a file the step produced (a path, relative to the working
    /// directory or absolute).
    fn artifact(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let path = path.to_string_lossy().into_owned();
        let tracker = self.tracker.upgrade().ok_or_else(ended)?;
        py.detach(|| tracker.add_artifact(&self.id, path))
            .map_err(|e| PyValueError::new_err(format!("step `{}`: {e}", self.id)))
    }
}

/// Runs the `tracker` command line in this process with `args` (without
/// the program name); returns `(status, stdout, stderr)`.
#[pyfunction]
fn cli(py: Python<'_>, args: Vec<String>) -> (u8, String, String) {
    py.detach(|| {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let argv = std::iter::once("tracker".to_owned()).chain(args);
        let status = tracker_cli::run_with(argv, &mut out, &mut err);
        (
            status,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    })
}

/// Plain progress lines to Python's `sys.stderr` (a notebook shows them;
/// the process's own stderr it does not).
struct PythonStderr;

impl Write for PythonStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        // Not while the interpreter shuts down: the line is dropped.
        let _ = Python::try_attach(|py| -> PyResult<()> {
            let stderr = py.import("sys")?.getattr("stderr")?;
            if !stderr.is_none() {
                stderr.call_method1("write", (text.as_ref(),))?;
            }
            Ok(())
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = Python::try_attach(|py| -> PyResult<()> {
            let stderr = py.import("sys")?.getattr("stderr")?;
            if !stderr.is_none() {
                stderr.call_method0("flush")?;
            }
            Ok(())
        });
        Ok(())
    }
}

/// The engine's warnings, to Python's `sys.stderr`.
#[derive(Debug)]
struct PythonReporter;

impl runner::Reporter for PythonReporter {
    fn warn(&self, text: &str) {
        let _ = writeln!(PythonStderr, "warning: {text}");
    }

    fn error(&self, text: &str) {
        let _ = writeln!(PythonStderr, "error: {text}");
    }
}

fn unknown_step(id: &str, record: &telemetry_model::PipelineRunRecord) -> String {
    let known: Vec<&str> = record.steps.iter().map(|s| s.step_id.as_str()).collect();
    format!(
        "no step `{id}` in this run; its steps are: {}",
        known.join(", ")
    )
}

/// A step that is unknown or not in the state asked for is a `ValueError`
/// (the caller's mistake); anything else a `RuntimeError`.
fn step_error(error: &runner::Error) -> PyErr {
    match error {
        runner::Error::Step { .. } => PyValueError::new_err(error_text(error)),
        other => engine_error(other),
    }
}

fn poisoned() -> PyErr {
    PyRuntimeError::new_err("the run's state is unusable after a panic in the engine")
}

fn ended() -> PyErr {
    PyRuntimeError::new_err("the run has ended")
}

/// The module `tracker._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeRun>()?;
    m.add_class::<StepHandle>()?;
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
