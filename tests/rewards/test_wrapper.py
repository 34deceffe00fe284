"""The run config's reward block: a trained classifier replaces the twin's reward in make_env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from robot_rl import keys
from robot_rl.app.build import make_env
from robot_rl.config import ConfigError, from_dict
from robot_rl.rewards.wrapper import GT_REWARD, GT_SUCCESS, SUCCESS_PROB, RewardWrapper
from robot_rl.run_config import RunConfig

pytestmark = pytest.mark.twin


def run_config(reward: dict[str, Any], **env: Any) -> RunConfig:
    env_block = {
        "obs_mode": "both",
        "image_size": 32,
        "cameras": ["front"],
        "max_episode_steps": 25,
        **env,
    }
    return from_dict(RunConfig, {"env": env_block, "reward": reward})


def expert_episode(config: RunConfig, *, seed: int = 3) -> list[tuple[Any, ...]]:
    """(reward, terminated, truncated, info) of each step of one scripted-expert episode."""
    from robot_rl_sim import ScriptedExpert

    env = make_env(config, seed=seed)
    try:
        expert = ScriptedExpert(env.unwrapped, noise_std=0.0, seed=seed)  # type: ignore[arg-type]
        env.reset(seed=seed)
        expert.reset()
        steps = []
        while True:
            _, reward, terminated, truncated, info = env.step(expert.act())
            steps.append((reward, terminated, truncated, info))
            if terminated or truncated:
                return steps
    finally:
        env.close()


def wrapper_types(env: gym.Env) -> list[type]:
    """Types of the wrappers around the twin, outermost first (other layers may add some)."""
    types = []
    while isinstance(env, gym.Wrapper):
        types.append(type(env))
        env = env.env
    return types


def test_ground_truth_default_leaves_the_env_alone(twin_classifier_path: Path) -> None:
    config = run_config({})
    env = make_env(config, seed=0)
    try:
        assert config.reward.type == "ground_truth"
        assert RewardWrapper not in wrapper_types(env)
    finally:
        env.close()
    config = run_config({"type": "classifier", "weights_path": str(twin_classifier_path)})
    env = make_env(config, seed=0)
    try:
        assert RewardWrapper in wrapper_types(env)
    finally:
        env.close()


def test_classifier_reward_replaces_the_twin_reward(twin_classifier_path: Path) -> None:
    config = run_config({"type": "classifier", "weights_path": str(twin_classifier_path)})
    steps = expert_episode(config)
    for reward, terminated, _, info in steps:
        assert reward == float(info[keys.SUCCESS])  # the model's decision, not the twin's
        assert terminated == info[keys.SUCCESS]
        assert 0.0 <= info[SUCCESS_PROB] <= 1.0
        assert isinstance(info[GT_SUCCESS], bool) and info[GT_REWARD] in (0.0, 1.0)
    assert len(steps) <= 25
    # the tiny classifier sees the lift: it rises while the expert lifts the cube
    probs = [info[SUCCESS_PROB] for *_, info in steps]
    assert max(probs) > probs[0]


def test_threshold_and_hold_decide_the_episode_not_the_twin(twin_classifier_path: Path) -> None:
    always = {"type": "classifier", "weights_path": str(twin_classifier_path), "threshold": 0.0}
    steps = expert_episode(run_config(always))
    assert len(steps) == 1 and steps[0][1]  # "success" at once: terminated at step 1
    assert steps[0][3][GT_SUCCESS] is False  # while the twin says otherwise

    never_held = {**always, "consecutive_steps": 1000}
    steps = expert_episode(run_config(never_held, max_episode_steps=30))
    assert len(steps) == 30 and steps[-1][2] and not steps[-1][1]  # truncated by the limit
    assert any(info[GT_SUCCESS] for *_, info in steps)  # the twin's success did not end it
    assert all(reward == 0.0 for reward, *_ in steps)  # success never held 1000 steps


def test_evaluation_reports_the_twins_verdict_not_the_models(
    twin_classifier_path: Path,
) -> None:
    """A reward model that calls everything a success must not make evaluation say 100 %."""
    from robot_rl.evaluate import evaluate

    class Still:
        def act(self, obs: Any, *, deterministic: bool = False) -> np.ndarray:
            return np.zeros(4, np.float32)  # never picks the cube up

    always = {"type": "classifier", "weights_path": str(twin_classifier_path), "threshold": 0.0}
    env = make_env(run_config(always), seed=0)
    try:
        result = evaluate(env, Still(), episodes=2, seed=0)
    finally:
        env.close()
    assert result["mean_return"] == 1.0  # the model rewarded (and ended) every episode
    assert result["success_rate"] == 0.0  # the cube was never lifted


def test_process_service_gives_the_inline_rewards(twin_classifier_path: Path) -> None:
    inline = {"type": "classifier", "weights_path": str(twin_classifier_path)}
    by_process = {**inline, "service": "process", "timeout_s": 120.0}
    a = expert_episode(run_config(inline))
    b = expert_episode(run_config(by_process))
    assert [s[:3] for s in a] == [s[:3] for s in b]
    np.testing.assert_allclose(
        [s[3][SUCCESS_PROB] for s in a], [s[3][SUCCESS_PROB] for s in b], atol=1e-6
    )


def test_bad_reward_blocks_name_the_field(twin_classifier_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"reward.*weights_path"):
        run_config({"type": "classifier"})
    with pytest.raises(ConfigError, match=r"reward.*threshold"):
        run_config({"type": "classifier", "weights_path": "x", "threshold": 2.0})
    missing = run_config({"type": "classifier", "weights_path": str(tmp_path / "nope.st")})
    with pytest.raises(FileNotFoundError, match=r"reward\.weights_path.*nope\.st"):
        make_env(missing, seed=0)
    state_only = run_config(
        {"type": "classifier", "weights_path": str(twin_classifier_path)}, obs_mode="state"
    )
    with pytest.raises(ValueError, match=r"pixels_front.*env\.obs_mode"):
        make_env(state_only, seed=0)
