"""JointState, PoseStamped and TwistStamped <-> numpy, and core actions -> Cartesian commands.

Quaternions: ROS messages order them (x, y, z, w); the core's state vector (w, x, y, z), as
MuJoCo does. Every function here converts explicitly; nothing else reorders quaternions.
The rotation maths itself (products, hemisphere rule) is ``robot_rl.geometry``.
Positions in m, angles in rad, velocities in m/s and rad/s, times in s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robot_rl.geometry import DOWN_QUAT, quat_from_rotvec, quat_mul
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.messages import (
    Float64,
    Header,
    JointState,
    Point,
    Pose,
    PoseStamped,
    Quaternion,
    Time,
    Twist,
    TwistStamped,
    Vector3,
)


# -- messages -> arrays ---------------------------------------------------------------------
def pose_to_arrays(msg: object) -> tuple[np.ndarray, np.ndarray]:
    """Position (3,) m and (w, x, y, z) quaternion (4,) of a PoseStamped (any flavour)."""
    pose = msg.pose  # type: ignore[attr-defined]
    p, q = pose.position, pose.orientation
    return np.array([p.x, p.y, p.z], dtype=np.float64), np.array(
        [q.w, q.x, q.y, q.z], dtype=np.float64
    )


def twist_to_arrays(msg: object) -> tuple[np.ndarray, np.ndarray]:
    """Linear (3,) m/s and angular (3,) rad/s velocity of a TwistStamped."""
    twist = msg.twist  # type: ignore[attr-defined]
    lin, ang = twist.linear, twist.angular
    return np.array([lin.x, lin.y, lin.z]), np.array([ang.x, ang.y, ang.z])


def joint_positions(
    msg: object, names: Sequence[str], *, where: str = "joint_states"
) -> np.ndarray:
    """Positions (N,) float64 of the named joints of a JointState, in ``names`` order."""
    msg_names = list(msg.name)  # type: ignore[attr-defined]
    position = np.asarray(msg.position, dtype=np.float64)  # type: ignore[attr-defined]
    if len(msg_names) != len(position):
        raise ValueError(
            f"{where}: {len(msg_names)} names but {len(position)} positions in one JointState"
        )
    index = {name: i for i, name in enumerate(msg_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"{where}: joints {missing} not in the message (has {msg_names})")
    return position[[index[n] for n in names]]


# -- arrays -> messages ---------------------------------------------------------------------
def make_pose(pos: np.ndarray, quat_wxyz: np.ndarray, *, stamp: Time, frame_id: str) -> PoseStamped:
    """PoseStamped of position (3,) m and (w, x, y, z) quaternion (4,)."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    return PoseStamped(
        header=Header(stamp=stamp, frame_id=frame_id),
        pose=Pose(
            position=Point(x=float(pos[0]), y=float(pos[1]), z=float(pos[2])),
            orientation=Quaternion(x=x, y=y, z=z, w=w),
        ),
    )


def make_twist(
    linear: np.ndarray, angular: np.ndarray, *, stamp: Time, frame_id: str
) -> TwistStamped:
    """TwistStamped of linear (3,) m/s and angular (3,) rad/s velocity."""
    return TwistStamped(
        header=Header(stamp=stamp, frame_id=frame_id),
        twist=Twist(
            linear=Vector3(*(float(v) for v in linear)),
            angular=Vector3(*(float(v) for v in angular)),
        ),
    )


def make_joint_state(names: Sequence[str], positions: np.ndarray, *, stamp: Time) -> JointState:
    """JointState with positions only (rad or m)."""
    return JointState(
        header=Header(stamp=stamp),
        name=list(names),
        position=np.asarray(positions, dtype=np.float64).copy(),
    )


def gripper_opening(position: float, config: CellConfig) -> float:
    """Gripper opening in [0, 1] (1 = fully open) of a gripper joint position."""
    lo, hi = config.gripper_open_position, config.gripper_closed_position
    return float(np.clip(1.0 - (position - lo) / (hi - lo), 0.0, 1.0))


def gripper_position(opening: float, config: CellConfig) -> float:
    """Gripper joint position of an opening in [0, 1] (inverse of :func:`gripper_opening`)."""
    lo, hi = config.gripper_open_position, config.gripper_closed_position
    return lo + (1.0 - float(opening)) * (hi - lo)


