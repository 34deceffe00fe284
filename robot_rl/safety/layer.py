"""The safety layer: every command from any action source (policy, human, reset controller)
passes through ``SafetyLayer.filter`` before it reaches the robot or the twin.

What it does each control step, in order (the first that fires decides a hold):

1. e-stop latched (``estop(reason)`` from code, dashboard, teleop or ROS) -> hold until
   ``release()``;
2. watchdog: a stream (joints, cameras) older than its deadline -> hold; stale for longer
   than ``stale_timeout`` -> ``end_episode``;
3. bad state (non-finite pose), a jump in the reported TCP pose, measured over-speed -> hold;
4. action not finite, of the wrong shape or beyond [-1, 1] -> rejected, hold;
5. otherwise the action is clipped: per-step translation (and speed), rotation, workspace
   box, orientation limits, gripper rate; near a joint limit the arm only retreats to its
   last pose with every joint clear.

A held arm gets a zero-motion command: no translation or rotation, the last gripper command.
The reference for the box is the measured TCP (as SERL's Franka env), so a command is safe
whatever the robot's controller did before. Every intervention is an event (a short string,
``"reject:nan"``) counted in ``stats``. Thread-safe: ``estop``/``release`` may come from other
threads (dashboard, ROS callbacks) while the control loop calls ``filter``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from robot_rl.geometry import tcp_offset_rpy
from robot_rl.safety.config import SafetyConfig

GRIPPER_OPEN = -1.0  # action units: the gripper command before any command was sent


@dataclass
class RobotState:
    """What the layer knows about the robot this step (world frame, SI units)."""

    tcp_pos: np.ndarray
    """(3,) measured TCP position (m)."""
    tcp_quat: np.ndarray | None = None
    """(4,) measured TCP orientation (w, x, y, z); None skips orientation limits."""
    tcp_vel: np.ndarray | None = None
    """(3,) measured TCP linear velocity (m/s); None skips the over-speed check."""
    joint_pos: np.ndarray | None = None
    """(J,) measured joint positions (rad); None skips the joint-limit check."""
    stream_times: Mapping[str, float] = field(default_factory=dict)
    """Time of the latest sample of each stream (s, same clock as ``now``)."""

    @classmethod
    def from_twin_state(
        cls, state: np.ndarray, stream_times: Mapping[str, float] | None = None
    ) -> RobotState:
        """From the twin's float32 ``"state"`` vector (layout in ``robot_rl_sim.env``)."""
        state = np.asarray(state, dtype=np.float64)
        return cls(
            tcp_pos=state[0:3],
            tcp_quat=state[3:7],
            tcp_vel=state[7:10],
            joint_pos=state[11:18],
            stream_times=dict(stream_times or {}),
        )


@dataclass
class SafeCommand:
    """What the layer lets through: the action to send and why it differs from the input."""

    action: np.ndarray
    """(A,) float32 in [-1, 1]: the command to send."""
    held: bool
    """True when the arm was held (zero motion, gripper unchanged)."""
    events: list[str]
    """Interventions this step, e.g. ``["stale:front"]`` or ``["clip:box"]``; empty if none."""
    end_episode: bool = False
    """True when data stayed stale past ``stale_timeout``: end the episode safely."""


