"""The reward node's logic without ROS: the core RewardModel scores the cell's observation.

Each control period the reward node assembles the latest observation (the actor's
``ObservationAssembler``, same streams), scores it with a ``RewardModel`` built by
``robot_rl.rewards.build_reward_model`` and publishes a sparse reward: ``success_reward``
once the model's success decision held ``consecutive_steps`` periods (``HoldFilter``),
else 0. A person holding the success button of a Joy device labels success directly
(HIL-SERL style). Ground-truth rewards exist only in the twin (the twin node publishes
them) and RLIF's intervention reward is applied by the actor's InterventionMixer, so
neither is served here.
"""

from __future__ import annotations

from robot_rl.rewards.base import HoldFilter, RewardModel, single_frame_batch
from robot_rl.rewards.config import RewardConfig
from robot_rl.ros_compat.assembler import Snapshot
from robot_rl.ros_compat.config import CellConfig

NODE_REWARD_TYPES = ("classifier", "clip", "vlm")
"""RewardConfig types the reward node serves."""


def check_reward_config(config: RewardConfig) -> None:
    """Raise ValueError naming ``type`` when the reward node cannot serve it."""
    if config.type not in NODE_REWARD_TYPES:
        raise ValueError(
            f"type: the reward node serves {NODE_REWARD_TYPES}, got {config.type!r} "
            "(ground_truth: the twin node publishes it; intervention: set hil.rlif in the "
            "run config, the actor applies it)"
        )
    config.validate()


class CellReward:
    """Observation -> reward of one control period (see the module docstring)."""

    def __init__(
        self, model: RewardModel | None, cell: CellConfig, *, consecutive_steps: int = 1
    ) -> None:
        """``model`` None: only a person's success label gives a reward (Joy button)."""
        self.model = model
        self.cell = cell
        self.hold = HoldFilter(consecutive_steps)
        self.last_success_prob = 0.0

    def reset(self) -> None:
        """A new episode: the success decision must hold again from zero."""
        self.hold.reset()

    def score(self, snapshot: Snapshot, *, human_success: bool = False) -> float | None:
        """Reward for the latest observation; None while streams are missing or stale.

        ``human_success``: a person labels this period a success (the success button).
        """
        if human_success:
            return self.cell.success_reward
        if not snapshot.ok or snapshot.obs is None:
            self.hold.reset()  # no decision on data the actor would not act on
            return None
        if self.model is None:
            return 0.0
        out = self.model.score(single_frame_batch(snapshot.obs))
        _reward, prob, success = out.row(0)
        self.last_success_prob = prob
        held = self.hold.update(bool(success))
        return float(self.cell.success_reward) if held else 0.0


__all__ = ["NODE_REWARD_TYPES", "CellReward", "check_reward_config"]
