"""Offscreen camera rendering for the twin: one ``mujoco.Renderer`` per image size, made lazily.

Speed settings (the frames feed a CNN at 128 px, not a human): no shadows, no reflections, no
multisampling (``offsamples=0`` in the scene XML), collision meshes instead of visual meshes
(``robot_rl_sim.model``). A state-only env never constructs a :class:`CameraRig` renderer.
"""

from __future__ import annotations

import atexit
import functools
import weakref

import mujoco
import numpy as np

from robot_rl_sim._gl import backend_error


class CameraRig:
    """Renders named model cameras into uint8 (H, W, 3) arrays; owns its GL contexts."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self._model = model
        self._renderers: dict[int, mujoco.Renderer] = {}
        # Free the GL contexts when the rig is collected, and at exit before mujoco's own atexit
        # hook terminates the EGL display (registered later, so it runs earlier); without
        # this, Renderer.__del__ prints EGL_NOT_INITIALIZED tracebacks at interpreter exit.
        self._close_at_exit = functools.partial(_close_all, self._renderers)
        self._finalizer = weakref.finalize(self, _close_all, self._renderers)

    def _renderer(self, size: int) -> mujoco.Renderer:
        renderer = self._renderers.get(size)
        if renderer is None:
            try:
                renderer = mujoco.Renderer(self._model, height=size, width=size)
            except Exception as err:  # any GL failure: EGL/OSMesa/GLFW raise unrelated types
                raise backend_error(f"{type(err).__name__}: {err}") from err
            # shadows and reflections cost two extra passes and add nothing a policy needs
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 1
            if not self._renderers:
                atexit.register(self._close_at_exit)
            self._renderers[size] = renderer
        return renderer

    def render(self, data: mujoco.MjData, camera_id: int, size: int) -> np.ndarray:
        """Fresh (size, size, 3) uint8 frame from camera_id for the current ``data`` state."""
        renderer = self._renderer(size)
        renderer.update_scene(data, camera=camera_id)
        frame = np.empty((size, size, 3), dtype=np.uint8)  # (H, W, 3) uint8, owned by the caller
        renderer.render(out=frame)
        return frame

    def close(self) -> None:
        """Free the GL contexts."""
        atexit.unregister(self._close_at_exit)
        _close_all(self._renderers)


def _close_all(renderers: dict[int, mujoco.Renderer]) -> None:
    for renderer in renderers.values():
        renderer.close()
    renderers.clear()
