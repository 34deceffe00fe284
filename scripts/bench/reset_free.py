"""Reset-free benchmark: forward (place) / backward (return) practice on the twin from state.

Two SAC agents take turns in one scene through the safety layer; a scripted reset only when
both fail ``--max-failures`` times in a row. Prints progress lines, then one JSON object as
the last line: ``forward_success_rate`` (last 100 forward attempts), ``resets_per_100``
(scripted resets per 100 episodes of either task), env steps and wall time.
Target: forward >= 0.8 with <= 5 resets per 100 episodes. Pixels runs on CPU at 64x64
(slow: a GPU makes it a real run; the learner picks CUDA when it has one).

    .venv/bin/python scripts/bench/reset_free.py --time-budget 840
    .venv/bin/python scripts/bench/reset_free.py \
        --config configs/resets/reset_free_place_pixels.yaml --time-budget 840
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-steps", type=int, default=30_000)
    parser.add_argument("--time-budget", type=float, default=840.0, help="s of wall time")
    parser.add_argument("--demos", type=int, default=20, help="demos per task")
    parser.add_argument("--max-failures", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--config",
        default="configs/resets/reset_free_place_state.yaml",
        help="ResetFreeConfig YAML (state; configs/resets/reset_free_place_pixels.yaml: pixels)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field"
    )
    args = parser.parse_args()

    from robot_rl.config import load_yaml
    from robot_rl.resets.reset_free import ResetFreeConfig, ResetFreeTrainer, set_torch_threads

    set_torch_threads(1)
    overrides = {
        "env_steps": args.env_steps,
        "time_budget_s": args.time_budget,
        "demos_per_task": args.demos,
        "max_failures": args.max_failures,
        "seed": args.seed,
    }
    config = load_yaml(
        ResetFreeConfig,
        args.config,
        overrides=[f"{k}={v}" for k, v in overrides.items()] + args.set,
    )

    def log(row: dict) -> None:
        row = {k: v for k, v in row.items() if k != "safety"}
        print(json.dumps(row), flush=True)

    trainer = ResetFreeTrainer(config, log=log)
    result = trainer.train()
    result["obs"] = config.env.obs_mode
    result["device"] = str(trainer.agents["forward"].sac.device)
    result["target"] = {"forward_success_rate": 0.8, "resets_per_100": 5}
    result["target_met"] = result["forward_success_rate"] >= 0.8 and result["resets_per_100"] <= 5
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
