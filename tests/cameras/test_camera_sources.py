"""Camera sources: the twin's cameras behind the camera interface; RealSense errors without it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from robot_rl_sim import TwinConfig, make_env

from robot_rl.cameras import CameraSource, CameraUnavailableError, TwinCamera, read_pixels


@pytest.mark.twin
def test_twin_cameras_give_the_frames_the_twin_observes() -> None:
    env = make_env(TwinConfig(obs_mode="pixels", image_size=32), seed=0)
    obs, _ = env.reset(seed=1)
    sources: dict[str, CameraSource] = {
        name: TwinCamera(env, name, size=32) for name in ("front", "wrist")
    }
    pixels = read_pixels(sources, 32)
    for key in ("pixels_front", "pixels_wrist"):
        np.testing.assert_array_equal(pixels[key], obs[key])
    frame = sources["front"].read()
    assert frame.rgb.shape == (32, 32, 3) and frame.depth_m is None
    assert read_pixels({"front": TwinCamera(env, "front", size=64)}, 16)["pixels_front"].shape == (
        16,
        16,
        3,
    )
    with pytest.raises(CameraUnavailableError, match="twin camera 'side' does not exist"):
        TwinCamera(env, "side")
    for source in sources.values():
        source.close()
    env.close()


def test_realsense_without_a_device_says_what_is_missing() -> None:
    from robot_rl.cameras.realsense import RealSenseCamera

    with pytest.raises(CameraUnavailableError) as err:
        RealSenseCamera("front", "000000000000")
    if importlib.util.find_spec("pyrealsense2") is None:
        assert "pip install pyrealsense2" in str(err.value)
    else:  # library present (maybe without libusb): either no device or not usable
        assert "000000000000" in str(err.value) or "libusb" in str(err.value)


def test_importing_the_camera_package_does_not_import_pyrealsense2() -> None:
    import subprocess
    import sys

    code = "import robot_rl.cameras.realsense, sys; assert 'pyrealsense2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
