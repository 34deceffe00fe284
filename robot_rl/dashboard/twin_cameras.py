"""The twin's cameras for the dashboard, rendered off the control loop.

The actor thread only copies the twin's joint positions after each step (``capture``, a few
microseconds); a thread of its own owns a second ``MjData`` and a ``mujoco.Renderer`` (its GL
context lives on that thread), recomputes the kinematics of the latest snapshot, renders each
camera, JPEG-encodes it and publishes it to the feed, at most ``hz`` times per second and only
when the twin moved. This works in every observation mode: a state-only run has no images in
its observations, and a pixel run's policy images are small and would cost the control loop
an encode per step.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import mujoco
import numpy as np


class TwinCameraStream:
    """Renders named twin cameras into a DashboardFeed on a background thread."""

    def __init__(
        self, env: Any, feed: Any, *, cameras: tuple[str, ...], size: int, hz: float
    ) -> None:
        """``env``: the twin (``PickCubeEnv`` or a wrapper of it); ``feed``: a DashboardFeed;
        ``size``: frame height and width (px); ``hz``: frames per second per camera at most."""
        twin = env.unwrapped
        known = twin.ids.cameras
        unknown = [c for c in cameras if c not in known]
        if unknown:
            raise ValueError(
                f"dashboard.cameras: unknown camera(s) {unknown} (known: {sorted(known)})"
            )
        self._model = twin.model
        self._live = twin.data  # read only on the actor thread, in capture()
        self._camera_ids = {name: known[name] for name in cameras}
        self.feed = feed
        self.size = size
        self.period_s = 1.0 / hz
        self._lock = threading.Lock()
        self._qpos = np.empty_like(self._live.qpos)  # (nq,) float64 snapshot
        self._version = 0
        self._stop = threading.Event()
        self.frames_rendered = 0
        self.error: BaseException | None = None
        self.capture()
        self._thread = threading.Thread(target=self._run, name="dashboard-cameras", daemon=True)

    def start(self) -> TwinCameraStream:
        """Start rendering."""
        self._thread.start()
        return self

    def capture(self) -> None:
        """Snapshot the twin's pose; call on the thread that steps the env (after each step)."""
        with self._lock:
            np.copyto(self._qpos, self._live.qpos)
            self._version += 1

    def on_step(self, next_obs: Any, step: Any, stats: Any) -> None:
        """Actor ``on_step`` hook."""
        self.capture()

    def _run(self) -> None:
        try:
            self._render_loop()
        except Exception as err:  # any GL failure: EGL/OSMesa raise unrelated types
            self.error = err
            print(f"dashboard: camera rendering stopped: {type(err).__name__}: {err}",
                  file=sys.stderr, flush=True)  # fmt: skip

    def _render_loop(self) -> None:
        data = mujoco.MjData(self._model)
        renderer = mujoco.Renderer(self._model, height=self.size, width=self.size)
        # shadows and reflections cost two extra passes; a person watching does not need them
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        frame = np.empty((self.size, self.size, 3), dtype=np.uint8)  # (H, W, 3) uint8
        seen = -1
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                with self._lock:
                    version = self._version
                    if version != seen:
                        np.copyto(data.qpos, self._qpos)
                if version != seen:
                    seen = version
                    mujoco.mj_forward(self._model, data)
                    for name, camera_id in self._camera_ids.items():
                        renderer.update_scene(data, camera=camera_id)
                        renderer.render(out=frame)
                        self.feed.publish_frame(name, frame)
                        self.frames_rendered += 1
                self._stop.wait(max(0.0, self.period_s - (time.monotonic() - started)))
        finally:
            renderer.close()

    def close(self) -> None:
        """Stop and join the render thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
