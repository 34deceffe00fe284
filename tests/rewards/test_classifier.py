"""Success classifier: learns separable frames and the twin task; calibration; files; errors."""

from __future__ import annotations

import dataclasses
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
    ranking_auc,
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
@pytest.mark.learning
def test_learns_the_twin_task(learn_seed: int, record_figure: Callable[..., None]) -> None:
    """Expert, noisy, dropping and random episodes at 64 px; labels are ground-truth success.

    Asserts the ranking (ROC AUC on held-out episodes), not F1 or FPR at one threshold: with
    ~25 held-out positives and a threshold set on a calibration split of ~6 episodes, the F1 at
    0.5 moved from 0.60 to 0.97 between seeds of one machine, and a machine of this kind whose
    float kernels differ failed an F1 >= 0.8 bound in 4 of 4 runs. Measured on 2 cores (data
    seeds 3..10 x classifier seeds {data seed, 100} x MUJOCO_GL egl and osmesa, 32 runs, and
    `make test-repeat`): held-out AUC worst 0.935, median 0.998; F1 at 0.5 worst 0.60.
    Bound: AUC >= 0.85, a margin of 0.085 under the worst case; an untrained net scores about
    0.5 (checked). EGL and OSMesa gave identical frames and figures here.
    """
    pytest.importorskip("robot_rl_sim")
    seed = 3 + learn_seed
    frames = collect_twin_frames(
        TwinFramesConfig(
            episodes=30,
            cameras=("front",),
            noisy_fraction=0.2,
            drop_fraction=0.1,
            random_fraction=0.1,
            max_steps=20,
            hold_steps=4,
            seed=seed,
        )
    )
    assert frames.labels.sum() >= 40 and (~frames.labels).sum() >= 200
    assert set(np.unique(frames.extra["kind"])) >= {0, 1}
    train, held_out = frames.split_by_episode(0.25, seed=0)
    config = small_config(
        image_size=64,
        encoder=EncoderConfig(
            conv_channels=(16,) * 4, conv_strides=(2,) * 4, latent_dim=32, drq_pad=4
        ),
        hidden_dim=64,
        batch_size=64,
        train_steps=600,
        learning_rate=1e-3,
        calibration_fraction=0.2,
        seed=seed,
    )
    untrained, _ = train_classifier(train, dataclasses.replace(config, train_steps=1))
    model, report = train_classifier(train, config)
    batch = held_out.batch()
    auc = ranking_auc(model.probabilities(batch), held_out.labels)
    chance = ranking_auc(untrained.probabilities(batch), held_out.labels)
    record_figure("held_out_auc", auc, bound=0.85)
    assert auc >= 0.85 and auc > chance + 0.2, (auc, chance, report)
    # The calibrated threshold keeps the calibration split's FPR at the target (by construction)
    assert report["calibration_fpr"] <= config.target_fpr, report
