"""Turns the demo's evaluation report into a Markdown table.

A Python step of examples/imitation-demo/pipeline.toml: it reports progress,
a throughput count and its artifact to the tracker through the file named by
TRACKER_PROGRESS, one JSON object per line.
"""

import json
import os
import sys
import time


def report(**fields):
    """Appends one progress line; without a tracker, does nothing."""
    channel = os.environ.get("TRACKER_PROGRESS")
    if channel:
        with open(channel, "a", encoding="utf-8") as f:
            f.write(json.dumps(fields) + "\n")


def main():
    run_dir = os.environ.get("TRACKER_RUN_DIR", ".")
    source = os.path.join(run_dir, "eval", "eval-report.json")
    try:
        with open(source, encoding="utf-8") as f:
            entries = json.load(f)["entries"]
    except (OSError, ValueError, KeyError) as e:
        print(f"report.py: cannot read {source}: {e}", file=sys.stderr)
        return 2
    lines = ["| controller | success rate | mean return |", "|---|---:|---:|"]
    for i, entry in enumerate(entries, start=1):
        lines.append(
            f"| {entry['name']} | {100 * entry['success_rate']:.1f} % | {entry['mean_return']:.3f} |"
        )
        report(progress=i / len(entries), steps=i, message=f"row {i}/{len(entries)}")
        time.sleep(0.1)  # a stand-in for real work, so the progress is visible
    target = os.path.join(run_dir, "report.md")
    with open(target, "w", encoding="utf-8") as f:
        f.write("# Imitation demo: evaluation\n\n" + "\n".join(lines) + "\n")
    report(artifact=target, message="report written")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
