"""Fixtures for reward tests: separable synthetic frames and tiny offline CLIP / VLM models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robot_rl.rewards.frames import LabelledFrames


def square_frames(episodes: int, steps: int, *, size: int = 32, seed: int = 0) -> LabelledFrames:
    """Episodes of noisy dark frames; from the middle on, a bright 8 px square appears."""
    rng = np.random.default_rng(seed)
    n = episodes * steps
    images = rng.integers(0, 60, (n, size, size, 3), dtype=np.uint8)  # (N, H, W, 3) uint8
    step = np.tile(np.arange(steps), episodes)
    labels = step >= steps // 2
    for i in np.flatnonzero(labels):
        r, c = rng.integers(0, size - 8, 2)
        images[i, r : r + 8, c : c + 8] = 230
    return LabelledFrames(
        images={"pixels_front": images},
        labels=labels,
        episode=np.repeat(np.arange(episodes), steps),
        step=step,
        state=rng.normal(size=(n, 4)).astype(np.float32),
    )


@pytest.fixture
def make_square_frames() -> Callable[..., LabelledFrames]:
    """Factory of separable synthetic frame sets."""
    return square_frames


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP model directory (skips without transformers)."""
    pytest.importorskip("transformers", reason="CLIP reward tests need transformers installed")
    from robot_rl.rewards.tiny import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaVA-style VLM directory (skips without transformers)."""
    pytest.importorskip("transformers", reason="VLM judge tests need transformers installed")
    from robot_rl.rewards.tiny import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))


@pytest.fixture(scope="session")
def twin_classifier_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny success classifier trained on twin frames (32 px front camera), outcome labels."""
    pytest.importorskip("robot_rl_sim")
    from robot_rl.agents.encoders import EncoderConfig
    from robot_rl.rewards import ClassifierConfig, TwinFramesConfig, train_classifier
    from robot_rl.rewards.frames import collect_twin_frames, label_by_outcome

    frames = collect_twin_frames(
        TwinFramesConfig(
            episodes=8,
            image_size=32,
            cameras=("front",),
            noisy_fraction=0.0,
            drop_fraction=0.0,
            random_fraction=0.25,
            max_steps=20,
            hold_steps=3,
            seed=5,
        )
    )
    frames = label_by_outcome(frames, positive_last=4, margin=1)
    config = ClassifierConfig(
        cameras=("front",),
        image_size=32,
        encoder=EncoderConfig(
            conv_channels=(8, 8, 8), conv_strides=(2, 2, 1), latent_dim=16, drq_pad=2
        ),
        hidden_dim=32,
        train_steps=60,
        batch_size=32,
        target_fpr=0.05,
    )
    model, report = train_classifier(frames, config)
    path = tmp_path_factory.mktemp("twin_classifier") / "classifier.safetensors"
    model.save(path, report=report)
    return path
