"""A full disk mid-run: a clear error, no further command to the arm, nothing committed lost.

The disk is a real 1 MiB tmpfs (needs the mount privilege; CI runs as root). Its last free
bytes are taken by a filler file, so the episode writer meets a real ENOSPC.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.config import from_dict
from robot_rl.data.async_writer import BackgroundEpisodeWriter
from robot_rl.data.episode_store import TMP_PREFIX, EpisodeStore, EpisodeStoreError
from robot_rl.data.store_tools import verify_store
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.transport import InProcessTransport


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (not root?): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class CountingEnv(gym.Wrapper):
    """Counts the commands that reached the arm."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.commands = 0

    def step(self, action):  # type: ignore[no-untyped-def]
        self.commands += 1
        return self.env.step(action)


def test_disk_full_stops_the_arm_with_a_clear_error_and_keeps_committed(
    small_disk: Path,
) -> None:
    config = from_dict(
        RunConfig,
        {"env": {"obs_mode": "state", "max_episode_steps": 10}, "sac": {"hidden_dims": [16]}},
    )
    env = CountingEnv(make_env(config, seed=0))
    spec, action_dim = env_spec(env)
    store = EpisodeStore.create(small_disk / "episodes", obs_spec=spec, action_dim=action_dim)
    # Leave room for a few episodes only (each is a handful of small zarr files).
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / f"filler-{uuid.uuid4().hex}").write_bytes(b"\0" * max(0, free - 96 * 1024))
    writer = BackgroundEpisodeWriter(store)
    actor_end, _learner_end = InProcessTransport.pair()
    actor = Actor(
        env, make_policy(config, spec, action_dim), actor_end, config_hash="h", seed=0,
        store=writer,
    )  # fmt: skip
    commands_when_failed: list[int] = []
    original = store.write_episode

    def write_and_note(ep):  # type: ignore[no-untyped-def]
        try:
            return original(ep)
        except EpisodeStoreError:
            commands_when_failed.append(env.commands)
            raise

    store.write_episode = write_and_note  # type: ignore[method-assign]
    with pytest.raises(EpisodeStoreError, match="disk full") as caught:
        actor.run(100_000)
    assert str(small_disk / "episodes") in str(caught.value)
    assert commands_when_failed, "the disk never filled up"
    # The failed write is noticed before the next command: at most the step that was
    # already under way when the writer thread failed reaches the arm.
    assert env.commands - commands_when_failed[0] <= 1
    assert actor.stats.env_steps < 100_000
    report = verify_store(small_disk / "episodes")
    assert report["episodes"] >= 1 and report["damaged"] == [] and report["incomplete"] == []
    assert report["ok"] == report["episodes"]
    assert not [
        p for p in (small_disk / "episodes" / "episodes").iterdir() if p.name.startswith(TMP_PREFIX)
    ]
