"""Teleop devices: SpaceMouse, USB gamepad, terminal keyboard, browser gamepad/keyboard."""

from __future__ import annotations

from robot_rl.teleop.device import (
    DEVICE_NAMES,
    DeviceDisconnectedError,
    DeviceMissingError,
    TeleopCommand,
    TeleopConfig,
    TeleopDevice,
    shape_axes,
    twist_to_action,
)


def make_device(config: TeleopConfig) -> TeleopDevice | None:
    """Open the configured device; None for ``none``. Raises DeviceMissingError naming it."""
    config.validate()
    if config.device == "none":
        return None
    if config.device == "spacemouse":
        from robot_rl.teleop.spacemouse import SpaceMouse

        return SpaceMouse(config)
    if config.device == "gamepad":
        from robot_rl.teleop.joystick import Gamepad

        return Gamepad(config)
    if config.device == "keyboard":
        from robot_rl.teleop.keyboard import Keyboard

        return Keyboard(config)
    from robot_rl.teleop.browser import BrowserTeleop

    return BrowserTeleop(config)


__all__ = [
    "DEVICE_NAMES",
    "DeviceDisconnectedError",
    "DeviceMissingError",
    "TeleopCommand",
    "TeleopConfig",
    "TeleopDevice",
    "make_device",
    "shape_axes",
    "twist_to_action",
]
