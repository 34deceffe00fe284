"""The cost of ``sac.dormant_reset``'s two rare events, timed alone: one dormant-ratio check
(``SAC.actor_dormant_ratio`` on a minibatch) and one perturbation (``SAC.perturb_dormant``),
beside one ``SAC.update``, in learner_throughput.py's settings (medians, milliseconds).

    PYTHONPATH=. .venv/bin/python scripts/bench/dormant_reset_cost.py --settings state,pix64

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learner_throughput import ACTION_DIM, SETTINGS, make_batch, obs_spec

from robot_rl.agents import SAC, SACConfig
from robot_rl.agents.sac import _split


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(1e3 * sorted(times)[len(times) // 2], 2)


def time_setting(name: str, args: argparse.Namespace) -> dict[str, float]:
    """Check, perturbation and update times (ms) of one observation setting."""
    spec = obs_spec(SETTINGS[name])
    config = SACConfig(
        critic_ensemble_size=args.ensembles,
        utd_ratio=args.utd,
        batch_size=args.batch_size,
        dormant_reset=True,
    )
    sac = SAC(spec, ACTION_DIM, config, device="cpu", seed=0)
    batch = make_batch(spec, args.batch_size * args.utd, sac.device)
    sac.update(batch)  # every optimiser has state, as in a run
    last = _split(batch, args.utd)[-1]
    slow = name != "state"
    return {
        f"{name}/check_ms": median_ms(lambda: sac.actor_dormant_ratio(last), 10 if slow else 30),
        f"{name}/perturb_ms": median_ms(lambda: sac.perturb_dormant(0.3), 10),
        f"{name}/update_ms": median_ms(lambda: sac.update(batch), 3 if slow else 10),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", default="state,pix64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ensembles", type=int, default=2)
    parser.add_argument("--utd", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: dict[str, float] = {}
    for name in args.settings.split(","):
        out.update(time_setting(name, args))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
