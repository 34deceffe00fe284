"""``robot-rl report RUN_DIR... --out DIR``: learning-curve plots and an HTML page of runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report; print where it is and each group's final success."""
    from robot_rl.app.report import ReportError, write_report

    try:
        groups = write_report([Path(d) for d in args.run_dirs], Path(args.out))
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {name: round(g["final_success_mean"], 4) for name, g in groups.items()}
    print(json.dumps({"report": str(Path(args.out) / "index.html"), "final_success": summary}))
    return 0


def add_report_command(subparsers: Any) -> None:
    """Add ``report`` to the ``robot-rl`` parser."""
    p = subparsers.add_parser(
        "report",
        help="PNG learning curves (mean and range over seeds, BC as a line) and an HTML page",
        description=__doc__,
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories")
    p.add_argument("--out", required=True, help="folder for the PNGs, report.json, index.html")
    p.set_defaults(func=cmd_report)
