"""Config of the ROS side of a cell: topics, frames, joints, rates, deadlines, command mapping.

Loaded with ``robot_rl.config.load_yaml(CellConfig, path)`` from the file the launch
argument ``cell_config`` names; the ROS nodes read it, so topic names live in one place.
Defaults describe the twin (``sim:=true``) with RealSense topic names for the cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from robot_rl.safety.config import SafetyConfig

PROPRIO_DIM = 18
"""Length of the proprioceptive state (the twin's layout, see robot_rl_sim.env)."""
OBJECT_DIM = 10
"""Object position (3), quaternion (4) and position relative to the TCP (3) after the
proprioception when the cell tracks the object (``object_pose_topic``), as the twin's
``obs_mode: state`` lays them out."""


@dataclass(frozen=True)
class CellConfig:
    """Topics, joints, rates and deadlines of one robot cell (real or twin)."""

    control_hz: float = 10.0
    """Control rate of the actor (Hz)."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """Camera names; observation keys are ``pixels_<name>``. Empty: proprioception only."""
    camera_serials: tuple[str, ...] = ()
    """RealSense serial numbers, one per camera in ``cameras`` order (hardware launch only)."""
    camera_topic: str = "/camera/{name}/color/image_raw"
    """Image topic of a camera; ``{name}`` is replaced (realsense2_camera's default layout)."""
    image_size: int = 128
    """Height and width of the policy's camera observations (px); frames are cropped + resized."""
    joint_states_topic: str = "/joint_states"
    """sensor_msgs/JointState topic of the arm and the gripper."""
    arm_joints: tuple[str, ...] = tuple(f"joint{i}" for i in range(1, 8))
    """Names of the 7 arm joints in state order (a real FR3 says fr3_joint1..7)."""
    gripper_joint: str = "right_driver_joint"
    """Joint whose position gives the gripper opening."""
    gripper_open_position: float = 0.0
    """Gripper joint position when fully open (rad or m)."""
    gripper_closed_position: float = 0.8
    """Gripper joint position when fully closed (rad or m)."""
    tcp_pose_topic: str = "/tcp_pose"
    """geometry_msgs/PoseStamped of the TCP in ``base_frame``."""
    tcp_twist_topic: str = "/tcp_twist"
    """geometry_msgs/TwistStamped of the TCP; empty: finite differences of the pose stamps."""
    object_pose_topic: str = ""
    """geometry_msgs/PoseStamped of the manipulated object in ``base_frame``; empty: none.

    On a real cell a tracker publishes it (an AprilTag detector on a camera, a motion-capture
    system); the twin node publishes its ground truth. When set, the state observation is
    the twin's ``obs_mode: state`` layout (28 values) and the object pose is a watched stream.
    """
    base_frame: str = "base"
    """Frame of TCP poses and commands."""
    command_mode: Literal["pose", "twist"] = "pose"
    """Command a target pose (PoseStamped) or a velocity (TwistStamped)."""
    command_topic: str = "/cartesian_impedance_controller/target_pose"
    """Topic of the Cartesian commands."""
    gripper_command_topic: str = "/gripper/command"
    """std_msgs/Float64 gripper command: 0 fully open .. 1 fully closed."""
    use_rotation: bool = False
    """Actions are 7-D (with droll, dpitch, dyaw) instead of 4-D."""
    action_scale_xyz: float = 0.03
    """TCP translation per step for an action of 1 (m)."""
    action_scale_rot: float = 0.15
    """TCP rotation per step for an action of 1 (rad)."""
    workspace_low: tuple[float, ...] = (0.25, -0.3, 0.01)
    """Lower corner of the box pose targets are kept in, ``base_frame`` (m)."""
    workspace_high: tuple[float, ...] = (0.75, 0.3, 0.40)
    """Upper corner of the target box (m)."""
    target_leash: float = 0.06
    """Largest distance between a pose target and the measured TCP (m)."""
    max_age_s: float = 0.3
    """A stream whose last message is older than this is stale (s); the actor holds."""
    watchdog_periods: float = 1.5
    """A stream whose newest message is this many control periods old while a step waits for
    it gets a hold command at once (1.5: its next message, due a period after it, is half a
    period late, so the arm holds within one period of the due time); the step still waits
    up to ``step_timeout_s`` before it ends the episode as stale. Raise it where the sensors
    run slower than the control rate."""
    step_timeout_s: float = 1.0
    """Longest wait for fresh data of every stream after a command (s)."""
    reward_topic: str = "/robot_rl/reward"
    """std_msgs/Float64 reward of the current step (twin ground truth or a reward node)."""
    success_reward: float = 1.0
    """A reward >= this ends the episode as a success."""
    intervention_topic: str = "/robot_rl/intervention"
    """std_msgs/Float32MultiArray human action (A,) in [-1, 1]; empty array: hands off."""
    intervention_timeout_s: float = 0.3
    """An intervention older than this no longer overrides the policy (s)."""
    reset_service: str = "/robot_rl/reset"
    """std_srvs/Trigger that resets the cell (twin node or reset node)."""
    estop_topic: str = "/robot_rl/estop"
    """std_msgs/Bool; True latches the e-stop: the actor holds and stops."""
    max_episode_steps: int = 50
    """Steps before an episode is truncated."""
    home_position: tuple[float, ...] = (0.45, 0.0, 0.22)
    """TCP position the reset node moves to (m, ``base_frame``)."""
    reset_settle_s: float = 3.0
    """Time the reset node gives the arm to reach home (s)."""

    @property
    def state_dim(self) -> int:
        """Length of the state observation: proprioception, plus the object if tracked."""
        return PROPRIO_DIM + (OBJECT_DIM if self.object_pose_topic else 0)

    @property
    def action_dim(self) -> int:
        """Action dimensions: 4 (dx, dy, dz, gripper) or 7 with rotation."""
        return 7 if self.use_rotation else 4

    def image_topic(self, camera: str) -> str:
        """Image topic of ``camera``."""
        return self.camera_topic.replace("{name}", camera)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name in (
            "control_hz",
            "image_size",
            "action_scale_xyz",
            "action_scale_rot",
            "target_leash",
            "max_age_s",
            "step_timeout_s",
            "watchdog_periods",
            "intervention_timeout_s",
            "max_episode_steps",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
        if len(self.arm_joints) != 7:
            raise ValueError(f"arm_joints: expected 7 joint names, got {len(self.arm_joints)}")
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras: duplicate names in {self.cameras!r}")
        if self.camera_serials and len(self.camera_serials) != len(self.cameras):
            raise ValueError(
                f"camera_serials: expected one per camera ({len(self.cameras)}), "
                f"got {len(self.camera_serials)}"
            )
        if self.gripper_open_position == self.gripper_closed_position:
            raise ValueError("gripper_closed_position: must differ from gripper_open_position")
        for name in ("workspace_low", "workspace_high", "home_position"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name}: expected 3 numbers (x, y, z in m)")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError("workspace_low: must be below workspace_high on every axis")
        if self.command_mode not in ("pose", "twist"):
            raise ValueError(f"command_mode: expected 'pose' or 'twist', got {self.command_mode!r}")
        if self.max_age_s < 1.0 / self.control_hz:
            raise ValueError(
                f"max_age_s: {self.max_age_s} s is shorter than one control period "
                f"({1.0 / self.control_hz} s); every stream would look stale"
            )


def with_cameras(config: CellConfig, names: str = "", serials: str = "") -> CellConfig:
    """``config`` with the launch arguments ``camera_names`` / ``camera_serials`` applied.

    Both are comma-separated; empty keeps the file's value. The result is validated, so a
    serial count that does not match the cameras is an error naming ``camera_serials``.
    """
    cameras = tuple(n.strip() for n in names.split(",") if n.strip())
    serial_nos = tuple(s.strip() for s in serials.split(",") if s.strip())
    changes: dict[str, Any] = {}
    if cameras:
        changes["cameras"] = cameras
        if not serial_nos and len(config.camera_serials) != len(cameras):
            changes["camera_serials"] = ()  # the file's serials belong to other cameras
    if serial_nos:
        changes["camera_serials"] = serial_nos
    out = replace(config, **changes)
    out.validate()
    return out


def safety_config_for_cell(config: CellConfig, **overrides: Any) -> SafetyConfig:
    """The SafetyConfig whose action frame, box and rate match the cell's.

    Watched streams (deadline ``max_age_s``): ``joints``, ``tcp_pose``, every camera and
    ``object_pose`` when the cell tracks the object, the names ``ObservationAssembler.safety_stream_times`` reports. Other limits keep the
    SafetyConfig defaults unless given in ``overrides``.
    """
    from robot_rl.safety.config import SafetyConfig

    streams = {"joints": config.max_age_s, "tcp_pose": config.max_age_s}
    streams.update({cam: config.max_age_s for cam in config.cameras})
    if config.object_pose_topic:
        streams["object_pose"] = config.max_age_s
    base = SafetyConfig(
        action_dim=config.action_dim,
        action_scale_xyz=config.action_scale_xyz,
        action_scale_rot=config.action_scale_rot,
        control_hz=config.control_hz,
        workspace_low=tuple(config.workspace_low),
        workspace_high=tuple(config.workspace_high),
        stream_deadlines=streams,
    )
    out = replace(base, **overrides)
    out.validate()
    return out
