"""Track a Python pipeline: live progress with a learning ETA, crash-safe
run history, resource telemetry and recommendations, on the Rust engine of
the ``tracker`` command line (docs/python.md).

>>> import tracker
>>> steps = [tracker.Step("collect", "Collect expert trajectories"),
...          tracker.Step("train", "Pre-train by behaviour cloning")]
>>> with tracker.Run("imitation", steps) as run:          # doctest: +SKIP
...     with run.step("collect") as step:
...         for i in range(10):
...             step.report(fraction=(i + 1) / 10, items=i + 1)
...     with run.step("train"):
...         pass
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

from . import _native
from ._native import StepHandle

__all__ = [
    "Step",
    "Run",
    "RunStep",
    "StepHandle",
    "TrackerError",
    "ProgressTracker",
    "PipelineStepDefinition",
    "list_runs",
    "load_run",
    "__version__",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]

#: Signals that end a run as ``cancelled`` (flushed) before Python's own
#: handling of them goes on. SIGINT arrives as KeyboardInterrupt.
_ENDING_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None
)


#: Keys of a ``notify`` table, as in a pipeline file's ``[[notify]]``.
_NOTIFY_KEYS = {"on", "command", "webhook", "webhook_env", "timeout_seconds"}
#: Its targets, exactly one of which a table has.
_NOTIFY_TARGETS = ("command", "webhook", "webhook_env")
#: Its events when ``on`` is not given.
_NOTIFY_DEFAULT_ON = ["failed", "cancelled", "stalled"]


def _notify_spec(i: int, table: Any) -> Tuple[List[str], str, str, Optional[float]]:
    if not isinstance(table, dict):
        raise TypeError(
            f"notify[{i}]: expected a dict such as {{'on': ['failed'], 'command': '…'}}, "
            f"got {type(table).__name__}"
        )
    unknown = sorted(set(table) - _NOTIFY_KEYS)
    if unknown:
        raise ValueError(f"notify[{i}]: unknown key(s) {', '.join(unknown)}: expected {', '.join(sorted(_NOTIFY_KEYS))}")
    targets = [key for key in _NOTIFY_TARGETS if key in table]
    if len(targets) != 1:
        raise ValueError(f"notify[{i}]: expected exactly one of `command`, `webhook` or `webhook_env`")
    on = table.get("on", _NOTIFY_DEFAULT_ON)
    if isinstance(on, str):
        on = [on]
    kind = targets[0]
    timeout = table.get("timeout_seconds")
    return ([str(e) for e in on], kind, str(table[kind]), None if timeout is None else float(timeout))


def _mlflow_mode(mlflow: Union[bool, str, None]) -> str:
    if mlflow is None:
        return "auto"
    if mlflow is True:
        return "on"
    if mlflow is False:
        return "off"
    if isinstance(mlflow, str) and mlflow not in ("", "auto", "on", "off"):
        return mlflow
    raise ValueError(f"mlflow: expected a tracking URI, True or False, got {mlflow!r}")


class TrackerError(RuntimeError):
    """A command of the tracker's history (``list_runs``, ``load_run``)
    failed; the message is the command line's error."""


@dataclass(frozen=True)
class Step:
    """One step of a pipeline, declared before the run starts.

    ``id`` is stable across runs (letters, digits, ``_``, ``.``, ``-``): the
    ETA learns from earlier runs' steps of the same id. A step that is not
    ``enabled`` is recorded as skipped. ``expected_seconds`` feeds the ETA
    until history does.
    """

    id: str
    name: str = ""
    expected_seconds: Optional[float] = None
    enabled: bool = True


