"""The RewardModel interface, input checks, and the two models that need no network.

A reward model is batched: a mapping of ``(B, ...)`` arrays in (camera frames as uint8
``(B, H, W, 3)`` under ``pixels_<camera>``, optionally ``state`` float32 ``(B, D)``), and one
:class:`RewardOutput` out: reward, success probability and success decision per row.

- :class:`GroundTruthReward` reads the twin's simulator state (``gt_cube_height`` in m,
  ``gt_grasped``); it exists for evaluation and CI baselines and is never available on a robot.
- :class:`InterventionReward` is RLIF's reward: ``-penalty`` at the step a human takes over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from robot_rl import keys

# Ground-truth fields of a frame batch (twin only); written by rewards.frames, read here.
GT_CUBE_HEIGHT = "gt_cube_height"  # (B,) float32, cube lift above its rest height (m)
GT_GRASPED = "gt_grasped"  # (B,) bool, both fingers touch the cube
PREV_INTERVENED = "prev_intervened"  # (B,) bool, `intervened` flag of the step before

Batch = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class RewardOutput:
    """What a reward model says about a batch of B frames."""

    reward: np.ndarray  # (B,) float32
    success_prob: np.ndarray  # (B,) float32 in [0, 1]
    success: np.ndarray  # (B,) bool, success_prob >= the model's calibrated threshold

    def __len__(self) -> int:
        return int(self.reward.shape[0])

    def row(self, i: int) -> tuple[float, float, bool]:
        """(reward, success_prob, success) of row ``i``."""
        return float(self.reward[i]), float(self.success_prob[i]), bool(self.success[i])


@runtime_checkable
class RewardModel(Protocol):
    """Batched frames (+ optional state) in, reward and success probability out."""

    name: str
    """Short model name for metrics and reports ("classifier", "clip", ...)."""
    required_keys: tuple[str, ...]
    """Batch keys that :meth:`score` reads."""

    def score(self, batch: Batch) -> RewardOutput:
        """Score B frames; raises ValueError naming a missing or malformed batch key."""
        ...


def batch_size_of(batch: Batch, required: Sequence[str], *, model: str) -> int:
    """Common leading size of the required batch entries; errors name the key."""
    size: int | None = None
    for key in required:
        if key not in batch:
            raise ValueError(f"{model}: batch lacks {key!r} (got keys {sorted(batch)})")
        arr = batch[key]
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"{model}: batch[{key!r}] must be a numpy array, got {type(arr)}")
        if arr.ndim == 0:
            raise ValueError(f"{model}: batch[{key!r}] must have a batch dimension, got a scalar")
        if size is None:
            size = int(arr.shape[0])
        elif arr.shape[0] != size:
            raise ValueError(
                f"{model}: batch[{key!r}] has {arr.shape[0]} rows, other keys have {size}"
            )
    if size is None:
        raise ValueError(f"{model}: no batch keys required")
    return size


def check_images(
    batch: Batch,
    image_keys: Sequence[str],
    *,
    model: str,
    image_hw: tuple[int, int] | None = None,
) -> int:
    """Check uint8 (B, H, W, 3) frames under ``image_keys``; returns B. Errors name the key."""
    size = batch_size_of(batch, image_keys, model=model)
    for key in image_keys:
        arr = batch[key]
        if arr.dtype != np.uint8:
            raise ValueError(f"{model}: batch[{key!r}] must be uint8 images, got dtype {arr.dtype}")
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f"{model}: batch[{key!r}] must be (B, H, W, 3), got shape {arr.shape}")
        if image_hw is not None and tuple(arr.shape[1:3]) != tuple(image_hw):
            raise ValueError(
                f"{model}: batch[{key!r}] frames are {arr.shape[1]}x{arr.shape[2]} px, "
                f"the model expects {image_hw[0]}x{image_hw[1]}"
            )
    return size


def single_frame_batch(obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A batch of one from one observation (adds the leading axis, no copy)."""
    return {k: np.asarray(v)[None] for k, v in obs.items()}


