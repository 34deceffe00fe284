"""The twin's task registry and the hard pick-cube: real envs, real physics, no mocks."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest
from robot_rl_sim import RenderBackendError, TwinConfig, make_env
from robot_rl_sim.env import DISTRACTOR_GAP, PROPRIO_DIM
from robot_rl_sim.tasks import TASKS, get_task

from robot_rl import keys

pytestmark = pytest.mark.twin


def test_registry_names_its_tasks_and_rejects_unknown_ones() -> None:
    assert {"pick_cube", "pick_cube_hard"} <= set(TASKS)
    for name, task in TASKS.items():
        assert task.name == name and task.summary and task.demo_episodes > 0
        task.env.validate()
    assert get_task("pick_cube").env == TwinConfig()
    with pytest.raises(ValueError, match=r"task: unknown task 'pick_cube_hrad' \(known: .*"):
        get_task("pick_cube_hrad")


def test_hard_env_builds_steps_and_its_expert_succeeds() -> None:
    task = get_task("pick_cube_hard")
    env = task.make_env(task.env, seed=0)
    expert = task.make_expert(env, noise_std=0.1, seed=0)
    assert env.action_space.shape == (7,)
    geom = env.model.geom("cube")
    np.testing.assert_allclose(geom.size, [task.env.cube_half_size] * 3)
    successes, yaws = 0, []
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        assert obs["state"].shape == (PROPRIO_DIM + 10,)
        w, _, _, z = env.ground_truth()["cube_quat"]
        yaws.append(2 * np.arctan2(z, w))
        expert.reset()
        for _ in range(task.env.max_episode_steps):
            obs, reward, terminated, truncated, info = env.step(expert.act())
            assert np.all(np.isfinite(obs["state"]))
            if terminated or truncated:
                break
        successes += int(info["success"])
        assert reward == float(info["success"])
    env.close()
    assert successes == 4
    assert np.ptp(yaws) > 0.2  # the cube's yaw is randomised


def test_distractors_are_placed_apart_and_rest_on_the_table() -> None:
    cfg = dataclasses.replace(get_task("pick_cube_hard").env, distractors=3)
    env = make_env(cfg, seed=0)
    assert len(env.ids.distractor_qpos) == 3
    cube_qpos = env.ids.cube_qpos
    first_positions = []
    for seed in range(30):
        env.reset(seed=seed)
        cube = env.data.qpos[cube_qpos : cube_qpos + 2].copy()
        xy = [env.data.qpos[a : a + 2].copy() for a in env.ids.distractor_qpos]
        first_positions.append(xy[0])
        for i, p in enumerate(xy):
            assert np.linalg.norm(p - cube) >= cfg.distractor_clearance
            for q in xy[i + 1 :]:
                assert np.linalg.norm(p - q) >= DISTRACTOR_GAP
    assert np.ptp(np.array(first_positions), axis=0).min() > 0.05  # they move between resets
    # no object starts inside another: the first physics steps leave them where they were
    env.reset(seed=1)
    start = [env.data.qpos[a : a + 3].copy() for a in env.ids.distractor_qpos]
    for _ in range(5):
        env.step(np.array([0, 0, 0, 0, 0, 0, -1], np.float32))
    for adr, before in zip(env.ids.distractor_qpos, start):
        np.testing.assert_allclose(env.data.qpos[adr : adr + 3], before, atol=2e-3)
    env.close()


def test_distractors_are_in_the_scene_but_not_the_state() -> None:
    base = TwinConfig()
    plain = make_env(base, seed=0)
    busy = make_env(dataclasses.replace(base, distractors=2), seed=0)
    assert busy.model.nbody == plain.model.nbody + 2
    names = [
        mujoco.mj_id2name(busy.model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(busy.model.nbody)
    ]
    assert "distractor0" in names and "distractor1" in names and "distractor2" not in names
    assert busy.observation_space == plain.observation_space
    plain.close()
    busy.close()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("distractors", 4, r"distractors: expected an int in 0\.\.3"),
        ("distractors", -1, r"distractors: expected an int in 0\.\.3"),
        ("cube_half_size", 0.05, "cube_half_size: .* does not fit"),
        ("cube_half_size", 0.0, "cube_half_size: must be a finite number > 0"),
        ("distractor_clearance", 0.0, "distractor_clearance: must be"),
    ],
)
def test_bad_task_fields_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TwinConfig(), **{field: value}).validate()


def test_cameras_see_the_distractors() -> None:
    cfg = TwinConfig(obs_mode="pixels", cameras=("front",), image_size=64)
    plain = make_env(cfg, seed=3)
    busy = make_env(dataclasses.replace(cfg, distractors=3), seed=3)
    try:
        without, _ = plain.reset()
    except RenderBackendError as err:  # no GL backend on this machine
        pytest.skip(str(err))
    with_them, _ = busy.reset()
    key = keys.pixels_key("front")
    # the same seed gives the same cube and arm; only the distractors differ
    np.testing.assert_array_equal(plain.ground_truth()["cube_pos"], busy.ground_truth()["cube_pos"])
    changed = np.abs(with_them[key].astype(int) - without[key].astype(int)).max(axis=-1) > 40
    assert changed.sum() >= 10, changed.sum()
    plain.close()
    busy.close()
