"""Interface pieces: input checks, ground truth, RLIF reward, hold filter, metrics."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.rewards import (
    GT_CUBE_HEIGHT,
    GT_GRASPED,
    PREV_INTERVENED,
    GroundTruthReward,
    HoldFilter,
    InterventionReward,
    RewardModel,
    calibrate_threshold,
    detection_metrics,
)
from robot_rl.rewards.base import check_images


def test_ground_truth_needs_lift_and_grasp() -> None:
    model = GroundTruthReward(lift_height=0.05)
    assert isinstance(model, RewardModel)
    out = model.score(
        {
            GT_CUBE_HEIGHT: np.array([0.0, 0.06, 0.06, 0.049], np.float32),
            GT_GRASPED: np.array([True, True, False, True]),
        }
    )
    assert out.success.tolist() == [False, True, False, False]
    assert out.reward.dtype == np.float32 and out.reward.tolist() == [0, 1, 0, 0]


def test_intervention_reward_penalises_takeover_step_only() -> None:
    model = InterventionReward(penalty=2.0)
    flags = np.array([False, True, True, False, True, False])
    rewards = model.episode_rewards(flags)
    assert rewards.tolist() == [0.0, -2.0, 0.0, 0.0, -2.0, 0.0]
    batched = model.score({keys.INTERVENED: np.array([True]), PREV_INTERVENED: np.array([True])})
    assert batched.reward.tolist() == [0.0] and not batched.success.any()
    with pytest.raises(ValueError, match="prev_intervened"):
        model.score({keys.INTERVENED: np.array([True])})
    with pytest.raises(ValueError, match=r"intervention.penalty"):
        InterventionReward(penalty=-1.0)


def test_hold_filter_needs_k_consecutive_steps() -> None:
    seq = np.array([1, 1, 0, 1, 1, 1, 1], dtype=bool)
    assert HoldFilter.apply(seq, 3).tolist() == [False] * 5 + [True, True]
    assert HoldFilter.apply(seq, 1).tolist() == seq.tolist()
    with pytest.raises(ValueError, match="consecutive_steps"):
        HoldFilter(0)


def test_metrics() -> None:
    m = detection_metrics(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 0, 0, 1], bool))
    assert (m.precision, m.recall, m.fpr) == pytest.approx((2 / 3, 1.0, 1 / 3))
    assert m.f1 == pytest.approx(0.8)


def test_calibrated_threshold_meets_target_fpr() -> None:
    rng = np.random.default_rng(0)
    neg = rng.uniform(0, 1, 1000)
    thr = calibrate_threshold(neg, target_fpr=0.01)
    assert np.mean(neg >= thr) <= 0.01
    assert np.mean(neg >= thr - 1e-3) > 0.005  # not needlessly strict
    assert calibrate_threshold(neg * 0.1, target_fpr=0.01, min_threshold=0.5) == 0.5
    assert calibrate_threshold(np.array([0.9]), target_fpr=0.01) > 0.9  # 1 negative: no FP
    with pytest.raises(ValueError, match="negative"):
        calibrate_threshold(np.array([]), target_fpr=0.01)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((2, 8, 8), np.uint8), r"\(B, H, W, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"\(B, H, W, 3\)"),
        (np.zeros((2, 16, 16, 3), np.uint8), "expects 8x8"),
        ([[0]], "numpy array"),
    ],
)
def test_bad_images_name_the_key(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        check_images({"pixels_front": value}, ["pixels_front"], model="m", image_hw=(8, 8))  # type: ignore[dict-item]
    assert "pixels_front" in str(err.value)


def test_missing_or_ragged_keys() -> None:
    with pytest.raises(ValueError, match="lacks 'pixels_wrist'"):
        check_images(
            {"pixels_front": np.zeros((1, 8, 8, 3), np.uint8)}, ["pixels_wrist"], model="m"
        )
    ragged = {
        "pixels_front": np.zeros((2, 8, 8, 3), np.uint8),
        "pixels_wrist": np.zeros((3, 8, 8, 3), np.uint8),
    }
    with pytest.raises(ValueError, match="3 rows"):
        check_images(ragged, ["pixels_front", "pixels_wrist"], model="m")
