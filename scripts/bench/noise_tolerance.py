"""How much exploration noise a task's BC policy tolerates: BC is trained on the task's demos
(``configs/<task>_bc.yaml``), then evaluated with Gaussian noise of each std added to its
pre-tanh action. The std an online learner explores with should keep this success near BC's.

    .venv/bin/python scripts/bench/noise_tolerance.py --task pick_cube_hard --stds 0,0.05,0.1,0.2,0.3

Prints one line per std, then one JSON object as the last line (``success.<std>``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MUJOCO_GL", "egl")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="pick_cube_hard")
    parser.add_argument("--stds", default="0,0.05,0.1,0.2,0.3")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np

    from robot_rl.app.build import make_env, make_policy
    from robot_rl.app.suite import run_one
    from robot_rl.cli.common import load_run_config
    from robot_rl.envs.spec import spec_from_json
    from robot_rl.runtime.checkpoint import load_policy

    stds = [float(s) for s in args.stds.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        run_one(
            args.task,
            "bc",
            args.seed,
            runs_dir=Path(tmp),
            overrides=["train.final_eval_episodes=1"],
        )
        run_dir = next(Path(tmp).iterdir())
        config = load_run_config(run_dir / "config.yaml", [])
        spec_file = run_dir / "spec.json"
        spec, action_dim = spec_from_json(json.loads(spec_file.read_text()), where=str(spec_file))
        policy = make_policy(config, spec, action_dim)
        policy.load_state_dict(load_policy(run_dir / "policy.safetensors")[0])
    env = make_env(config, seed=args.seed + 3)
    rng = np.random.default_rng(args.seed)
    success: dict[str, float] = {}
    for std in stds:
        wins = 0
        for episode in range(args.episodes):
            obs, _ = env.reset(seed=5000 + episode)
            done, info = False, {}
            while not done:
                action = policy.act(obs, deterministic=True)
                pre = np.arctanh(np.clip(action, -0.999999, 0.999999))
                noisy = np.tanh(pre + std * rng.standard_normal(action.shape)).astype(np.float32)
                obs, _, terminated, truncated, info = env.step(noisy)
                done = bool(terminated or truncated)
            wins += int(bool(info.get("success")))
        success[f"{std:g}"] = wins / args.episodes
        print(f"{args.task} BC + noise {std:g}: {success[f'{std:g}']:.2f}", flush=True)
    env.close()
    print(json.dumps({"task": args.task, "episodes": args.episodes, "success": success}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
