"""``robot-rl reward train|eval`` end to end: store-labelled training, twin evaluation, plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from robot_rl import keys
from robot_rl.cli.common import overrides_parser
from robot_rl.cli.reward import add_reward_commands
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.rewards.frames import frames_from_store


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robot-rl")
    add_reward_commands(p.add_subparsers(dest="command", required=True), overrides_parser())
    return p


def write_store(path: Path, episodes: int, steps: int = 8) -> None:
    """Episodes whose last frames show a bright square when info says success."""
    spec: dict[str, tuple[tuple[int, ...], np.dtype]] = {
        "pixels_front": ((32, 32, 3), np.dtype(np.uint8)),
        keys.STATE: ((3,), np.dtype(np.float32)),
    }
    store = EpisodeStore.create(path, obs_spec=spec, action_dim=2)
    rng = np.random.default_rng(0)
    for i in range(episodes):
        success = i % 3 != 2
        frames = rng.integers(0, 60, (steps + 1, 32, 32, 3), dtype=np.uint8)
        if success:
            frames[-3:, 10:20, 10:20] = 230
        store.write_episode(
            Episode(
                observations={
                    "pixels_front": frames,
                    keys.STATE: np.zeros((steps + 1, 3), np.float32),
                },
                actions=np.zeros((steps, 2), np.float32),
                rewards=np.zeros(steps, np.float32),
                terminated=np.zeros(steps, bool),
                truncated=np.zeros(steps, bool),
                intervened=np.zeros(steps, bool),
                sources=np.zeros(steps, np.uint8),
                timestamps=np.arange(steps + 1, dtype=np.float64),
                info={keys.SUCCESS: success},
            )
        )


def test_store_labels(tmp_path: Path) -> None:
    write_store(tmp_path / "demos", 3)
    frames = frames_from_store(tmp_path / "demos", cameras=("front",), positive_last=3, margin=2)
    first = frames.step[frames.episode == 0]
    assert first.tolist() == [0, 1, 2, 3, 6, 7, 8]  # 4, 5 are the margin
    assert frames.labels[frames.episode == 0].tolist() == [False] * 4 + [True] * 3
    assert not frames.labels[frames.episode == 2].any()  # failed episode: all negatives
    with pytest.raises(ValueError, match="pixels_wrist"):
        frames_from_store(tmp_path / "demos", cameras=("wrist",))


@pytest.mark.twin
def test_train_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_store(tmp_path / "demos", 12)
    config = {
        "type": "classifier",
        "model_path": str(tmp_path / "clf.safetensors"),
        "data": {"twin": None, "stores": [str(tmp_path / "demos")]},
        "classifier": {
            "cameras": ["front"],
            "image_size": 32,
            "encoder": {"conv_channels": [8, 8], "conv_strides": [2, 2], "latent_dim": 8},
            "train_steps": 40,
            "batch_size": 16,
        },
        "eval": {
            "frames": {"episodes": 2, "image_size": 32, "cameras": ["front"], "max_steps": 12}
        },
    }
    path = tmp_path / "reward.yaml"
    path.write_text(yaml.safe_dump(config))
    args = parser().parse_args(["reward", "train", str(path), "--log-every", "0"])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert Path(report["model_path"]).is_file() and 0.5 <= report["threshold"] <= 1.0
    plot = tmp_path / "p.png"
    args = parser().parse_args(["reward", "eval", str(path), "--plot", str(plot)])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["classifier"]) >= {"f1", "precision", "recall", "fpr"}
    assert result["ground_truth"]["fpr"] == 0.0 and plot.stat().st_size > 0


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "reward.yaml"
    path.write_text(yaml.safe_dump({"type": "clip", "clip": {"weights_path": "", "alpha": 0.5}}))
    args = parser().parse_args(["reward", "eval", str(path)])
    with pytest.raises(ValueError, match=r"clip.weights_path"):
        args.func(args)
    path.write_text(yaml.safe_dump({"type": "classifier", "clip": {"alpha": 0.5}}))
    args = parser().parse_args(
        ["reward", "train", str(path), "--set", "classifier.train_steps=lots"]
    )
    with pytest.raises(ValueError, match=r"classifier.train_steps"):
        args.func(args)
