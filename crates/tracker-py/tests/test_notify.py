"""Notifications and stall detection from Python: the same `[[notify]]`
rules as a pipeline file, a command and a webhook told for real, and a
step that goes quiet."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import tracker


@pytest.fixture
def webhook() -> Iterator[Dict[str, Any]]:
    """A real HTTP server on 127.0.0.1 that keeps what it is POSTed."""
    received: List[Dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "received": received}
    server.shutdown()


def test_a_failed_run_is_told_to_a_command_and_a_webhook(
    root: Path, tmp_path: Path, webhook: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    notify = [
        {"on": ["failed"], "command": "cat > event.json"},
        {"on": ["failed", "completed"], "webhook": webhook["url"], "timeout_seconds": 5},
    ]
    with pytest.raises(ZeroDivisionError):
        with tracker.Run("told", ["divide"], artifact_root=root, telemetry=False, notify=notify) as run:
            with run.step("divide"):
                1 / 0
    event = json.loads((tmp_path / "event.json").read_text())
    assert event["event"] == "failed"
    assert event["run_id"] == run.run_id
    assert event["pipeline"] == "told"
    assert event["step"]["id"] == "divide"
    assert [e["event"] for e in webhook["received"]] == ["failed"]
    summary = tracker.load_run(run.run_id, artifact_root=root)["record"]["summary"]
    sent = summary["notifications"]
    assert len(sent) == 2 and all(n["outcome"] == "sent" for n in sent), sent


def test_a_webhook_url_can_come_from_the_environment(
    root: Path, webhook: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_TEST_HOOK", webhook["url"])
    notify = [{"on": ["completed"], "webhook_env": "TRACKER_TEST_HOOK"}]
    with tracker.Run("from-env", ["s"], artifact_root=root, telemetry=False, notify=notify) as run:
        with run.step("s"):
            pass
    assert [e["event"] for e in webhook["received"]] == ["completed"]
    summary = tracker.load_run(run.run_id, artifact_root=root)["record"]["summary"]
    [sent] = summary["notifications"]
    assert (sent["target"], sent["outcome"]) == ("webhook $TRACKER_TEST_HOOK", "sent")


def test_bad_notify_tables_are_clear_errors(root: Path) -> None:
    with pytest.raises(ValueError, match=r"notify\[0\]: unknown event \"fialed\""):
        tracker.Run("bad", ["s"], artifact_root=root, notify=[{"on": ["fialed"], "command": "true"}]).start()
    with pytest.raises(ValueError, match=r"notify\[0\]: expected exactly one of"):
        tracker.Run("bad", ["s"], artifact_root=root, notify=[{"on": ["failed"]}])
    with pytest.raises(ValueError, match=r"notify\[0\]: expected exactly one of"):
        tracker.Run("bad", ["s"], artifact_root=root, notify=[{"command": "true", "webhook_env": "X"}])
    with pytest.raises(ValueError, match=r"notify\[0\]: `webhook_env` must name an environment variable"):
        tracker.Run("bad", ["s"], artifact_root=root, notify=[{"webhook_env": "$X"}]).start()
    with pytest.raises(ValueError, match=r"notify\[1\]: unknown key\(s\) url"):
        tracker.Run("bad", ["s"], artifact_root=root, notify=[{"command": "true"}, {"url": "x"}])
    with pytest.raises(ValueError, match=r"notify\[0\]"):
        tracker.Run("bad", ["s"], artifact_root=root, notify=[{"webhook": "ftp://x"}]).start()
    with pytest.raises(ValueError, match="stall_seconds"):
        tracker.Run("bad", ["s"], artifact_root=root, stall_seconds=-1).start()
    assert tracker.list_runs(artifact_root=root) == [] if root.exists() else True


def test_a_quiet_step_stalls_once_and_a_reporting_one_does_not(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    notify = [{"on": ["stalled"], "command": "cat >> stalled.jsonl; echo >> stalled.jsonl"}]
    with tracker.Run(
        "quiet", ["busy", "silent"], artifact_root=root, telemetry=False, notify=notify, stall_seconds=2
    ) as run:
        with run.step("busy") as step:
            for i in range(30):
                step.report(items=i)
                time.sleep(0.1)
        with run.step("silent"):
            deadline = time.monotonic() + 60
            while not (tmp_path / "stalled.jsonl").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
    events = [json.loads(line) for line in (tmp_path / "stalled.jsonl").read_text().splitlines() if line.strip()]
    assert [(e["event"], e["step"]["id"]) for e in events] == [("stalled", "silent")]
    doc = tracker.load_run(run.run_id, artifact_root=root)
    assert doc["status"] == "completed"
    assert [r["trigger"] for r in doc["recommendations"] if r["trigger"] == "stalled_step"] == ["stalled_step"]
