"""Fault injection for the twin: frozen streams (cameras, joints) and a perturbed TCP pose.

``FaultInjector`` wraps the twin *inside* a ``SafetyWrapper``; it keeps a simulated clock
(control steps / control_hz, never reset, s) and the time of the latest sample per stream,
so the layer's watchdog sees what it would see on the robot when a camera driver hangs::

    faults = FaultInjector(twin)
    env = SafetyWrapper(faults, layer, clock=faults.now, streams=faults.stream_times)
    faults.freeze("front")          # front frames stop updating from now on
    faults.set_pose_offset([0, 0.1, 0])   # reported TCP jumps 10 cm in y

Twin-only test equipment; the real cell's faults come from the real world.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys

JOINTS = "joints"  # stream name of the proprioceptive state


class FaultInjector(
    gym.Wrapper[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]
):
    """Freezes streams and offsets the reported TCP position of a twin env."""

    def __init__(
        self, env: gym.Env, *, control_hz: float = 10.0, streams: Iterable[str] = ()
    ) -> None:
        super().__init__(env)
        self._dt = 1.0 / control_hz  # s per control step
        self._steps = 0
        space = env.observation_space
        names = list(space.spaces) if isinstance(space, gym.spaces.Dict) else []
        cams = [keys.camera_of(k) for k in names if keys.is_image_key(k)]
        self._names = sorted({JOINTS, *cams, *streams})
        self._times = dict.fromkeys(self._names, 0.0)
        self._frozen: dict[str, dict[str, np.ndarray]] = {}  # stream -> values kept
        self._last: dict[str, np.ndarray] = {}
        self._offset = np.zeros(3)  # m, added to the reported TCP position

    # --------------------------------------------------------------------------- faults
    def freeze(self, stream: str) -> None:
        """Stop updating ``stream`` (its time and, for observed data, its values)."""
        if stream not in self._names:
            raise KeyError(f"stream: unknown stream {stream!r} (known: {self._names})")
        key = keys.STATE if stream == JOINTS else keys.pixels_key(stream)
        self._frozen[stream] = {key: self._last[key].copy()} if key in self._last else {}

    def set_pose_offset(self, offset: Iterable[float]) -> None:
        """Add ``offset`` (3,) m to the reported TCP position from the next observation on."""
        self._offset = np.asarray(list(offset), dtype=np.float64).reshape(3)

    def clear(self) -> None:
        """Remove every fault."""
        self._frozen.clear()
        self._offset = np.zeros(3)

    # ---------------------------------------------------------------------------- clock
    def now(self) -> float:
        """Simulated time (s): control steps since construction / control_hz."""
        return self._steps * self._dt

    def stream_times(self) -> dict[str, float]:
        """Time (s) of the latest sample of each stream."""
        return dict(self._times)

    # -------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the env; faults stay injected."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observe(obs), info

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Step the env, advance the clock, apply the faults to the observation."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        return self._observe(obs), float(reward), bool(terminated), bool(truncated), info

    def _observe(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        obs = dict(obs)
        if keys.STATE in obs and np.any(self._offset):
            state = obs[keys.STATE].copy()
            state[0:3] += self._offset
            if state.shape[0] >= 28:  # cube relative to the TCP moves the other way
                state[25:28] -= self._offset
            obs[keys.STATE] = state
        for name in self._names:
            key = keys.STATE if name == JOINTS else keys.pixels_key(name)
            if name not in self._frozen:
                self._times[name] = self.now()
            elif key in self._frozen[name]:
                obs[key] = self._frozen[name][key]
        self._last = obs
        return obs


__all__ = ["JOINTS", "FaultInjector"]
