"""Pick-cube twin: gymnasium API, observation layout, determinism, action safety."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from robot_rl_sim import PICK_CUBE_ID, PickCubeEnv, TwinConfig, make_env, register_envs

from robot_rl import keys
from robot_rl.envs.spec import obs_spec_from_space

pytestmark = pytest.mark.twin


def test_spaces_and_reset_step_contract(state_env: PickCubeEnv) -> None:
    obs, info = state_env.reset(seed=1)
    assert set(obs) == {keys.STATE}
    assert obs_spec_from_space(state_env.observation_space) == {
        keys.STATE: ((28,), np.dtype(np.float32))
    }
    assert state_env.observation_space.contains(obs)
    assert state_env.action_space.shape == (4,)
    assert state_env.action_space.dtype == np.float32
    assert set(info) == {"success", "cube_height", "tcp_to_cube"} and info["success"] is False
    obs, reward, terminated, truncated, info = state_env.step(np.zeros(4, np.float32))
    assert isinstance(reward, float) and reward == 0.0
    assert terminated is False and truncated is False
    assert state_env.observation_space.contains(obs)


def test_state_layout_matches_ground_truth(state_env: PickCubeEnv) -> None:
    obs, _ = state_env.reset(seed=2)
    for _ in range(3):
        obs, *_ = state_env.step(np.array([0.5, -0.3, -0.5, 0.0], np.float32))
    state, gt = obs[keys.STATE], state_env.ground_truth()
    np.testing.assert_allclose(state[0:3], gt["tcp_pos"], atol=1e-6)
    assert abs(np.linalg.norm(state[3:7]) - 1.0) < 1e-5
    assert state[4] > 0.99  # straight down: (w, x, y, z) ~ (0, 1, 0, 0), sign fixed to x >= 0
    assert np.linalg.norm(state[7:10]) < 1.0  # m/s, plausible TCP speed
    assert 0.0 <= state[10] <= 1.0
    np.testing.assert_allclose(state[11:18], state_env.data.qpos[:7], atol=1e-6)
    np.testing.assert_allclose(state[18:21], gt["cube_pos"], atol=1e-6)
    np.testing.assert_allclose(state[21:25], gt["cube_quat"], atol=1e-6)
    np.testing.assert_allclose(state[25:28], gt["cube_pos"] - gt["tcp_pos"], atol=1e-6)


def test_actions_move_the_tcp_in_the_commanded_direction(state_env: PickCubeEnv) -> None:
    state_env.reset(seed=3)
    start = state_env.ground_truth()["tcp_pos"]
    for _ in range(3):
        state_env.step(np.array([1.0, 0.0, 0.0, -1.0], np.float32))
    moved = np.asarray(state_env.ground_truth()["tcp_pos"]) - np.asarray(start)
    assert 0.06 < moved[0] < 0.1  # 3 steps of 0.03 m, minus tracking lag
    assert abs(moved[1]) < 0.01 and abs(moved[2]) < 0.01


def test_same_seed_same_trajectory() -> None:
    cfg = TwinConfig()
    actions = np.random.default_rng(0).uniform(-1, 1, (15, 4)).astype(np.float32)
    runs = []
    for _ in range(2):
        env = make_env(cfg, seed=7)
        obs, _ = env.reset()
        states = [obs[keys.STATE]]
        for a in actions:
            states.append(env.step(a)[0][keys.STATE])
        runs.append(np.stack(states))
        env.close()
    np.testing.assert_array_equal(runs[0], runs[1])
    env = make_env(cfg, seed=8)
    other, _ = env.reset()
    assert not np.array_equal(other[keys.STATE], runs[0][0])


def test_non_finite_or_misshapen_action_rejected(state_env: PickCubeEnv) -> None:
    state_env.reset(seed=0)
    for bad in (np.array([np.nan, 0, 0, 0]), np.array([0, np.inf, 0, 0])):
        with pytest.raises(ValueError, match="action"):
            state_env.step(bad)
    with pytest.raises(ValueError, match="action: expected shape"):
        state_env.step(np.zeros(7))


def test_out_of_range_actions_are_clipped(state_env: PickCubeEnv) -> None:
    state_env.reset(seed=4)
    big = state_env.step(np.array([50.0, 0, 0, 9.0], np.float32))[0][keys.STATE]
    state_env.reset(seed=4)
    unit = state_env.step(np.array([1.0, 0, 0, 1.0], np.float32))[0][keys.STATE]
    np.testing.assert_array_equal(big, unit)


def test_random_actions_respect_joint_limits_and_workspace() -> None:
    cfg = TwinConfig(max_episode_steps=100)
    env = make_env(cfg, seed=5)
    env.reset()
    rng = np.random.default_rng(5)
    low, high = np.array(cfg.workspace_low), np.array(cfg.workspace_high)
    lo, hi = env.ids.joint_range[:, 0], env.ids.joint_range[:, 1]
    for _ in range(300):
        # bang-bang actions push hardest against the box and the joint limits
        action = np.sign(rng.uniform(-1, 1, 4)).astype(np.float32)
        _, _, terminated, truncated, _ = env.step(action)
        q = env.data.qpos[env.ids.arm_qpos]
        assert np.all(q >= lo) and np.all(q <= hi)
        tcp = env.ground_truth()["tcp_pos"]
        assert np.all(tcp >= low - 0.01) and np.all(tcp <= high + 0.01), tcp  # 1 cm tracking slack
        assert np.all(env.ground_truth()["tcp_target"] >= low)
        if terminated or truncated:
            env.reset()
    env.close()


def test_truncation_at_max_episode_steps() -> None:
    env = make_env(TwinConfig(max_episode_steps=3), seed=0)
    env.reset()
    flags = [env.step(np.zeros(4, np.float32))[3] for _ in range(3)]
    assert flags == [False, False, True]
    env.close()


def test_rotation_actions() -> None:
    env = make_env(TwinConfig(use_rotation=True), seed=0)
    obs, _ = env.reset()
    assert env.action_space.shape == (7,)
    quat0 = obs[keys.STATE][3:7].copy()
    for _ in range(3):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 1.0, -1], np.float32))
    turned = abs(float(np.dot(quat0, obs[keys.STATE][3:7])))
    assert turned < np.cos(0.3 / 2)  # yawed by > 0.3 rad of the commanded 0.45 rad
    env.close()


def test_state_env_creates_no_renderer_until_render(state_env: PickCubeEnv) -> None:
    state_env.reset(seed=0)
    state_env.step(np.zeros(4, np.float32))
    assert not state_env._cameras._renderers
    assert state_env.config.render_size == 256


def test_gymnasium_registration() -> None:
    register_envs()
    env = gym.make(PICK_CUBE_ID, config=TwinConfig(max_episode_steps=5))
    obs, _ = env.reset(seed=0)
    assert obs[keys.STATE].shape == (28,)
    env.close()
