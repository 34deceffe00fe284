"""Reward config (``configs/rewards/*.yaml``) and the table that builds a RewardModel from it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from robot_rl.rewards.base import GroundTruthReward, InterventionReward, RewardModel
from robot_rl.rewards.classifier import ClassifierConfig
from robot_rl.rewards.clip_reward import ClipRewardConfig
from robot_rl.rewards.frames import TwinFramesConfig
from robot_rl.rewards.vlm_judge import VLMJudgeConfig

RewardType = Literal["ground_truth", "classifier", "clip", "vlm", "intervention"]
EnvRewardType = Literal["ground_truth", "classifier", "clip", "vlm"]


@dataclass
class RewardDataConfig:
    """Labelled frames the classifier is trained on."""

    twin: TwinFramesConfig | None = field(default_factory=TwinFramesConfig)
    """Record frames in the twin; null on a robot."""
    twin_labels: Literal["outcome", "ground_truth"] = "outcome"
    """How twin frames are labelled: outcome (each episode's outcome with the
    positive_last / margin rule, what a robot cell can do) or ground_truth (per frame, an
    upper bound no cell has)."""
    stores: tuple[str, ...] = ()
    """Episode stores (demos, labelled online episodes) to take frames from."""
    positive_last: int = 3
    """Last observations of a successful episode that are positives (stores; twin frames
    with outcome labels, where the episode ends twin.hold_steps after success: use
    hold_steps + 1)."""
    margin: int = 2
    """Observations before those that are left out (lift in progress)."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if self.twin is None and not self.stores:
            raise ValueError("data: give data.twin or data.stores (no labelled frames)")
        if self.positive_last < 1 or self.margin < 0:
            raise ValueError("data.positive_last must be >= 1 and data.margin >= 0")


@dataclass
class RewardEvalConfig:
    """Held-out twin episodes with ground truth for ``robot-rl reward eval``."""

    frames: TwinFramesConfig = field(
        default_factory=lambda: TwinFramesConfig(episodes=30, seed=1000)
    )
    """How the held-out frames are recorded (use a seed the training data did not)."""


@dataclass
class RewardConfig:
    """Which reward model, its settings, and where its training data comes from."""

    type: RewardType = "classifier"
    """ground_truth (twin only), classifier, clip, vlm or intervention."""
    model_path: str = "runs/rewards/classifier.safetensors"
    """Trained classifier file: written by ``reward train``, read by the classifier reward."""
    lift_height: float = 0.05
    """Ground-truth success lift (m), twin only."""
    intervention_penalty: float = 1.0
    """RLIF reward at the step a human takes over is -intervention_penalty."""
    data: RewardDataConfig = field(default_factory=RewardDataConfig)
    """Training frames for the classifier."""
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    """Classifier network, training and calibration."""
    clip: ClipRewardConfig = field(default_factory=ClipRewardConfig)
    """CLIP zero-shot reward (type clip)."""
    vlm: VLMJudgeConfig = field(default_factory=VLMJudgeConfig)
    """VLM judge (type vlm)."""
    eval: RewardEvalConfig = field(default_factory=RewardEvalConfig)
    """Held-out evaluation frames."""
    device: str = "cpu"
    """Torch device for training and inference."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field (sub-blocks of other types are not checked)."""
        if self.type == "clip":
            self.clip.validate()
            if not self.clip.weights_path:
                raise ValueError("clip.weights_path: a local CLIP model directory is required")
        elif self.type == "vlm":
            self.vlm.validate()
            if not self.vlm.weights_path:
                raise ValueError("vlm.weights_path: a local VLM directory is required")
        elif self.type == "classifier" and not self.model_path:
            raise ValueError("model_path: the classifier reward needs a weights file")


def build_reward_model(
    config: RewardConfig, *, model_path: str | Path | None = None
) -> RewardModel:
    """The RewardModel of ``config.type`` (loads weights from local files only)."""
    if config.type == "ground_truth":
        return GroundTruthReward(lift_height=config.lift_height)
    if config.type == "intervention":
        return InterventionReward(penalty=config.intervention_penalty)
    if config.type == "classifier":
        from robot_rl.rewards.classifier import load_classifier

        return load_classifier(model_path or config.model_path, device=config.device)
    if config.type == "clip":
        from robot_rl.rewards.clip_reward import ClipReward

        return ClipReward(config.clip)
    if config.type == "vlm":
        from robot_rl.rewards.vlm_judge import VLMJudge

        return VLMJudge(config.vlm)
    raise ValueError(f"type: unknown reward type {config.type!r}")


@dataclass
class EnvRewardConfig:
    """The reward a training run's env reports (the run config's ``reward:`` block)."""

    type: EnvRewardType = "ground_truth"
    """ground_truth: the env's own reward, unchanged; classifier, clip or vlm replace it."""
    weights_path: str = ""
    """Classifier file (``robot-rl reward train``) or local CLIP / VLM model directory."""
    threshold: float | None = None
    """Success threshold on the model's probability; null keeps the model's own (classifier:
    its calibrated threshold; clip / vlm: ``clip.threshold`` / ``vlm.threshold``)."""
    consecutive_steps: int | None = None
    """Success must hold this many consecutive steps; null keeps the model's (classifier:
    its ``consecutive_steps``; clip / vlm: 1)."""
    terminate_on_success: bool = True
    """End the episode (terminated) when the model's success holds."""
    service: Literal["inline", "process"] = "inline"
    """inline: the model runs in the env's process; process: in a child process of its own."""
    timeout_s: float = 60.0
    """Deadline for one reward from the process service, and for it to start (s)."""
    device: str = "cpu"
    """Torch device of the reward model."""
    clip: ClipRewardConfig = field(default_factory=ClipRewardConfig)
    """Prompts, alpha and camera of the CLIP reward (its weights come from weights_path)."""
    vlm: VLMJudgeConfig = field(default_factory=VLMJudgeConfig)
    """Question, answer tokens and camera of the VLM judge (weights from weights_path)."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if self.type != "ground_truth" and not self.weights_path:
            raise ValueError(f"weights_path: reward type {self.type!r} needs a weights path")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold: must be in [0, 1], got {self.threshold}")
        if self.consecutive_steps is not None and self.consecutive_steps < 1:
            raise ValueError(f"consecutive_steps: must be >= 1, got {self.consecutive_steps}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s: must be > 0, got {self.timeout_s}")


def build_env_reward_model(config: EnvRewardConfig) -> RewardModel:
    """The RewardModel of a run's ``reward:`` block (weights from local files only)."""
    if config.type == "ground_truth":
        raise ValueError("reward.type: ground_truth uses the env's own reward, not a model")
    path = Path(config.weights_path).expanduser()
    if config.type == "classifier":
        from robot_rl.rewards.classifier import load_classifier

        model = load_classifier(path, device=config.device, field_name="reward.weights_path")
        if config.threshold is not None:
            model.threshold = config.threshold
        return model
    if not path.exists():
        raise FileNotFoundError(f"reward.weights_path: no {config.type} model directory at {path}")
    if config.type == "clip":
        from robot_rl.rewards.clip_reward import ClipReward

        threshold = config.clip.threshold if config.threshold is None else config.threshold
        return ClipReward(
            replace(config.clip, weights_path=str(path), threshold=threshold, device=config.device)
        )
    if config.type == "vlm":
        from robot_rl.rewards.vlm_judge import VLMJudge

        threshold = config.vlm.threshold if config.threshold is None else config.threshold
        return VLMJudge(
            replace(config.vlm, weights_path=str(path), threshold=threshold, device=config.device)
        )
    raise ValueError(f"reward.type: unknown reward type {config.type!r}")
