"""What ends a run other than success: exceptions, Ctrl-C, SIGTERM, and a
killed interpreter, each checked through the history."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import tracker
from conftest import runs_of, wait_for


class Boom(Exception):
    pass


def test_an_exception_fails_the_step_and_the_run_and_goes_on_unchanged(root: Path) -> None:
    error = Boom("the data loader died")
    with pytest.raises(Boom) as raised:
        with tracker.Run("fails", ["collect", "train"], artifact_root=root, telemetry=False) as run:
            with run.step("collect"):
                raise error
    assert raised.value is error
    assert run.status == "failed"
    doc = tracker.load_run(run.run_id, artifact_root=root)
    steps = {s["step_id"]: s for s in doc["record"]["steps"]}
    assert steps["collect"]["status"] == "failed"
    assert steps["train"]["status"] in ("pending", "skipped")
    reasons = doc["record"]["summary"].get("reason", "")
    assert "Boom: the data loader died" in reasons


def test_a_caught_step_failure_still_fails_the_run(root: Path) -> None:
    with tracker.Run("caught", ["a", "b"], artifact_root=root, telemetry=False) as run:
        try:
            with run.step("a"):
                raise ValueError("bad batch")
        except ValueError:
            pass
        with run.step("b"):
            pass
    assert run.status == "failed"
    doc = tracker.load_run(run.run_id, artifact_root=root)
    assert [s["status"] for s in doc["record"]["steps"]] == ["failed", "completed"]


def test_keyboard_interrupt_cancels_the_run(root: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with tracker.Run("ctrl-c", ["long"], artifact_root=root, telemetry=False) as run:
            with run.step("long"):
                raise KeyboardInterrupt
    assert run.status == "cancelled"
    doc = tracker.load_run(run.run_id, artifact_root=root)
    assert doc["record"]["summary"]["reason"] == "interrupted by SIGINT"
    assert doc["record"]["steps"][0]["status"] == "failed"


RUNNING = """
import sys, time, tracker
with tracker.Run("signalled", ["wait"], artifact_root="output", interval=0.05) as run:
    with run.step("wait") as step:
        print(run.run_id, flush=True)
        while True:
            step.report(message="waiting")
            time.sleep(0.01)
"""


def test_sigterm_cancels_the_run_and_ends_the_interpreter_by_it(script, tmp_path: Path) -> None:
    proc = script(RUNNING)
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    doc = tracker.load_run(run_id, artifact_root=tmp_path / "output")
    assert doc["status"] == "cancelled"
    assert doc["record"]["summary"]["reason"] == "interrupted by SIGTERM"
    assert (tmp_path / "output" / "run-tracker" / run_id / "report.html").is_file()


def test_sigterm_keeps_the_programs_own_handler(script, tmp_path: Path) -> None:
    proc = script(
        """
        import signal, sys, time, tracker
        def handler(signum, frame):
            print("own handler", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, handler)
        with tracker.Run("handled", ["wait"], artifact_root="output", telemetry=False) as run:
            with run.step("wait"):
                print(run.run_id, flush=True)
                while True:
                    time.sleep(0.01)
        """
    )
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7, err
    assert "own handler" in out
    doc = tracker.load_run(run_id, artifact_root=tmp_path / "output")
    assert doc["status"] == "cancelled"
    assert doc["record"]["summary"]["reason"] == "interrupted by SIGTERM"


def test_a_killed_interpreter_leaves_an_abandoned_run(script, tmp_path: Path) -> None:
    proc = script(RUNNING)
    run_id = proc.stdout.readline().strip()
    proc.kill()
    proc.wait(timeout=60)
    root = tmp_path / "output"
    wait_for(lambda: runs_of(root)[0]["status"] == "abandoned", "the run to read as abandoned")
    assert runs_of(root)[0]["run_id"] == run_id


def test_a_step_ended_twice_or_out_of_order_is_an_error(root: Path) -> None:
    with tracker.Run("order", ["a", "b"], artifact_root=root, telemetry=False) as run:
        with run.step("a"):
            pass
        with pytest.raises(ValueError, match="`a`"):
            with run.step("a"):
                pass
        with run.step("b"):
            pass
    assert run.status == "completed"
    with pytest.raises(RuntimeError, match="ended"):
        with run.step("b"):
            pass
