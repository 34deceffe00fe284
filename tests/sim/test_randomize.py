"""Domain randomisation (``env.randomize``): seeded per episode, pixels only, off by default."""

from __future__ import annotations

import numpy as np
import pytest
from robot_rl_sim import RenderBackendError, TwinConfig
from robot_rl_sim.randomize import RandomizeConfig
from robot_rl_sim.tasks import get_task

from robot_rl import keys
from robot_rl.config import ConfigError, from_dict

pytestmark = pytest.mark.twin

ON = RandomizeConfig(enabled=True)


def _first_obs(task: str, randomize: RandomizeConfig, seed: int) -> dict[str, np.ndarray]:
    base = get_task(task).env
    config = TwinConfig(**{**base.__dict__, "obs_mode": "both", "image_size": 64,
                           "randomize": randomize})  # fmt: skip
    env = get_task(task).make_env(config, seed=seed)
    try:
        obs, _ = env.reset()
    except RenderBackendError as err:
        pytest.skip(f"no headless GL backend: {err}")
    finally:
        env.close()
    return obs


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("task", ["pick_cube_hard", "peg_insert"])
def test_same_seed_same_images_other_seed_other_look(task: str) -> None:
    a, again, b = (_first_obs(task, ON, s) for s in (3, 3, 4))
    for cam in ("front", "wrist"):
        key = keys.pixels_key(cam)
        np.testing.assert_array_equal(a[key], again[key])
        assert _diff(a[key], b[key]) > 2.0, cam
    np.testing.assert_array_equal(a[keys.STATE], again[keys.STATE])


def test_randomisation_changes_the_look_not_the_scene() -> None:
    plain, shuffled = _first_obs("pick_cube", RandomizeConfig(), 5), _first_obs("pick_cube", ON, 5)
    # the same seed places the arm and cube alike: proprioception is identical
    np.testing.assert_array_equal(plain[keys.STATE], shuffled[keys.STATE])
    front = keys.pixels_key("front")
    assert _diff(plain[front], shuffled[front]) > 2.0
    # off by default: two plain resets with one seed render the nominal scene exactly
    np.testing.assert_array_equal(
        plain[front], _first_obs("pick_cube", RandomizeConfig(), 5)[front]
    )


def test_only_camera_jitter_moves_the_image_a_little() -> None:
    cams = RandomizeConfig(enabled=True, light_scale=0, light_pos=0, ambient=0, table_rgb=0,
                           object_rgb=0, camera_pos=0.004, camera_rot_deg=1.5)  # fmt: skip
    plain, jittered = (
        _first_obs("pick_cube", RandomizeConfig(), 6),
        _first_obs("pick_cube", cams, 6),
    )
    front = keys.pixels_key("front")
    assert 0.0 < _diff(plain[front], jittered[front]) < 40.0


def test_bad_range_is_named() -> None:
    with pytest.raises(ConfigError, match=r"env\.randomize\.camera_pos: must be >= 0, got -1\.0"):
        from_dict(TwinConfig, {"randomize": {"camera_pos": -1.0}}, path="env")
    with pytest.raises(ConfigError, match=r"env.randomize.colour: unknown key"):
        from_dict(TwinConfig, {"randomize": {"colour": 1}}, path="env")
    with pytest.raises(ValueError, match=r"randomize.light_scale: must be < 1"):
        TwinConfig(randomize=RandomizeConfig(light_scale=1.5)).validate()
