"""sensor_msgs/Joy (SpaceMouse via spacenav, or a gamepad via joy) -> intervention actions.

The teleop node publishes the result on ``intervention_topic``; an empty action means hands
off. A dead-man button must be held for the human to act, so a dropped device or a released
button hands control back to the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JoyMapping:
    """Which Joy axes and buttons drive which action dimension."""

    axes: tuple[int, ...] = (1, 0, 2)
    """Joy axis index for dx, dy, dz (and droll, dpitch, dyaw when 6 are given)."""
    signs: tuple[float, ...] = (1.0, 1.0, 1.0)
    """Sign per mapped axis (device axes point differently from the base frame)."""
    deadzone: float = 0.05
    """Axis values with |v| below this count as 0."""
    gain: float = 1.0
    """Action per unit axis deflection."""
    deadman_button: int = 0
    """Button that must be held to intervene (-1: any axis deflection intervenes)."""
    close_button: int = 1
    """Button held = gripper closed; released = open."""
    success_button: int = -1
    """Button that labels the current step a success (reward node); -1: none."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if len(self.axes) not in (3, 6):
            raise ValueError(f"axes: expected 3 or 6 axis indices, got {len(self.axes)}")
        if len(self.signs) != len(self.axes):
            raise ValueError(f"signs: expected {len(self.axes)} signs, got {len(self.signs)}")
        if not 0 <= self.deadzone < 1:
            raise ValueError(f"deadzone: expected [0, 1), got {self.deadzone}")


def _button(buttons: np.ndarray, index: int) -> bool:
    return 0 <= index < buttons.size and bool(buttons[index])


def joy_to_action(
    axes: object, buttons: object, mapping: JoyMapping, *, action_dim: int
) -> np.ndarray:
    """Intervention action (action_dim,) float32 in [-1, 1], or (0,) when hands off."""
    ax = np.asarray(axes, dtype=np.float64)
    bt = np.asarray(buttons, dtype=np.int64)
    moving = ax.size > 0 and bool(np.any(np.abs(ax) >= mapping.deadzone))
    active = _button(bt, mapping.deadman_button) if mapping.deadman_button >= 0 else moving
    if not active:
        return np.zeros(0, np.float32)
    action = np.zeros(action_dim, dtype=np.float64)
    n_axes = 6 if action_dim == 7 and len(mapping.axes) == 6 else 3
    for i in range(n_axes):
        index = mapping.axes[i]
        if index >= ax.size:
            raise ValueError(f"axes: Joy message has {ax.size} axes, mapping uses axis {index}")
        value = ax[index] if abs(ax[index]) >= mapping.deadzone else 0.0
        action[i] = mapping.signs[i] * mapping.gain * value
    action[-1] = 1.0 if _button(bt, mapping.close_button) else -1.0
    return np.clip(action, -1.0, 1.0).astype(np.float32)


def joy_success(buttons: object, mapping: JoyMapping) -> bool:
    """True while the success-label button is held."""
    return _button(np.asarray(buttons, dtype=np.int64), mapping.success_button)
