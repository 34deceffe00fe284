"""3Dconnexion SpaceMouse over HID (the maintained ``hidapi`` binding, imported as ``hid``).

The report parsing is the one pyspacemouse uses: report 1 carries translation (or, on newer
wireless/compact models, translation and rotation in 12 bytes), report 2 rotation, report 3
the button bitmask; axes are little-endian int16 of about +-350 full scale. Left button
toggles the gripper, right button is a held "intervene"; both buttons at once are the e-stop
(latched by the run): press right, then left (the left button does not toggle the gripper
while the right is down).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from robot_rl.teleop.device import (
    DeviceDisconnectedError,
    DeviceMissingError,
    TeleopCommand,
    TeleopConfig,
    released,
    shape_axes,
)

VENDOR_IDS = (0x046D, 0x256F)  # Logitech-era and 3Dconnexion vendor ids
FULL_SCALE = 350.0  # raw counts at full deflection
REPORT_SIZE = 13
MAX_READS_PER_POLL = 64  # drain the queue without spinning forever on a flood


def _open_first(enumerate_fn: Callable[[], list[dict[str, Any]]]) -> Any:
    import hid

    for info in enumerate_fn():
        if (
            info.get("vendor_id") in VENDOR_IDS
            and "space" in str(info.get("product_string", "")).lower()
        ):
            dev = hid.device()
            dev.open_path(info["path"])
            return dev
    raise DeviceMissingError(
        "teleop device 'spacemouse': no 3Dconnexion SpaceMouse found over HID "
        "(plugged in? udev rule for hidraw access?); set teleop.device=none to run without one"
    )


class SpaceMouse:
    """SpaceMouse as a TeleopDevice. ``hid_device`` injects a device object (tests, replays)."""

    name = "spacemouse"

    def __init__(self, config: TeleopConfig, *, hid_device: Any | None = None) -> None:
        self.config = config
        if hid_device is None:
            import hid

            hid_device = _open_first(hid.enumerate)
        self._dev = hid_device
        self._dev.set_nonblocking(1)
        self._axes = np.zeros(6, dtype=np.float32)  # (6,) raw, -1..1
        self._buttons = 0
        self._gripper = -1.0
        self._connected = True

    def _apply_report(self, data: list[int]) -> None:
        report = bytes(data)
        kind = report[0]
        if kind == 1 and len(report) >= 13:
            self._axes[:] = np.asarray(struct.unpack("<6h", report[1:13])) / FULL_SCALE
        elif kind == 1 and len(report) >= 7:
            self._axes[:3] = np.asarray(struct.unpack("<3h", report[1:7])) / FULL_SCALE
        elif kind == 2 and len(report) >= 7:
            self._axes[3:] = np.asarray(struct.unpack("<3h", report[1:7])) / FULL_SCALE
        elif kind == 3 and len(report) >= 2:
            buttons = report[1]
            if buttons & 1 and not self._buttons & 1 and not buttons & 2:
                # toggle on press, not while held; not with the right button down (that is
                # the e-stop chord: stopping must not also open the gripper)
                self._gripper = -self._gripper
            self._buttons = buttons
        np.clip(self._axes, -1.0, 1.0, out=self._axes)

    def poll(self) -> TeleopCommand:
        """Drain waiting HID reports and return the current command."""
        if not self._connected:
            return released(self._gripper)
        try:
            for _ in range(MAX_READS_PER_POLL):
                data = self._dev.read(REPORT_SIZE)
                if not data:
                    break
                self._apply_report(data)
        except (OSError, ValueError, DeviceDisconnectedError):
            self._connected = False  # unplugged: hidapi raises on read of a vanished device
            return released(self._gripper)
        twist = shape_axes(self._axes, self.config)
        moving = bool(np.any(twist != 0.0))
        intervene = bool(self._buttons & 2) or (self.config.intervene_on_motion and moving)
        estop = self._buttons & 3 == 3
        return TeleopCommand(twist, self._gripper, intervene, estop=estop)

    def close(self) -> None:
        """Release the HID handle."""
        with contextlib.suppress(OSError):
            self._dev.close()
