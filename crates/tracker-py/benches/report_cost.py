"""What one ``step.report()`` costs the caller, measured with ``timeit``.

    python crates/tracker-py/benches/report_cost.py [--repeat 15] [--number 20000]

Prints the median cost per call (and the spread) of:
- ``step.report(fraction=…, items=…)`` on a running step of a real run
  (telemetry on, display quiet), the hot path of a training loop;
- the same with a ``message=``;
- a Python function with the same keywords that does nothing: the floor
  any Python API pays, measured in the same run, as the baseline of the
  ratio.
Target (docs/python.md): a report at most 2 µs.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import timeit

import tracker


def noop(*, fraction=None, items=None, fps=None, message=None):
    return None


def per_call(stmt, number: int, repeat: int, env: dict) -> list:
    timer = timeit.Timer(stmt, globals=env)
    return [t / number * 1e6 for t in timer.repeat(repeat=repeat, number=number)]


def main() -> None:
    parser = argparse.ArgumentParser(description="cost of step.report()")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        if True:
            with tracker.Run("bench", ["loop"], artifact_root=root, display="quiet") as run:
                with run.step("loop") as step:
                    env = {"step": step, "noop": noop, "count": itertools.count()}
                    results = {
                        "step.report(fraction, items)": per_call(
                            "step.report(fraction=0.5, items=next(count))", args.number, args.repeat, env
                        ),
                        "step.report(fraction, items, message)": per_call(
                            "step.report(fraction=0.5, items=next(count), message='loss 0.25')",
                            args.number,
                            args.repeat,
                            env,
                        ),
                        "baseline: a Python no-op with the same keywords": per_call(
                            "noop(fraction=0.5, items=next(count))", args.number, args.repeat, env
                        ),
                    }
    base = statistics.median(results["baseline: a Python no-op with the same keywords"])
    print(f"{'call':50} {'median µs':>10} {'min':>7} {'max':>7} {'× no-op':>8}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:50} {median:10.3f} {min(samples):7.3f} {max(samples):7.3f} {median / base:8.2f}")


if __name__ == "__main__":
    main()
