"""robot_sf's ProgressTracker API over the engine: a pipeline switches by
changing its import."""

from __future__ import annotations

from pathlib import Path

import pytest

import tracker
from tracker import PipelineStepDefinition, ProgressTracker


def definitions():
    return [
        PipelineStepDefinition("collect", "Collect expert trajectories", 60.0),
        PipelineStepDefinition("train", "Pre-train", None),
        PipelineStepDefinition("export", "Export"),
    ]


def test_the_robot_sf_lifecycle_is_recorded(root: Path) -> None:
    progress = ProgressTracker(definitions(), pipeline="robot-sf", artifact_root=root, telemetry=False)
    assert progress.total_steps() == 3
    progress.start_step("collect")
    progress.report("collect", fraction=0.5)
    progress.complete_step("collect")
    progress.start_step("train")
    progress.fail_step("train", reason="diverged")
    progress.skip_step("export", reason="not needed")
    assert progress.completed_steps() == 1
    assert progress.finish() == "failed"
    doc = tracker.load_run(progress.run_id, artifact_root=root)
    assert [s["status"] for s in doc["record"]["steps"]] == ["completed", "failed", "skipped"]
    assert doc["record"]["scenario_id"] if "scenario_id" in doc["record"] else True


def test_robot_sf_keywords_are_accepted(root: Path) -> None:
    progress = ProgressTracker(
        definitions()[:1], pipeline="kw", artifact_root=root, telemetry=False, log_fn=print
    )
    progress.enable_failure_guard(heartbeat=lambda status: None)
    progress.start_step("collect")
    progress.complete_step("collect")
    progress.disable_failure_guard()
    assert progress.finish() == "completed"


def test_an_empty_step_list_is_refused(root: Path) -> None:
    with pytest.raises(ValueError, match="at least one step"):
        ProgressTracker([], pipeline="none", artifact_root=root)
