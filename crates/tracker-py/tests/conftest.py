"""Fixtures of the package's tests: an artifact root per test, and real
interpreters started on scripts (for signals and kills)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty artifact root."""
    return tmp_path / "output"


def runs_of(root: Path) -> List[Dict[str, Any]]:
    import tracker

    return tracker.list_runs(artifact_root=root, limit=0)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Waits for `condition` (a slow, loaded machine takes long); fails the
    test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def script(tmp_path: Path) -> Callable[..., "subprocess.Popen[str]"]:
    """Starts a real interpreter on `source` (dedented) in `tmp_path`."""

    started: List["subprocess.Popen[str]"] = []

    def start(source: str, **kwargs: Any) -> "subprocess.Popen[str]":
        path = tmp_path / f"script{len(started)}.py"
        path.write_text(textwrap.dedent(source))
        proc = subprocess.Popen(
            [sys.executable, str(path)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
