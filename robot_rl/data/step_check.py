"""The check every streamed step passes before it touches a replay buffer: the run's spec.

The wire decoder (robot_rl/wire) proves a payload is a well-formed Step; it cannot know the run.
A well-formed step of another env (a missing observation key, a wrong image size, an action
of the wrong length) or with NaN observations would raise inside the buffer or poison the first
update, so the learner checks each one here against the observation spec and action dimension
it was built with, and drops what fails (counted by ``reason``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl import keys
from robot_rl.envs.spec import ObsSpec

# Stable reason names: they become metric names (learner/steps_rejected_<reason>).
REASONS = (
    "obs_keys",  # an observation map's keys are not the spec's
    "obs_shape",
    "obs_dtype",
    "obs_nonfinite",
    "obs_range",  # a float entry beyond MAX_ABS_VALUE
    "action_shape",  # not float32 (A,) with the run's A
    "action_nonfinite",
    "action_range",  # outside the action space [-1, 1]
    "reward",  # not a finite float, or beyond MAX_ABS_VALUE
    "flags",  # terminated / truncated / intervened not bools
    "source",
    "t",  # negative, or first_obs present when and only when t == 0 violated
)


# Finite but absurd values poison an update as surely as NaN: 1e30 squared overflows float32
# in the critic's LayerNorm. No sensor, reward or normalised quantity of a cell comes near this.
MAX_ABS_VALUE = 1e6
ACTION_LIMIT = 1.0 + 1e-5  # actions live in [-1, 1] (float rounding allowed)


@dataclass(frozen=True)
class StepRejection:
    """Why a step was refused: a stable ``reason`` (one of REASONS) and a readable detail."""

    reason: str
    detail: str


class StepChecker:
    """Checks steps against an observation spec and action dimension (the run's)."""

    def __init__(self, obs_spec: ObsSpec, action_dim: int) -> None:
        self.obs_spec = {
            k: (tuple(shape), np.dtype(dtype)) for k, (shape, dtype) in obs_spec.items()
        }
        self.action_dim = int(action_dim)
        self._float_keys = [k for k, (_s, d) in self.obs_spec.items() if d.kind == "f"]

    def check(self, step: Any) -> StepRejection | None:
        """None when ``step`` fits the run; else the first thing that does not."""
        t = getattr(step, "t", None)
        if type(t) is not int or t < 0:
            return StepRejection("t", f"t must be an int >= 0, got {t!r:.40}")
        first = getattr(step, "first_obs", None)
        if (t == 0) != (first is not None):
            return StepRejection("t", f"first_obs must be present exactly when t == 0 (t={t})")
        for where, obs in (("first_obs", first), ("next_obs", getattr(step, "next_obs", None))):
            if where == "first_obs" and obs is None:
                continue
            bad = self._check_obs(obs, where)
            if bad is not None:
                return bad
        action = getattr(step, "action", None)
        if (
            not isinstance(action, np.ndarray)
            or action.dtype != np.float32
            or action.shape != (self.action_dim,)
        ):
            got = (
                f"{action.dtype} {action.shape}"
                if isinstance(action, np.ndarray)
                else type(action).__name__
            )
            return StepRejection(
                "action_shape", f"action must be float32 ({self.action_dim},), got {got}"
            )
        if not np.isfinite(action).all():
            return StepRejection("action_nonfinite", "action has non-finite values")
        if np.abs(action).max(initial=0.0) > ACTION_LIMIT:
            return StepRejection("action_range", "action has entries outside [-1, 1]")
        reward: Any = getattr(step, "reward", None)
        if (
            type(reward) not in (float, int)
            or not math.isfinite(reward)
            or abs(reward) > MAX_ABS_VALUE
        ):
            return StepRejection("reward", f"reward must be a finite float, got {reward!r:.40}")
        for name in ("terminated", "truncated", "intervened"):
            if type(getattr(step, name, None)) is not bool:
                return StepRejection("flags", f"{name} must be a bool")
        source = getattr(step, "source", None)
        if type(source) is not int or not 0 <= source < len(keys.SOURCES):
            return StepRejection("source", f"source {source!r:.40} is not a code of {keys.SOURCES}")
        return None

    def _check_obs(self, obs: Any, where: str) -> StepRejection | None:
        if not isinstance(obs, dict) or obs.keys() != self.obs_spec.keys():
            got = sorted(map(str, obs)) if isinstance(obs, dict) else type(obs).__name__
            return StepRejection(
                "obs_keys", f"{where} keys {got!s:.200} are not the run's {sorted(self.obs_spec)}"
            )
        for key, (shape, dtype) in self.obs_spec.items():
            arr = obs[key]
            if not isinstance(arr, np.ndarray) or arr.shape != shape:
                got = arr.shape if isinstance(arr, np.ndarray) else type(arr).__name__
                return StepRejection(
                    "obs_shape", f"{where}[{key!r}] is {got}, the run's is {shape}"
                )
            if arr.dtype != dtype:
                return StepRejection(
                    "obs_dtype", f"{where}[{key!r}] is {arr.dtype}, the run's is {dtype}"
                )
        for key in self._float_keys:
            if not np.isfinite(obs[key]).all():
                return StepRejection("obs_nonfinite", f"{where}[{key!r}] has non-finite values")
            if np.abs(obs[key]).max(initial=0.0) > MAX_ABS_VALUE:
                return StepRejection(
                    "obs_range", f"{where}[{key!r}] has entries beyond {MAX_ABS_VALUE:g}"
                )
        return None


__all__ = ["ACTION_LIMIT", "MAX_ABS_VALUE", "REASONS", "StepChecker", "StepRejection"]
