"""``SafetyWrapper``: the safety layer as a gymnasium wrapper between the actor and the env.

The actor keeps calling ``env.step(action)``; the wrapper filters the action through its
``SafetyLayer`` and steps the inner env with the safe command. What it adds to ``info``
(scalars only, so the actor's ``scalar_info`` keeps them):

- ``safety_held`` (bool), ``safety_events`` (str, comma-separated, "" when none),
- ``safety_end`` (bool): the layer ended the episode (data stale past its timeout); the
  step is then ``truncated`` (never ``terminated``: nothing about the task was decided),
- ``executed_action`` (float32 (A,) array, dropped by ``scalar_info``): what was sent.

Stream times: ``streams()`` returns the time of the latest sample per stream (s, on the clock
``clock()``). Without ``streams`` every stream counts as fresh when an observation arrives
(the plain twin, where nothing can go stale). With a ``FaultInjector`` pass its ``now`` and
``stream_times``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys
from robot_rl.safety.layer import GRIPPER_OPEN, RobotState, SafeCommand, SafetyLayer

StateFn = Callable[[dict[str, np.ndarray], Mapping[str, float]], RobotState]


def twin_robot_state(obs: dict[str, np.ndarray], stream_times: Mapping[str, float]) -> RobotState:
    """RobotState from a twin observation (its ``"state"`` vector)."""
    return RobotState.from_twin_state(obs[keys.STATE], stream_times)


class SafetyWrapper(
    gym.Wrapper[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]
):
    """Every ``step`` goes through ``layer.filter``; ``reset`` resets the layer's episode memory."""

    def __init__(
        self,
        env: gym.Env,
        layer: SafetyLayer,
        *,
        clock: Callable[[], float] = time.monotonic,
        streams: Callable[[], Mapping[str, float]] | None = None,
        state_fn: StateFn = twin_robot_state,
    ) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or space.shape != (layer.config.action_dim,):
            raise ValueError(
                f"action_dim: safety config has {layer.config.action_dim}, env action space is "
                f"{space}"
            )
        self.layer = layer
        self._clock = clock
        self._streams = streams
        self._state_fn = state_fn
        self._obs: dict[str, np.ndarray] | None = None
        self.last_command: SafeCommand | None = None

    def _stream_times(self) -> Mapping[str, float]:
        if self._streams is not None:
            return self._streams()
        now = self._clock()
        return dict.fromkeys(self.layer.config.stream_deadlines, now)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the env and the layer (a ``keep_scene`` reset keeps the gripper command)."""
        obs, info = self.env.reset(seed=seed, options=options)
        keep = bool(options and options.get("keep_scene"))
        self.layer.reset(gripper=None if keep else GRIPPER_OPEN)
        self._obs = obs
        return obs, info

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Filter ``action`` through the layer and step the env with the safe command."""
        if self._obs is None:
            raise RuntimeError("SafetyWrapper.step before reset()")
        state = self._state_fn(self._obs, self._stream_times())
        command = self.layer.filter(action, state, self._clock())
        self.last_command = command
        obs, reward, terminated, truncated, info = self.env.step(command.action)
        self._obs = obs
        info = dict(info)
        info["safety_held"] = command.held
        info["safety_events"] = ",".join(command.events)
        info["safety_end"] = command.end_episode
        info["executed_action"] = command.action
        return obs, float(reward), bool(terminated), bool(truncated or command.end_episode), info


def safety_layer_of(env: gym.Env) -> SafetyLayer | None:
    """The SafetyLayer of the first SafetyWrapper in ``env``'s wrapper chain, None if none."""
    current: Any = env
    while current is not None:
        if isinstance(current, SafetyWrapper):
            return current.layer
        current = getattr(current, "env", None)
    return None


def safety_metrics(layer: SafetyLayer) -> dict[str, float]:
    """The layer's counters as metric names: ``safety/commands``, ``safety/held``,
    ``safety/event/<event>`` with ":" as "_", a legal TensorBoard tag (totals so far)."""
    return {f"safety/{name.replace(':', '_')}": float(n) for name, n in layer.stats.items()}


__all__ = ["SafetyWrapper", "safety_layer_of", "safety_metrics", "twin_robot_state"]
