"""``RewardWrapper``: a reward model replaces the env's reward and success.

On a robot the env knows no success; on the twin its ground truth must not leak into
training when a learned reward is being tested. The wrapper scores every new observation
with the model (in this process, or through a :class:`ProcessRewardService`) and reports:

- ``reward``: the model's reward (classifier: 1.0 once success held ``consecutive_steps``),
- ``terminated``: the model's held success (with ``terminate_on_success``); the inner env's
  own termination is ignored, its truncation kept (and ``max_episode_steps`` applied here,
  because an inner env that terminates on its success skips its own time limit then),
- ``info["success"]``: the model's held success; ``info["reward_success_prob"]`` its
  probability,
- ``info["gt_success"]`` / ``info["gt_reward"]``: what the inner env said (the twin's ground
  truth), kept for evaluation metrics only.

A gymnasium ``step`` has to return its reward, so the process service is waited for here;
it moves the model's memory, threads and GPU out of the actor, not its latency. Loops that
can take rewards late use ``RewardService`` / ``ProcessRewardService`` ``submit``/``poll``.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from robot_rl import keys
from robot_rl.rewards.base import HoldFilter, RewardModel, single_frame_batch
from robot_rl.rewards.config import EnvRewardConfig, build_env_reward_model

GT_SUCCESS = "gt_success"  # info: the inner env's success (twin ground truth)
GT_REWARD = "gt_reward"  # info: the inner env's reward
SUCCESS_PROB = "reward_success_prob"  # info: the reward model's success probability


class StepScorer(Protocol):
    """Scores one observation: (reward, success probability, success)."""

    name: str
    required_keys: tuple[str, ...]
    consecutive_steps: int
    """The model's own k-step hold (1 when it has none)."""

    def __call__(self, obs: dict[str, np.ndarray]) -> tuple[float, float, bool]: ...

    def close(self) -> None: ...


class InlineScorer:
    """A RewardModel called in this process, one observation at a time."""

    def __init__(self, model: RewardModel) -> None:
        self.model = model
        self.name = model.name
        self.required_keys = model.required_keys
        self.consecutive_steps = model_hold(model)

    def __call__(self, obs: dict[str, np.ndarray]) -> tuple[float, float, bool]:
        """Score one observation (a batch of one)."""
        return self.model.score(single_frame_batch(obs)).row(0)

    def close(self) -> None:
        """Nothing to release."""


class ProcessScorer:
    """A RewardModel in a child process (``ProcessRewardService``), waited for per step."""

    def __init__(self, config: EnvRewardConfig) -> None:
        from robot_rl.rewards.process_service import ProcessRewardService

        self.timeout_s = config.timeout_s
        self.service = ProcessRewardService(
            build_env_reward_model, config, start_timeout_s=config.timeout_s
        )
        self.name = self.service.name
        self.required_keys = self.service.required_keys
        self.consecutive_steps = int(self.service.hello.get("consecutive_steps", 1))

    def __call__(self, obs: dict[str, np.ndarray]) -> tuple[float, float, bool]:
        """Send one observation and wait for its reward (``reward.timeout_s``)."""
        result = self.service.score_step(obs, timeout_s=self.timeout_s)
        return result.reward, result.success_prob, result.success

    def close(self) -> None:
        """Stop the child process."""
        self.service.close()


class RewardWrapper(
    gym.Wrapper[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]
):
    """Replaces reward, termination and ``info["success"]`` with a reward model's."""

    def __init__(
        self,
        env: gym.Env,
        scorer: StepScorer,
        *,
        consecutive_steps: int = 1,
        terminate_on_success: bool = True,
        max_episode_steps: int | None = None,
    ) -> None:
        super().__init__(env)
        space = env.observation_space
        have = sorted(space.spaces) if isinstance(space, gym.spaces.Dict) else []
        missing = [k for k in scorer.required_keys if k not in have]
        if missing:
            scorer.close()
            raise ValueError(
                f"reward: the {scorer.name} reward reads {missing}, the env observes {have} "
                "(set env.obs_mode to pixels or both, and env.cameras)"
            )
        self.scorer = scorer
        self.hold = HoldFilter(consecutive_steps)
        self.terminate_on_success = terminate_on_success
        self.max_episode_steps = max_episode_steps
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the env and the success hold."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.hold.reset()
        self._steps = 0
        info[GT_SUCCESS] = bool(info.get(keys.SUCCESS, False))
        info[keys.SUCCESS] = False
        return obs, info

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Step the env, then score the new observation with the reward model."""
        obs, gt_reward, _gt_terminated, truncated, info = self.env.step(action)
        self._steps += 1
        reward, prob, success = self.scorer(obs)
        held = self.hold.update(success)
        if self.scorer.name == "classifier":
            reward = float(held)  # its reward is the success decision: follow the held one
        info[GT_SUCCESS] = bool(info.get(keys.SUCCESS, False))
        info[GT_REWARD] = float(gt_reward)
        info[keys.SUCCESS] = held
        info[SUCCESS_PROB] = prob
        terminated = held and self.terminate_on_success
        if self.max_episode_steps is not None and self._steps >= self.max_episode_steps:
            truncated = True
        return obs, float(reward), terminated, bool(truncated and not terminated), info

    def close(self) -> None:
        """Close the env and the scorer (stops a reward process)."""
        try:
            self.scorer.close()
        finally:
            super().close()


def model_hold(model: RewardModel) -> int:
    """The model's own k-step hold: ``config.consecutive_steps`` where it has one, else 1."""
    return int(getattr(getattr(model, "config", None), "consecutive_steps", 1))


def wrap_reward(
    env: gym.Env, config: EnvRewardConfig, *, max_episode_steps: int | None = None
) -> gym.Env:
    """``env`` itself for the ground-truth reward, else wrapped in a RewardWrapper."""
    if config.type == "ground_truth":
        return env
    scorer: StepScorer
    if config.service == "process":
        scorer = ProcessScorer(config)
    else:
        scorer = InlineScorer(build_env_reward_model(config))
    hold = (
        scorer.consecutive_steps if config.consecutive_steps is None else config.consecutive_steps
    )
    return RewardWrapper(
        env,
        scorer,
        consecutive_steps=hold,
        terminate_on_success=config.terminate_on_success,
        max_episode_steps=max_episode_steps,
    )
