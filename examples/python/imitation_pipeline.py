"""A small but real imitation-learning pipeline in Python, tracked end to end.

An expert steers a point robot to goals; a linear policy learns from its
demonstrations by behaviour cloning (least squares), is fine-tuned by random
search on the task's reward, and is evaluated against the expert. Standard
library only. Each stage is a step of one tracked run: live progress with an
ETA that learns from earlier runs, the process's CPU and memory sampled,
every step persisted, and a report at the end (docs/python.md).

    pip install crates/tracker-py
    python examples/python/imitation_pipeline.py            # about 10 s
    tracker list; tracker show latest
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import tracker

State = Tuple[float, float, float, float]  # x, y, goal x, goal y
Action = Tuple[float, float]  # velocity x, y

MAX_SPEED = 1.0
DT = 0.1
HORIZON = 80
GOAL_RADIUS = 0.15


def expert(state: State) -> Action:
    """Heads for the goal at full speed, slowing down on the last metre."""
    x, y, gx, gy = state
    dx, dy = gx - x, gy - y
    distance = math.hypot(dx, dy)
    if distance < 1e-9:
        return (0.0, 0.0)
    speed = min(MAX_SPEED, distance)
    return (speed * dx / distance, speed * dy / distance)


def step_env(state: State, action: Action) -> State:
    x, y, gx, gy = state
    vx, vy = action
    norm = math.hypot(vx, vy)
    if norm > MAX_SPEED:
        vx, vy = vx * MAX_SPEED / norm, vy * MAX_SPEED / norm
    return (x + vx * DT, y + vy * DT, gx, gy)


def episode_start(rng: random.Random) -> State:
    return (rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3))


def features(state: State) -> List[float]:
    x, y, gx, gy = state
    return [gx - x, gy - y, 1.0]


def act(weights: Sequence[Sequence[float]], state: State) -> Action:
    f = features(state)
    return (
        sum(w * v for w, v in zip(weights[0], f)),
        sum(w * v for w, v in zip(weights[1], f)),
    )


def rollout(policy: Callable[[State], Action], state: State) -> Tuple[float, bool]:
    """Reward (minus the time and the distance left) and whether it got there."""
    for t in range(HORIZON):
        state = step_env(state, policy(state))
        distance = math.hypot(state[2] - state[0], state[3] - state[1])
        if distance < GOAL_RADIUS:
            return -t * DT, True
    return -HORIZON * DT - distance, False


def solve(matrix: List[List[float]], vector: List[float]) -> List[float]:
    """Gaussian elimination with partial pivoting (a small, regularised system)."""
    n = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            for c in range(col, n + 1):
                a[r][c] -= factor * a[col][c]
    solution = [0.0] * n
    for r in range(n - 1, -1, -1):
        solution[r] = (a[r][n] - sum(a[r][c] * solution[c] for c in range(r + 1, n))) / a[r][r]
    return solution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["quick", "full"], default="quick")
    parser.add_argument("--artifact-root", help="where runs are kept (default: ./output)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    episodes, iterations = (4000, 300) if args.scale == "quick" else (40000, 3000)
    rng = random.Random(args.seed)

    steps = [
        tracker.Step("collect", "Collect expert trajectories", expected_seconds=5),
        tracker.Step("pretrain", "Pre-train by behaviour cloning", expected_seconds=3),
        tracker.Step("finetune", "Fine-tune by random search", expected_seconds=10),
        tracker.Step("evaluate", "Evaluate against the expert", expected_seconds=3),
    ]
    with tracker.Run("imitation-python", steps, artifact_root=args.artifact_root) as run:
        out = run.dir / "artifacts"
        out.mkdir(exist_ok=True)

        with run.step("collect") as step:
            dataset: List[Tuple[State, Action]] = []
            for i in range(episodes):
                state = episode_start(rng)
                for _ in range(HORIZON):
                    action = expert(state)
                    dataset.append((state, action))
                    state = step_env(state, action)
                    if math.hypot(state[2] - state[0], state[3] - state[1]) < GOAL_RADIUS:
                        break
                step.report(fraction=(i + 1) / episodes, items=i + 1, message=f"{len(dataset)} samples")
            path = out / "expert.json"
            path.write_text(json.dumps(dataset[:2000]))
            step.artifact(path)

        with run.step("pretrain") as step:
            # Normal equations per action dimension, ridge-regularised.
            dim = 3
            gram = [[1e-3 if r == c else 0.0 for c in range(dim)] for r in range(dim)]
            rhs = [[0.0] * dim for _ in range(2)]
            for i, (state, action) in enumerate(dataset):
                f = features(state)
                for r in range(dim):
                    for c in range(dim):
                        gram[r][c] += f[r] * f[c]
                    rhs[0][r] += f[r] * action[0]
                    rhs[1][r] += f[r] * action[1]
                if i % 2000 == 0:
                    step.report(fraction=i / len(dataset), items=i)
            weights = [solve(gram, rhs[0]), solve(gram, rhs[1])]
            step.report(fraction=1.0, items=len(dataset))
            path = out / "policy_bc.json"
            path.write_text(json.dumps(weights))
            step.artifact(path)

        with run.step("finetune") as step:
            starts = [episode_start(rng) for _ in range(24)]

            def score(w: Sequence[Sequence[float]]) -> float:
                return sum(rollout(lambda s: act(w, s), s0)[0] for s0 in starts) / len(starts)

            best = score(weights)
            for i in range(iterations):
                candidate = [[w + rng.gauss(0, 0.05) for w in row] for row in weights]
                value = score(candidate)
                if value > best:
                    weights, best = candidate, value
                step.report(fraction=(i + 1) / iterations, items=i + 1, message=f"reward {best:.2f}")
            path = out / "policy_finetuned.json"
            path.write_text(json.dumps(weights))
            step.artifact(path)

        with run.step("evaluate") as step:
            trials = 2000
            wins = {"policy": 0, "expert": 0}
            for i in range(trials):
                s0 = episode_start(rng)
                wins["policy"] += rollout(lambda s: act(weights, s), s0)[1]
                wins["expert"] += rollout(expert, s0)[1]
                step.report(fraction=(i + 1) / trials, items=i + 1)
            result = {k: v / trials for k, v in wins.items()}
            path = out / "evaluation.json"
            path.write_text(json.dumps(result, indent=2))
            step.artifact(path)

    print(f"success rate: policy {result['policy']:.0%}, expert {result['expert']:.0%}")
    print(f"run {run.run_id} {run.status}: {run.dir}")


if __name__ == "__main__":
    main()
