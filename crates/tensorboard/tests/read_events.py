"""Reads a TensorBoard logdir with TensorBoard's own EventAccumulator and
prints what it found as JSON on stdout:

    {"file_version": 2.0,
     "scalars": {"cpu/process_percent": [[step, "wall_time", "value"], ...], ...}}

Times and values are written as Python's `repr` of the float (the shortest
text that reads back as the same double), as strings, so that a JSON
parser's float handling cannot blur a comparison of exact values.

Usage: python read_events.py LOGDIR

Exits 3 if the `tensorboard` package cannot be imported, so that callers
can tell "no reader" from "reader failed".
"""

import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
except ImportError as exc:  # pragma: no cover - depends on the environment
    print(f"tensorboard is not importable: {exc}", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    logdir = sys.argv[1]
    # size_guidance 0 = keep every event (the default samples 10,000 a tag).
    acc = event_accumulator.EventAccumulator(
        logdir, size_guidance={event_accumulator.SCALARS: 0}
    )
    acc.Reload()
    scalars = {
        tag: [[e.step, repr(e.wall_time), repr(e.value)] for e in acc.Scalars(tag)]
        for tag in sorted(acc.Tags()[event_accumulator.SCALARS])
    }
    json.dump({"file_version": acc.file_version, "scalars": scalars}, sys.stdout)


if __name__ == "__main__":
    main()
