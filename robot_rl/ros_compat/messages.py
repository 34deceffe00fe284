"""Plain mirrors of the ROS 2 messages the cell uses, without ROS.

Field names and nesting match the ROS 2 (Jazzy) definitions exactly, so every conversion in
``robot_rl.ros_compat`` reads either these dataclasses, rclpy messages or rosbags messages
(duck typing on the field names), and the ROS nodes copy these into rclpy messages field by
field. ``MSGTYPE`` names the ROS type (used by ``bag.to_rosbags``).

Units follow ROS (REP 103): metres, radians, seconds, quaternions (x, y, z, w).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


@dataclass
class Time:
    """builtin_interfaces/msg/Time: seconds + nanoseconds since the epoch of the clock."""

    MSGTYPE: ClassVar[str] = "builtin_interfaces/msg/Time"
    sec: int = 0
    nanosec: int = 0


@dataclass
class Header:
    """std_msgs/msg/Header."""

    MSGTYPE: ClassVar[str] = "std_msgs/msg/Header"
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class Image:
    """sensor_msgs/msg/Image: ``step`` bytes per row (>= width * bytes per pixel)."""

    MSGTYPE: ClassVar[str] = "sensor_msgs/msg/Image"
    header: Header = field(default_factory=Header)
    height: int = 0
    width: int = 0
    encoding: str = ""
    is_bigendian: int = 0
    step: int = 0
    data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # (step*height,) uint8


@dataclass
class JointState:
    """sensor_msgs/msg/JointState: positions (rad or m), velocities (rad/s), efforts (N m)."""

    MSGTYPE: ClassVar[str] = "sensor_msgs/msg/JointState"
    header: Header = field(default_factory=Header)
    name: list[str] = field(default_factory=list)
    position: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,) float64
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,) or (0,) float64
    effort: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,) or (0,) float64


@dataclass
class Point:
    """geometry_msgs/msg/Point (m)."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/Point"
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass
class Vector3:
    """geometry_msgs/msg/Vector3 (m/s or rad/s in a Twist)."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/Vector3"
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass
class Quaternion:
    """geometry_msgs/msg/Quaternion, ROS order (x, y, z, w)."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/Quaternion"
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0


@dataclass
class Pose:
    """geometry_msgs/msg/Pose."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/Pose"
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@dataclass
class PoseStamped:
    """geometry_msgs/msg/PoseStamped."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/PoseStamped"
    header: Header = field(default_factory=Header)
    pose: Pose = field(default_factory=Pose)


@dataclass
class Twist:
    """geometry_msgs/msg/Twist: linear (m/s) and angular (rad/s) velocity."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/Twist"
    linear: Vector3 = field(default_factory=Vector3)
    angular: Vector3 = field(default_factory=Vector3)


@dataclass
class TwistStamped:
    """geometry_msgs/msg/TwistStamped."""

    MSGTYPE: ClassVar[str] = "geometry_msgs/msg/TwistStamped"
    header: Header = field(default_factory=Header)
    twist: Twist = field(default_factory=Twist)


@dataclass
class Float64:
    """std_msgs/msg/Float64 (the gripper command and the reward)."""

    MSGTYPE: ClassVar[str] = "std_msgs/msg/Float64"
    data: float = 0.0


@dataclass
class MultiArrayDimension:
    """std_msgs/msg/MultiArrayDimension."""

    MSGTYPE: ClassVar[str] = "std_msgs/msg/MultiArrayDimension"
    label: str = ""
    size: int = 0
    stride: int = 0


@dataclass
class MultiArrayLayout:
    """std_msgs/msg/MultiArrayLayout."""

    MSGTYPE: ClassVar[str] = "std_msgs/msg/MultiArrayLayout"
    dim: list[MultiArrayDimension] = field(default_factory=list)
    data_offset: int = 0


@dataclass
class Float32MultiArray:
    """std_msgs/msg/Float32MultiArray (actions and intervention commands, (A,) in [-1, 1])."""

    MSGTYPE: ClassVar[str] = "std_msgs/msg/Float32MultiArray"
    layout: MultiArrayLayout = field(default_factory=MultiArrayLayout)
    data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (A,) float32


def stamp_from_seconds(t: float) -> Time:
    """A Time for ``t`` seconds (>= 0)."""
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"stamp: expected finite seconds >= 0, got {t!r}")
    ns = round(t * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def seconds_of(stamp: object) -> float:
    """Seconds of any message's builtin_interfaces/Time (plain, rclpy or rosbags)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9  # type: ignore[attr-defined]