class HoldFilter:
    """Success only after it held ``k`` consecutive steps (one per episode stream)."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"consecutive_steps must be >= 1, got {k}")
        self.k = k
        self._run = 0

    def reset(self) -> None:
        """Start a new episode."""
        self._run = 0

    def update(self, success: bool) -> bool:
        """Feed the per-frame decision of the next step; True once it held k steps."""
        self._run = self._run + 1 if success else 0
        return self._run >= self.k

    @staticmethod
    def apply(success: np.ndarray, k: int) -> np.ndarray:
        """Filter a (T,) bool sequence of one episode in time order."""
        filt = HoldFilter(k)
        return np.array([filt.update(bool(s)) for s in success], dtype=bool)


class GroundTruthReward:
    """Twin-only: success = cube lifted >= ``lift_height`` m and grasped (the twin's own rule)."""

    name = "ground_truth"
    required_keys: tuple[str, ...] = (GT_CUBE_HEIGHT, GT_GRASPED)

    def __init__(self, *, lift_height: float = 0.05) -> None:
        self.lift_height = lift_height

    def score(self, batch: Batch) -> RewardOutput:
        """Reward 1.0 on success frames, else 0.0."""
        batch_size_of(batch, self.required_keys, model=self.name)
        success = (np.asarray(batch[GT_CUBE_HEIGHT]) >= self.lift_height) & np.asarray(
            batch[GT_GRASPED], dtype=bool
        )
        prob = success.astype(np.float32)
        return RewardOutput(reward=prob.copy(), success_prob=prob, success=success)


def ground_truth_batch(env: object) -> dict[str, np.ndarray]:
    """Batch of one with the twin env's ground-truth fields (``env.unwrapped.ground_truth()``)."""
    gt = env.unwrapped.ground_truth()  # type: ignore[attr-defined]
    return {
        GT_CUBE_HEIGHT: np.array([gt["cube_height"]], dtype=np.float32),
        GT_GRASPED: np.array([bool(gt["grasped"])]),
    }


class InterventionReward:
    """RLIF: reward ``-penalty`` at the step where a human takes over, 0 otherwise.

    Batched and stateless: each row needs its own ``intervened`` flag and the flag of the step
    before it (``prev_intervened``, False at t = 0). ``episode_rewards`` does the shift for a
    whole episode. Success is never claimed (probability 0).
    """

    name = "intervention"
    required_keys: tuple[str, ...] = (keys.INTERVENED, PREV_INTERVENED)

    def __init__(self, *, penalty: float = 1.0) -> None:
        if penalty < 0:
            raise ValueError(f"intervention.penalty must be >= 0, got {penalty}")
        self.penalty = penalty

    def score(self, batch: Batch) -> RewardOutput:
        """-penalty where ``intervened & ~prev_intervened``."""
        size = batch_size_of(batch, self.required_keys, model=self.name)
        now = np.asarray(batch[keys.INTERVENED])
        before = np.asarray(batch[PREV_INTERVENED])
        for key, arr in ((keys.INTERVENED, now), (PREV_INTERVENED, before)):
            if arr.dtype != np.bool_ or arr.shape != (size,):
                raise ValueError(
                    f"{self.name}: batch[{key!r}] must be bool ({size},), got {arr.dtype} {arr.shape}"
                )
        takeover = now & ~before
        reward = np.where(takeover, -self.penalty, 0.0).astype(np.float32)
        zeros = np.zeros(size, dtype=np.float32)
        return RewardOutput(reward=reward, success_prob=zeros, success=np.zeros(size, bool))

    def episode_rewards(self, intervened: np.ndarray) -> np.ndarray:
        """(T,) float32 rewards of one episode from its (T,) bool ``intervened`` flags."""
        flags = np.asarray(intervened, dtype=bool)
        prev = np.concatenate([[False], flags[:-1]])
        return self.score({keys.INTERVENED: flags, PREV_INTERVENED: prev}).reward


@dataclass(frozen=True)
class DetectionMetrics:
    """Frame-level success detection against ground truth."""

    precision: float
    recall: float
    f1: float
    fpr: float
    """False-positive rate: predicted success on ground-truth failure frames / failure frames."""
    positives: int
    negatives: int

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready dict (rounded to 4 decimals)."""
        return {
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "fpr": round(self.fpr, 4),
            "positives": self.positives,
            "negatives": self.negatives,
        }


def detection_metrics(predicted: np.ndarray, truth: np.ndarray) -> DetectionMetrics:
    """Precision, recall, F1 and FPR of (N,) bool predictions against (N,) bool truth."""
    pred = np.asarray(predicted, dtype=bool)
    true = np.asarray(truth, dtype=bool)
    if pred.shape != true.shape:
        raise ValueError(f"predicted shape {pred.shape} != truth shape {true.shape}")
    tp = int(np.sum(pred & true))
    fp = int(np.sum(pred & ~true))
    fn = int(np.sum(~pred & true))
    neg = int(np.sum(~true))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DetectionMetrics(
        precision=precision,
        recall=recall,
        f1=f1,
        fpr=fp / neg if neg else 0.0,
        positives=int(np.sum(true)),
        negatives=neg,
    )


def ranking_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve of (N,) scores against (N,) bool truth (ties count half).

    The chance that a random positive scores above a random negative: unlike F1 or FPR at one
    threshold, it does not move with where a small calibration split puts the threshold.
    """
    score = np.asarray(scores, dtype=np.float64)
    true = np.asarray(truth, dtype=bool)
    if score.shape != true.shape:
        raise ValueError(f"scores shape {score.shape} != truth shape {true.shape}")
    pos, neg = score[true], score[~true]
    if not len(pos) or not len(neg):
        raise ValueError("truth: ranking_auc needs at least one positive and one negative")
    above = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(above / (len(pos) * len(neg)))
