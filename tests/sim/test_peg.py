"""Peg insertion twin: the success rule on hand-placed states, the expert, the task entry."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest
from robot_rl_sim.peg import PegExpert, PegInsertEnv
from robot_rl_sim.tasks import get_task

pytestmark = pytest.mark.twin


@pytest.fixture
def peg_env() -> PegInsertEnv:
    task = get_task("peg_insert")
    env = task.make_env(task.env, seed=0)
    assert isinstance(env, PegInsertEnv)
    return env


def _put_hole_under_tip(env: PegInsertEnv, *, depth: float, dx: float = 0.0) -> None:
    """Move the (mocap) board so the peg tip is ``depth`` below its top face, ``dx`` off centre."""
    tip = env.ground_truth()["peg_tip"]
    hole = env.ground_truth()["hole_pos"]
    env.data.mocap_pos[0] += np.array(
        [tip[0] + dx - hole[0], tip[1] - hole[1], tip[2] + depth - hole[2]]
    )
    mujoco.mj_forward(env.model, env.data)


def test_success_rule_on_hand_placed_states(peg_env: PegInsertEnv) -> None:
    peg_env.reset(seed=0)
    depth = peg_env.config.insert_depth
    _put_hole_under_tip(peg_env, depth=depth + 0.001)
    assert peg_env._success() and peg_env.ground_truth()["insertion"] == pytest.approx(
        depth + 0.001
    )
    _put_hole_under_tip(peg_env, depth=depth - 0.002)
    assert not peg_env._success()
    # beside the hole (2 mm outside its edge) is never inserted, however low the tip
    clear = peg_env._hole_half_side
    _put_hole_under_tip(peg_env, depth=depth + 0.005, dx=clear + 0.002)
    assert peg_env.ground_truth()["insertion"] == 0.0 and not peg_env._success()
    peg_env.close()


def test_state_carries_the_hole_and_the_start_is_randomised(peg_env: PegInsertEnv) -> None:
    holes, yaws = [], []
    for seed in range(5):
        obs, info = peg_env.reset(seed=seed)
        gt = peg_env.ground_truth()
        np.testing.assert_allclose(obs["state"][18:21], gt["hole_pos"], atol=1e-6)
        np.testing.assert_allclose(obs["state"][25:28], gt["hole_pos"] - gt["peg_tip"], atol=1e-6)
        assert not info["success"] and gt["peg_tip"][2] > gt["hole_pos"][2] + 0.05
        holes.append(gt["hole_pos"][:2])
        yaws.append(gt["board_yaw"])
    assert np.ptp(np.array(holes), axis=0).min() > 0.01 and np.ptp(yaws) > 0.05
    peg_env.close()


def test_fine_offset_replaces_the_hole_position_with_the_magnified_offset() -> None:
    task = get_task("peg_insert")
    env = task.make_env(dataclasses.replace(task.env, fine_offset_scale=0.003), seed=0)
    obs, _ = env.reset(seed=0)
    gt = env.ground_truth()
    offset = gt["hole_pos"] - gt["peg_tip"]
    np.testing.assert_allclose(obs["state"][18:21], np.tanh(offset / 0.003), atol=1e-6)
    np.testing.assert_allclose(obs["state"][25:28], offset, atol=1e-6)
    # 1 mm off the axis reads 0.32, not 1e-3: the entry that the critic can resolve
    _put_hole_under_tip(env, depth=0.02, dx=0.001)
    obs, *_ = env.step(np.zeros(env.config.action_dim, np.float32))
    assert 0.2 < abs(obs["state"][18]) < 0.45, obs["state"][18:21]
    with pytest.raises(ValueError, match="fine_offset_scale"):
        dataclasses.replace(task.env, fine_offset_scale=-1.0).validate()
    env.close()


def test_expert_inserts_with_demo_noise(peg_env: PegInsertEnv) -> None:
    expert = PegExpert(peg_env, noise_std=0.1, seed=0)
    for seed in range(4):
        peg_env.reset(seed=seed)
        expert.reset()
        for _ in range(peg_env.config.max_episode_steps):
            _, reward, terminated, truncated, info = peg_env.step(expert.act())
            if terminated or truncated:
                break
        assert info["success"] and reward == 1.0, (seed, info)
        assert peg_env.ground_truth()["insertion"] >= peg_env.config.insert_depth
    peg_env.close()


def test_misjudging_expert_lands_beside_the_hole_then_recovers(peg_env: PegInsertEnv) -> None:
    """expert_misalign 1: every episode goes down 2-4 mm off the hole, presses on the board
    (the wrench the demos otherwise never show), lifts, lines up and still gets in."""
    expert = PegExpert(peg_env, noise_std=0.1, seed=0, misalign=1.0)
    for seed in range(3):
        peg_env.reset(seed=seed)
        expert.reset()
        force, lifted_after_contact = [], False
        for _ in range(peg_env.config.max_episode_steps):
            action = expert.act()
            if force and max(force) > 20.0 and action[2] > 0.1:
                lifted_after_contact = True
            _, _, terminated, truncated, info = peg_env.step(action)
            force.append(float(np.linalg.norm(peg_env.ground_truth()["wrench"][:3])))
            if terminated or truncated:
                break
        assert expert.misjudged and max(force) > 20.0 and lifted_after_contact, (seed, force)
        assert info["success"], (seed, info)
    with pytest.raises(ValueError, match="expert_misalign"):
        dataclasses.replace(get_task("peg_insert").env, expert_misalign=1.5).validate()
    peg_env.close()


def test_no_insertion_without_clearance() -> None:
    """With a hole 0.1 mm wider than the peg the scripted expert cannot get in (contact is real)."""
    task = get_task("peg_insert")
    env = task.make_env(dataclasses.replace(task.env, peg_clearance=0.0001), seed=0)
    expert = PegExpert(env, noise_std=0.0, seed=0)
    env.reset(seed=0)
    for _ in range(40):
        _, _, terminated, _, info = env.step(expert.act())
        if terminated:
            break
    assert not info["success"]
    assert (
        env.ground_truth()["peg_tip"][2]
        > env.ground_truth()["hole_pos"][2] - env.config.insert_depth
    )
    env.close()


def test_wrist_wrench_joins_the_state_and_feels_contact(peg_env: PegInsertEnv) -> None:
    """The last 6 state entries are the tared wrist F/T: ~0 at reset, large when the peg presses
    on the board beside the hole, small again in free air."""
    obs, _ = peg_env.reset(seed=1)
    assert obs["state"].shape == (34,)
    np.testing.assert_allclose(obs["state"][28:], 0.0, atol=1e-6)
    np.testing.assert_allclose(peg_env.ground_truth()["wrench"], obs["state"][28:], atol=1e-5)
    # the board 3 cm to the side of the tip and 5 cm below it: moving down at 2 cm per step
    # is free for two steps, then the peg presses on the board's top face
    _put_hole_under_tip(peg_env, depth=-0.05, dx=0.03)
    down = np.zeros(peg_env.config.action_dim, np.float32)
    down[2] = -1.0
    force = []
    for _ in range(10):
        obs, *_ = peg_env.step(down)
        force.append(float(np.linalg.norm(obs["state"][28:31])))  # N
    assert max(force[:2]) < 5.0 and min(force[-4:]) > 50.0, force
    pixels_env = get_task("peg_insert").make_env(
        dataclasses.replace(get_task("peg_insert").env, obs_mode="pixels", cameras=("front",)),
        seed=0,
    )
    assert pixels_env.observation_space["state"].shape == (24,)
    pixels_env.close()
    peg_env.close()
