"""Safety benchmark: the fault-injection suite on the twin, plus a random fuzz of the layer.

Prints a table fault -> reaction -> control steps to hold, then one JSON object as the last
line: ``faults`` (a list of {fault, reaction, steps_to_hold, max_drift_m, held_steps,
episode_ended, resumed, violations}) and ``violations`` (commands that left the limits, over
the suite and ``--fuzz`` random commands with NaN/inf/huge actions, jumping and stale states).

    .venv/bin/python scripts/bench/safety.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def fuzz(commands: int, seed: int) -> int:
    """Violations over ``commands`` random inputs to a twin-configured layer."""
    from robot_rl.safety.config import SafetyConfig
    from robot_rl.safety.fault_suite import command_violations
    from robot_rl.safety.layer import RobotState, SafetyLayer

    rng = np.random.default_rng(seed)
    violations = 0
    for action_dim in (4, 7):
        config = SafetyConfig(action_dim=action_dim)
        layer = SafetyLayer(config)
        low, high = np.asarray(config.workspace_low), np.asarray(config.workspace_high)
        for i in range(commands // 2):
            kind = rng.integers(6)
            action = rng.uniform(-1.2, 1.2, action_dim)
            if kind == 0:
                action[rng.integers(action_dim)] = rng.choice([np.nan, np.inf, -np.inf])
            elif kind == 1:
                action *= 1e6
            pos = rng.uniform(low - 0.05, high + 0.05)
            quat = rng.normal(size=4)
            now = i * 0.1
            stale = now - (0.5 if kind == 2 else 0.0)
            state = RobotState(
                pos,
                quat,
                rng.normal(0, 0.2, 3),
                rng.uniform(-3, 3, 7),
                {name: stale for name in config.stream_deadlines},
            )
            if kind == 3:
                layer.estop("fuzz")
            elif kind == 4:
                layer.release()
            prev = layer._gripper
            command = layer.filter(action, state, now)
            violations += len(command_violations(config, state, prev, command))
    return violations


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fuzz", type=int, default=20_000, help="random commands")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from robot_rl.safety.fault_suite import FAULTS, run_fault

    started = time.monotonic()
    rows = [run_fault(name, seed=args.seed) for name in FAULTS]
    print(f"{'fault':<22} {'steps to hold':>13} {'drift m':>8}  reaction")
    for r in rows:
        hold = "-" if r.steps_to_hold is None else str(r.steps_to_hold)
        print(f"{r.fault:<22} {hold:>13} {r.max_drift_m:>8.3f}  {r.reaction}")
    fuzz_violations = fuzz(args.fuzz, args.seed)
    suite_violations = sum(r.violations for r in rows)
    result = {
        "faults": [
            {
                "fault": r.fault,
                "reaction": r.reaction,
                "steps_to_hold": r.steps_to_hold,
                "max_drift_m": r.max_drift_m,
                "held_steps": r.held_steps,
                "episode_ended": r.episode_ended,
                "resumed": r.resumed,
                "violations": r.violations,
                "events": r.events,
            }
            for r in rows
        ],
        "violations": suite_violations + fuzz_violations,
        "fuzz_commands": args.fuzz,
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
