"""Run the tests that assert a learned figure under several seeds and both GL backends.

Each run sets ``ROBOT_RL_TEST_SEED`` (the tests' ``learn_seed`` fixture offsets their seeds by
it) and ``MUJOCO_GL``; tests note their figures with the ``record_figure`` fixture. Prints, per
(test, figure), the worst case, the median and the bound with its margin, then one JSON object
as the last line. Exit status 1 if any run failed.

    .venv/bin/python scripts/test_repeat.py --seeds 5                 # make test-repeat
    .venv/bin/python scripts/test_repeat.py --seeds 3 --gl osmesa -k classifier
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="seed offsets 0..N-1")
    parser.add_argument("--gl", default="egl,osmesa", help="MUJOCO_GL backends, comma-separated")
    parser.add_argument("--marker", default="learning and not slow", help="pytest -m expression")
    parser.add_argument("-k", default="", help="pytest -k expression")
    args = parser.parse_args()

    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        figures_path = Path(tmp) / "figures.jsonl"
        for gl in [g for g in args.gl.split(",") if g]:
            for seed in range(args.seeds):
                env = {
                    **os.environ,
                    "MUJOCO_GL": gl,
                    "ROBOT_RL_TEST_SEED": str(seed),
                    "ROBOT_RL_FIGURES": str(figures_path),
                }
                cmd = [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-m",
                    args.marker,
                    "-p",
                    "no:cacheprovider",
                ]
                if args.k:
                    cmd += ["-k", args.k]
                print(f"== MUJOCO_GL={gl} ROBOT_RL_TEST_SEED={seed}", flush=True)
                if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
                    failures.append(f"{gl}/seed {seed}")
        rows = (
            [json.loads(line) for line in figures_path.read_text().splitlines()]
            if figures_path.exists()
            else []
        )

    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["test"], row["figure"])].append(row)
    summary = []
    for (test, figure), items in sorted(groups.items()):
        values = [r["value"] for r in items]
        better = items[0]["higher_is_better"]
        worst = min(values) if better else max(values)
        bound = items[0]["bound"]
        margin = worst - bound if better else bound - worst
        summary.append(
            {
                "test": test,
                "figure": figure,
                "runs": len(values),
                "worst": round(worst, 4),
                "median": round(statistics.median(values), 4),
                "bound": bound,
                "margin": round(margin, 4),
            }
        )
        print(
            f"{test} {figure}: worst {worst:.3f} median {statistics.median(values):.3f} "
            f"bound {'>=' if better else '<='} {bound} (margin {margin:+.3f}, {len(values)} runs)"
        )
    print(json.dumps({"failures": failures, "figures": summary}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
