"""``robot-rl sweep CONFIG --seeds 0,1,2 [--set ...]``: independent runs on Ray, one report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from robot_rl.cli.common import load_run_config


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the seeds as Ray tasks; print the summary (``sweep.json``); 1 if any run failed."""
    from robot_rl.app.sweep import parse_seeds, sweep

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = load_run_config(args.config, args.set)
    out = Path(
        args.out or Path(config.runs_dir) / f"sweep-{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    summary = sweep(config, seeds, out, cpus_per_run=args.cpus_per_run, address=args.address)
    print(json.dumps({k: summary.get(k) for k in ("report", "final_success", "failed", "wall_s")}))
    return 1 if summary["failed"] else 0


def add_sweep_command(subparsers: Any, overrides: argparse.ArgumentParser) -> None:
    """Add ``sweep`` to the ``robot-rl`` parser."""
    p = subparsers.add_parser(
        "sweep",
        parents=[overrides],
        help="independent runs over seeds as Ray tasks (local or a cluster), with one report",
        description=__doc__,
    )
    p.add_argument("config", help="run config YAML")
    p.add_argument("--seeds", required=True, help="seeds: 0,1,2 or 0-4")
    p.add_argument("--out", default=None, help="sweep folder (default runs_dir/sweep-NAME-STAMP)")
    p.add_argument(
        "--cpus-per-run", type=float, default=1.0, help="CPUs Ray reserves per run (default 1)"
    )
    p.add_argument(
        "--address", default="", help="Ray cluster to join (auto, ray://host:10001); default local"
    )
    p.set_defaults(func=cmd_sweep)
