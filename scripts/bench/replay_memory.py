"""Replay memory: bytes per transition with two 128x128 cameras, buffer filled by 50-step episodes.

Streams episodes through the learner's API (start_episode / add_step) past the ring's
wrap-around, then reports the buffer's own accounting (preallocated bytes / capacity), the
resident memory actually added per stored transition, and the time to sample a batch.

    .venv/bin/python scripts/bench/replay_memory.py --capacity 10000

Prints human lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--capacity", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--episode-steps", type=int, default=50)
    parser.add_argument("--state-dim", type=int, default=20)
    parser.add_argument("--action-dim", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1024, help="utd 4 x 256")
    args = parser.parse_args()

    from robot_rl.data.replay import ReplayBuffer

    size = args.image_size
    spec = {
        "state": ((args.state_dim,), np.dtype(np.float32)),
        "pixels_front": ((size, size, 3), np.dtype(np.uint8)),
        "pixels_wrist": ((size, size, 3), np.dtype(np.uint8)),
    }
    rng = np.random.default_rng(0)
    # A pool of distinct frames (random bytes: nothing compresses), cycled through episodes.
    pool = [
        {
            k: rng.integers(0, 256, s, dtype=np.uint8)
            if d == np.uint8
            else rng.standard_normal(s).astype(np.float32)
            for k, (s, d) in spec.items()
        }
        for _ in range(64)
    ]
    before = rss_bytes()
    buffer = ReplayBuffer(spec, args.action_dim, args.capacity, seed=0)
    steps = args.episode_steps
    episodes = int(1.2 * args.capacity / steps) + 1  # past wrap-around
    started = time.perf_counter()
    frame = 0
    for _ in range(episodes):
        buffer.start_episode(pool[frame % 64])
        frame += 1
        for t in range(steps):
            action = rng.uniform(-1, 1, args.action_dim).astype(np.float32)
            buffer.add_step(action, 0.0, pool[frame % 64], t == steps - 1, False, source=0)
            frame += 1
    fill_s = time.perf_counter() - started
    grown = rss_bytes() - before
    frame_bytes = 2 * size * size * 3

    buffer.sample(args.batch_size)
    started = time.perf_counter()
    for _ in range(10):
        buffer.sample(args.batch_size)
    sample_ms = (time.perf_counter() - started) / 10 * 1e3

    result = {
        "image_size": size,
        "cameras": 2,
        "capacity": args.capacity,
        "obs_slots": buffer.slots,
        "transitions_stored": len(buffer),
        "episodes_written": episodes,
        "bytes_per_transition": round(buffer.bytes_per_transition(), 1),
        "rss_bytes_per_stored_transition": round(grown / len(buffer), 1),
        "frame_bytes_two_cameras": frame_bytes,
        "fill_steps_per_s": round(episodes * steps / fill_s, 1),
        "sample_ms": {str(args.batch_size): round(sample_ms, 2)},
    }
    kb = result["bytes_per_transition"]
    print(
        f"bytes per transition: {kb:.0f} B = {kb / 1000:.1f} kB = {kb / 1024:.1f} KiB "
        f"(two frames alone: {frame_bytes} B)"
    )
    print(
        f"resident memory per stored transition: {result['rss_bytes_per_stored_transition']:.0f} B"
    )
    print(
        f"stored {len(buffer)} transitions of capacity {args.capacity} in {buffer.slots} obs slots"
    )
    print(
        f"fill {result['fill_steps_per_s']:.0f} steps/s; sample {args.batch_size}: {sample_ms:.1f} ms"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
