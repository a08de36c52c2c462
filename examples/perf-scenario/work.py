"""One step of the perf-scenario example: a fixed amount of CPU work that
reports its progress and throughput on the tracker's progress channel
(docs/progress-channel.md). Runs standalone too (the channel is then unset).

    python3 work.py hash 200000   # SHA-256 of 200,000 blocks of 1 KiB
    python3 work.py sort 4000     # sort 4,000 lists of 1,000 numbers
"""

import hashlib
import json
import os
import random
import sys


def report(**fields):
    path = os.environ.get("TRACKER_PROGRESS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(fields) + "\n")


def main():
    kind, items = sys.argv[1], int(sys.argv[2])
    rng = random.Random(7)
    block = bytes(rng.getrandbits(8) for _ in range(1024))
    numbers = [rng.random() for _ in range(1000)]
    every = max(1, items // 20)
    digest = b""
    for i in range(1, items + 1):
        if kind == "hash":
            digest = hashlib.sha256(block + digest).digest()
        elif kind == "sort":
            sorted(numbers)
            numbers.append(numbers.pop(0))
        else:
            sys.exit(f"unknown work {kind!r}: expected hash or sort")
        if i % every == 0 or i == items:
            report(steps=i, progress=i / items)
    print(f"{kind}: {items} items done")


if __name__ == "__main__":
    main()
