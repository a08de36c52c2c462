"""Under a terminal (a real pseudo-terminal) the progress is a live bar and
the program's own prints land above it, whole lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import sys, time, tracker
with tracker.Run("tty", ["talk"], artifact_root="output", telemetry=False) as run:
    with run.step("talk") as step:
        for i in range(5):
            print(f"line {i} from the step", end="")
            time.sleep(0.4)
            print(" – done")
            step.report(fraction=(i + 1) / 5)
            time.sleep(0.3)
        print("to stderr", file=sys.stderr)
print("after", run.status)
"""


def test_prints_land_above_the_live_bar_whole(tmp_path: Path) -> None:
    path = tmp_path / "tty.py"
    path.write_text(textwrap.dedent(SCRIPT))
    master, slave = os.openpty()
    env = dict(os.environ, TERM="xterm", COLUMNS="100", LINES="30")
    proc = subprocess.Popen(
        [sys.executable, str(path)], cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    # A live display: escape codes redraw the bar.
    assert "\x1b[" in screen, screen
    for i in range(5):
        # Each line whole: its two halves together, then the end of the line.
        assert re.search(rf"line {i} from the step – done\r?\n", screen), screen
    assert "to stderr" in screen
    assert "after completed" in screen
