"""Score reward models on held-out labelled frames and compare them with the labels."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from robot_rl.rewards.base import RewardModel, detection_metrics
from robot_rl.rewards.frames import LabelledFrames


def evaluate_models(
    models: Mapping[str, RewardModel], frames: LabelledFrames, *, batch_size: int = 64
) -> tuple[dict[str, dict[str, float | int]], dict[str, np.ndarray]]:
    """(metrics per model, (N,) success probabilities per model) on ``frames``.

    Metrics are frame-level precision, recall, F1, FPR of the model's own success decision
    against ``frames.labels``, plus the mean scoring time per frame (ms).
    """
    metrics: dict[str, dict[str, float | int]] = {}
    probs: dict[str, np.ndarray] = {}
    for name, model in models.items():
        success = np.zeros(len(frames), dtype=bool)
        prob = np.zeros(len(frames), dtype=np.float32)
        start = time.perf_counter()
        for lo in range(0, len(frames), batch_size):
            out = model.score(frames.batch(slice(lo, lo + batch_size)))
            success[lo : lo + batch_size] = out.success
            prob[lo : lo + batch_size] = out.success_prob
        ms = (time.perf_counter() - start) * 1e3 / max(len(frames), 1)
        metrics[name] = {
            **detection_metrics(success, frames.labels).as_dict(),
            "ms_per_frame": round(ms, 3),
        }
        probs[name] = prob
    return metrics, probs
