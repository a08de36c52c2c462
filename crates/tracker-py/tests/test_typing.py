"""The package is typed (`py.typed`, stubs of the native module): a user's
code is checked against it by mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tracker

USER_CODE = '''
from pathlib import Path
import tracker

def pipeline(root: Path) -> str:
    steps = [tracker.Step("collect", "Collect", expected_seconds=1.0), tracker.Step("train")]
    with tracker.Run("typed", steps, artifact_root=root, interval=0.5) as run:
        with run.step("collect") as step:
            step.report(fraction=0.5, items=3, fps=1.5, message="half")
            step.artifact(root / "x")
    runs = tracker.list_runs(artifact_root=root, limit=5)
    doc = tracker.load_run(run.run_id, artifact_root=root)
    assert isinstance(doc["status"], str)
    legacy = tracker.ProgressTracker([tracker.PipelineStepDefinition("a", "A")], pipeline="p")
    legacy.start_step("a")
    legacy.complete_step("a")
    return run.status + str(run.dir) + str(len(runs)) + legacy.finish()
'''

MISTAKE = '''
import tracker
with tracker.Run("typed", ["a"]) as run:
    with run.step("a") as step:
        step.report(fraction="half")
'''


def mypy(tmp_path: Path, source: str) -> "subprocess.CompletedProcess[str]":
    pytest.importorskip("mypy")
    path = tmp_path / "user.py"
    path.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def test_the_package_is_typed(tmp_path: Path) -> None:
    assert (Path(tracker.__file__).parent / "py.typed").is_file()
    checked = mypy(tmp_path, USER_CODE)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_wrong_argument_is_caught_by_the_type_checker(tmp_path: Path) -> None:
    checked = mypy(tmp_path, MISTAKE)
    assert checked.returncode == 1, checked.stdout
    assert 'Argument "fraction" to "report" of "StepHandle"' in checked.stdout, checked.stdout
