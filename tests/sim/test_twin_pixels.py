"""Camera observations of the twin: dtype, shape, content that follows the arm."""

from __future__ import annotations

import numpy as np
import pytest
from robot_rl_sim import PickCubeEnv, RenderBackendError, TwinConfig, make_env

from robot_rl import keys

pytestmark = pytest.mark.twin


def test_images_are_uint8_frames_that_change_when_the_arm_moves(pixel_env: PickCubeEnv) -> None:
    obs, _ = pixel_env.reset(seed=1)
    assert set(obs) == {keys.STATE, keys.pixels_key("front"), keys.pixels_key("wrist")}
    assert obs[keys.STATE].shape == (18,)  # proprioception only: no cube pose in pixel modes
    assert pixel_env.observation_space.contains(obs)
    for cam in ("front", "wrist"):
        img = obs[keys.pixels_key(cam)]
        assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
        assert img.std() > 5  # not a blank frame
    before = {k: v.copy() for k, v in obs.items()}
    for _ in range(3):
        obs, *_ = pixel_env.step(np.array([0.0, 1.0, -1.0, 1.0], np.float32))
    for cam in ("front", "wrist"):
        key = keys.pixels_key(cam)
        diff = np.abs(obs[key].astype(np.int16) - before[key].astype(np.int16)).mean()
        assert diff > 1.0, (cam, diff)


def test_cube_is_visible_and_red_in_the_front_camera(pixel_env: PickCubeEnv) -> None:
    obs, _ = pixel_env.reset(seed=0)
    img = obs[keys.pixels_key("front")].astype(np.int16)
    red = (img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() >= 2


def test_render_frame_in_every_mode(pixel_env: PickCubeEnv) -> None:
    frame = pixel_env.render()
    assert frame.dtype == np.uint8 and frame.shape == (256, 256, 3)
    env = make_env(TwinConfig(obs_mode="state", render_size=96), seed=0)
    env.reset()
    assert env.render().shape == (96, 96, 3)
    env.close()


def test_single_camera_pixels_mode() -> None:
    env = make_env(TwinConfig(obs_mode="pixels", cameras=("wrist",), image_size=32), seed=0)
    try:
        obs, _ = env.reset()
    except RenderBackendError as err:  # no GL backend on this machine
        pytest.skip(str(err))
    assert set(obs) == {keys.STATE, keys.pixels_key("wrist")}
    assert obs[keys.pixels_key("wrist")].shape == (32, 32, 3)
    env.close()
