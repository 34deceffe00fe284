"""EpisodeStore on real files: round trip, versioning, atomic commits, crashes, concurrency, damage.

This file is also the writer process of the crash and concurrency tests:
``python test_episode_store.py STORE FIRST_SEED COUNT`` appends COUNT episodes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import SCHEMA_VERSION, EpisodeStore, EpisodeStoreError
from robot_rl.envs.spec import ObsSpec

IMAGE = (64, 64, 3)
SPEC: ObsSpec = {
    keys.STATE: ((7,), np.dtype(np.float32)),
    keys.pixels_key("front"): (IMAGE, np.dtype(np.uint8)),
    keys.pixels_key("wrist"): (IMAGE, np.dtype(np.uint8)),
}
ACTION_DIM = 4


def make_episode(seed: int, *, length: int | None = None) -> Episode:
    """A deterministic episode of the SPEC; its info["seed"] lets a reader rebuild it."""
    rng = np.random.default_rng(seed)
    steps = 5 + seed % 23 if length is None else length
    observations = {
        key: (
            rng.integers(0, 256, (steps + 1, *shape), dtype=np.uint8)
            if keys.is_image_key(key)
            else rng.normal(size=(steps + 1, *shape)).astype(np.float32)
        )
        for key, (shape, _) in SPEC.items()
    }
    return Episode(
        observations=observations,
        actions=rng.uniform(-1, 1, (steps, ACTION_DIM)).astype(np.float32),
        rewards=rng.normal(size=steps).astype(np.float32),
        terminated=np.arange(steps) == steps - 1,
        truncated=np.zeros(steps, dtype=bool),
        intervened=rng.random(steps) < 0.3,
        sources=rng.integers(0, len(keys.SOURCES), steps, dtype=np.uint8),
        timestamps=np.arange(steps + 1, dtype=np.float64) * 0.1,
        info={"seed": seed, "task": "pick_cube", keys.SUCCESS: bool(seed % 2)},
    )


def assert_same(a: Episode, b: Episode) -> None:
    assert a.observations.keys() == b.observations.keys()
    for key in a.observations:
        np.testing.assert_array_equal(a.observations[key], b.observations[key], err_msg=key)
        assert a.observations[key].dtype == b.observations[key].dtype
    for name in (
        "actions",
        "rewards",
        "terminated",
        "truncated",
        "intervened",
        "sources",
        "timestamps",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert a.info == b.info


def assert_intact(store: EpisodeStore) -> int:
    """Every listed episode equals the one its seed rebuilds; returns how many were checked."""
    ids = store.episode_ids()
    for episode_id in ids:
        episode = store.read_episode(episode_id)
        assert_same(episode, make_episode(int(episode.info["seed"])))
    return len(ids)


def writer_process(store: Path, first_seed: int, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, str(store), str(first_seed), str(count)])


@pytest.fixture
def store(tmp_path: Path) -> EpisodeStore:
    return EpisodeStore.create(
        tmp_path / "episodes", obs_spec=SPEC, action_dim=ACTION_DIM, attrs={"task": "pick_cube"}
    )


def test_round_trip_and_info(store: EpisodeStore) -> None:
    episodes = [make_episode(seed, length=n) for seed, n in [(1, 3), (2, 40), (3, 17), (4, 0)]]
    assert [store.write_episode(ep) for ep in episodes] == [0, 1, 2, 3]
    reader = EpisodeStore.open(store.path)
    assert len(reader) == 4 and reader.episode_ids() == [0, 1, 2, 3]
    for episode_id, expected in enumerate(episodes):
        assert_same(reader.read_episode(episode_id), expected)
    assert [len(ep) for ep in reader.iter_episodes()] == [3, 40, 17, 0]
    assert reader.obs_spec == SPEC and reader.action_dim == ACTION_DIM
    assert reader.attrs == {"task": "pick_cube"}
    summary = reader.info()
    assert summary["episodes"] == 4 and summary["transitions"] == 60 and summary["successes"] == 2
    assert summary["bytes_on_disk"] > 0
    with pytest.raises(EpisodeStoreError, match="read-only"):
        reader.write_episode(episodes[0])


def test_set_episode_info_updates_labels_and_success(store: EpisodeStore) -> None:
    store.write_episode(make_episode(2))  # success False
    store.set_episode_info(0, success=True, label="grasp_slip", reward_model_score=np.float32(0.25))
    episode = EpisodeStore.open(store.path).read_episode(0)
    assert episode.info["label"] == "grasp_slip" and episode.info["reward_model_score"] == 0.25
    assert episode.success and store.info()["successes"] == 1
    with pytest.raises(EpisodeStoreError, match="info\\['bad'\\]"):
        store.set_episode_info(0, bad=[1, 2])
    with pytest.raises(EpisodeStoreError, match="no committed episode 7"):
        store.set_episode_info(7, label="x")


def test_schema_version_mismatch_and_non_store_paths(store: EpisodeStore, tmp_path: Path) -> None:
    meta_path = store.path / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["schema_version"] = SCHEMA_VERSION + 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(
        EpisodeStoreError, match=f"schema_version {SCHEMA_VERSION + 1}.*{SCHEMA_VERSION}"
    ) as err:
        EpisodeStore.open(store.path)
    assert str(store.path) in str(err.value)
    with pytest.raises(EpisodeStoreError, match="not an episode store"):
        EpisodeStore.open(tmp_path / "nowhere")
    with pytest.raises(EpisodeStoreError, match="not an empty directory"):
        EpisodeStore.create(store.path, obs_spec=SPEC, action_dim=ACTION_DIM)


def test_create_exist_ok_reopens_matching_store(store: EpisodeStore) -> None:
    store.write_episode(make_episode(1))
    again = EpisodeStore.create(store.path, obs_spec=SPEC, action_dim=ACTION_DIM, exist_ok=True)
    assert again.write_episode(make_episode(2)) == 1
    with pytest.raises(EpisodeStoreError, match="action_dim"):
        EpisodeStore.create(store.path, obs_spec=SPEC, action_dim=7, exist_ok=True)


def test_spec_mismatch_names_the_key(store: EpisodeStore) -> None:
    episode = make_episode(1)
    episode.observations["pixels_wrist"] = episode.observations["pixels_wrist"][:, :32]
    with pytest.raises(EpisodeStoreError, match="pixels_wrist"):
        store.write_episode(episode)
    episode = make_episode(1)
    episode.observations["pixels_side"] = episode.observations.pop("pixels_front")
    with pytest.raises(EpisodeStoreError, match=r"pixels_front.*pixels_side"):
        store.write_episode(episode)
    episode = make_episode(1)
    episode.observations["state"] = episode.observations["state"].astype(np.float64)
    with pytest.raises(EpisodeStoreError, match="state"):
        store.write_episode(episode)
    episode = make_episode(1)
    episode.rewards = episode.rewards[:-1]
    with pytest.raises(EpisodeStoreError, match="rewards"):
        store.write_episode(episode)
    assert len(store) == 0 and os.listdir(store.path / "episodes") == ["zarr.json"]


def test_uncommitted_tmp_group_is_invisible_and_cleaned(store: EpisodeStore) -> None:
    store.write_episode(make_episode(1))
    stale = store.path / "episodes" / ".tmp-deadbeef"
    (stale / "obs").mkdir(parents=True)
    (stale / "zarr.json").write_text("{}")
    assert store.episode_ids() == [0] and len(EpisodeStore.open(store.path)) == 1
    assert store.cleanup_incomplete() == []  # too young: could be a live writer
    assert store.cleanup_incomplete(min_age_s=0) == [".tmp-deadbeef"]
    assert not stale.exists() and store.write_episode(make_episode(2)) == 1


def test_sigkill_during_writes_leaves_only_intact_episodes(store: EpisodeStore) -> None:
    rng = np.random.default_rng()
    seen_tmp = False
    for round_ in range(3):
        start = len(store)
        proc = writer_process(store.path, first_seed=1000 * round_, count=10**6)
        deadline = time.monotonic() + 20
        while len(store) < start + 2:
            assert proc.poll() is None and time.monotonic() < deadline, "writer died or stalled"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))  # kill at a random point of some episode's write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen_tmp |= any(p.name.startswith(".tmp-") for p in (store.path / "episodes").iterdir())
        reopened = EpisodeStore.open(store.path, mode="a")
        assert assert_intact(reopened) >= start + 2
    reopened.cleanup_incomplete(min_age_s=0)
    assert [p.name for p in (store.path / "episodes").iterdir() if p.name.startswith(".tmp-")] == []
    assert reopened.write_episode(make_episode(5)) == len(reopened) - 1
    print(f"tmp group left by a killed writer: {seen_tmp}")


def test_reader_sees_only_whole_episodes_while_another_process_appends(store: EpisodeStore) -> None:
    count = 12
    proc = writer_process(store.path, first_seed=0, count=count)
    reader = EpisodeStore.open(store.path)
    counts = []
    while proc.poll() is None:
        counts.append(assert_intact(reader))
    assert proc.returncode == 0
    assert assert_intact(reader) == count and len(reader) == count
    assert counts == sorted(counts) and len(set(counts)) > 1, counts  # reads overlapped the writes


def test_two_writers_never_share_an_id(store: EpisodeStore) -> None:
    procs = [writer_process(store.path, first_seed=100 * k, count=8) for k in (1, 2)]
    assert [p.wait() for p in procs] == [0, 0]
    assert store.episode_ids() == list(range(16))
    assert sorted(int(ep.info["seed"]) for ep in store.iter_episodes()) == [
        *range(100, 108),
        *range(200, 208),
    ]


def test_damaged_chunk_names_episode_and_others_still_read(store: EpisodeStore) -> None:
    for seed in (1, 2, 3):
        store.write_episode(make_episode(seed, length=20))
    chunk = store.path / "episodes" / "ep_000001" / "obs" / "pixels_front" / "c.1.0.0.0"
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])  # truncated mid-write
    with pytest.raises(EpisodeStoreError, match=r"episode 1 is damaged: array 'pixels_front'"):
        store.read_episode(1)
    assert_same(store.read_episode(0), make_episode(1, length=20))
    assert_same(store.read_episode(2), make_episode(3, length=20))
    # A chunk file that is gone would read as zeros in plain zarr; the store reports it.
    (store.path / "episodes" / "ep_000002" / "rewards" / "c.0").unlink()
    with pytest.raises(EpisodeStoreError, match=r"episode 2.*rewards"):
        store.read_episode(2)
    assert store.info()["episodes"] == 3  # summaries need only attrs


def _append(path: Path, first_seed: int, count: int) -> None:
    store = EpisodeStore.open(path, mode="a")
    for seed in range(first_seed, first_seed + count):
        store.write_episode(make_episode(seed))


if __name__ == "__main__":
    _append(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
