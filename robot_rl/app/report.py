"""Learning-curve reports of finished runs: PNG plots and an HTML page (``robot-rl report``).

A run directory gives one curve: its evaluations (``metrics/eval.jsonl``: env steps, unix time,
``eval/success_rate``) and its final evaluation (``result.json``). Wall time counts from the
run's start (``spec.json`` is written when it starts; ``result.json``'s ``wall_s`` is measured
from then). Runs are grouped by config name with a trailing seed tag (``_s3``, ``-s3``,
``_seed3``) removed, and by method (``agent``): the seeds of one config form one group, plotted as the mean over seeds
with the min-max range shaded. BC runs learn offline (no env steps): each BC group is a
horizontal line at its mean final success. Writes ``success_vs_env_steps.png``,
``success_vs_wall_time.png``, ``report.json`` and ``index.html`` (the plots, a table of runs
and their configs side by side, config fields that differ between runs first).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robot_rl.runtime.metrics import read_jsonl

SEED_TAG = re.compile(r"[_-](s|seed)\d+$")


class ReportError(ValueError):
    """A directory is not a finished run; the message names it and the missing file."""


@dataclass
class RunCurve:
    """One run's evaluations: success rate against env steps and wall time (s)."""

    run_dir: Path
    name: str
    group: str
    agent: str
    seed: int
    config: dict[str, Any]
    env_steps: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    success: list[float] = field(default_factory=list)

    @property
    def final_success(self) -> float:
        return self.success[-1]


def read_run(run_dir: Path) -> RunCurve:
    """The curve of a finished run directory; ReportError naming a missing file."""
    for name in ("config.yaml", "result.json"):
        if not (run_dir / name).is_file():
            raise ReportError(f"{run_dir}: not a finished run ({name} not found)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    result = json.loads((run_dir / "result.json").read_text())
    name = str(config.get("name", run_dir.name))
    spec = run_dir / "spec.json"
    start = spec.stat().st_mtime if spec.is_file() else None
    curve = RunCurve(
        run_dir=run_dir,
        name=name,
        group=SEED_TAG.sub("", name),
        agent=str(config.get("agent", "sac")),
        seed=int(config.get("seed", 0)),
        config=config,
    )
    for row in read_jsonl(run_dir / "metrics" / "eval.jsonl"):
        if "eval/success_rate" not in row:
            continue
        curve.env_steps.append(float(row["env_steps"]))
        curve.wall_s.append(float(row["time"]) - start if start is not None else float("nan"))
        curve.success.append(float(row["eval/success_rate"]))
    curve.env_steps.append(float(result.get("env_steps", 0)))
    curve.wall_s.append(float(result.get("wall_s", float("nan"))))
    curve.success.append(float(result["final_success_rate"]))
    return curve


def band(xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]]) -> dict[str, list[float]]:
    """Mean, min and max over runs of curves on their union of x points, each run linearly
    interpolated; only x points inside every run's range are kept (no extrapolation)."""
    lo = max(min(x) for x in xs)
    hi = min(max(x) for x in xs)
    grid = sorted({v for x in xs for v in x if lo <= v <= hi})
    values = np.array([np.interp(grid, x, y) for x, y in zip(xs, ys)])  # (runs, points)
    return {
        "x": grid,
        "mean": values.mean(0).tolist(),
        "min": values.min(0).tolist(),
        "max": values.max(0).tolist(),
    }


