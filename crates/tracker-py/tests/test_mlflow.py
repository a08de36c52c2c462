"""The MLflow mirror from Python (docs/mlflow.md): a server that is not
there never fails or slows the run, and what was not sent is recorded for
`tracker sync`. (The mirror against a real MLflow server is tested
through `tracker run` in crates/tracker-cli/tests/cli/mlflow.rs.)"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import tracker


def refused_uri() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_server_never_fails_the_run(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = refused_uri()
    with tracker.Run("mirrored", ["s"], artifact_root=root, telemetry=False, mlflow=uri) as run:
        with run.step("s"):
            pass
    assert run.status == "completed"
    state = json.loads((run.dir / "mlflow.json").read_text())
    assert uri in json.dumps(state), state
    err = capsys.readouterr().err
    assert err.count(uri.split("//")[1]) >= 1, err


def test_bad_mlflow_settings_are_clear_errors(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="mlflow"):
        tracker.Run("m", ["s"], artifact_root=root, mlflow="not a uri").start()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(root.parent)
    with pytest.raises(ValueError, match="MLFLOW_TRACKING_URI"):
        tracker.Run("m", ["s"], artifact_root=root, mlflow=True).start()
    with pytest.raises(ValueError, match="mlflow"):
        tracker.Run("m", ["s"], artifact_root=root, mlflow=3)  # type: ignore[arg-type]
    with tracker.Run("m", ["s"], artifact_root=root, telemetry=False, mlflow=False) as run:
        run.skip("s")
    assert not (run.dir / "mlflow.json").exists()
