"""A run from Python end to end: steps, progress, artifacts, the files it
leaves, and the history that reads it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracker
from conftest import read_jsonl, runs_of


def steps():
    return [
        tracker.Step("collect", "Collect expert trajectories", expected_seconds=120),
        tracker.Step("pretrain", "Pre-train by behaviour cloning"),
        tracker.Step("export", "Export", enabled=False),
    ]


def test_a_run_records_its_steps_progress_and_files(root: Path, tmp_path: Path) -> None:
    (tmp_path / "expert.npz").write_bytes(b"x")
    with tracker.Run("imitation", steps(), artifact_root=root, interval=0.05) as run:
        assert run.status == "running"
        with run.step("collect") as step:
            assert step.id == "collect"
            for i in range(10):
                step.report(fraction=(i + 1) / 10, items=i + 1, fps=30.0, message=f"episode {i}")
            step.artifact(tmp_path / "expert.npz")
        with run.step("pretrain"):
            pass
    assert run.status == "completed"
    assert run.dir.parent.parent == root
    for name in ("manifest.jsonl", "steps.json", "summary.json", "summary.md", "report.html"):
        assert (run.dir / name).is_file(), name
    doc = tracker.load_run(run.run_id, artifact_root=root)
    assert doc["status"] == "completed"
    by_id = {s["step_id"]: s for s in doc["record"]["steps"]}
    assert by_id["collect"]["status"] == "completed"
    assert by_id["pretrain"]["status"] == "completed"
    assert by_id["export"]["status"] == "skipped"
    assert by_id["collect"]["artifacts"] == [str(tmp_path / "expert.npz")]
    assert by_id["collect"]["cpu_time_seconds"] is not None
    assert by_id["collect"]["eta_snapshot_seconds"] is not None


def test_history_lists_and_loads_runs(root: Path) -> None:
    ids = []
    for pipeline in ("a", "b", "a"):
        with tracker.Run(pipeline, ["only"], artifact_root=root, telemetry=False) as run:
            with run.step("only"):
                pass
        ids.append(run.run_id)
    listed = runs_of(root)
    assert [r["run_id"] for r in listed] == ids[::-1]
    assert [r["run_id"] for r in tracker.list_runs(artifact_root=root, pipeline="a")] == [ids[2], ids[0]]
    assert len(tracker.list_runs(artifact_root=root, limit=1)) == 1
    assert tracker.list_runs(artifact_root=root, status="failed") == []
    assert tracker.load_run(artifact_root=root)["run_id"] == ids[2]
    assert tracker.load_run(ids[1][:16], artifact_root=root)["run_id"] == ids[1]


def test_history_errors_name_the_input(root: Path) -> None:
    with tracker.Run("p", ["s"], artifact_root=root, telemetry=False) as run:
        run.skip("s")
    with pytest.raises(tracker.TrackerError, match="no-such-run"):
        tracker.load_run("no-such-run", artifact_root=root)
    with pytest.raises(tracker.TrackerError, match="bogus"):
        tracker.list_runs(artifact_root=root, status="bogus")


def test_the_eta_learns_from_earlier_runs(root: Path) -> None:
    import time

    for _ in range(2):
        with tracker.Run("learn", ["slow"], artifact_root=root, telemetry=False) as run:
            with run.step("slow"):
                time.sleep(0.3)
    doc = tracker.load_run(artifact_root=root)
    eta = doc["record"]["steps"][0]["eta_snapshot_seconds"]
    assert eta is not None and eta >= 0.25, eta


def test_bad_input_is_a_clear_error_and_starts_nothing(root: Path) -> None:
    with pytest.raises(ValueError, match="display"):
        tracker.Run("p", ["s"], artifact_root=root, display="fancy")
    with pytest.raises(TypeError, match="steps"):
        tracker.Run("p", [42], artifact_root=root)  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="step id|invalid|id"):
        tracker.Run("p", ["has space"], artifact_root=root).start()
    with pytest.raises(ValueError, match="interval"):
        tracker.Run("p", ["s"], artifact_root=root, interval=0).start()
    assert not (root / "run-tracker").exists() or runs_of(root) == []
    with tracker.Run("p", ["s"], artifact_root=root, telemetry=False) as run:
        with pytest.raises(ValueError, match="no step `nope`|nope"):
            with run.step("nope"):
                pass
        with run.step("s") as step:
            with pytest.raises(OverflowError, match="items"):
                step.report(items=-1)
            with pytest.raises(TypeError, match="fraction"):
                step.report(fraction="half")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not started"):
        tracker.Run("p", ["s"]).run_id


def test_plain_lines_go_through_python_stderr_without_escape_codes(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under pytest stderr is not a terminal: as in a notebook.
    with tracker.Run("plain", steps(), artifact_root=root, telemetry=False) as run:
        with run.step("collect"):
            pass
        with run.step("pretrain"):
            pass
    err = capsys.readouterr().err
    assert f"Run {run.run_id} – plain: 2 steps, 1 skipped" in err
    assert "Completed step 1/2 – Collect expert trajectories in " in err
    assert f"Run {run.run_id} completed in " in err
    assert "\x1b" not in err


def test_telemetry_covers_a_child_process(root: Path) -> None:
    import subprocess
    import sys

    child = (
        "import time\n"
        "block = bytearray(160 * 1024 * 1024)\n"
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        "time.sleep(1.5)\n"
    )
    with tracker.Run("child", ["spawn"], artifact_root=root, interval=0.1) as run:
        with run.step("spawn"):
            subprocess.run([sys.executable, "-c", child], check=True)
    samples = read_jsonl(run.dir / "telemetry.jsonl")
    during = [s for s in samples if s.get("step_id") == "spawn" and s.get("memory_rss_mb")]
    assert during, samples
    # The interpreter alone is far below the child's 160 MB.
    assert max(s["memory_rss_mb"] for s in during) > 150, [s["memory_rss_mb"] for s in during]
    steps_json = json.loads((run.dir / "steps.json").read_text())
    entry = steps_json["steps"][0] if isinstance(steps_json, dict) else steps_json[0]
    assert entry["peak_rss_mb"] > 150


def test_telemetry_can_be_turned_off(root: Path) -> None:
    with tracker.Run("quiet", ["s"], artifact_root=root, telemetry=False, display="quiet") as run:
        with run.step("s"):
            pass
    assert not (run.dir / "telemetry.jsonl").exists()


def test_a_failed_run_can_be_resumed(root: Path) -> None:
    with pytest.raises(RuntimeError):
        with tracker.Run("resumable", ["one", "two"], artifact_root=root, telemetry=False) as run:
            with run.step("one"):
                pass
            with run.step("two"):
                raise RuntimeError("disk full")
    first = run.run_id
    with tracker.Run("resumable", ["one", "two"], artifact_root=root, telemetry=False, resume=first) as again:
        assert again.completed("one")
        with again.step("two"):
            pass
    assert again.run_id == first
    assert again.status == "completed"
