"""A gamepad or keyboard in the browser, fed by the dashboard's websocket (Gamepad API).

The dashboard calls ``update`` with each message the page sends (~20 Hz while the page is
open); ``poll`` reports the latest one. A page that closes or goes quiet for
``config.timeout_s`` is a disconnected device: intervention released, motion zero.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from robot_rl.teleop.device import TeleopCommand, TeleopConfig, released, shape_axes


class BrowserTeleop:
    """TeleopDevice whose input arrives from a browser page."""

    name = "browser"

    def __init__(
        self, config: TeleopConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._raw = np.zeros(6, dtype=np.float32)
        self._gripper = -1.0
        self._intervene = False
        self._last_update = -np.inf
        self._ever_connected = False

    def update(self, axes: Sequence[float], gripper: float, intervene: bool) -> None:
        """Store one message from the page: raw axes (up to 6, -1..1), gripper, intervene."""
        raw = np.zeros(6, dtype=np.float32)
        values = np.asarray(list(axes)[:6], dtype=np.float32)
        if not np.all(np.isfinite(values)):
            raise ValueError("browser teleop: non-finite axis values")
        raw[: values.size] = np.clip(values, -1.0, 1.0)
        with self._lock:
            self._raw = raw
            self._gripper = float(np.clip(gripper, -1.0, 1.0))
            self._intervene = bool(intervene)
            self._last_update = self._clock()
            self._ever_connected = True

    def detach(self) -> None:
        """The person switched browser teleop off: a clean release, not a lost device."""
        with self._lock:
            self._last_update = -np.inf
            self._ever_connected = False
            self._intervene = False

    def disconnect(self) -> None:
        """The page's websocket closed."""
        with self._lock:
            self._last_update = -np.inf

    @property
    def connected(self) -> bool:
        """A page has sent input within ``timeout_s``."""
        with self._lock:
            return self._clock() - self._last_update <= self.config.timeout_s

    def poll(self) -> TeleopCommand:
        """The latest command, or a released one once the page went quiet."""
        with self._lock:
            fresh = self._clock() - self._last_update <= self.config.timeout_s
            if not fresh:
                cmd = released(self._gripper)
                cmd.connected = not self._ever_connected  # not yet opened is not "lost"
                return cmd
            raw, gripper, intervene = self._raw.copy(), self._gripper, self._intervene
        twist = shape_axes(raw, self.config)
        moving = bool(np.any(twist != 0.0))
        return TeleopCommand(
            twist, gripper, intervene or (self.config.intervene_on_motion and moving)
        )

    def close(self) -> None:
        """Nothing to release."""
