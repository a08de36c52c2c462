"""Type stubs of the native module (crates/tracker-py/src/lib.rs)."""

from os import PathLike
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

__version__: str

class StepHandle:
    """A running step, as ``with run.step(...) as step`` gives it."""

    @property
    def id(self) -> str: ...
    def report(
        self,
        *,
        fraction: Optional[float] = None,
        items: Optional[int] = None,
        fps: Optional[float] = None,
        message: Optional[str] = None,
    ) -> None:
        """In-step progress: ``fraction`` done (0-1), ``items`` done so far
        (its rate is the step's throughput), ``fps``, a short ``message``.
        No I/O on the caller's thread; the GIL is released meanwhile."""
    def artifact(self, path: Union[str, "PathLike[str]"]) -> None:
        """Records a file the step produced."""

class NativeRun:
    def __init__(
        self,
        pipeline: str,
        steps: Sequence[Tuple[str, str, bool, Optional[float]]],
        *,
        artifact_root: Optional[Union[str, "PathLike[str]"]] = None,
        telemetry: Optional[bool] = None,
        interval: Optional[float] = None,
        display: str = "auto",
        resume: Optional[str] = None,
        force: bool = False,
        keep: Optional[int] = None,
        scenario: Optional[str] = None,
        notify: Sequence[Tuple[List[str], str, str, Optional[float]]] = ...,
        stall_seconds: Optional[float] = None,
        mlflow: str = "auto",
        mlflow_experiment: Optional[str] = None,
    ) -> None: ...
    @property
    def run_id(self) -> str: ...
    @property
    def dir(self) -> Path: ...
    @property
    def artifact_root(self) -> Path: ...
    @property
    def status(self) -> str: ...
    @property
    def live_display(self) -> bool: ...
    def step_status(self, id: str) -> str: ...
    def begin_step(self, id: str) -> StepHandle: ...
    def end_step(self, id: str, failure: Optional[str] = None) -> None: ...
    def skip_step(self, id: str) -> None: ...
    def end(self, status: Optional[str] = None, reason: Optional[str] = None) -> str: ...
    def print_output(self, to_stderr: bool, text: str) -> None: ...
    def flush_output(self) -> None: ...

def cli(args: List[str]) -> Tuple[int, str, str]:
    """Runs the ``tracker`` command line in this process: (status, stdout, stderr)."""
