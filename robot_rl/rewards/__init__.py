"""Reward models behind one batched interface (see docs/rewards.md).

``RewardModel.score(batch) -> RewardOutput``: uint8 (B, H, W, 3) frames under
``pixels_<camera>`` (+ optional ``state``) in; reward, success probability and success out.
Implementations: ground truth (twin only), trained success classifier, CLIP zero-shot reward
with baseline projection, VLM yes/no judge, and the RLIF intervention reward. CLIP and the
VLM import ``transformers`` lazily, so this package works without it.
"""

from robot_rl.rewards.base import (
    GT_CUBE_HEIGHT,
    GT_GRASPED,
    PREV_INTERVENED,
    DetectionMetrics,
    GroundTruthReward,
    HoldFilter,
    InterventionReward,
    RewardModel,
    RewardOutput,
    detection_metrics,
    ground_truth_batch,
    ranking_auc,
    single_frame_batch,
)
from robot_rl.rewards.classifier import (
    ClassifierConfig,
    ClassifierReward,
    StateCheck,
    calibrate_threshold,
    load_classifier,
    train_classifier,
)
from robot_rl.rewards.clip_reward import ClipReward, ClipRewardConfig
from robot_rl.rewards.config import (
    EnvRewardConfig,
    RewardConfig,
    build_env_reward_model,
    build_reward_model,
)
from robot_rl.rewards.frames import (
    LabelledFrames,
    TwinFramesConfig,
    collect_twin_frames,
    label_by_outcome,
)
from robot_rl.rewards.service import DelayedReward, RewardResult, RewardService, measure_stall
from robot_rl.rewards.vlm_judge import VLMJudge, VLMJudgeConfig

__all__ = [
    "GT_CUBE_HEIGHT",
    "GT_GRASPED",
    "PREV_INTERVENED",
    "ClassifierConfig",
    "ClassifierReward",
    "ClipReward",
    "ClipRewardConfig",
    "DelayedReward",
    "DetectionMetrics",
    "EnvRewardConfig",
    "GroundTruthReward",
    "HoldFilter",
    "InterventionReward",
    "LabelledFrames",
    "RewardConfig",
    "RewardModel",
    "RewardOutput",
    "RewardResult",
    "RewardService",
    "StateCheck",
    "TwinFramesConfig",
    "VLMJudge",
    "VLMJudgeConfig",
    "build_env_reward_model",
    "build_reward_model",
    "calibrate_threshold",
    "collect_twin_frames",
    "detection_metrics",
    "ground_truth_batch",
    "label_by_outcome",
    "load_classifier",
    "measure_stall",
    "ranking_auc",
    "single_frame_batch",
    "train_classifier",
]
