"""Success classifier: learns separable frames and the twin task; calibration; files; errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.agents.encoders import EncoderConfig
from robot_rl.rewards import (
    ClassifierConfig,
    LabelledFrames,
    StateCheck,
    TwinFramesConfig,
    collect_twin_frames,
    detection_metrics,
    load_classifier,
    train_classifier,
)

SMALL = EncoderConfig(conv_channels=(8, 8, 8), conv_strides=(2, 2, 1), latent_dim=16, drq_pad=2)


def small_config(**kw: object) -> ClassifierConfig:
    base = {
        "cameras": ("front",),
        "image_size": 32,
        "encoder": SMALL,
        "hidden_dim": 32,
        "train_steps": 80,
        "batch_size": 32,
        "target_fpr": 0.05,
    }
    return ClassifierConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_learns_separable_task_and_round_trips(
    make_square_frames: Callable[..., LabelledFrames], tmp_path: Path
) -> None:
    frames = make_square_frames(16, 10, seed=0)
    model, report = train_classifier(frames, small_config())
    assert report["calibration_fpr"] <= 0.05
    held_out = make_square_frames(6, 10, seed=1)
    out = model.score(held_out.batch())
    metrics = detection_metrics(out.success, held_out.labels)
    assert metrics.f1 >= 0.95 and metrics.fpr <= 0.05, metrics
    assert out.success_prob.shape == (60,) and out.success_prob.dtype == np.float32
    path = tmp_path / "clf.safetensors"
    model.save(path, report=report)
    again = load_classifier(path)
    assert again.threshold == model.threshold
    np.testing.assert_allclose(
        again.score(held_out.batch()).success_prob, out.success_prob, atol=1e-6
    )


def test_state_checks_and_hold(make_square_frames: Callable[..., LabelledFrames]) -> None:
    frames = make_square_frames(8, 10, seed=0)
    check = StateCheck(index=0, high=0.0, name="state[0] <= 0")
    model, _ = train_classifier(
        frames, small_config(train_steps=5, state_checks=(check,), consecutive_steps=2)
    )
    batch = frames.batch()
    out = model.score(batch)
    assert not out.success[batch[keys.STATE][:, 0] > 0].any()
    with pytest.raises(ValueError, match="'state'"):
        model.score({"pixels_front": batch["pixels_front"]})
    hold = model.hold_filter()
    assert [hold.update(s) for s in (True, True, False, True)] == [False, True, False, False]


def test_bad_inputs_and_files(
    make_square_frames: Callable[..., LabelledFrames], tmp_path: Path
) -> None:
    frames = make_square_frames(6, 6, seed=0)
    model, _ = train_classifier(frames, small_config(train_steps=2))
    with pytest.raises(ValueError, match=r"pixels_front.*uint8"):
        model.score({"pixels_front": np.zeros((1, 32, 32, 3), np.float32)})
    with pytest.raises(ValueError, match="expects 32x32"):
        model.score({"pixels_front": np.zeros((1, 64, 64, 3), np.uint8)})
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=r"nope.safetensors"):
        load_classifier(missing)
    with pytest.raises(ValueError, match="cameras"):
        train_classifier(frames, small_config(cameras=("wrist",)))
    with pytest.raises(ValueError, match="target_fpr"):
        small_config(target_fpr=1.5).validate()
    with pytest.raises(FileNotFoundError, match=r"encoder_weights_path.*resnet.safetensors"):
        bad = EncoderConfig(
            type="pretrained", encoder_weights_path=str(tmp_path / "resnet.safetensors")
        )
        train_classifier(frames, small_config(encoder=bad))


@pytest.mark.twin
def test_learns_the_twin_task() -> None:
    """Expert, noisy, dropping and random episodes at 64 px; labels are ground-truth success."""
    pytest.importorskip("robot_rl_sim")
    frames = collect_twin_frames(
        TwinFramesConfig(
            episodes=22,
            cameras=("front",),
            noisy_fraction=0.2,
            drop_fraction=0.1,
            random_fraction=0.1,
            max_steps=20,
            hold_steps=4,
            seed=3,
        )
    )
    assert frames.labels.sum() >= 30 and (~frames.labels).sum() >= 150
    assert set(np.unique(frames.extra["kind"])) >= {0, 1}
    train, held_out = frames.split_by_episode(0.25, seed=0)
    config = small_config(
        image_size=64,
        encoder=EncoderConfig(
            conv_channels=(16,) * 4, conv_strides=(2,) * 4, latent_dim=16, drq_pad=2
        ),
        train_steps=400,
        learning_rate=3e-3,
        calibration_fraction=0.2,
    )
    model, report = train_classifier(train, config)
    prob = model.probabilities(held_out.batch())
    at_half = detection_metrics(prob >= 0.5, held_out.labels)
    assert at_half.f1 >= 0.8, (at_half, report)
    calibrated = detection_metrics(model.score(held_out.batch()).success, held_out.labels)
    assert calibrated.fpr <= 0.05 and calibrated.precision >= 0.9, (calibrated, report)
