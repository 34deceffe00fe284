"""A small Gymnasium env of one's own for the ``env.entry_point`` tests: a point driven to a goal.

Observation: ``agent_pos`` and ``goal`` (float64, (2,)), optionally a 48 x 48 top view under a
nested ``pixels`` Dict or a ``pixels/top`` key. Action: (dx, dy) in [-1, 1], 0.1 per unit.
Success (terminates, reward 1): the point within 0.08 of the goal.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

SIZE = 48


class PointReachEnv(gym.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(self, pixels: str = "", step_size: float = 0.1, action_high: float = 1.0) -> None:
        self.render_mode = "rgb_array"
        self.step_size = step_size
        self.pixels = pixels
        box = gym.spaces.Box(-1.0, 1.0, (2,), np.float64)
        spaces: dict[str, gym.Space] = {"agent_pos": box, "goal": box}
        image = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
        if pixels == "nested":
            spaces["pixels"] = gym.spaces.Dict({"top": image})
        elif pixels == "slash":
            spaces["pixels/top"] = image
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-action_high, action_high, (2,), np.float32)
        self.pos = np.zeros(2)
        self.goal = np.zeros(2)

    def _image(self) -> np.ndarray:
        img = np.zeros((SIZE, SIZE, 3), np.uint8)
        for value, channel in ((self.pos, 0), (self.goal, 1)):
            r, c = ((value + 1.0) / 2.0 * (SIZE - 1)).round().astype(int)
            img[r, c, channel] = 255
        return img

    def _obs(self) -> dict[str, Any]:
        obs: dict[str, Any] = {"agent_pos": self.pos.copy(), "goal": self.goal.copy()}
        if self.pixels == "nested":
            obs["pixels"] = {"top": self._image()}
        elif self.pixels == "slash":
            obs["pixels/top"] = self._image()
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = np.zeros(2)
        angle = self.np_random.uniform(-np.pi, np.pi)
        self.goal = 0.5 * np.array([np.cos(angle), np.sin(angle)])
        return self._obs(), {}

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        self.pos = np.clip(self.pos + self.step_size * action, -1.0, 1.0)
        success = bool(np.linalg.norm(self.pos - self.goal) < 0.08)
        return self._obs(), float(success), success, False, {"success": success}

    def render(self) -> np.ndarray:
        return np.kron(self._image(), np.ones((2, 2, 1), np.uint8))


class PointExpert:
    """Scripted expert: full speed towards the goal, read from the env, plus Gaussian noise."""

    def __init__(self, env: PointReachEnv, *, noise_std: float, seed: int | None) -> None:
        self.env = env
        self.noise_std = noise_std
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self) -> np.ndarray:
        delta = (self.env.goal - self.env.pos) / self.env.step_size
        action = delta + self.rng.normal(0.0, self.noise_std, 2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def make_box_obs_env() -> gym.Env:
    """Not Dict observations: the contract check must refuse it."""
    env = PointReachEnv()
    env.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float64)
    return env
