"""``robot-rl dataset import-lerobot``: a LeRobotDataset v3 export read back into a store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robot_rl import keys
from robot_rl.cli import main
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore

SPEC = {
    keys.STATE: ((5,), np.dtype(np.float32)),
    "tcp_force": ((3,), np.dtype(np.float32)),
    keys.pixels_key("front"): ((32, 48, 3), np.dtype(np.uint8)),
}


def _image(t: int, seed: int) -> np.ndarray:
    """A smooth frame (gradient + a square that moves): h264 keeps it within a few levels."""
    img = np.zeros((32, 48, 3), np.uint8)
    img[..., 0] = np.linspace(0, 200, 48, dtype=np.uint8)[None, :]
    img[..., 1] = 40 + 20 * seed
    r, c = 4 + (t % 20), 4 + (2 * t + seed) % 36
    img[r : r + 8, c : c + 8, 2] = 230
    return img


def _episode(seed: int, steps: int, *, truncated: bool) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        observations={
            keys.STATE: rng.normal(size=(steps + 1, 5)).astype(np.float32),
            "tcp_force": rng.normal(size=(steps + 1, 3)).astype(np.float32),
            keys.pixels_key("front"): np.stack([_image(t, seed) for t in range(steps + 1)]),
        },
        actions=rng.uniform(-1, 1, (steps, 4)).astype(np.float32),
        rewards=(np.arange(steps) == steps - 1).astype(np.float32) * (0.0 if truncated else 1.0),
        terminated=(np.arange(steps) == steps - 1) & (not truncated),
        truncated=(np.arange(steps) == steps - 1) & truncated,
        intervened=rng.random(steps) < 0.3,
        sources=rng.integers(0, len(keys.SOURCES), steps, dtype=np.uint8),
        timestamps=np.arange(steps + 1, dtype=np.float64) / 10.0,
    )


def test_export_then_import_gives_the_same_episodes(tmp_path: Path) -> None:
    store = EpisodeStore.create(tmp_path / "s", obs_spec=SPEC, action_dim=4, attrs={"task": "t"})
    episodes = [_episode(0, 7, truncated=False), _episode(1, 12, truncated=True),
                _episode(2, 5, truncated=False)]  # fmt: skip
    for ep in episodes:
        store.write_episode(ep)
    assert main(["dataset", "export-lerobot", str(store.path), "--out", str(tmp_path / "le")]) == 0
    assert (
        main(["dataset", "import-lerobot", str(tmp_path / "le"), "--out", str(tmp_path / "b")]) == 0
    )
    back = EpisodeStore.open(tmp_path / "b")
    assert back.obs_spec == SPEC and back.action_dim == 4 and back.attrs["task"] == "t"
    assert len(back) == 3
    for ep, got in zip(episodes, back.iter_episodes()):
        assert len(got) == len(ep)
        for name in ("actions", "rewards", "terminated", "truncated", "intervened", "sources"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ep, name), err_msg=name)
        for key in (keys.STATE, "tcp_force"):  # final observation included
            np.testing.assert_array_equal(got.observations[key], ep.observations[key])
        images = keys.pixels_key("front")
        assert got.observations[images].shape == ep.observations[images].shape
        error = np.abs(got.observations[images].astype(int) - ep.observations[images]).mean()
        assert error < 3.0, error  # lossy h264, as LeRobot stores images
        np.testing.assert_allclose(got.timestamps, ep.timestamps)
        assert got.success == ep.success


def _foreign_dataset(root: Path) -> None:
    """A minimal v3 dataset as another tool writes it: no rewards, no done flags, no video."""
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (root / "data" / "chunk-000").mkdir(parents=True)
    info = {
        "codebase_version": "v3.0", "fps": 30,
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "features": {
            "action": {"dtype": "float32", "shape": [2], "names": None},
            "observation.state": {"dtype": "float32", "shape": [3], "names": None},
        },
    }  # fmt: skip
    (root / "meta" / "info.json").write_text(json.dumps(info))
    lengths = [4, 6]
    n = sum(lengths)
    episode_index = np.repeat(np.arange(2), lengths)
    pq.write_table(
        pa.table({
            "action": [list(r) for r in np.linspace(-1, 1, 2 * n).reshape(n, 2)],
            "observation.state": [list(r) for r in np.arange(3 * n, dtype=float).reshape(n, 3)],
            "index": np.arange(n), "episode_index": episode_index,
        }),
        root / "data" / "chunk-000" / "file-000.parquet",
    )  # fmt: skip
    pq.write_table(
        pa.table({"episode_index": [0, 1], "length": lengths, "tasks": [["push"], ["push"]],
                  "dataset_from_index": [0, 4], "dataset_to_index": [4, 10]}),
        root / "meta" / "episodes" / "chunk-000" / "file-000.parquet",
    )  # fmt: skip


def test_import_of_a_dataset_without_rewards(tmp_path: Path) -> None:
    from robot_rl.data.lerobot_import import import_lerobot

    _foreign_dataset(tmp_path / "le")
    plain = import_lerobot(tmp_path / "le", tmp_path / "plain")
    first = plain.read_episode(plain.episode_ids()[0])
    assert plain.attrs["task"] == "push" and len(first) == 4 and not first.success
    assert first.truncated[-1] and not first.terminated.any() and not first.rewards.any()
    np.testing.assert_array_equal(first.observations[keys.STATE][-1], [9.0, 10.0, 11.0])  # repeated
    demos = import_lerobot(tmp_path / "le", tmp_path / "demos", assume_success=True)
    assert all(ep.success and ep.rewards[-1] == 1.0 for ep in demos.iter_episodes())
    assert demos.info()["transitions"] == 10


def test_import_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "le" / "meta").mkdir(parents=True)
    assert (
        main(["dataset", "import-lerobot", str(tmp_path / "le"), "--out", str(tmp_path / "b")]) == 2
    )
    assert "meta/info.json: not found" in capsys.readouterr().err
    (tmp_path / "le" / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1"}))
    assert (
        main(["dataset", "import-lerobot", str(tmp_path / "le"), "--out", str(tmp_path / "b")]) == 2
    )
    assert "codebase_version 'v2.1'" in capsys.readouterr().err
