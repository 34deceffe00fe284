"""Learner throughput: SAC updates per second at batch 256, state and pixel observations.

One "update" here is one gradient step of the critic at batch 256 (utd_ratio=1, so every
update also steps the actor and temperature), comparable with other SAC implementations;
with the default utd_ratio=4 an ``SAC.update`` call does 4 critic steps + 1 actor step.
Replay sampling is excluded (see replay_memory.py); batches are pre-made uint8 tensors.
Also measures the actor-side ``Policy.act`` latency (p50/p99, single observation).

    .venv/bin/python scripts/bench/learner_throughput.py --threads 1 --seconds 5
    .venv/bin/python scripts/bench/learner_throughput.py --settings state --ensembles 2 \
        --utd 2 --sac base_policy=bc --sac action_std=0.07   # the cost of learner options

Prints one line per setting, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from robot_rl import keys
from robot_rl.agents import SAC, SACConfig

SETTINGS = {"state": 0, "pix64": 64, "pix128": 128}  # image size (0: state only)
STATE_DIM, ACTION_DIM = 20, 4


def obs_spec(size: int) -> dict:
    spec = {"state": ((STATE_DIM,), np.dtype(np.float32))}
    if size:
        for cam in ("front", "wrist"):
            spec[keys.pixels_key(cam)] = ((size, size, 3), np.dtype(np.uint8))
    return spec


def make_batch(spec: dict, n: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)

    def obs() -> dict[str, torch.Tensor]:
        return {
            k: torch.randint(0, 256, (n, *s), dtype=torch.uint8, generator=g)
            if d == np.uint8
            else torch.randn((n, *s), generator=g)
            for k, (s, d) in spec.items()
        }

    batch = {
        keys.OBS: obs(),
        keys.NEXT_OBS: obs(),
        keys.ACTION: torch.rand((n, ACTION_DIM), generator=g) * 2 - 1,
        keys.REWARD: torch.rand(n, generator=g),
        keys.TERMINATED: torch.zeros(n),
        keys.IS_DEMO: (torch.arange(n) % 2).float(),  # RLPD's half-and-half batch
    }
    # The demo rows' returns-to-go (Cal-QL's calibration); online rows have none (NaN).
    batch[keys.MC_RETURN] = torch.where(batch[keys.IS_DEMO] > 0, torch.rand(n, generator=g), np.nan)
    return {
        k: {kk: vv.to(device) for kk, vv in v.items()} if isinstance(v, dict) else v.to(device)
        for k, v in batch.items()
    }


def bench_updates(sac: SAC, batch: dict, seconds: float) -> float:
    sac.update(batch)  # warm-up (allocator, oneDNN primitive caches)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 2:
        sac.update(batch)
        done += 1
    if sac.device.type == "cuda":
        torch.cuda.synchronize()
    return done * sac.config.utd_ratio / (time.perf_counter() - start)


def bench_act(sac: SAC, spec: dict, n: int = 300) -> tuple[float, float]:
    from robot_rl.agents import Policy

    policy = Policy(spec, ACTION_DIM, sac.config).eval()
    policy.load_state_dict(sac.policy_state_dict())
    rng = np.random.default_rng(0)
    obs = {
        k: rng.integers(0, 256, s, dtype=np.uint8)
        if d == np.uint8
        else rng.standard_normal(s).astype(np.float32)
        for k, (s, d) in spec.items()
    }
    times = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        policy.act(obs)
        if i >= 20:
            times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per setting")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--utd", type=int, default=1, help="critic steps per SAC.update call")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--ensembles", default="2,10")
    parser.add_argument("--no-fused", action="store_true", help="foreach Adam instead of fused")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--sac", action="append", default=[], help="SACConfig field=value (YAML), repeatable"
    )
    args = parser.parse_args()
    import yaml

    options = {}
    for item in args.sac:
        name, sep, value = item.partition("=")
        if not sep or name not in SACConfig.__dataclass_fields__:
            parser.error(f"--sac {item!r}: expected FIELD=VALUE with a SACConfig field")
        options[name] = yaml.safe_load(value)
    torch.set_num_threads(args.threads)

    results: dict[str, float] = {}
    act_ms: dict[str, dict[str, float]] = {}
    device = None
    for name in args.settings.split(","):
        spec = obs_spec(SETTINGS[name])
        for ens in (int(e) for e in args.ensembles.split(",")):
            config = SACConfig(
                critic_ensemble_size=ens,
                utd_ratio=args.utd,
                batch_size=args.batch_size,
                fused_optimizer=not args.no_fused,
                compile=args.compile,
                **options,
            )
            config.encoder.channels_last = not args.no_channels_last
            sac = SAC(spec, ACTION_DIM, config, device=args.device, seed=0)
            device = sac.device
            batch = make_batch(spec, args.batch_size * args.utd, sac.device)
            key = f"{name}/ens{ens}"
            results[key] = round(bench_updates(sac, batch, args.seconds), 3)
            line = f"{key:14s} {results[key]:9.2f} updates/s"
            if ens == 10:
                p50, p99 = bench_act(sac, spec)
                act_ms[name] = {"p50": round(p50, 3), "p99": round(p99, 3)}
                line += f"   act p50 {p50:.2f} ms  p99 {p99:.2f} ms"
            print(line, flush=True)
    print(f"device: {device}, torch {torch.__version__}, threads {args.threads}")
    print(
        json.dumps(
            {
                "device": str(device),
                "threads": args.threads,
                "batch_size": args.batch_size,
                "utd": args.utd,
                "updates_per_s": results,
                "act_ms": act_ms,
                "sac_options": options,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
