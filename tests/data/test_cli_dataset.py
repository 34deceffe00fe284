"""``robot-rl dataset``: info, verify (names a damaged episode), video, LeRobot v3 export."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_episode_store import ACTION_DIM, SPEC, make_episode

from robot_rl.cli import main
from robot_rl.data.episode_store import EpisodeStore


def test_dataset_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = EpisodeStore.create(tmp_path / "s", obs_spec=SPEC, action_dim=ACTION_DIM)
    for seed in range(3):
        store.write_episode(make_episode(seed, length=6))
    assert main(["dataset", "info", str(store.path)]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 3
    assert main(["dataset", "export-lerobot", str(store.path), "--out", str(tmp_path / "le")]) == 0
    info = json.loads((tmp_path / "le" / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_frames"] == 18
    data = pq.read_table(tmp_path / "le" / "data" / "chunk-000" / "file-000.parquet")
    assert data.num_rows == 18 and "observation.state" in data.column_names
    assert (tmp_path / "le/videos/observation.images.front/chunk-000/file-000.mp4").is_file()
    assert main(["dataset", "video", str(store.path), "--out", str(tmp_path / "v"),
                 "--episode", "1", "--camera", "front"]) == 0  # fmt: skip
    assert (tmp_path / "v" / "ep_000001_front.mp4").stat().st_size > 0
    capsys.readouterr()
    chunk = next((store.path / "episodes" / "ep_000001" / "actions").glob("c.*"))
    chunk.write_bytes(chunk.read_bytes()[:5])
    assert main(["dataset", "verify", str(store.path)]) == 1
    err = capsys.readouterr().err
    assert "DAMAGED episode 1" in err and "ep_000001" in err
