"""The terminal keyboard as a teleop device (no extra hardware, no display needed).

A terminal reports key presses, not releases, so a key drives its axis for ``HOLD_S`` after
its last press; the OS auto-repeat (~30 Hz) keeps a held key alive. Keys: w/s = +x/-x,
a/d = +y/-y, r/f = +z/-z, space toggles the gripper, i toggles "intervene", x is the
e-stop (latched by the run; the key is not a release).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import numpy as np

from robot_rl.teleop.device import (
    DeviceMissingError,
    TeleopCommand,
    TeleopConfig,
    released,
    shape_axes,
)

HOLD_S = 0.15  # s a key press keeps driving its axis
KEY_AXES: dict[str, tuple[int, float]] = {
    "w": (0, 1.0),
    "s": (0, -1.0),
    "a": (1, 1.0),
    "d": (1, -1.0),
    "r": (2, 1.0),
    "f": (2, -1.0),
}


class Keyboard:
    """Keyboard TeleopDevice reading bytes from a terminal (or an injected fd)."""

    name = "keyboard"

    def __init__(
        self,
        config: TeleopConfig,
        *,
        fd: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._restore: list | None = None
        if fd is None:
            if not sys.stdin.isatty():
                raise DeviceMissingError(
                    "teleop device 'keyboard': stdin is not a terminal; run in a terminal or "
                    "set teleop.device=none (or browser) to run without one"
                )
            import termios
            import tty

            fd = sys.stdin.fileno()
            self._restore = termios.tcgetattr(fd)
            tty.setcbreak(fd)  # keys arrive one by one, without Enter
        os.set_blocking(fd, False)
        self._fd = fd
        self._clock = clock
        self._last_press = np.full(6, -np.inf)  # (6,) s, per raw axis
        self._sign = np.zeros(6, dtype=np.float32)
        self._gripper = -1.0
        self._intervene = False
        self._connected = True

    def poll(self) -> TeleopCommand:
        """Read pending key presses and return the current command."""
        if not self._connected:
            return released(self._gripper)
        now = self._clock()
        estop = False
        while True:
            try:
                data = os.read(self._fd, 64)
            except BlockingIOError:
                break
            except OSError:
                self._connected = False
                return released(self._gripper)
            if not data:
                self._connected = False  # terminal closed
                return released(self._gripper)
            for char in data.decode("ascii", errors="ignore").lower():
                if char in KEY_AXES:
                    axis, sign = KEY_AXES[char]
                    self._last_press[axis] = now
                    self._sign[axis] = sign
                elif char == " ":
                    self._gripper = -self._gripper
                elif char == "i":
                    self._intervene = not self._intervene
                elif char == "x":
                    estop = True
        raw = np.where(now - self._last_press <= HOLD_S, self._sign, 0.0).astype(np.float32)
        twist = shape_axes(raw, self.config)
        moving = bool(np.any(twist != 0.0))
        intervene = self._intervene or (self.config.intervene_on_motion and moving)
        return TeleopCommand(twist, self._gripper, intervene, estop=estop)

    def close(self) -> None:
        """Restore the terminal mode."""
        if self._restore is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._restore)
            self._restore = None
