"""Scripted reset: drive the TCP home through the safety layer, then randomise the scene.

The move goes through ``env.step`` of a ``SafetyWrapper``-wrapped env, so the reset
controller is one more action source under the layer's limits (an e-stop stops a reset too).
On the twin the scene is then randomised by a full ``env.reset`` (cube back to its start
region); on the real cell ``randomise`` is whatever puts the scene back (a scripted
pick-and-place, or nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys

Obs = dict[str, np.ndarray]
RISE_FIRST_Z = 0.05  # m: a TCP this far below home rises before it moves sideways


@dataclass(frozen=True)
class ScriptedResetConfig:
    """Where home is and how to get there."""

    home: tuple[float, ...] = (0.45, 0.0, 0.22)
    """TCP home position, world frame (m)."""
    tolerance: float = 0.01
    """Distance to home that counts as arrived (m)."""
    max_steps: int = 40
    """Control steps allowed for the move before giving up."""
    action_scale_xyz: float = 0.03
    """TCP translation per step for an action of 1 (m); the env's value."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if len(self.home) != 3:
            raise ValueError("home: expected 3 numbers (x, y, z in m)")
        if not self.tolerance > 0:
            raise ValueError(f"tolerance: must be > 0, got {self.tolerance}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps: must be >= 1, got {self.max_steps}")
        if not self.action_scale_xyz > 0:
            raise ValueError(f"action_scale_xyz: must be > 0, got {self.action_scale_xyz}")


@dataclass
class ResetResult:
    """Outcome of one scripted reset."""

    obs: Obs
    """First observation of the randomised scene."""
    info: dict[str, Any]
    """Info of that reset."""
    reached_home: bool
    """Whether the TCP got within tolerance of home before randomising."""
    steps: int
    """Control steps the move took."""
    held_steps: int
    """Steps in which the safety layer held the arm (an e-stop or a fault during the reset)."""


class ScriptedReset:
    """Moves home through the layer (gripper open), then calls ``randomise``."""

    def __init__(
        self,
        config: ScriptedResetConfig,
        *,
        randomise: Callable[[gym.Env], tuple[Obs, dict[str, Any]]] | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self._randomise = randomise or (lambda env: env.reset())
        self.resets = 0

    def move_home(self, env: gym.Env, obs: Obs) -> tuple[Obs, bool, int, int]:
        """Drive the TCP home with the gripper open through ``env``; the scene stays as it is.

        A TCP low and off to the side of home rises first, so the fingers do not sweep the
        cube along the table. Returns (obs, reached_home, steps, held_steps).
        """
        c = self.config
        home = np.asarray(c.home, dtype=np.float64)
        action_dim = int(env.action_space.shape[0])  # type: ignore[index]
        reached, steps, held = False, 0, 0
        for steps in range(1, c.max_steps + 1):  # noqa: B007 (steps is reported)
            tcp = np.asarray(obs[keys.STATE][0:3], dtype=np.float64)
            error = home - tcp
            if float(np.linalg.norm(error)) < c.tolerance:
                reached = True
                break
            if error[2] > RISE_FIRST_Z and float(np.linalg.norm(error[:2])) > c.tolerance:
                error[:2] = 0.0
            action = np.zeros(action_dim, np.float32)
            action[:3] = np.clip(error / c.action_scale_xyz, -1.0, 1.0)
            action[-1] = -1.0  # open: let go of whatever is held before going home
            obs, _, _, _, info = env.step(action)
            held += int(bool(info.get("safety_held", False)))
        return obs, reached, steps, held

    def run(self, env: gym.Env, obs: Obs) -> ResetResult:
        """Reset the scene from observation ``obs``; env must be wrapped by the safety layer."""
        _obs, reached, steps, held = self.move_home(env, obs)
        obs, info = self._randomise(env)
        self.resets += 1
        return ResetResult(obs, info, reached, steps, held)


__all__ = ["ResetResult", "ScriptedReset", "ScriptedResetConfig"]
