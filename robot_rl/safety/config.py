"""Config of the safety layer: one block per robot/task (``configs/safety/*.yaml``).

Units: positions in m, angles in rad, times in s, velocities in m/s. Action units are the
env's normalised [-1, 1]; ``action_scale_xyz`` / ``action_scale_rot`` turn them into a TCP
translation (m) / rotation (rad) per control step, as the env does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

# Franka Panda joint ranges (rad), as in the twin's model and Franka's datasheet.
PANDA_JOINT_LOW: tuple[float, ...] = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973)
PANDA_JOINT_HIGH: tuple[float, ...] = (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)


@dataclass(frozen=True)
class SafetyConfig:
    """Limits every command is held to, the watchdog deadlines and the action frame."""

    action_dim: int = 4
    """Action size: 4 = (dx, dy, dz, gripper) or 7 = (dx, dy, dz, droll, dpitch, dyaw, gripper)."""
    action_scale_xyz: float = 0.03
    """TCP translation per step for an action of 1 (m); must equal the env's."""
    action_scale_rot: float = 0.15
    """TCP rotation per step for an action of 1 (rad); must equal the env's."""
    control_hz: float = 10.0
    """Control steps per second (Hz)."""
    workspace_low: tuple[float, ...] = (0.25, -0.3, 0.01)
    """Lower corner of the box the commanded TCP position stays in, world frame (m)."""
    workspace_high: tuple[float, ...] = (0.75, 0.3, 0.40)
    """Upper corner of the TCP box, world frame (m)."""
    max_tilt: float = 0.6
    """Largest commanded roll/pitch away from pointing straight down (rad)."""
    max_yaw: float = 1.6
    """Largest commanded yaw away from the nominal gripper yaw (rad)."""
    max_step_xyz: float = 0.04
    """Largest commanded TCP translation per step, Euclidean (m)."""
    max_step_rot: float = 0.2
    """Largest commanded TCP rotation per step, norm of (droll, dpitch, dyaw) (rad)."""
    max_speed: float = 0.4
    """Largest commanded TCP speed (m/s); with control_hz it caps the step further."""
    max_measured_speed: float = 0.8
    """Measured TCP speed above which the arm holds (m/s)."""
    max_gripper_step: float = 1.0
    """Largest change of the gripper command per step (action units; full range is 2)."""
    joint_low: tuple[float, ...] = PANDA_JOINT_LOW
    """Lower joint limits (rad); empty to skip the joint check."""
    joint_high: tuple[float, ...] = PANDA_JOINT_HIGH
    """Upper joint limits (rad)."""
    joint_margin: float = 0.03
    """Inside this distance of a joint limit (rad) the arm only retreats to its last clear pose."""
    action_tolerance: float = 1e-4
    """Actions beyond 1 + this in any dimension are rejected as out of range (action units)."""
    pose_jump: float = 0.08
    """Reported TCP moving more than this between two steps is a pose-estimate fault (m)."""
    pose_settle_steps: int = 3
    """After a pose jump, consistent pose reports needed before the arm may move again."""
    stream_deadlines: dict[str, float] = field(
        default_factory=lambda: {"joints": 0.25, "front": 0.25, "wrist": 0.25}
    )
    """Largest age of the latest sample of each stream before the arm holds (s)."""
    stale_timeout: float = 1.0
    """Data stale this long (s) ends the episode (SafeCommand.end_episode)."""

    @property
    def rotation(self) -> bool:
        """Whether actions carry (droll, dpitch, dyaw)."""
        return self.action_dim == 7

    @property
    def step_limit_xyz(self) -> float:
        """Effective per-step translation limit (m): max_step_xyz and max_speed / control_hz."""
        return min(self.max_step_xyz, self.max_speed / self.control_hz)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.action_dim not in (4, 7):
            raise ValueError(f"action_dim: expected 4 or 7, got {self.action_dim!r}")
        positive = [
            "action_scale_xyz",
            "action_scale_rot",
            "control_hz",
            "max_step_xyz",
            "max_step_rot",
            "max_speed",
            "max_measured_speed",
            "max_gripper_step",
            "pose_jump",
            "stale_timeout",
        ]
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
        for name in ("max_tilt", "max_yaw", "joint_margin", "action_tolerance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        if self.pose_settle_steps < 0:
            raise ValueError(f"pose_settle_steps: must be >= 0, got {self.pose_settle_steps}")
        for name in ("workspace_low", "workspace_high"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name}: expected 3 numbers (x, y, z in m)")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError(
                f"workspace_low: must be below workspace_high on every axis, got "
                f"{self.workspace_low} vs {self.workspace_high}"
            )
        if len(self.joint_low) != len(self.joint_high):
            raise ValueError(
                f"joint_low: {len(self.joint_low)} limits but joint_high has {len(self.joint_high)}"
            )
        for i, (lo, hi) in enumerate(zip(self.joint_low, self.joint_high)):
            if not hi - lo > 2 * self.joint_margin:
                raise ValueError(
                    f"joint_low[{i}]: range [{lo}, {hi}] leaves nothing inside joint_margin"
                )
        for name, deadline in self.stream_deadlines.items():
            if not (math.isfinite(deadline) and deadline > 0):
                raise ValueError(f"stream_deadlines.{name}: must be > 0 s, got {deadline!r}")


def check_action_frame(safety: SafetyConfig, env: Any, *, where: str = "safety") -> None:
    """Raise ValueError naming ``<where>.<field>`` when the layer's action frame (action_dim,
    scales, control_hz) differs from the env config's: the layer would misjudge every step."""
    pairs = {
        "action_dim": (safety.action_dim, int(env.action_dim)),
        "action_scale_xyz": (safety.action_scale_xyz, float(env.action_scale_xyz)),
        "action_scale_rot": (safety.action_scale_rot, float(env.action_scale_rot)),
        "control_hz": (safety.control_hz, float(env.control_hz)),
    }
    for name, (mine, theirs) in pairs.items():
        if not math.isclose(mine, theirs, rel_tol=1e-9):
            raise ValueError(
                f"{where}.{name}: {mine} differs from the env's {theirs}; the safety layer "
                "must use the env's action frame"
            )


def safety_config_for_twin(twin: Any, **overrides: Any) -> SafetyConfig:
    """A SafetyConfig whose action frame and limits match a ``robot_rl_sim.TwinConfig``.

    Streams: joints always; a camera stream per camera the twin observes (obs_mode != state).
    """
    cameras = tuple(twin.cameras) if twin.obs_mode != "state" else ()
    base = SafetyConfig(
        action_dim=int(twin.action_dim),
        action_scale_xyz=float(twin.action_scale_xyz),
        action_scale_rot=float(twin.action_scale_rot),
        control_hz=float(twin.control_hz),
        workspace_low=tuple(twin.workspace_low),
        workspace_high=tuple(twin.workspace_high),
        max_tilt=float(twin.max_tilt),
        max_yaw=float(twin.max_yaw),
        stream_deadlines={"joints": 0.25, **{cam: 0.25 for cam in cameras}},
    )
    config = replace(base, **overrides)
    config.validate()
    return config
