"""Human in the loop on the twin: RLPD with vs without the scripted intervener.

Each arm runs actor + learner (in-process transport, learner thread) for ``--env-steps``;
the "hil" arm has the ScriptedIntervener (twin ground truth + scripted expert) behind an
InterventionMixer, and the learner routes its intervention steps into the demo buffer
(HIL-SERL, ``hil.hil_serl``). steps_ratio = env steps the HIL arm needed to reach ``--target``
training success (20-episode window, episodes the policy finished itself) / steps the plain
arm needed (< 1: HIL is faster; target <= 0.6; an arm that never reaches it counts as
env_steps). The pixel version is a GPU-scale run (--obs pixels); on a CPU use --obs state
with small budgets. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import config_hash, from_dict, save_yaml
from robot_rl.demos import record_demos
from robot_rl.envs.spec import spec_to_json
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.build import configure_threads, env_spec, make_env, make_policy
from robot_rl.runtime.hil import (
    HilConfig,
    InterventionMixer,
    ScriptedIntervener,
    ScriptedIntervenerConfig,
)
from robot_rl.runtime.learner_main import build_learner
from robot_rl.runtime.protocol import Control
from robot_rl.runtime.transport import InProcessTransport


def run_arm(
    config: RunConfig, root: Path, *, hil: bool, rlif: bool, target: float
) -> dict[str, Any]:
    run_dir = root / ("hil" if hil else "plain")
    run_dir.mkdir(parents=True)
    save_yaml(config, run_dir / "config.yaml")
    env = make_env(config, seed=config.seed)
    spec, action_dim = env_spec(env)
    (run_dir / "spec.json").write_text(json.dumps(spec_to_json(spec, action_dim)))
    demos = None
    if config.demos.num_episodes:
        demos = run_dir / "demos"
        record_demos(config, demos)
    transport, learner_end = InProcessTransport.pair(heartbeat_timeout_s=30.0)
    learner: Any = build_learner(run_dir, learner_end, demos_path=demos)
    thread = threading.Thread(target=learner.run, daemon=True)
    thread.start()
    mixer = None
    if hil:
        person = ScriptedIntervener(
            env.unwrapped, config=ScriptedIntervenerConfig(), seed=config.seed
        )
        mixer = InterventionMixer(action_dim, config=HilConfig(rlif=rlif), source=person)
    rates: list[float] = []
    reached: list[int] = []
    window: list[float] = []

    def on_episode(ep: Any, stats: Any) -> None:
        rates.append(float(np.mean(ep.intervened)))
        window.append(float(ep.success and not ep.intervened[-5:].any()))  # policy finished it
        del window[:-20]
        if not reached and len(window) >= 10 and np.mean(window) >= target:
            reached.append(stats.env_steps)

    tr = config.train
    actor = Actor(env, make_policy(config, spec, action_dim), transport,
                  config_hash=config_hash(config), seed=config.seed,
                  updates_per_env_step=tr.updates_per_env_step, learning_starts=tr.learning_starts,
                  max_steps_ahead=tr.max_steps_ahead, mixer=mixer, on_episode=on_episode)  # fmt: skip
    stats = actor.run(tr.env_steps)
    transport.send(Control(command="stop"))
    thread.join(timeout=60)
    env.close()
    chunk = max(1, len(rates) // 10)
    curve = [float(np.mean(rates[i : i + chunk])) for i in range(0, len(rates), chunk)]
    return {"steps_to_target": reached[0] if reached else tr.env_steps, "reached": bool(reached),
            "episodes": stats.episodes, "intervention_rate_curve": curve}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--obs", choices=("state", "pixels"), default="state")
    parser.add_argument("--env-steps", type=int, default=3000)
    parser.add_argument("--demos", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--rlif", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_threads(1)
    config = from_dict(RunConfig, {
        "name": "hil", "seed": args.seed,
        "env": {"obs_mode": args.obs, "max_episode_steps": 60},
        "demos": {"num_episodes": args.demos},
        "train": {"env_steps": args.env_steps, "learning_starts": 200, "eval_every": 0},
        "runtime": {"transport": "inprocess"},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        plain = run_arm(config, Path(tmp), hil=False, rlif=args.rlif, target=args.target)
        hil = run_arm(config, Path(tmp), hil=True, rlif=args.rlif, target=args.target)
    print(json.dumps({
        "steps_ratio": hil["steps_to_target"] / max(plain["steps_to_target"], 1),
        "intervention_rate_curve": hil["intervention_rate_curve"],
        "plain": plain, "hil": hil, "obs": args.obs, "env_steps": args.env_steps,
        "target_success": args.target, "rlif": args.rlif, "seed": args.seed,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
