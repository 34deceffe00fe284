"""Headless GL backend choice and the error when no backend works (run in subprocesses)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

SCRIPT_PIXELS = """
from robot_rl_sim import RenderBackendError, TwinConfig, make_env
env = make_env(TwinConfig(obs_mode="pixels", image_size=32))
try:
    env.reset(seed=0)
except RenderBackendError as err:
    print("RENDER_ERROR:", err)
else:
    print("RENDERED")
"""

SCRIPT_STATE = """
import numpy as np
from robot_rl_sim import TwinConfig, make_env
env = make_env(TwinConfig(obs_mode="state"), seed=0)
env.reset()
env.step(np.zeros(4, np.float32))
print("STATE_OK")
"""


def _run(code: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def _osmesa_loadable() -> bool:
    for name in ("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def test_invalid_backend_name_gives_clear_error_at_first_render() -> None:
    proc = _run(SCRIPT_PIXELS, MUJOCO_GL="nonexistent")
    assert "RENDER_ERROR:" in proc.stdout, proc.stdout + proc.stderr
    assert "MUJOCO_GL='nonexistent' is not a MuJoCo backend" in proc.stdout
    assert "apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri" in proc.stdout
    assert "libosmesa6" in proc.stdout
    proc = _run(SCRIPT_STATE, MUJOCO_GL="nonexistent")
    assert "STATE_OK" in proc.stdout, proc.stderr  # physics never needs GL


@pytest.mark.skipif(
    _osmesa_loadable(), reason="libOSMesa is installed here; the failure path needs it absent"
)
def test_unusable_backend_fails_at_first_render_and_state_mode_still_works() -> None:
    proc = _run(SCRIPT_PIXELS, MUJOCO_GL="osmesa")
    assert "RENDER_ERROR:" in proc.stdout, proc.stdout + proc.stderr
    assert "MUJOCO_GL='osmesa' but its library cannot be loaded" in proc.stdout
    assert "apt-get install -y" in proc.stdout
    proc = _run(SCRIPT_STATE, MUJOCO_GL="osmesa")
    assert "STATE_OK" in proc.stdout, proc.stderr


def test_backend_is_chosen_automatically() -> None:
    proc = _run("import os, robot_rl_sim; print(os.environ.get('MUJOCO_GL'))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] in ("egl", "osmesa", "None")
