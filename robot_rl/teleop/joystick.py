"""USB gamepad through the Linux joystick API (``/dev/input/js*``), read with the stdlib.

Why by hand: the kernel's js interface is an 8-byte struct per event (u32 time ms, s16
value, u8 type, u8 number) and reading it needs no library; pygame would pull SDL and a
display for the same four numbers. Default mapping (Xbox-style pads): left stick x/y ->
twist x/y, right stick y -> z, right stick x -> yaw; button 0 (A) toggles the gripper,
button 5 (RB) is a held "intervene", button 1 (B) is the e-stop (latched by the run).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import struct

import numpy as np

from robot_rl.teleop.device import (
    DeviceMissingError,
    TeleopCommand,
    TeleopConfig,
    released,
    shape_axes,
)

EVENT = struct.Struct("<IhBB")  # time (ms), value, type, number
JS_EVENT_BUTTON = 0x01
JS_EVENT_AXIS = 0x02
JS_EVENT_INIT = 0x80
AXIS_FULL_SCALE = 32767.0
MAX_AXES = 8
GRIPPER_BUTTON = 0
INTERVENE_BUTTON = 5
ESTOP_BUTTON = 1
# raw axis order that shape_axes sees: (lx, -ly, -ry, 0, 0, rx); sticks are y-down
DEFAULT_STICK_MAP = (0, 1, 4, -1, -1, 3)


class Gamepad:
    """A js gamepad as a TeleopDevice. ``fd`` injects an open file descriptor (tests)."""

    name = "gamepad"

    def __init__(self, config: TeleopConfig, *, fd: int | None = None) -> None:
        self.config = config
        if fd is None:
            path = config.path or next(iter(sorted(glob.glob("/dev/input/js*"))), "")
            if not path or not os.path.exists(path):
                raise DeviceMissingError(
                    "teleop device 'gamepad': no joystick device "
                    f"({config.path or '/dev/input/js*'}) found; set teleop.device=none to run "
                    "without one"
                )
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        else:
            os.set_blocking(fd, False)
        self._fd = fd
        self._sticks = np.zeros(MAX_AXES, dtype=np.float32)  # (8,) raw, -1..1
        self._buttons: dict[int, bool] = {}
        self._gripper = -1.0
        self._connected = True

    def _apply(self, value: int, kind: int, number: int) -> None:
        kind &= ~JS_EVENT_INIT
        if kind == JS_EVENT_AXIS and number < MAX_AXES:
            self._sticks[number] = value / AXIS_FULL_SCALE
        elif kind == JS_EVENT_BUTTON:
            pressed = value != 0
            if number == GRIPPER_BUTTON and pressed and not self._buttons.get(number, False):
                self._gripper = -self._gripper
            self._buttons[number] = pressed

    def poll(self) -> TeleopCommand:
        """Drain waiting joystick events and return the current command."""
        if not self._connected:
            return released(self._gripper)
        while True:
            try:
                data = os.read(self._fd, EVENT.size * 32)
            except BlockingIOError:
                break
            except OSError as err:  # ENODEV: unplugged mid-episode
                if err.errno in (errno.ENODEV, errno.EIO, errno.EBADF):
                    self._connected = False
                    return released(self._gripper)
                raise
            if not data:  # end of file: the device (or a replayed stream's writer) is gone
                self._connected = False
                return released(self._gripper)
            usable = len(data) - len(data) % EVENT.size
            for offset in range(0, usable, EVENT.size):
                _time, value, kind, number = EVENT.unpack_from(data, offset)
                self._apply(value, kind, number)
        raw = np.zeros(6, dtype=np.float32)
        for i, src in enumerate(DEFAULT_STICK_MAP):
            if src >= 0:
                raw[i] = self._sticks[src]
        raw[1] *= -1.0  # stick y grows downwards
        raw[2] *= -1.0
        twist = shape_axes(raw, self.config)
        moving = bool(np.any(twist != 0.0))
        intervene = self._buttons.get(INTERVENE_BUTTON, False) or (
            self.config.intervene_on_motion and moving
        )
        estop = self._buttons.get(ESTOP_BUTTON, False)
        return TeleopCommand(twist, self._gripper, bool(intervene), estop=estop)

    def close(self) -> None:
        """Close the device file."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
