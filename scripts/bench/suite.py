"""Task-suite benchmark: BC and SAC over seeds on the twin's hard tasks, from state.

Writes ``<out>/curves.json`` (every seed's eval curve), ``<out>/summary.json`` and the report
``<out>/report/`` (index.html, PNG learning curves; as ``robot-rl report``), prints one
line per (task, method), then one JSON object as the last line: ``tasks.<task>.<method>.
final_success`` (median over seeds), ``.env_steps_to_80``, ``.env_steps_to_90``,
``.min_after_80``, ``tasks.<task>.expert_success``, ``expert_success_min`` and ``bc_final_max``.

    .venv/bin/python scripts/bench/suite.py --tasks peg_insert,pick_cube_hard --methods bc,sac --seeds 3
    .venv/bin/python scripts/bench/suite.py --tasks peg_insert --methods bc --seeds 2 \\
        --set train.final_eval_episodes=20     # a quick BC-only look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="peg_insert,pick_cube_hard")
    parser.add_argument("--methods", default="bc,sac")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    parser.add_argument("--expert-episodes", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "runs" / "suite"))
    parser.add_argument("--set", action="append", default=[], help="config override, repeatable")
    args = parser.parse_args()

    from robot_rl.app.suite import run_suite

    tasks = [t for t in args.tasks.split(",") if t]
    methods = [m for m in args.methods.split(",") if m]
    try:
        summary = run_suite(
            tasks,
            methods,
            args.seeds,
            out=Path(args.out),
            expert_episodes=args.expert_episodes,
            overrides=args.set,
            first_seed=args.first_seed,
        )
    except ValueError as err:
        print(f"suite: {err}", file=sys.stderr)
        return 2
    for task, figures in summary["tasks"].items():
        for method in methods:
            f = figures[method]
            print(
                f"{task} {method}: final {f['final_success']:.2f} per seed "
                f"{f['final_success_per_seed']}, to 80% {f['env_steps_to_80']}, "
                f"expert {figures['expert_success']:.2f}",
                flush=True,
            )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