def summarise_groups(runs: Sequence[RunCurve]) -> dict[str, Any]:
    """Per group: its runs, the online groups' bands, the BC groups' final success."""
    agents: dict[str, set[str]] = {}
    for run in runs:
        agents.setdefault(run.group, set()).add(run.agent)
    for run in runs:  # one config name trained by two methods: two groups
        if len(agents[run.group]) > 1:
            run.group = f"{run.group} [{run.agent}]"
    groups: dict[str, list[RunCurve]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    out: dict[str, Any] = {}
    for name, members in groups.items():
        finals = [r.final_success for r in members]
        entry: dict[str, Any] = {
            "agent": members[0].agent,
            "seeds": [r.seed for r in members],
            "runs": [str(r.run_dir) for r in members],
            "final_success_mean": float(np.mean(finals)),
            "final_success_min": float(np.min(finals)),
            "final_success_max": float(np.max(finals)),
        }
        if all(r.agent != "bc" for r in members):
            entry["vs_env_steps"] = band(
                [r.env_steps for r in members], [r.success for r in members]
            )
            walls = [r.wall_s for r in members]
            if not any(np.isnan(w).any() for w in walls):
                entry["vs_wall_s"] = band(walls, [r.success for r in members])
        out[name] = entry
    return out


def _plot(groups: dict[str, Any], axis: str, xlabel: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a robot workstation or in CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, g) in enumerate(groups.items()):
        colour = colours[i % len(colours)]
        n = len(g["seeds"])
        if g["agent"] == "bc":
            ax.axhline(g["final_success_mean"], color=colour, linestyle="--",
                       label=f"{name} (BC, mean of {n})")  # fmt: skip
            ax.axhspan(g["final_success_min"], g["final_success_max"], color=colour, alpha=0.08)
        elif axis in g:
            b = g[axis]
            ax.plot(b["x"], b["mean"], color=colour, marker="o", ms=3,
                    label=f"{name} (mean of {n})")  # fmt: skip
            ax.fill_between(b["x"], b["min"], b["max"], color=colour, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def _html(runs: Sequence[RunCurve], groups: dict[str, Any]) -> str:
    esc = html.escape
    flat = [_flatten(r.config) for r in runs]
    names = sorted({k for f in flat for k in f})
    differ = [k for k in names if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
    head = "".join(f"<th>{esc(r.run_dir.name)}</th>" for r in runs)
    diff_rows = "".join(
        f"<tr><td>{esc(k)}</td>"
        + "".join(f"<td>{esc(json.dumps(f.get(k), default=str))}</td>" for f in flat)
        + "</tr>"
        for k in differ
    )
    run_rows = "".join(
        f"<tr><td>{esc(r.run_dir.name)}</td><td>{esc(r.group)}</td><td>{esc(r.agent)}</td>"
        f"<td>{r.seed}</td><td>{r.final_success:.2f}</td><td>{r.env_steps[-1]:.0f}</td>"
        f"<td>{r.wall_s[-1]:.0f}</td></tr>"
        for r in runs
    )
    group_rows = "".join(
        f"<tr><td>{esc(n)}</td><td>{esc(g['agent'])}</td><td>{len(g['seeds'])}</td>"
        f"<td>{g['final_success_mean']:.2f}</td><td>{g['final_success_min']:.2f} - "
        f"{g['final_success_max']:.2f}</td></tr>"
        for n, g in groups.items()
    )
    configs = "".join(
        f"<div class='cfg'><h3>{esc(r.run_dir.name)}</h3><pre>"
        f"{esc(yaml.safe_dump(r.config, sort_keys=False))}</pre></div>"
        for r in runs
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>robot_rl report</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} img{{max-width:48%}}
.cfgs{{display:flex;gap:1em;overflow-x:auto}} .cfg pre{{font-size:11px;background:#f6f6f6;
padding:6px}}</style></head><body>
<h1>Learning curves</h1>
<p>Mean over seeds, min-max range shaded; dashed lines: BC baselines (mean final success).</p>
<img src="success_vs_env_steps.png" alt="success vs env steps">
<img src="success_vs_wall_time.png" alt="success vs wall time">
<h2>Groups</h2><table><tr><th>group</th><th>agent</th><th>seeds</th><th>final success
(mean)</th><th>range</th></tr>{group_rows}</table>
<h2>Runs</h2><table><tr><th>run</th><th>group</th><th>agent</th><th>seed</th><th>final
success</th><th>env steps</th><th>wall s</th></tr>{run_rows}</table>
<h2>Config fields that differ</h2><table><tr><th>field</th>{head}</tr>{diff_rows}</table>
<h2>Configs</h2><div class="cfgs">{configs}</div>
</body></html>
"""


def write_report(run_dirs: Sequence[Path], out: Path) -> dict[str, Any]:
    """Read the runs, write the plots, ``report.json`` and ``index.html`` under ``out``;
    returns the groups' figures."""
    if not run_dirs:
        raise ReportError("report: no run directories given")
    runs = [read_run(Path(d)) for d in run_dirs]
    groups = summarise_groups(runs)
    out.mkdir(parents=True, exist_ok=True)
    _plot(groups, "vs_env_steps", "env steps", out / "success_vs_env_steps.png")
    _plot(groups, "vs_wall_s", "wall time (s)", out / "success_vs_wall_time.png")
    (out / "report.json").write_text(json.dumps({"groups": groups}, indent=1))
    (out / "index.html").write_text(_html(runs, groups))
    return groups


__all__ = ["ReportError", "RunCurve", "band", "read_run", "summarise_groups", "write_report"]
