"""Benchmark the twin: env steps per second in state and pixel observation modes.

Usage: python scripts/bench/twin_speed.py [--task pick_cube|pick_cube_hard|peg_insert] [--steps N]
                                          [--image-size 128] [--cameras front wrist]
                                          [--policy expert|random]
Runs single-threaded (one CPU core's worth of work). Prints human-readable lines, then one JSON
object as the last line (keys: state_steps_per_s, pixel_steps_per_s, render_backend, ...).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy's 6x6 solves must not spin up a thread pool

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
from robot_rl_sim.tasks import TASKS, Task, get_task  # noqa: E402


def run(task: Task, env: object, steps: int, policy: str, seed: int) -> tuple[float, int, int]:
    """Time ``steps`` env steps; returns (steps per s, episodes finished, successes)."""
    rng = np.random.default_rng(seed)
    expert = task.make_expert(env, seed=seed)
    env.reset(seed=seed)
    expert.reset()
    episodes = successes = 0
    start = time.perf_counter()
    for _ in range(steps):
        if policy == "expert":
            action = expert.act()
        else:
            action = rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            episodes += 1
            successes += int(info["success"])
            env.reset()
            expert.reset()
    elapsed = time.perf_counter() - start
    return steps / elapsed, episodes, successes


def main() -> None:
    """Parse arguments, run both modes, print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pick_cube", choices=sorted(TASKS))
    parser.add_argument("--steps", type=int, default=1000, help="env steps per mode")
    parser.add_argument("--image-size", type=int, default=128, help="camera height and width (px)")
    parser.add_argument(
        "--cameras", nargs="+", default=["front", "wrist"], help="cameras in pixel mode"
    )
    parser.add_argument("--policy", choices=("expert", "random"), default="expert")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    task = get_task(args.task)
    base = task.env
    state_env = task.make_env(replace(base, obs_mode="state"))
    state_sps, eps, succ = run(task, state_env, args.steps, args.policy, args.seed)
    state_env.close()
    print(
        f"state:  {state_sps:8.1f} env steps/s  ({args.steps} steps, {eps} episodes, {succ} successes)"
    )

    pixel_cfg = replace(
        base, obs_mode="pixels", image_size=args.image_size, cameras=tuple(args.cameras)
    )
    pixel_env = task.make_env(pixel_cfg)
    pixel_steps = max(1, args.steps // 2)
    pixel_sps, eps, succ = run(task, pixel_env, pixel_steps, args.policy, args.seed)
    pixel_env.close()
    cams = ",".join(args.cameras)
    print(
        f"pixels: {pixel_sps:8.1f} env steps/s  ({pixel_steps} steps, {args.image_size}px x [{cams}])"
    )

    result = {
        "task": args.task,
        "state_steps_per_s": round(state_sps, 1),
        "pixel_steps_per_s": round(pixel_sps, 1),
        "render_backend": os.environ.get("MUJOCO_GL", ""),
        "image_size": args.image_size,
        "cameras": list(args.cameras),
        "policy": args.policy,
        "steps": args.steps,
        "pixel_steps": pixel_steps,
        "control_hz": base.control_hz,
        "physics_dt": base.physics_dt,
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
