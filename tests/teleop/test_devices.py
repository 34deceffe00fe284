"""Teleop devices driven by recorded input streams at the lowest layer each one reads."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from robot_rl.teleop import DeviceMissingError, TeleopConfig, make_device, shape_axes
from robot_rl.teleop.browser import BrowserTeleop
from robot_rl.teleop.joystick import EVENT, JS_EVENT_AXIS, JS_EVENT_BUTTON, JS_EVENT_INIT, Gamepad
from robot_rl.teleop.keyboard import Keyboard
from robot_rl.teleop.spacemouse import SpaceMouse


class RecordedHid:
    """A hidapi device replaying recorded reports, then unplugged (hidapi raises OSError)."""

    def __init__(self, reports: list[list[int]]) -> None:
        self.reports = list(reports)
        self.unplugged = False

    def set_nonblocking(self, flag: int) -> None:
        assert flag == 1

    def read(self, size: int) -> list[int]:
        if self.unplugged:
            raise OSError("read error")
        return self.reports.pop(0) if self.reports else []

    def close(self) -> None:
        pass


def hid_report(kind: int, *values: int) -> list[int]:
    return list(bytes([kind]) + struct.pack(f"<{len(values)}h", *values))


def test_shape_axes_deadzone_is_continuous_and_maps_axes() -> None:
    config = TeleopConfig(
        deadzone=0.1, axis_map=[1, 0, 2, -1, -1, -1], axis_sign=[-1, 1, 1, 1, 1, 1]
    )
    assert np.all(shape_axes(np.array([0.05, 0.09, 0.0]), config) == 0)
    just_out = shape_axes(np.array([0.0, 0.1001, 0.0]), config)
    assert abs(just_out[0]) < 1e-3  # no step at the deadzone edge
    full = shape_axes(np.array([1.0, -1.0, 0.5]), config)
    np.testing.assert_allclose(full[:3], [1.0, 1.0, (0.5 - 0.1) / 0.9], atol=1e-6)


def test_spacemouse_parses_reports_buttons_and_unplug() -> None:
    hid = RecordedHid(
        [
            hid_report(1, 350, 0, -175),  # translation
            hid_report(2, 0, 0, 350),  # rotation
            [3, 1],  # left button: gripper toggles closed
            [3, 0],
        ]
    )
    mouse = SpaceMouse(TeleopConfig(deadzone=0.0), hid_device=hid)
    cmd = mouse.poll()
    np.testing.assert_allclose(cmd.twist, [1.0, 0.0, -0.5, 0.0, 0.0, 1.0], atol=1e-6)
    assert cmd.gripper == 1.0 and cmd.intervene and cmd.connected
    hid.reports = [hid_report(1, 0, 0, 0, 0, 0, 0)]  # 12-byte combined report: at rest
    rest = mouse.poll()
    assert not rest.intervene and np.all(rest.twist == 0) and not rest.estop
    hid.reports = [[3, 2]]  # right button alone: intervene, no e-stop
    assert not mouse.poll().estop
    hid.reports = [[3, 3]]  # both buttons: e-stop
    assert mouse.poll().estop
    hid.reports = [[3, 0]]
    assert not mouse.poll().estop
    hid.unplugged = True
    gone = mouse.poll()
    assert not gone.connected and not gone.intervene and np.all(gone.twist == 0)
    assert gone.gripper == 1.0  # the gripper is held, not opened by the loss


def test_gamepad_reads_js_events_and_detects_unplug() -> None:
    read_fd, write_fd = os.pipe()
    pad = Gamepad(TeleopConfig(deadzone=0.0), fd=read_fd)
    events = [
        EVENT.pack(0, 0, JS_EVENT_AXIS | JS_EVENT_INIT, 0),
        EVENT.pack(10, 32767, JS_EVENT_AXIS, 0),  # left stick right -> +x
        EVENT.pack(11, -32767, JS_EVENT_AXIS, 1),  # left stick up -> +y
        EVENT.pack(12, 1, JS_EVENT_BUTTON, 0),  # A: close gripper
        EVENT.pack(13, 0, JS_EVENT_BUTTON, 0),
    ]
    os.write(write_fd, b"".join(events))
    cmd = pad.poll()
    np.testing.assert_allclose(cmd.twist[:2], [1.0, 1.0], atol=1e-4)
    assert cmd.gripper == 1.0 and cmd.intervene
    os.write(write_fd, EVENT.pack(20, 0, JS_EVENT_AXIS, 0) + EVENT.pack(21, 0, JS_EVENT_AXIS, 1))
    assert not pad.poll().intervene
    os.write(write_fd, EVENT.pack(22, 1, JS_EVENT_BUTTON, 5))  # RB held: intervene, no motion
    held = pad.poll()
    assert held.intervene and np.all(held.twist == 0) and not held.estop
    os.write(write_fd, EVENT.pack(23, 1, JS_EVENT_BUTTON, 1))  # B: e-stop while pressed
    assert pad.poll().estop
    os.write(write_fd, EVENT.pack(24, 0, JS_EVENT_BUTTON, 1))
    assert not pad.poll().estop  # the device reports the button; the run keeps the latch
    os.close(write_fd)  # unplugged: reads hit end of file
    gone = pad.poll()
    assert not gone.connected and not gone.intervene
    pad.close()


def test_keyboard_keys_drive_axes_for_a_hold_time() -> None:
    read_fd, write_fd = os.pipe()
    now = [0.0]
    kb = Keyboard(TeleopConfig(deadzone=0.0), fd=read_fd, clock=lambda: now[0])
    os.write(write_fd, b"wd ")
    cmd = kb.poll()
    np.testing.assert_allclose(cmd.twist[:3], [1.0, -1.0, 0.0])
    assert cmd.gripper == 1.0 and cmd.intervene
    now[0] = 1.0  # keys released long ago
    assert not kb.poll().intervene
    os.write(write_fd, b"i")
    assert kb.poll().intervene  # toggled on without motion
    os.write(write_fd, b"x")
    assert kb.poll().estop and not kb.poll().estop  # one press, reported once
    os.close(write_fd)
    assert not kb.poll().connected
    kb.close()


def test_browser_teleop_times_out_as_a_disconnect() -> None:
    now = [0.0]
    dev = BrowserTeleop(TeleopConfig(deadzone=0.0, timeout_s=0.5), clock=lambda: now[0])
    assert dev.poll().connected and not dev.poll().intervene  # no page yet: not "lost"
    dev.update([0.5, 0, 0], 1.0, False)
    cmd = dev.poll()
    assert cmd.intervene and cmd.twist[0] == pytest.approx(0.5) and cmd.gripper == 1.0
    now[0] = 0.7
    lost = dev.poll()
    assert not lost.connected and not lost.intervene and np.all(lost.twist == 0)
    with pytest.raises(ValueError, match="non-finite"):
        dev.update([float("nan")], 0.0, False)


def test_missing_devices_are_clear_errors() -> None:
    with pytest.raises(DeviceMissingError, match=r"'gamepad'.*teleop\.device=none"):
        make_device(TeleopConfig(device="gamepad", path="/dev/input/js-not-there"))
    with pytest.raises(DeviceMissingError, match="'spacemouse'"):
        make_device(TeleopConfig(device="spacemouse"))  # no SpaceMouse on this machine
    assert make_device(TeleopConfig(device="none")) is None
    with pytest.raises(ValueError, match=r"teleop\.device"):
        make_device(TeleopConfig(device="joystick9000"))
