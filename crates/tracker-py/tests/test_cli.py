"""The `tracker` command the package installs is the Rust binary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import tracker


def test_the_console_script_is_the_rust_command_line(root: Path) -> None:
    with tracker.Run("cli", ["s"], artifact_root=root, telemetry=False) as run:
        with run.step("s"):
            pass
    command = shutil.which("tracker", path=str(Path(sys.executable).parent))
    assert command is not None
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("tracker ")
    listed = subprocess.run(
        [command, "--artifact-root", str(root), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run.run_id]


def test_python_dash_m_tracker_is_the_command_too(root: Path, tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text('[pipeline]\nname = "cmd"\n[[steps]]\nid = "hello"\nrun = "echo hello"\n')
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--artifact-root", str(root), "run", str(pipeline), "--plain"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "hello" in done.stdout
    assert tracker.list_runs(artifact_root=root)[0]["status"] == "completed"
