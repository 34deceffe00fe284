"""Task suite: run learners (BC, SAC) over seeds on the twin's tasks and summarise the curves.

``scripts/bench/suite.py`` is the command line; this module holds what it does, so tests use
the same code. Each (task, method) pair runs the shipped config ``configs/<task>_bc.yaml``
(method bc) or ``configs/<task>_state.yaml`` (method sac) with the task's default demo count.
A curve is the list of ``{"env_steps", "success_rate"}`` evaluations of one run, ending with
its final evaluation.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
METHOD_CONFIG = {
    "bc": "{task}_bc.yaml",
    "sac": "{task}_state.yaml",
    "bc_pixels": "{task}_bc_pixels.yaml",
    "sac_pixels": "{task}_pixels.yaml",
}

Curve = list[dict[str, float]]


def config_path(task: str, method: str, *, configs: Path = ROOT / "configs") -> Path:
    """Shipped config of ``method`` on ``task``; ValueError naming what is missing."""
    if method not in METHOD_CONFIG:
        raise ValueError(f"method: unknown method {method!r} (known: {', '.join(METHOD_CONFIG)})")
    path = configs / METHOD_CONFIG[method].format(task=task)
    if not path.is_file():
        raise ValueError(f"task: no config for {method} on {task!r} ({path} not found)")
    return path


def first_reaching(curve: Curve, level: float) -> float | None:
    """Env steps of the first evaluation at or above ``level`` (None: never)."""
    return next((p["env_steps"] for p in curve if p["success_rate"] >= level), None)


def min_after(curve: Curve, level: float) -> float | None:
    """Lowest success rate from the first evaluation at or above ``level`` on (None: never)."""
    for i, point in enumerate(curve):
        if point["success_rate"] >= level:
            return min(p["success_rate"] for p in curve[i:])
    return None


def summarise(curves: Sequence[Curve]) -> dict[str, Any]:
    """Figures of one (task, method) over its seeds' curves.

    final_success: median of the final evaluations; env_steps_to_80 / _to_90: median over seeds
    of the first evaluation reaching 80 % / 90 % (None unless every seed reached it);
    min_after_80: the lowest evaluation after a first 80 %, over all seeds that reached it.
    """
    if not curves or any(not c for c in curves):
        raise ValueError("curves: every seed needs at least its final evaluation")
    out: dict[str, Any] = {
        "final_success": statistics.median(c[-1]["success_rate"] for c in curves),
        "final_success_per_seed": [c[-1]["success_rate"] for c in curves],
    }
    for level, key in ((0.8, "env_steps_to_80"), (0.9, "env_steps_to_90")):
        hits = [first_reaching(c, level) for c in curves]
        reached = [h for h in hits if h is not None]
        out[key] = statistics.median(reached) if len(reached) == len(hits) else None
    lows = [m for m in (min_after(c, 0.8) for c in curves) if m is not None]
    out["min_after_80"] = min(lows) if lows else None
    return out


def learner_keys(
    figures: dict[str, Any],
    tasks: Sequence[str],
    methods: Sequence[str],
    *,
    sac: str = "sac",
    bc: str = "bc",
    prefix: str = "worst_",
) -> dict[str, float | None]:
    """The learner's headline over tasks: ``worst_sac_final`` (lowest SAC median),
    ``worst_sac_minus_bc`` (lowest SAC median minus BC median, with both methods run) and
    ``worst_min_after_80`` (lowest SAC evaluation after a first 80 %, None if no task got there).
    ``sac``, ``bc`` and ``prefix`` name another pair (the pixel methods: ``pixels_worst_*``)."""
    names = (f"{prefix}sac_final", f"{prefix}sac_minus_bc", f"{prefix}min_after_80")
    if sac not in methods:
        return dict.fromkeys(names)
    finals = [figures[t][sac]["final_success"] for t in tasks]
    gaps = [
        figures[t][sac]["final_success"] - figures[t][bc]["final_success"]
        for t in tasks
        if bc in methods
    ]
    lows = [figures[t][sac]["min_after_80"] for t in tasks]
    reached = [low for low in lows if low is not None]
    return dict(
        zip(
            names,
            (min(finals), min(gaps) if gaps else None, min(reached) if reached else None),
            strict=True,
        )
    )


def expert_success(task_name: str, *, episodes: int, noise: float, seed: int = 10_000) -> float:
    """Success rate of the task's scripted expert with demo noise ``noise`` (action units)."""
    from robot_rl_sim.tasks import get_task

    task = get_task(task_name)
    env = task.make_env(task.env, seed=seed)
    expert = task.make_expert(env, noise_std=noise, seed=seed)
    successes = 0
    for _ in range(episodes):
        env.reset()
        expert.reset()
        info: dict[str, Any] = {"success": False}
        for _ in range(task.env.max_episode_steps):
            _, _, terminated, truncated, info = env.step(expert.act())
            if terminated or truncated:
                break
        successes += int(info["success"])
    env.close()
    return successes / episodes


