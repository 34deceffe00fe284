"""What every ``robot-rl`` command group shares: the ``--set`` option and loading a run config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def overrides_parser() -> argparse.ArgumentParser:
    """Parent parser of every command that reads a config: ``--set dotted.key=value``.

    The overrides are applied to the YAML before it is checked, so an unknown or ill-typed
    key is an error that names it, as in the file itself.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set train.env_steps=5000 (repeatable)",
    )
    return parent


def load_run_config(path: str | Path, overrides: list[str]) -> Any:
    """The RunConfig of a YAML file after ``--set`` overrides (ConfigError names a bad field)."""
    from robot_rl.config import load_yaml
    from robot_rl.run_config import RunConfig

    return load_yaml(RunConfig, path, overrides=overrides)
