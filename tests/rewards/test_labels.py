"""Training labels from episode outcomes only, and exact calibration on float32 probabilities."""

from __future__ import annotations

import numpy as np

from robot_rl.rewards import LabelledFrames, calibrate_threshold
from robot_rl.rewards.frames import GT_LABEL, label_by_outcome


def two_episodes() -> LabelledFrames:
    """Episode 0 succeeds from step 5 of 8; episode 1 lifts at steps 2-3, then fails."""
    truth = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    n = truth.size
    return LabelledFrames(
        images={"pixels_front": np.zeros((n, 4, 4, 3), np.uint8)},  # (N, H, W, 3) uint8
        labels=truth,
        episode=np.array([0] * 8 + [1] * 6),
        step=np.concatenate([np.arange(8), np.arange(6)]),
    )


def test_labels_come_from_the_outcome_not_the_frames() -> None:
    frames = label_by_outcome(two_episodes(), positive_last=2, margin=1)
    ep0 = frames.episode == 0
    assert frames.step[ep0].tolist() == [0, 1, 2, 3, 4, 6, 7]  # step 5 is the margin
    assert frames.labels[ep0].tolist() == [False] * 5 + [True] * 2
    # failed episode: all negatives, even the frames where the twin saw success
    assert not frames.labels[~ep0].any() and frames.extra[GT_LABEL][~ep0].sum() == 2
    assert int(np.sum(frames.labels != frames.extra[GT_LABEL])) == 2  # the label noise


def test_calibration_cuts_float32_probabilities_exactly() -> None:
    negatives = np.array([0.9, 0.8, 0.7] + [0.1] * 97, dtype=np.float32)
    threshold = calibrate_threshold(negatives, target_fpr=0.01)  # one false positive allowed
    assert int(np.sum(negatives >= threshold)) == 1  # 0.8 is cut, also compared in float32
    # negatives another check rejects (state checks) enter as -inf and are never counted
    rejected = np.where(negatives > 0.5, -np.inf, negatives).astype(np.float32)
    assert calibrate_threshold(rejected, target_fpr=0.01, min_threshold=0.5) == 0.5
