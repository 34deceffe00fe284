"""The teleop device interface: each poll gives an end-effector twist, a gripper command and
an "intervene" flag, shaped by one config (deadzone, scaling, axis mapping).

Devices read raw axes in [-1, 1] from their own library/OS layer; ``shape_axes`` turns those
into the twist every device reports, so a SpaceMouse, a gamepad and a browser gamepad feel
the same under the same config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

TWIST_AXES = ("x", "y", "z", "roll", "pitch", "yaw")


class DeviceMissingError(RuntimeError):
    """A configured teleop device is not present at start (the message names it)."""


class DeviceDisconnectedError(RuntimeError):
    """A teleop device went away while in use."""


@dataclass
class TeleopConfig:
    """How raw device axes become a twist command (shared by every device)."""

    device: str = "none"
    """Which device: none, spacemouse, gamepad, keyboard, browser."""
    deadzone: float = 0.08
    """Raw axis magnitude (of 1) below which an axis reads 0; the rest is rescaled to [0, 1]."""
    scale_xyz: float = 1.0
    """Multiplier of the translation axes (the twin's action unit, before clipping to [-1, 1])."""
    scale_rot: float = 1.0
    """Multiplier of the rotation axes."""
    axis_map: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    """twist axis i (x, y, z, roll, pitch, yaw) reads raw axis axis_map[i]; -1 = unused."""
    axis_sign: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """Sign (or gain) per twist axis, e.g. -1 to flip a device's y to the robot's y."""
    intervene_on_motion: bool = True
    """Moving the device (outside the deadzone) counts as intervening, as in HIL-SERL."""
    timeout_s: float = 0.5
    """A device silent for this long (s) counts as disconnected (browser, network devices)."""
    path: str = ""
    """Device path where one applies (gamepad: /dev/input/js0; empty = first found)."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if self.device not in DEVICE_NAMES:
            raise ValueError(f"teleop.device: expected one of {DEVICE_NAMES}, got {self.device!r}")
        if not 0.0 <= self.deadzone < 1.0:
            raise ValueError(f"teleop.deadzone: expected 0 <= deadzone < 1, got {self.deadzone}")
        if len(self.axis_map) != 6 or len(self.axis_sign) != 6:
            raise ValueError("teleop.axis_map and teleop.axis_sign: expected 6 entries each")
        if self.timeout_s <= 0:
            raise ValueError(f"teleop.timeout_s: expected > 0, got {self.timeout_s}")


DEVICE_NAMES: tuple[str, ...] = ("none", "spacemouse", "gamepad", "keyboard", "browser")


@dataclass
class TeleopCommand:
    """One poll of a device."""

    twist: np.ndarray
    """(6,) float32: (vx, vy, vz, wx, wy, wz) in the action's units, before clipping."""
    gripper: float
    """Absolute gripper command: -1 open .. +1 closed."""
    intervene: bool
    """The person wants control now."""
    connected: bool = True
    """False once the device went away; twist is then zero and intervene False."""
    estop: bool = False
    """The device's e-stop input is pressed now. The run latches its e-stop on it (the
    safety layer holds the arm) and only an explicit release clears it, never the device."""


class TeleopDevice(Protocol):
    """A teleop device. ``poll`` never blocks longer than one read of the OS/library."""

    name: str

    def poll(self) -> TeleopCommand: ...

    def close(self) -> None: ...


def shape_axes(raw: np.ndarray, config: TeleopConfig) -> np.ndarray:
    """Raw device axes (N,) in [-1, 1] -> twist (6,) float32 with deadzone, mapping, scaling."""
    twist = np.zeros(6, dtype=np.float32)
    for i, src in enumerate(config.axis_map):
        if 0 <= src < raw.shape[0]:
            twist[i] = raw[src] * config.axis_sign[i]
    mag = np.abs(twist)
    # rescale so the output starts at 0 just outside the deadzone: no step at its edge
    span = 1.0 - config.deadzone
    twist = np.where(mag > config.deadzone, np.sign(twist) * (mag - config.deadzone) / span, 0.0)
    twist[:3] *= config.scale_xyz
    twist[3:] *= config.scale_rot
    return twist.astype(np.float32)


def released(gripper: float) -> TeleopCommand:
    """The command of a device that went away: no motion, no intervention, gripper held."""
    return TeleopCommand(np.zeros(6, np.float32), gripper, intervene=False, connected=False)


def twist_to_action(cmd: TeleopCommand, action_dim: int) -> np.ndarray:
    """Twist + gripper -> a twin action (A,) float32 in [-1, 1] (A = 4 or 7)."""
    action = np.zeros(action_dim, dtype=np.float32)
    action[:3] = cmd.twist[:3]
    if action_dim == 7:
        action[3:6] = cmd.twist[3:]
    elif action_dim != 4:
        raise ValueError(f"action_dim: teleop supports 4 or 7, got {action_dim}")
    action[-1] = cmd.gripper
    return np.clip(action, -1.0, 1.0)