# -- actions -> commands --------------------------------------------------------------------
class CommandMapper:
    """Turns core actions (A,) in [-1, 1] into Cartesian commands and a gripper command.

    Pose mode integrates a target from the deltas (so a held object does not make the arm sag
    under a zero action), keeps it in the workspace box and within ``target_leash`` of the
    measured TCP, the same rule the twin follows. Twist mode sends delta / control period.
    """

    def __init__(self, config: CellConfig) -> None:
        config.validate()
        self.config = config
        self._low = np.array(config.workspace_low, dtype=np.float64)
        self._high = np.array(config.workspace_high, dtype=np.float64)
        self.target_pos = np.zeros(3)  # m, base_frame
        self.target_quat = DOWN_QUAT.copy()  # (w, x, y, z)
        self._started = False

    def reset(self, measured_pos: np.ndarray, measured_quat: np.ndarray) -> None:
        """Start the pose target at the measured TCP pose (m, (w, x, y, z))."""
        self.target_pos[:] = np.clip(measured_pos, self._low, self._high)
        self.target_quat[:] = measured_quat
        self._started = True

    def command(
        self, action: np.ndarray, measured_pos: np.ndarray, *, stamp: Time
    ) -> tuple[PoseStamped | TwistStamped, Float64]:
        """Cartesian command and gripper command (0 open .. 1 closed) for one action."""
        c = self.config
        act = np.asarray(action, dtype=np.float64)
        if act.shape != (c.action_dim,):
            raise ValueError(f"action: expected shape ({c.action_dim},), got {act.shape}")
        if not np.all(np.isfinite(act)):
            raise ValueError(f"action: non-finite values are never sent, got {act.tolist()}")
        act = np.clip(act, -1.0, 1.0)
        delta = act[:3] * c.action_scale_xyz  # (3,) m
        rot = act[3:6] * c.action_scale_rot if c.use_rotation else np.zeros(3)  # (3,) rad
        gripper = Float64(data=float((act[-1] + 1.0) / 2.0))
        if c.command_mode == "twist":
            return make_twist(
                delta * c.control_hz, rot * c.control_hz, stamp=stamp, frame_id=c.base_frame
            ), gripper
        if not self._started:
            raise RuntimeError("CommandMapper.reset() must run before the first pose command")
        pos = np.clip(self.target_pos + delta, self._low, self._high)
        offset = pos - measured_pos
        dist = float(np.linalg.norm(offset))
        if dist > c.target_leash:
            pos = np.clip(measured_pos + offset * (c.target_leash / dist), self._low, self._high)
        self.target_pos[:] = pos
        if c.use_rotation:
            self.target_quat[:] = quat_mul(quat_from_rotvec(rot), self.target_quat)
            self.target_quat /= np.linalg.norm(self.target_quat)
        return make_pose(pos, self.target_quat, stamp=stamp, frame_id=c.base_frame), gripper

    def hold(self, measured_pos: np.ndarray, *, stamp: Time) -> PoseStamped | TwistStamped:
        """A command that keeps the arm where it is (zero twist, or the measured position)."""
        c = self.config
        if c.command_mode == "twist":
            return make_twist(np.zeros(3), np.zeros(3), stamp=stamp, frame_id=c.base_frame)
        self.target_pos[:] = np.clip(measured_pos, self._low, self._high)
        return make_pose(self.target_pos, self.target_quat, stamp=stamp, frame_id=c.base_frame)


def command_to_twin_action(
    command: object, gripper: float, twin_target_pos: np.ndarray, config: CellConfig
) -> np.ndarray:
    """The twin's action (A,) float32 that best realises a Cartesian command.

    Used by the twin node, which accepts the same commands as the robot: a pose target becomes
    the delta from the twin's own TCP target; a twist becomes velocity * control period.
    ``gripper`` is the commanded closure, 0 open .. 1 closed.
    """
    c = config
    action = np.zeros(c.action_dim, dtype=np.float64)
    if hasattr(command, "twist"):
        lin, ang = twist_to_arrays(command)
        action[:3] = lin / (c.control_hz * c.action_scale_xyz)
        if c.use_rotation:
            action[3:6] = ang / (c.control_hz * c.action_scale_rot)
    else:
        if c.use_rotation:
            raise ValueError(
                "command_mode: the twin accepts pose commands only without rotation; "
                "use command_mode 'twist' with use_rotation"
            )
        pos, _quat = pose_to_arrays(command)
        action[:3] = (pos - np.asarray(twin_target_pos)) / c.action_scale_xyz
    action[-1] = 2.0 * float(gripper) - 1.0
    return np.clip(action, -1.0, 1.0).astype(np.float32)
