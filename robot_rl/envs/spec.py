"""Observation specs: (shape, dtype) per observation key, derived from gymnasium spaces."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np

ObsSpec = dict[str, tuple[tuple[int, ...], np.dtype]]


def obs_spec_from_space(space: gym.Space) -> ObsSpec:
    """Spec of a flat gymnasium Dict observation space of Box entries."""
    if not isinstance(space, gym.spaces.Dict):
        raise TypeError(
            f"observation space must be gymnasium.spaces.Dict, got {type(space).__name__}"
        )
    spec: ObsSpec = {}
    for key, sub in space.spaces.items():
        if not isinstance(sub, gym.spaces.Box):
            raise TypeError(f"observation {key!r} must be a Box space, got {type(sub).__name__}")
        spec[key] = (tuple(int(d) for d in sub.shape), np.dtype(sub.dtype))
    return spec


def spec_to_json(spec: ObsSpec, action_dim: int) -> dict[str, object]:
    """JSON-ready form of an obs spec and action dimension (written to ``spec.json``)."""
    return {
        "action_dim": int(action_dim),
        "observations": {
            k: {"shape": list(s), "dtype": np.dtype(d).name} for k, (s, d) in spec.items()
        },
    }


def spec_from_json(data: dict[str, object], *, where: str = "spec.json") -> tuple[ObsSpec, int]:
    """Inverse of :func:`spec_to_json`; errors name the file and the bad entry."""
    try:
        observations = data["observations"]
        action_dim = int(data["action_dim"])  # type: ignore[call-overload]
        assert isinstance(observations, dict)
        spec: ObsSpec = {
            str(k): (tuple(int(d) for d in v["shape"]), np.dtype(v["dtype"]))
            for k, v in observations.items()
        }
    except (KeyError, TypeError, ValueError, AssertionError) as err:
        raise ValueError(f"{where}: malformed observation spec ({err!r})") from err
    return spec, action_dim


def read_spec_file(path: Path) -> tuple[ObsSpec, int]:
    """A run's ``spec.json``; ConfigError (one line, naming the file) when it is missing,
    not JSON, or not a spec."""
    from robot_rl.config import ConfigError

    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: not found (the run directory has no observation spec)") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a JSON observation spec ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    try:
        spec, action_dim = spec_from_json(data, where=str(path))
    except ValueError as err:
        raise ConfigError(str(err)) from err
    if action_dim < 1 or any(d < 1 for shape, _ in spec.values() for d in shape) or not spec:
        raise ConfigError(f"{path}: action_dim and every observation size must be >= 1")
    return spec, action_dim
