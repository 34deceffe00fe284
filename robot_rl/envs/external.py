"""Bring your own env: any Gymnasium env named by ``"package.module:callable"``.

The callable is called with the config's keyword arguments and returns a ``gymnasium.Env``
whose action space is a 1-D float Box in [-1, 1] and whose observation space is a Dict of
Box entries. Images are uint8 (H, W, 3) under keys that start with ``pixels`` (``pixels_front``,
``pixels/front``, or a nested ``pixels`` Dict); every other entry is state and reaches the
agents as float32. :class:`FlatObservation` renames keys to the project's flat form
(``pixels/front`` and ``{"pixels": {"front": ...}}`` become ``pixels_front``; any other ``/`` or
nesting level becomes ``_``), because episode stores and the wire keep one flat name per array.
Success is read from ``info["success"]`` (bool) on an episode's last step, as for the twin.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys


class EnvContractError(ValueError):
    """An entry-point env (or its expert) does not fit the observation/action contract."""


def load_entry_point(path: str, *, field: str) -> Callable[..., Any]:
    """The callable named by ``"package.module:callable"``; errors name ``field``."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise EnvContractError(f"{field}: expected 'package.module:callable', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise EnvContractError(f"{field}: cannot import module {module_name!r} ({err})") from err
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise EnvContractError(f"{field}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise EnvContractError(f"{field}: {path!r} is not callable")
    return target  # type: ignore[no-any-return]


def check_action_space(space: gym.Space, *, field: str) -> int:
    """The action dimension of a 1-D float Box in [-1, 1]; EnvContractError naming ``field``."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise EnvContractError(f"{field}: action space must be a 1-D Box, got {space}")
    if not np.issubdtype(space.dtype, np.floating):
        raise EnvContractError(f"{field}: action space must be float, got dtype {space.dtype}")
    if not (np.allclose(space.low, -1.0) and np.allclose(space.high, 1.0)):
        raise EnvContractError(
            f"{field}: action space must be bounded by [-1, 1] per dimension (scale actions in "
            f"the env), got low={space.low.tolist()} high={space.high.tolist()}"
        )
    return int(space.shape[0])


def _flat_key(parts: tuple[str, ...]) -> str:
    name = "_".join(p.replace("/", "_") for p in parts)
    return name


def _flatten_space(
    space: gym.spaces.Dict, prefix: tuple[str, ...], field: str
) -> dict[str, tuple[tuple[str, ...], gym.spaces.Box]]:
    out: dict[str, tuple[tuple[str, ...], gym.spaces.Box]] = {}
    for key, sub in space.spaces.items():
        path = (*prefix, str(key))
        if isinstance(sub, gym.spaces.Dict):
            out.update(_flatten_space(sub, path, field))
            continue
        where = f"{field}: observation {'/'.join(path)!r}"
        if not isinstance(sub, gym.spaces.Box):
            raise EnvContractError(f"{where} must be a Box space, got {type(sub).__name__}")
        flat = _flat_key(path)
        if flat in out:
            raise EnvContractError(f"{where}: flat key {flat!r} is taken by another entry")
        if flat.startswith(keys.PIXELS_PREFIX.rstrip("_")):
            if not flat.startswith(keys.PIXELS_PREFIX):
                raise EnvContractError(f"{where}: an image key needs a camera name (pixels_<cam>)")
            if sub.dtype != np.uint8 or len(sub.shape) != 3 or sub.shape[2] != 3:
                raise EnvContractError(
                    f"{where}: images must be uint8 (H, W, 3), got {sub.dtype} {sub.shape}"
                )
        elif not (np.issubdtype(sub.dtype, np.floating) or np.issubdtype(sub.dtype, np.integer)):
            raise EnvContractError(f"{where}: state must be numeric, got dtype {sub.dtype}")
        out[flat] = (path, sub)
    return out


class FlatObservation(gym.ObservationWrapper[dict[str, np.ndarray], np.ndarray, Any]):
    """Flat ``pixels_<cam>`` / state keys: images stay uint8 (H, W, 3), state becomes float32."""

    def __init__(self, env: gym.Env, *, field: str = "env.entry_point") -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Dict):
            raise EnvContractError(
                f"{field}: observation space must be a gymnasium.spaces.Dict of Box entries, "
                f"got {type(space).__name__}"
            )
        self._entries = _flatten_space(space, (), field)
        if not self._entries:
            raise EnvContractError(f"{field}: observation space has no entries")
        spaces: dict[str, gym.Space] = {}
        for flat, (_path, sub) in self._entries.items():
            if keys.is_image_key(flat):
                spaces[flat] = sub
            else:
                spaces[flat] = gym.spaces.Box(
                    sub.low.astype(np.float32), sub.high.astype(np.float32), dtype=np.float32
                )
        self.observation_space = gym.spaces.Dict(spaces)  # type: ignore[assignment]

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        """The flat observation dict."""
        out: dict[str, np.ndarray] = {}
        for flat, (path, _sub) in self._entries.items():
            value = observation
            for part in path:
                value = value[part]
            dtype = np.uint8 if keys.is_image_key(flat) else np.float32
            out[flat] = np.asarray(value, dtype=dtype)
        return out


def make_external_env(
    entry_point: str,
    kwargs: Mapping[str, Any],
    *,
    max_episode_steps: int,
    seed: int | None = None,
    field: str = "env.entry_point",
) -> gym.Env:
    """Build the entry point's env, check its spaces, flatten its observation keys and cap its
    episodes at ``max_episode_steps`` (truncated)."""
    factory = load_entry_point(entry_point, field=field)
    try:
        env = factory(**dict(kwargs))
    except TypeError as err:
        raise EnvContractError(
            f"{field}: calling {entry_point!r} with env.kwargs failed: {err}"
        ) from err
    if not isinstance(env, gym.Env):
        raise EnvContractError(
            f"{field}: {entry_point!r} returned {type(env).__name__}, not a gymnasium.Env"
        )
    check_action_space(env.action_space, field=field)
    wrapped: gym.Env = FlatObservation(env, field=field)
    wrapped = gym.wrappers.TimeLimit(wrapped, max_episode_steps=max_episode_steps)
    if seed is not None:
        wrapped.action_space.seed(seed)
    return wrapped


__all__ = [
    "EnvContractError",
    "FlatObservation",
    "check_action_space",
    "load_entry_point",
    "make_external_env",
]
