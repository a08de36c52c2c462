"""The API of robot_sf's Python tracker (``robot_sf.telemetry``) over this
engine, so a pipeline that uses it switches by changing its import
(docs/python.md, "Migrating from robot_sf")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

from . import Run, Step, StepHandle

__all__ = ["PipelineStepDefinition", "ProgressTracker"]


@dataclass
class PipelineStepDefinition:
    """robot_sf's step declaration: ``step_id``, ``display_name``,
    ``expected_duration_seconds``."""

    step_id: str
    display_name: str
    expected_duration_seconds: Optional[float] = None


def _as_step(definition: Any) -> Step:
    if isinstance(definition, Step):
        return definition
    if isinstance(definition, str):
        return Step(definition)
    if isinstance(definition, (tuple, list)) and definition:
        return Step(*definition)
    step_id = getattr(definition, "step_id", None)
    if step_id is None:
        raise TypeError(
            "steps: expected tracker.Step, PipelineStepDefinition (step_id, display_name, "
            f"expected_duration_seconds) or str items, got {type(definition).__name__}"
        )
    return Step(
        str(step_id),
        str(getattr(definition, "display_name", "") or step_id),
        getattr(definition, "expected_duration_seconds", None),
    )


class ProgressTracker:
    """robot_sf's ``ProgressTracker``: ``start_step``, ``complete_step``,
    ``fail_step(id, reason=)``, ``skip_step(id, reason=)``, ``finish()``.

    The run starts when the tracker is made and ends at :meth:`finish`
    (completed, or failed if a step failed). Signals are handled as by
    :class:`tracker.Run`; ``enable_failure_guard`` is accepted and needs
    nothing more.
    """

    def __init__(
        self,
        steps: Sequence[Any],
        *,
        pipeline: str = "pipeline",
        artifact_root: Any = None,
        **options: Any,
    ) -> None:
        if not steps:
            raise ValueError("ProgressTracker requires at least one step definition")
        # robot_sf's own keywords that have no meaning here.
        for ignored in ("writer", "log_fn", "time_provider"):
            options.pop(ignored, None)
        self._run = Run(pipeline, [_as_step(s) for s in steps], artifact_root=artifact_root, **options)
        self._run.start()
        self._handles: Dict[str, StepHandle] = {}

    @property
    def run(self) -> Run:
        """The :class:`tracker.Run` underneath."""
        return self._run

    @property
    def run_id(self) -> str:
        """The run id."""
        return self._run.run_id

    def start_step(self, step_id: str) -> None:
        """Starts a pending step."""
        self._handles[step_id] = self._run._native_run().begin_step(step_id)

    def report(self, step_id: str, **progress: Any) -> None:
        """In-step progress of a running step (``fraction=``, ``items=``,
        ``fps=``, ``message=``; see :meth:`tracker.StepHandle.report`)."""
        handle = self._handles.get(step_id)
        if handle is None:
            raise ValueError(f"step `{step_id}` is not running")
        handle.report(**progress)

    def complete_step(self, step_id: str) -> None:
        """Completes a running step."""
        self._run._native_run().end_step(step_id, None)
        self._handles.pop(step_id, None)

    def fail_step(self, step_id: str, *, reason: Optional[str] = None) -> None:
        """Fails a running step with ``reason``."""
        self._run._native_run().end_step(step_id, reason or "failed")
        self._handles.pop(step_id, None)

    def skip_step(self, step_id: str, *, reason: Optional[str] = None) -> None:
        """Skips a pending step (``reason`` is not recorded)."""
        self._run.skip(step_id)

    def completed_steps(self) -> int:
        """How many steps completed."""
        return sum(1 for s in self._step_ids() if self._run._native_run().step_status(s) == "completed")

    def total_steps(self) -> int:
        """How many steps the run has."""
        return len(self._run._specs)

    def enable_failure_guard(self, **_: Any) -> None:
        """Accepted for compatibility: signals already end the run as
        cancelled, flushed."""

    def disable_failure_guard(self) -> None:
        """Accepted for compatibility."""

    def finish(self, status: Optional[str] = None, reason: Optional[str] = None) -> str:
        """Ends the run (completed, or failed if a step failed, unless
        ``status`` says otherwise); returns the final status."""
        return self._run.finish(status, reason)

    def _step_ids(self) -> Sequence[str]:
        return [spec[0] for spec in self._run._specs]
