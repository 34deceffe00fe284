"""Learning benchmark: pick-cube success rate vs env steps over seeds.

Prints progress lines, then one JSON object as the last line with final_success_rate
(median over seeds), env_steps, wall_s, updates_per_s and per-seed eval curves.

    .venv/bin/python scripts/bench/learn.py --task pick_cube --obs state --seeds 3 --env-steps 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "state": ROOT / "configs" / "pick_cube_state.yaml",
    "pixels": ROOT / "configs" / "pick_cube_pixels.yaml",
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="pick_cube", choices=["pick_cube"])
    parser.add_argument("--obs", default="state", choices=sorted(CONFIGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--env-steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--final-eval-episodes", type=int, default=50)
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "bench"))
    parser.add_argument("--set", action="append", default=[], help="extra config overrides")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    from robot_rl.app.launch import train
    from robot_rl.config import load_yaml
    from robot_rl.run_config import RunConfig
    from robot_rl.runtime.metrics import read_jsonl

    per_seed = []
    started = time.monotonic()
    for seed in range(args.seeds):
        overrides = [
            f"seed={seed}",
            f"name=bench_{args.task}_{args.obs}_s{seed}",
            f"runs_dir={args.runs_dir}",
            f"train.env_steps={args.env_steps}",
            f"train.eval_every={args.eval_every}",
            f"train.eval_episodes={args.eval_episodes}",
            f"train.final_eval_episodes={args.final_eval_episodes}",
            "train.video=false",
            *args.set,
        ]
        config = load_yaml(RunConfig, CONFIGS[args.obs], overrides=overrides)
        result = train(config, progress=args.progress)
        run_dir = Path(result["run_dir"])
        curve = [
            {"env_steps": row["env_steps"], "success_rate": row["eval/success_rate"]}
            for row in read_jsonl(run_dir / "metrics" / "eval.jsonl")
        ]
        curve.append(
            {"env_steps": result["env_steps"], "success_rate": result["final_success_rate"]}
        )
        learner_rows = read_jsonl(run_dir / "metrics" / "learner.jsonl")
        ups = [r["charts/updates_per_s"] for r in learner_rows if "charts/updates_per_s" in r]
        row = {
            "seed": seed,
            "final_success_rate": result["final_success_rate"],
            "env_steps": result["env_steps"],
            "learner_updates": result.get("learner_updates"),
            "wall_s": round(result["wall_s"], 1),
            "updates_per_s": round(ups[-1], 2) if ups else None,
            "curve": curve,
            "run_dir": str(run_dir),
        }
        per_seed.append(row)
        print(
            f"seed {seed}: success {row['final_success_rate']:.0%} in {row['env_steps']} env steps, "
            f"{row['wall_s']:.0f} s, curve {[round(c['success_rate'], 2) for c in curve]}",
            flush=True,
        )

    finals = [r["final_success_rate"] for r in per_seed]
    steps_to_90 = []
    for r in per_seed:
        hit = [c["env_steps"] for c in r["curve"] if c["success_rate"] >= 0.9]
        steps_to_90.append(hit[0] if hit else None)
    summary = {
        "task": args.task,
        "obs": args.obs,
        "seeds": args.seeds,
        "final_success_rate": statistics.median(finals),
        "final_success_rates": finals,
        "env_steps": args.env_steps,
        "env_steps_to_90pct": steps_to_90,
        "wall_s": round(time.monotonic() - started, 1),
        "updates_per_s": statistics.median(
            [r["updates_per_s"] for r in per_seed if r["updates_per_s"]] or [0.0]
        ),
        "per_seed": per_seed,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
