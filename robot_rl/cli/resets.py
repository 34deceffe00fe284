"""``robot-rl reset-free CONFIG``: forward/backward practice on the twin with rare resets.

``add_reset_commands(subparsers, overrides)`` registers it on the main parser
(robot_rl/cli/__init__.py). The config is a ``ResetFreeConfig`` YAML (configs/resets/*.yaml).
The output directory gets ``config.yaml`` (the exact config), ``progress.jsonl`` (a row every
20 attempts and one at the end, flushed as it goes, so a killed run keeps its curve),
``forward.safetensors`` and ``backward.safetensors`` (each task's acting policy, rewritten
atomically with every progress row and at the end) and ``result.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any


def cmd_reset_free(args: argparse.Namespace) -> int:
    """Reset-free forward/backward practice; prints the figures as JSON at the end."""
    from tqdm import tqdm

    from robot_rl.config import load_yaml, save_yaml
    from robot_rl.resets.human import HumanReset, HumanResetTimeout
    from robot_rl.resets.reset_free import ResetFreeConfig, ResetFreeTrainer, set_torch_threads
    from robot_rl.runtime.checkpoint import save_policy

    config = load_yaml(ResetFreeConfig, args.config, overrides=args.set)
    out = Path(args.out or f"runs/reset_free-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} exists and is not empty (choose another --out)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(config, out / "config.yaml")
    set_torch_threads(1)
    bar = tqdm(total=config.env_steps, desc="reset-free", unit="step", disable=args.quiet)

    with (out / "progress.jsonl").open("a") as progress:

        def save_policies() -> None:
            for task, agent in trainer.agents.items():  # atomic: a kill leaves the last whole one
                save_policy(
                    out / f"{task}.safetensors",
                    agent.sac.policy_state_dict(),
                    version=agent.sac.actor_updates,
                    config_hash="",
                )

        def log(row: dict[str, Any]) -> None:
            row = {k: v for k, v in row.items() if k != "safety"}
            progress.write(json.dumps(row) + "\n")
            progress.flush()
            save_policies()
            bar.update(row["env_steps"] - bar.n)
            bar.set_postfix(
                forward=f"{row['forward_success_rate']:.0%}",
                backward=f"{row['backward_success_rate']:.0%}",
                resets=row["resets"],
            )

        human = None
        if config.reset_mode == "human":  # the person answers in this terminal
            human = HumanReset(timeout_s=args.human_timeout)
            threading.Thread(
                target=_continue_from_terminal, args=(human, sys.stdin, sys.stderr), daemon=True
            ).start()
        trainer = ResetFreeTrainer(config, log=log, human=human)
        try:
            result = trainer.train()
            log(result)  # the last row, and the final policies with it
        except HumanResetTimeout as err:
            save_policies()
            print(f"error: {err}; the policies so far are saved in {out}", file=sys.stderr)
            return 1
        except BaseException:  # Ctrl-C or a crash: keep what it learned so far
            save_policies()
            raise
        finally:
            bar.close()
    result["out"] = str(out)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


def _continue_from_terminal(human: Any, stdin: IO[str], out: IO[str]) -> None:
    """Show each reset request and press continue on Enter (a line on ``stdin``); at EOF,
    stop answering: the request's deadline then ends the run."""
    while True:
        status = human.status()
        if not status["pending"]:
            time.sleep(0.05)
            continue
        print(f"\n{status['message']}; press Enter to continue", file=out, flush=True)
        if not stdin.readline():
            return
        human.press_continue()
        while human.status()["pending"]:  # until the trainer took it
            time.sleep(0.05)


def add_reset_commands(sub: Any, overrides: argparse.ArgumentParser) -> None:
    """Register ``reset-free`` on the main parser's subparsers."""
    text = "reset-free forward/backward practice on the twin (configs/resets/*.yaml)"
    p = sub.add_parser("reset-free", help=text, description=text, parents=[overrides])
    p.set_defaults(func=cmd_reset_free)
    p.add_argument(
        "config", help="ResetFreeConfig YAML, e.g. configs/resets/reset_free_place_state.yaml"
    )
    p.add_argument("--out", help="output directory (default: runs/reset_free-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--human-timeout",
        type=float,
        default=600.0,
        help="reset_mode human: seconds to wait for Enter before the run ends (default 600)",
    )


__all__ = ["add_reset_commands", "cmd_reset_free"]
