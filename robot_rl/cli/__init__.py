"""The ``robot-rl`` command line, one module per command group.

``run`` (demos, train, eval, learner), ``dataset``, ``reward``, ``hil`` (dashboard, record) and
``resets`` (reset-free), ``report`` (learning curves of runs), ``sweep`` (seeds as Ray tasks). Every command that reads a config takes ``--set dotted.key=value``
overrides (one shared parent parser, :func:`robot_rl.cli.common.overrides_parser`), validated
like the file itself. Each module imports its heavy dependencies inside the commands, so
``robot-rl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere

from robot_rl.cli.common import overrides_parser

EPILOG = """examples:
  robot-rl demos configs/pick_cube_state.yaml --out runs/demos
  robot-rl train configs/pick_cube_state.yaml
  robot-rl train configs/pick_cube_state.yaml --set train.env_steps=5000 --set seed=1
  robot-rl train configs/pick_cube_state.yaml --dashboard   (prints the dashboard URL + token)
  robot-rl eval runs/pick_cube_state-20261123-101500 --episodes 50
  robot-rl learner RUN_DIR --make-keys --bind tcp://0.0.0.0:5555   (GPU workstation, CURVE keys)
  robot-rl dataset verify runs/pick_cube_state-20261123-101500/episodes
  robot-rl dataset import-lerobot path/to/lerobot_dataset --out runs/demos_lerobot
  robot-rl report runs/suite/runs/* --out runs/report   (PNG curves + index.html)
  robot-rl sweep configs/pick_cube_state.yaml --seeds 0,1,2 --set train.env_steps=3000   (Ray tasks + report)
  robot-rl reward train configs/rewards/pick_cube_classifier.yaml
  robot-rl dashboard configs/pick_cube_state.yaml --teleop browser
  robot-rl reset-free configs/resets/reset_free_place_state.yaml --out runs/rf
  robot-rl train --resume runs/pick_cube_state-20261123-101500 --set train.env_steps=10000
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``robot-rl``."""
    from robot_rl.cli.dataset import add_dataset_commands
    from robot_rl.cli.hil import add_hil_commands
    from robot_rl.cli.report import add_report_command
    from robot_rl.cli.resets import add_reset_commands
    from robot_rl.cli.reward import add_reward_commands
    from robot_rl.cli.run import add_run_commands
    from robot_rl.cli.sweep import add_sweep_command

    parser = argparse.ArgumentParser(
        prog="robot-rl",
        description="Real-robot RL: record demos, train SAC/RLPD with actor + learner processes, evaluate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    overrides = overrides_parser()
    add_run_commands(sub, overrides)
    add_dataset_commands(sub)
    add_reward_commands(sub, overrides)
    add_hil_commands(sub, overrides)
    add_reset_commands(sub, overrides)
    add_report_command(sub)
    add_sweep_command(sub, overrides)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``robot-rl``."""
    args = build_parser().parse_args(argv)
    from robot_rl.config import ConfigError
    from robot_rl.data.episode_store import EpisodeStoreError

    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    except EpisodeStoreError as err:  # e.g. a full disk: committed episodes are intact
        print(f"episode store error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if not isinstance(err, _run_errors()):
            raise  # a bug: its traceback is what a report needs
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1


def _run_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "the run could not do what was asked" (one line, exit 1), imported
    only once one happened so that ``robot-rl --help`` stays fast."""
    from robot_rl.app.demos import DemoRecordingError
    from robot_rl.app.launch import LearnerError, LearnerStartError
    from robot_rl.runtime.checkpoint import PolicyFileError

    return (DemoRecordingError, LearnerError, LearnerStartError, PolicyFileError)


__all__ = ["build_parser", "main"]
