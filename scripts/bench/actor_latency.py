"""Actor per-step overhead (policy + bookkeeping, env time excluded), p50/p99 in ms.

Runs the real Actor loop on the twin with a randomly initialised policy, streaming steps
over a real zmq socket to a learner endpoint in another process that drains them, episodes
written to a real store in the background. Prints one JSON object as the last line.

    .venv/bin/python scripts/bench/actor_latency.py --steps 1000
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _drain(conn: Any) -> None:
    """Child process: a learner endpoint that receives and discards until told to stop."""
    from robot_rl.runtime.transport_zmq import ZmqLearnerEndpoint

    learner = ZmqLearnerEndpoint("tcp://127.0.0.1:0")
    conn.send(learner.address)
    while not conn.poll():
        learner.recv(0.01)
        learner.maybe_heartbeat()
    learner.close()


def measure(obs_mode: str, steps: int, image_size: int) -> dict[str, float]:
    """Per-step actor overhead for one observation mode."""
    import gymnasium as gym
    import numpy as np

    from robot_rl.app.build import env_spec, make_env, make_policy
    from robot_rl.config import from_dict
    from robot_rl.data.async_writer import BackgroundEpisodeWriter
    from robot_rl.data.episode_store import EpisodeStore
    from robot_rl.run_config import RunConfig
    from robot_rl.runtime.actor import Actor
    from robot_rl.runtime.transport_zmq import ZmqActorEndpoint
    from robot_rl.wire.protocol import Weights

    config = from_dict(RunConfig, {"env": {"obs_mode": obs_mode, "image_size": image_size}})

    class TimedEnv(gym.Wrapper):
        env_s = 0.0

        def step(self, action):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            out = self.env.step(action)
            TimedEnv.env_s += time.perf_counter() - t0
            return out

        def reset(self, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            out = self.env.reset(**kwargs)
            TimedEnv.env_s += time.perf_counter() - t0
            return out

    env = TimedEnv(make_env(config, seed=0))
    spec, action_dim = env_spec(env)
    policy = make_policy(config, spec, action_dim)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    drainer = ctx.Process(target=_drain, args=(child,), daemon=True)
    drainer.start()
    transport = ZmqActorEndpoint(parent.recv())
    with tempfile.TemporaryDirectory() as tmp:
        store = BackgroundEpisodeWriter(
            EpisodeStore.create(Path(tmp) / "eps", obs_spec=spec, action_dim=action_dim)
        )
        actor = Actor(env, policy, transport, config_hash="bench", seed=0, store=store)
        actor._handle(Weights.from_state_dict(policy.state_dict(), version=1, config_hash="bench"))
        marks: list[tuple[float, float]] = []
        actor.run(20, progress=lambda s: None)  # warm-up
        actor.stats.env_steps = 0
        marks.append((time.perf_counter(), TimedEnv.env_s))
        actor.run(steps, progress=lambda s: marks.append((time.perf_counter(), TimedEnv.env_s)))
        store.close()
    parent.send("stop")
    drainer.join(timeout=10)
    transport.close()
    overhead_ms = np.array(
        [((t1 - t0) - (e1 - e0)) * 1e3 for (t0, e0), (t1, e1) in itertools.pairwise(marks)]
    )
    return {
        "p50_ms": float(np.percentile(overhead_ms, 50)),
        "p99_ms": float(np.percentile(overhead_ms, 99)),
        "mean_ms": float(overhead_ms.mean()),
        "steps": len(overhead_ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results = {}
    for mode in ("state", "pixels"):
        results[mode] = measure(mode, args.steps, args.image_size)
        r = results[mode]
        print(
            f"{mode:>6}: p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  mean {r['mean_ms']:.2f} ms",
            flush=True,
        )
    out = {
        "p50_ms": results["state"]["p50_ms"],
        "p99_ms": results["state"]["p99_ms"],
        "pixels_p50_ms": results["pixels"]["p50_ms"],
        "pixels_p99_ms": results["pixels"]["p99_ms"],
        "per_mode": results,
        "image_size": args.image_size,
        "threads": args.threads,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