class SafetyLayer:
    """Filters every command; holds the arm on faults; latches an e-stop. See module docstring."""

    def __init__(self, config: SafetyConfig) -> None:
        config.validate()
        self.config = config
        self._low = np.asarray(config.workspace_low, dtype=np.float64)
        self._high = np.asarray(config.workspace_high, dtype=np.float64)
        self._rot_limit = np.array([config.max_tilt, config.max_tilt, config.max_yaw])
        self._joint_low = np.asarray(config.joint_low, dtype=np.float64) + config.joint_margin
        self._joint_high = np.asarray(config.joint_high, dtype=np.float64) - config.joint_margin
        self._lock = threading.Lock()
        self._estop_reason: str | None = None
        self._counts: Counter[str] = Counter()
        self.reset()

    # ---------------------------------------------------------------------------- e-stop
    def estop(self, reason: str) -> None:
        """Latch the e-stop (any source, any thread); the arm holds until ``release()``."""
        with self._lock:
            if self._estop_reason is None:
                self._counts["estop_triggered"] += 1
            self._estop_reason = reason or "unspecified"

    def release(self) -> None:
        """Clear a latched e-stop: the only way to move again after ``estop``."""
        with self._lock:
            if self._estop_reason is not None:
                self._counts["estop_released"] += 1
            self._estop_reason = None

    @property
    def estopped(self) -> str | None:
        """Reason of the latched e-stop, None when not latched."""
        with self._lock:
            return self._estop_reason

    # ----------------------------------------------------------------------------- state
    def reset(self, *, gripper: float | None = GRIPPER_OPEN) -> None:
        """Forget per-episode memory (previous pose, stale timer); keeps e-stop and stats.

        ``gripper``: the gripper command in force after the reset (action units); None keeps
        the last one (reset-free episodes that start with the cube in the hand).
        """
        if gripper is not None:
            self._gripper = float(np.clip(gripper, -1.0, 1.0))
        self._prev_pos: np.ndarray | None = None
        self._clear_pos: np.ndarray | None = None  # last TCP pose with all joints clear
        self._settle = 0  # consistent pose reports still needed after a jump
        self._stale_since: float | None = None

    @property
    def stats(self) -> dict[str, int]:
        """Counters for metrics: ``commands``, ``held``, and one ``event/<name>`` per event."""
        with self._lock:
            out = dict(self._counts)
        out.setdefault("commands", 0)
        out.setdefault("held", 0)
        out["estop_latched"] = int(self.estopped is not None)
        return out

    # ----------------------------------------------------------------------------- filter
    def filter(self, action: np.ndarray, state: RobotState, now: float) -> SafeCommand:
        """The command to send for ``action`` given the robot ``state`` at time ``now`` (s)."""
        events: list[str] = []
        end = False
        reason = self.estopped
        if reason is not None:
            events.append("estop")
        stale = self._stale_streams(state.stream_times, now)
        if stale:
            events += [f"stale:{name}" for name in stale]
            if self._stale_since is None:
                self._stale_since = now
            end = now - self._stale_since >= self.config.stale_timeout
            if end:
                events.append("stale_timeout")
        else:
            self._stale_since = None
        events += self._check_state(state)
        act = np.asarray(action)
        events += self._check_action(act)
        if events:
            return self._emit(self._hold(), held=True, events=events, end=end)
        return self._emit(self._clip(act.astype(np.float64), state, events), False, events, end)

    # ---------------------------------------------------------------------------- checks
    def _stale_streams(self, times: Mapping[str, float], now: float) -> list[str]:
        stale = []
        for name, deadline in self.config.stream_deadlines.items():
            t = times.get(name)
            if t is None or not np.isfinite(t) or now - t > deadline:
                stale.append(name)
        return stale

    def _check_state(self, state: RobotState) -> list[str]:
        """Hold reasons from the measured state; updates the pose-jump memory."""
        pos = np.asarray(state.tcp_pos, dtype=np.float64)
        parts = [pos, state.tcp_quat, state.tcp_vel, state.joint_pos]
        if pos.shape != (3,) or not all(
            p is None or np.all(np.isfinite(np.asarray(p, dtype=np.float64))) for p in parts
        ):
            return ["bad_state"]
        events = []
        if (
            self._prev_pos is not None
            and np.linalg.norm(pos - self._prev_pos) > self.config.pose_jump
        ):
            events.append("pose_jump")
            self._settle = self.config.pose_settle_steps
        elif self._settle > 0:
            self._settle -= 1
            events.append("pose_settling")
        self._prev_pos = pos.copy()
        if state.tcp_vel is not None:
            speed = float(np.linalg.norm(state.tcp_vel))
            if speed > self.config.max_measured_speed:
                events.append("overspeed")
        return events

    def _check_action(self, act: np.ndarray) -> list[str]:
        if act.shape != (self.config.action_dim,):
            return ["reject:shape"]
        if not np.issubdtype(act.dtype, np.number) or not np.all(np.isfinite(act)):
            return ["reject:nan"]
        if np.any(np.abs(act) > 1.0 + self.config.action_tolerance):
            return ["reject:range"]
        return []

    # ------------------------------------------------------------------------------ clip
    def _clip(self, act: np.ndarray, state: RobotState, events: list[str]) -> np.ndarray:
        c = self.config
        out = np.clip(act, -1.0, 1.0)
        pos = np.asarray(state.tcp_pos, dtype=np.float64)
        delta = out[:3] * c.action_scale_xyz  # m
        if self._near_joint_limit(state.joint_pos):
            events.append("joint_limit")
            delta = (self._clear_pos - pos) if self._clear_pos is not None else np.zeros(3)
            if c.rotation:
                out[3:6] = 0.0
        elif state.joint_pos is not None:
            self._clear_pos = pos.copy()
        boxed = np.clip(pos + delta, self._low, self._high) - pos
        if np.any(np.abs(boxed - delta) > 1e-9):
            events.append("clip:box")
        delta = boxed
        norm = float(np.linalg.norm(delta))
        if norm > c.step_limit_xyz:
            events.append("clip:step")
            delta *= c.step_limit_xyz / norm
        out[:3] = np.clip(delta / c.action_scale_xyz, -1.0, 1.0)
        if c.rotation:
            out[3:6] = self._clip_rotation(out[3:6], state.tcp_quat, events)
        gripper = float(
            np.clip(out[-1], self._gripper - c.max_gripper_step, self._gripper + c.max_gripper_step)
        )
        if abs(gripper - out[-1]) > 1e-9:
            events.append("clip:gripper")
        out[-1] = gripper
        return out

    def _clip_rotation(
        self, rot_act: np.ndarray, quat: np.ndarray | None, events: list[str]
    ) -> np.ndarray:
        c = self.config
        drpy = rot_act * c.action_scale_rot  # rad
        if quat is not None:
            rpy = tcp_offset_rpy(quat)
            # allowed: stay inside the limits, or move back toward them when already outside
            lo = np.minimum(-self._rot_limit - rpy, 0.0)
            hi = np.maximum(self._rot_limit - rpy, 0.0)
            clipped = np.clip(drpy, lo, hi)
            if np.any(np.abs(clipped - drpy) > 1e-9):
                events.append("clip:orientation")
            drpy = clipped
        norm = float(np.linalg.norm(drpy))
        if norm > c.max_step_rot:
            events.append("clip:rot_step")
            drpy *= c.max_step_rot / norm
        return np.clip(drpy / c.action_scale_rot, -1.0, 1.0)

    def _near_joint_limit(self, joint_pos: np.ndarray | None) -> bool:
        if joint_pos is None or self._joint_low.size == 0:
            return False
        q = np.asarray(joint_pos, dtype=np.float64)
        if q.shape != self._joint_low.shape:
            return False
        return bool(np.any(q < self._joint_low) or np.any(q > self._joint_high))

    # ---------------------------------------------------------------------------- output
    def _hold(self) -> np.ndarray:
        held = np.zeros(self.config.action_dim)
        held[-1] = self._gripper
        return held

    def _emit(self, action: np.ndarray, held: bool, events: list[str], end: bool) -> SafeCommand:
        self._gripper = float(action[-1])
        with self._lock:
            self._counts["commands"] += 1
            self._counts["held"] += int(held)
            for event in events:
                self._counts[f"event/{event}"] += 1
        return SafeCommand(action.astype(np.float32), held, events, end)


__all__ = ["RobotState", "SafeCommand", "SafetyLayer"]
