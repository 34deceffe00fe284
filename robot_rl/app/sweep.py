"""``robot-rl sweep CONFIG --seeds 0,1,2``: independent runs as Ray tasks, then one report.

Each seed is a whole ``robot-rl train`` run (demos, learner, actor(s), final evaluation) in
its own run directory ``<out>/runs/<name>-seed<k>``, executed as one Ray task that reserves
``cpus_per_run`` CPUs, so Ray packs the runs onto the cluster's machines and queues the rest.
The runs share nothing; a run that fails is reported and the others still count. The report
is ``robot-rl report``'s (robot_rl/app/report.py) over the finished runs: seeds of one config
name are one group (mean and range).
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from pathlib import Path
from typing import Any

from robot_rl.run_config import RunConfig


def parse_seeds(text: str) -> list[int]:
    """``0,1,2`` or ``0-4`` (inclusive) to seeds; ValueError naming ``--seeds`` otherwise."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError as err:
        raise ValueError(f"--seeds {text!r}: give seeds as 0,1,2 or 0-4") from err
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: give at least one seed, each once")
    return seeds


def seed_configs(config: RunConfig, seeds: list[int], runs_dir: Path) -> list[RunConfig]:
    """One config per seed, named ``<name>-seed<k>`` (the report groups them by name)."""
    return [
        dataclasses.replace(config, seed=s, name=f"{config.name}-seed{s}", runs_dir=str(runs_dir))
        for s in seeds
    ]


def run_one(config: RunConfig, run_dir: str) -> dict[str, Any]:
    """One seed's whole run (inside a Ray task); its result, or the error that ended it."""
    from robot_rl.app.launch import train

    try:
        return {"ok": True, **train(config, run_dir=Path(run_dir), progress=False)}
    except Exception as err:  # one failed seed must not lose the others' results
        return {"ok": False, "run_dir": run_dir, "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-4000:]}  # fmt: skip


def sweep(
    config: RunConfig,
    seeds: list[int],
    out: Path,
    *,
    cpus_per_run: float = 1.0,
    address: str = "",
) -> dict[str, Any]:
    """Run every seed as a Ray task, write ``<out>/sweep.json`` and the report ``<out>/report``."""
    import ray

    from robot_rl.app.ray_engine import connect_ray
    from robot_rl.app.report import write_report

    if cpus_per_run <= 0:
        raise ValueError(f"--cpus-per-run must be > 0, got {cpus_per_run}")
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    configs = seed_configs(config, seeds, runs_dir)
    started = time.monotonic()
    started_ray = connect_ray(address)
    try:
        task: Any = ray.remote(num_cpus=cpus_per_run, max_retries=0)(run_one)
        refs = [task.remote(c, str(runs_dir / c.name)) for c in configs]
        results = ray.get(refs)
    finally:
        if started_ray:
            ray.shutdown()
    finished = [Path(r["run_dir"]) for r in results if r["ok"]]
    summary: dict[str, Any] = {
        "config": config.name,
        "seeds": seeds,
        "wall_s": time.monotonic() - started,
        "runs": [
            {"seed": s, **{k: v for k, v in r.items() if k != "traceback"}}
            for s, r in zip(seeds, results)
        ],
        "failed": [r["run_dir"] for r in results if not r["ok"]],
    }
    if finished:
        groups = write_report(finished, out / "report")
        summary["report"] = str(out / "report" / "index.html")
        summary["final_success"] = {n: g["final_success_mean"] for n, g in groups.items()}
    (out / "sweep.json").write_text(json.dumps(summary, indent=1, default=str))
    for r in results:
        if not r["ok"]:
            print(f"sweep: {r['run_dir']} failed: {r['error']}\n{r['traceback']}", flush=True)
    return summary
