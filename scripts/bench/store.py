"""Episode store throughput: sustained write rate, bytes on disk, replay rebuild time.

Renders a few pick-cube twin episodes with two 128x128 cameras (front, wrist) and the scripted
expert (noisy, so episodes differ), then writes them again and again through
``EpisodeStore.write_episode`` (each one a fsynced, atomically renamed zarr group, exactly as
the actor writes) and times it. The rate needed on the robot is ``--control-hz`` transitions
per second; ``write_headroom`` is the measured rate divided by it. Afterwards every stored
episode is read back with ``read_episode`` and fed to a ``ReplayBuffer`` with ``add_episode``
(what a resumed learner does), timed and scaled to 100k transitions.

    .venv/bin/python scripts/bench/store.py --episodes 200 --twin-episodes 4

Prints human lines, then one JSON object as the last line.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def disk_bytes(root: Path) -> int:
    """Bytes allocated on disk under ``root`` (st_blocks, like du), not apparent sizes."""
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def render_twin_episodes(n: int, image_size: int, steps: int, seed: int) -> list:
    """``n`` twin episodes in pixel mode (state + two cameras), driven by the noisy expert."""
    from robot_rl_sim import ScriptedExpert, TwinConfig, make_env

    from robot_rl.app.demos import record_expert_episode

    cfg = replace(
        TwinConfig(),
        obs_mode="pixels",
        image_size=image_size,
        cameras=("front", "wrist"),
        max_episode_steps=steps,
    )
    env = make_env(cfg)
    expert = ScriptedExpert(env, noise_std=0.3, seed=seed)  # type: ignore[arg-type]
    episodes = []
    for k in range(n):
        episodes.append(
            record_expert_episode(env, expert, seed=seed + k, source=0, control_hz=10.0)
        )
    env.close()
    return episodes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=200, help="episodes written (timed)")
    parser.add_argument("--twin-episodes", type=int, default=4, help="distinct rendered episodes")
    parser.add_argument("--episode-steps", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--control-hz", type=float, default=10.0)
    parser.add_argument("--dir", type=Path, default=None, help="where the store goes (tmp)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from robot_rl.data.episode_store import EpisodeStore
    from robot_rl.data.replay import ReplayBuffer

    t0 = time.perf_counter()
    source = render_twin_episodes(
        args.twin_episodes, args.image_size, args.episode_steps, args.seed
    )
    print(
        f"rendered {len(source)} twin episodes ({sum(len(e) for e in source)} steps, "
        f"{args.image_size}px x [front, wrist]) in {time.perf_counter() - t0:.1f} s"
    )
    spec = {k: (v.shape[1:], v.dtype) for k, v in source[0].observations.items()}
    action_dim = int(source[0].actions.shape[1])

    parent = Path(tempfile.mkdtemp(prefix="store-bench-", dir=args.dir))
    try:
        store = EpisodeStore.create(parent / "episodes", obs_spec=spec, action_dim=action_dim)
        written = 0
        per_episode: list[float] = []
        start = time.perf_counter()
        for i in range(args.episodes):
            ep = source[i % len(source)]
            t = time.perf_counter()
            store.write_episode(ep)
            per_episode.append(time.perf_counter() - t)
            written += len(ep)
        elapsed = time.perf_counter() - start
        rate = written / elapsed
        headroom = rate / args.control_hz
        on_disk = disk_bytes(parent / "episodes")
        raw = (
            sum(v[:-1].nbytes for v in source[0].observations.values()) / len(source[0])
            + 4 * (action_dim + 1)
            + 8
            + 3
        )
        print(
            f"write: {args.episodes} episodes, {written} transitions in {elapsed:.2f} s = "
            f"{rate:.0f} transitions/s ({headroom:.0f}x the {args.control_hz:g} Hz need); "
            f"per episode median {1e3 * np.median(per_episode):.0f} ms, "
            f"max {1e3 * max(per_episode):.0f} ms"
        )
        print(
            f"disk: {on_disk / 1e6:.1f} MB = {on_disk / written:.0f} B/transition "
            f"(raw {raw:.0f} B/transition, ratio {raw / (on_disk / written):.2f}x)"
        )

        reader = EpisodeStore.open(parent / "episodes")
        start = time.perf_counter()
        buffer = ReplayBuffer(
            spec, action_dim, capacity=written, seed=args.seed, obs_slots=written + args.episodes
        )
        for episode_id in reader.episode_ids():
            buffer.add_episode(reader.read_episode(episode_id))
        rebuild = time.perf_counter() - start
        assert len(buffer) == written, (len(buffer), written)
        per_100k = rebuild * 100_000 / written
        print(
            f"rebuild: {written} transitions read back and added to a ReplayBuffer in "
            f"{rebuild:.2f} s = {per_100k:.0f} s per 100k transitions"
        )
    finally:
        shutil.rmtree(parent, ignore_errors=True)

    result = {
        "write_headroom": round(headroom, 1),
        "write_transitions_per_s": round(rate, 1),
        "needed_transitions_per_s": args.control_hz,
        "write_ms_per_episode_median": round(1e3 * float(np.median(per_episode)), 1),
        "write_ms_per_episode_max": round(1e3 * max(per_episode), 1),
        "bytes_per_transition_on_disk": round(on_disk / written, 1),
        "raw_bytes_per_transition": round(raw, 1),
        "replay_rebuild_s_per_100k": round(per_100k, 1),
        "replay_rebuild_measured_on": (
            f"{written} transitions, state + 2 x {args.image_size}x{args.image_size} cameras, "
            "scaled linearly to 100k"
        ),
        "transitions_written": written,
        "episodes_written": args.episodes,
        "distinct_twin_episodes": len(source),
        "image_size": args.image_size,
        "cameras": ["front", "wrist"],
        "frames": "rendered by the twin (obs_mode=pixels), noisy scripted expert, reused",
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
