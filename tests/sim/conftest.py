"""Fixtures for the MuJoCo twin tests: small, real envs (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import robot_rl_sim  # noqa: F401  (chooses MUJOCO_GL before mujoco is imported)
from robot_rl_sim import PickCubeEnv, RenderBackendError, TwinConfig, make_env


@pytest.fixture
def state_env() -> Iterator[PickCubeEnv]:
    """State-observation twin, seeded."""
    env = make_env(TwinConfig(obs_mode="state"), seed=0)
    yield env
    env.close()


@pytest.fixture
def pixel_env() -> Iterator[PickCubeEnv]:
    """Images + proprioception twin at 64 px; skipped where no GL backend is installed."""
    env = make_env(TwinConfig(obs_mode="both", image_size=64), seed=0)
    try:
        env.reset()
    except RenderBackendError as err:
        env.close()
        pytest.skip(f"no headless GL backend: {err}")
    yield env
    env.close()