def run_one(
    task: str,
    method: str,
    seed: int,
    *,
    runs_dir: Path,
    overrides: Sequence[str] = (),
    run_dirs: list[Path] | None = None,
) -> Curve:
    """Train ``method`` on ``task`` with ``seed``; its eval curve (final evaluation last).
    The run's directory is appended to ``run_dirs`` when given."""
    from robot_rl.app.launch import train
    from robot_rl.config import load_yaml
    from robot_rl.run_config import RunConfig
    from robot_rl.runtime.metrics import read_jsonl

    config = load_yaml(
        RunConfig,
        config_path(task, method),
        overrides=[
            f"seed={seed}",
            f"name=suite_{task}_{method}_s{seed}",
            f"runs_dir={runs_dir}",
            "train.video=false",
            *overrides,
        ],
    )
    result = train(config, progress=False)
    run_dir = Path(result["run_dir"])
    if run_dirs is not None:
        run_dirs.append(run_dir)
    eval_log = run_dir / "metrics" / "eval.jsonl"
    rows = read_jsonl(eval_log) if eval_log.is_file() else []
    curve: Curve = [
        {"env_steps": float(r["env_steps"]), "success_rate": float(r["eval/success_rate"])}
        for r in rows
    ]
    curve.append(
        {
            "env_steps": float(result.get("env_steps", 0)),  # BC: no online steps
            "success_rate": float(result["final_success_rate"]),
        }
    )
    return curve


def run_suite(
    tasks: Sequence[str],
    methods: Sequence[str],
    seeds: int,
    *,
    out: Path,
    expert_episodes: int = 50,
    overrides: Sequence[str] = (),
    first_seed: int = 0,
) -> dict[str, Any]:
    """Every method on every task over ``seeds`` seeds; writes ``out/curves.json``,
    ``out/summary.json`` and the report (``out/report/index.html``, PNG curves) and returns
    the summary (``tasks.<task>.<method>.*``, ``expert_success_min``, ``bc_final_max``)."""
    for task in tasks:
        for method in methods:
            config_path(task, method)  # fail before hours of training, not after
    out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, dict[str, list[Curve]]] = {}
    summary: dict[str, Any] = {"tasks": {}, "seeds": seeds}
    expert: dict[str, float] = {}
    run_dirs: list[Path] = []
    for task in tasks:
        expert[task] = expert_success(task, episodes=expert_episodes, noise=0.1)
        curves[task] = {}
        summary["tasks"][task] = {"expert_success": expert[task]}
        for method in methods:
            runs = [
                run_one(
                    task, method, s, runs_dir=out / "runs", overrides=overrides,
                    run_dirs=run_dirs,
                )
                for s in range(first_seed, first_seed + seeds)
            ]  # fmt: skip
            curves[task][method] = runs
            summary["tasks"][task][method] = summarise(runs)
            (out / "curves.json").write_text(json.dumps(curves, indent=1))
    summary["expert_success_min"] = min(expert.values())
    bc = [summary["tasks"][t]["bc"]["final_success"] for t in tasks if "bc" in methods]
    summary["bc_final_max"] = max(bc) if bc else None
    summary.update(learner_keys(summary["tasks"], tasks, methods))
    if "sac_pixels" in methods:
        summary.update(
            learner_keys(
                summary["tasks"], tasks, methods, sac="sac_pixels", bc="bc_pixels",
                prefix="pixels_worst_",
            )
        )  # fmt: skip
    from robot_rl.app.report import write_report

    write_report(run_dirs, out / "report")
    summary["report"] = str(out / "report" / "index.html")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


__all__ = [
    "config_path",
    "expert_success",
    "first_reaching",
    "learner_keys",
    "min_after",
    "run_one",
    "run_suite",
    "summarise",
]