def _failure(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class RunStep:
    """The context manager of one step (``with run.step("collect") as
    step``): starts the step on entry and gives its :class:`StepHandle`;
    on exit completes it, or fails it with the exception's type and message
    (the exception goes on unchanged)."""

    __slots__ = ("_run", "_id", "_handle")

    def __init__(self, run: "Run", step_id: str) -> None:
        self._run = run
        self._id = step_id
        self._handle: Optional[StepHandle] = None

    def __enter__(self) -> StepHandle:
        self._handle = self._run._native_run().begin_step(self._id)
        return self._handle

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        native = self._run._native
        if native is None or native.step_status(self._id) != "running":
            return  # the run ended under it (a signal)
        self._run._flush_output()
        if exc is None:
            native.end_step(self._id, None)
        elif isinstance(exc, KeyboardInterrupt):
            # The run ends cancelled (Run.__exit__); the step fails with it.
            pass
        else:
            native.end_step(self._id, _failure(exc))


class Run:
    """One tracked run of a pipeline (a context manager).

    ``artifact_root``: where runs are kept; else ``$TRACKER_ARTIFACT_ROOT``,
    else ``artifact_root`` of the nearest ``tracker.toml``, else
    ``./output``. ``telemetry`` (default on) samples CPU, memory and GPU of
    this process and its children every ``interval`` seconds (default 1).
    ``display``: ``"auto"`` (a live bar on a terminal, plain lines
    elsewhere), ``"plain"`` or ``"quiet"``. ``keep``: keep only the newest
    N runs of this pipeline (default: every run). ``resume``: a failed,
    cancelled or abandoned run id to continue (its completed steps are kept;
    :meth:`Run.completed` tells which, so their work can be skipped).
    ``notify``: tables as ``[[notify]]`` of a
    pipeline file, as dicts (``{"on": ["failed"], "command": "…"}`` or
    ``{"on": ["failed", "stalled"], "webhook": "https://…",
    "timeout_seconds": 10}``; ``{"webhook_env": "SLACK_WEBHOOK_URL"}``
    POSTs to the URL in that environment variable), after those of
    ``tracker.toml``.
    ``stall_seconds``: the silence (no report, almost no CPU) after which a
    step counts as stalled; default 3× its median or expected duration, at
    least 10 minutes; 0 turns detection off (docs/notify.md).
    ``mlflow``: mirror the run to an MLflow tracking server, live: a URI,
    ``True`` (``$MLFLOW_TRACKING_URI``), ``False``; by default on when
    ``tracker.toml`` has ``[mlflow] uri``. ``mlflow_experiment``: its
    experiment (default the pipeline's name). An unreachable server never
    slows the run (docs/mlflow.md).

    On exit the run ends ``completed`` (or ``failed`` if a step failed),
    ``failed`` if an exception escapes, ``cancelled`` on KeyboardInterrupt,
    SIGTERM or SIGHUP; the exception or signal then goes on as Python would
    have it. The summary, ``summary.md`` and ``report.html`` are written in
    :attr:`dir`.
    """

    def __init__(
        self,
        pipeline: str,
        steps: Sequence[Union[Step, str]],
        *,
        artifact_root: Optional[PathLike] = None,
        telemetry: Optional[bool] = None,
        interval: Optional[float] = None,
        display: str = "auto",
        keep: Optional[int] = None,
        resume: Optional[str] = None,
        force: bool = False,
        scenario: Optional[str] = None,
        notify: Optional[Sequence[Dict[str, Any]]] = None,
        stall_seconds: Optional[float] = None,
        mlflow: Union[bool, str, None] = None,
        mlflow_experiment: Optional[str] = None,
    ) -> None:
        specs = []
        for step in steps:
            if isinstance(step, str):
                step = Step(step)
            if not isinstance(step, Step):
                raise TypeError(f"steps: expected tracker.Step or str items, got {type(step).__name__}")
            specs.append((step.id, step.name or step.id, bool(step.enabled), step.expected_seconds))
        if display not in ("auto", "plain", "quiet"):
            raise ValueError(f'display: expected "auto", "plain" or "quiet", got {display!r}')
        self._pipeline = pipeline
        self._specs = specs
        self._options: Dict[str, Any] = dict(
            artifact_root=os.fspath(artifact_root) if artifact_root is not None else None,
            telemetry=telemetry,
            interval=interval,
            display=display,
            keep=keep,
            resume=resume,
            force=force,
            scenario=scenario,
            notify=[_notify_spec(i, table) for i, table in enumerate(notify or [])],
            stall_seconds=stall_seconds,
            mlflow=_mlflow_mode(mlflow),
            mlflow_experiment=mlflow_experiment,
        )
        self._native: Optional[_native.NativeRun] = None
        self._run_id: Optional[str] = None
        self._dir: Optional[Path] = None
        self._status = "not started"
        self._saved_handlers: Dict[int, Any] = {}
        self._saved_streams: Optional[Tuple[Any, Any]] = None
        self._finishing = False
        self._pending_signal: Optional[int] = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "Run":
        """Creates the run (``with Run(…)`` does this)."""
        if self._native is not None:
            raise RuntimeError("this run has already started")
        options = dict(self._options)
        if options["display"] == "auto" and not _stderr_is_terminal():
            # A notebook or a pipe: plain lines, through sys.stderr.
            options["display"] = "python"
        self._native = _native.NativeRun(self._pipeline, self._specs, **options)
        self._run_id = self._native.run_id
        self._dir = Path(self._native.dir)
        self._status = "running"
        self._install_signal_handlers()
        if self._native.live_display:
            self._route_output()
        return self

    def __enter__(self) -> "Run":
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("cancelled", "interrupted by SIGINT")
        else:
            self.finish("failed", _failure(exc))

    def finish(self, status: Optional[str] = None, reason: Optional[str] = None) -> str:
        """Ends the run (``with`` does this): ``status`` ``None`` means
        completed, or failed if a step failed. Returns the final status.
        Ending twice changes nothing."""
        native = self._native
        if native is None:
            raise RuntimeError("this run has not started")
        self._finishing = True
        self._flush_output()
        self._restore_output()
        try:
            self._status = native.end(status, reason)
        finally:
            self._finishing = False
            self._restore_signal_handlers()
            pending, self._pending_signal = self._pending_signal, None
            if pending is not None:
                # It came while the run was being ended: now the handler
                # that was there takes it, as it would have.
                os.kill(os.getpid(), pending)
        return self._status

    def step(self, step_id: str) -> RunStep:
        """The context manager of step ``step_id``: ``with run.step("collect")
        as step: …``."""
        self._native_run()
        return RunStep(self, step_id)

    def skip(self, step_id: str) -> None:
        """Records a pending step as skipped."""
        self._native_run().skip_step(step_id)

    def completed(self, step_id: str) -> bool:
        """Whether step ``step_id`` is completed (in a resumed run, the
        steps the earlier attempt completed)."""
        return self._native_run().step_status(step_id) == "completed"

    # -- what a run is -----------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run id (also the run directory's name)."""
        if self._run_id is None:
            raise RuntimeError("this run has not started")
        return self._run_id

    @property
    def dir(self) -> Path:
        """The run directory: manifest, steps, telemetry, logs, report."""
        if self._dir is None:
            raise RuntimeError("this run has not started")
        return self._dir

    @property
    def status(self) -> str:
        """``running`` until the run ends, then ``completed``, ``failed`` or
        ``cancelled``."""
        if self._native is not None and self._status == "running":
            return self._native.status
        return self._status

    def __repr__(self) -> str:
        return f"<tracker.Run {self._pipeline!r} {self._run_id or 'not started'} {self.status}>"

    # -- internals ---------------------------------------------------------

    def _native_run(self) -> "_native.NativeRun":
        if self._native is None:
            raise RuntimeError("this run has not started: use `with tracker.Run(...) as run`")
        return self._native

    def _install_signal_handlers(self) -> None:
        # Python handlers can only be set from the main thread; elsewhere the
        # run is still flushed when the interpreter exits or dies (abandoned).
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in _ENDING_SIGNALS:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN or previous is None:
                continue
            self._saved_handlers[sig] = previous
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, previous in self._saved_handlers.items():
            try:
                signal.signal(sig, previous)
            except (ValueError, OSError):
                pass
        self._saved_handlers.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._finishing:
            # The run is being ended on this thread (the handler runs
            # between two of its bytecodes): let it end, then deliver.
            self._pending_signal = signum
            return
        previous = self._saved_handlers.get(signum, signal.SIG_DFL)
        name = signal.Signals(signum).name
        try:
            self.finish("cancelled", f"interrupted by {name}")
        finally:
            # Python's own behaviour: the handler that was there, or the
            # default action (the process ends by the signal).
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

    def _route_output(self) -> None:
        """Under a live bar, Python's prints go above it, whole lines."""
        native = self._native
        assert native is not None
        self._saved_streams = (sys.stdout, sys.stderr)
        sys.stdout = _AboveTheBar(sys.stdout, native, False)
        sys.stderr = _AboveTheBar(sys.stderr, native, True)

    def _restore_output(self) -> None:
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None

    def _flush_output(self) -> None:
        if self._saved_streams is not None and self._native is not None:
            self._native.flush_output()


class _AboveTheBar:
    """A text stream whose writes the engine prints above its live bar."""

    def __init__(self, inner: Any, native: "_native.NativeRun", to_stderr: bool) -> None:
        self._inner = inner
        self._native = native
        self._to_stderr = to_stderr

    def write(self, text: str) -> int:
        self._inner.flush()
        self._native.print_output(self._to_stderr, text)
        return len(text)

    def flush(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


# -- history -------------------------------------------------------------------


def _cli_json(args: List[str], artifact_root: Optional[PathLike]) -> Any:
    argv = []
    if artifact_root is not None:
        argv += ["--artifact-root", os.fspath(artifact_root)]
    status, out, err = _native.cli(argv + args)
    if status != 0:
        message = "\n".join(line for line in err.splitlines() if line.strip()) or f"exit status {status}"
        if message.startswith("error: "):
            message = message[len("error: ") :]
        raise TrackerError(message)
    return json.loads(out)


def list_runs(
    artifact_root: Optional[PathLike] = None,
    limit: int = 20,
    status: Optional[str] = None,
    pipeline: Optional[str] = None,
    since: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """The runs under the artifact root, newest first, as ``tracker list
    --format json`` gives them: ``limit`` runs (0: all), of ``status``
    (``running``, ``completed``, ``failed``, ``cancelled``, ``abandoned``),
    of ``pipeline``, started ``since`` (``2h``, ``3d``, or an RFC 3339
    time)."""
    args = ["list", "--format", "json", "--limit", str(int(limit))]
    if status is not None:
        args += ["--status", status]
    if pipeline is not None:
        args += ["--scenario", pipeline]
    if since is not None:
        args += ["--since", since]
    runs = _cli_json(args, artifact_root)
    assert isinstance(runs, list)
    return runs


def load_run(run: str = "latest", artifact_root: Optional[PathLike] = None) -> Dict[str, Any]:
    """One run in full, as ``tracker show RUN --format json`` gives it:
    ``run`` is ``latest``, a run id or a unique prefix of one."""
    doc = _cli_json(["show", run, "--format", "json"], artifact_root)
    assert isinstance(doc, dict)
    return doc


from ._compat import PipelineStepDefinition, ProgressTracker  # noqa: E402  (uses Run, Step)
