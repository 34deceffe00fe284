"""Scripted expert on the pick-cube twin: it must succeed reliably and quickly."""

from __future__ import annotations

import numpy as np
import pytest
from robot_rl_sim import ScriptedExpert, TwinConfig, make_env

pytestmark = pytest.mark.twin


def _success_rate(cfg: TwinConfig, seeds: range) -> tuple[float, float]:
    env = make_env(cfg)
    expert = ScriptedExpert(env, seed=0)
    successes, lengths = 0, []
    for seed in seeds:
        env.reset(seed=seed)
        expert.reset()
        steps = 0
        for _ in range(cfg.max_episode_steps):
            steps += 1
            action = expert.act()
            assert action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
            _, reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert reward == float(info["success"])
        successes += int(info["success"])
        lengths.append(steps)
    env.close()
    return successes / len(seeds), float(np.mean(lengths))


def test_expert_succeeds_at_least_95_percent() -> None:
    rate, mean_len = _success_rate(TwinConfig(), range(40))
    assert rate >= 0.95, rate
    assert mean_len <= 30


def test_noisy_expert_with_rotation_and_cube_yaw() -> None:
    cfg = TwinConfig(use_rotation=True, cube_yaw_range=0.6, expert_noise_std=0.2)
    rate, _ = _success_rate(cfg, range(10))
    assert rate >= 0.9, rate
