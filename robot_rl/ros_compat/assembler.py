"""Time-synchronised observations from the latest message of every sensor stream.

Callbacks (ROS subscriptions, a bag replay, the twin) hand over each message with its
receive time; :meth:`ObservationAssembler.assemble` builds the core observation at the
control rate: ``pixels_<camera>`` uint8 (S, S, 3) and ``state`` float32 (18,) in the twin's
proprioceptive layout (TCP position m, quaternion (w, x, y, z), TCP linear velocity m/s,
gripper opening [0, 1], 7 arm joint positions rad), followed, when the cell tracks the object
(``object_pose_topic``), by its position m, quaternion (w, x, y, z) and position relative to
the TCP m: the twin's ``obs_mode: state`` layout (28,), so a state policy trained by
``robot-rl train`` reads the cell unchanged. Messages are only stored in callbacks;
decoding happens at assemble time, so a 30 Hz camera costs nothing between control steps.

Every stream's age (receiver clock, s) is reported; a stream older than ``max_age_s`` is
stale, and the caller (the bridge env / safety layer) holds the arm instead of acting on it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys
from robot_rl.geometry import canonical_quat
from robot_rl.ros_compat.config import PROPRIO_DIM, CellConfig
from robot_rl.ros_compat.geometry import (
    gripper_opening,
    joint_positions,
    pose_to_arrays,
    twist_to_arrays,
)
from robot_rl.ros_compat.image import fit_image, image_to_rgb
from robot_rl.ros_compat.messages import seconds_of

JOINT_STATES = "joint_states"
TCP_POSE = "tcp_pose"
TCP_TWIST = "tcp_twist"
OBJECT_POSE = "object_pose"


@dataclass
class _Latest:
    msg: object
    received_s: float  # receiver clock (s)


@dataclass
class Snapshot:
    """One assembled observation and the health of its streams."""

    obs: dict[str, np.ndarray] | None
    """The observation, or None while a stream has never been received."""
    ages_s: dict[str, float]
    """Age of every stream's last message on the receiver clock (s); inf if never received."""
    stale: list[str] = field(default_factory=list)
    """Streams older than ``max_age_s`` or missing."""
    skew_s: float = 0.0
    """Spread of the header stamps of the messages used (s): how far apart they were taken."""
    messages: dict[str, tuple[object, float]] = field(default_factory=dict)
    """Stream -> (message, receive time s) this observation was built from (a bag records them)."""

    @property
    def ok(self) -> bool:
        """True when every stream is present and fresh."""
        return self.obs is not None and not self.stale


def camera_stream(camera: str) -> str:
    """Stream name of a camera in ages and stale lists."""
    return f"camera/{camera}"


class ObservationAssembler:
    """Keeps the latest message per stream; builds observations on demand (thread-safe)."""

    def __init__(self, config: CellConfig) -> None:
        config.validate()
        self.config = config
        self._lock = threading.Lock()
        self._arrived = threading.Condition(threading.Lock())
        self._arrivals = 0  # messages stored so far (wait_for_arrival's sequence)
        self._latest: dict[str, _Latest] = {}
        self._prev_pose: tuple[np.ndarray, float] | None = None  # (pos m, stamp s)
        self._fd_velocity = np.zeros(3)  # m/s, finite difference when no twist topic
        self.streams: list[str] = [camera_stream(c) for c in config.cameras]
        self.streams += [JOINT_STATES, TCP_POSE] + ([TCP_TWIST] if config.tcp_twist_topic else [])
        self.streams += [OBJECT_POSE] if config.object_pose_topic else []

    def observation_space(self) -> gym.spaces.Dict:
        """The gymnasium space of the observations this assembler builds."""
        size = self.config.image_size
        spaces: dict[str, gym.Space[Any]] = {
            keys.STATE: gym.spaces.Box(-np.inf, np.inf, (self.config.state_dim,), np.float32)
        }
        for cam in self.config.cameras:
            spaces[keys.pixels_key(cam)] = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        return gym.spaces.Dict(spaces)

    # -- callbacks --------------------------------------------------------------------------
    def on_image(self, camera: str, msg: object, received_s: float) -> None:
        """Store a sensor_msgs/Image of ``camera`` received at ``received_s`` (s)."""
        if camera not in self.config.cameras:
            raise KeyError(f"camera {camera!r} is not configured (cameras: {self.config.cameras})")
        self._store(camera_stream(camera), msg, received_s)

    def on_joint_state(self, msg: object, received_s: float) -> None:
        """Store a sensor_msgs/JointState; messages without the arm joints are ignored.

        Drivers may publish the arm and the gripper on one topic in separate messages; a
        message that lacks the arm joints only updates the gripper position kept with it.
        """
        names = set(msg.name)  # type: ignore[attr-defined]
        if self.config.arm_joints[0] not in names:
            if self.config.gripper_joint in names:
                self._store("gripper_joint", msg, received_s)
            return
        self._store(JOINT_STATES, msg, received_s)

    def on_tcp_pose(self, msg: object, received_s: float) -> None:
        """Store a geometry_msgs/PoseStamped of the TCP; updates the finite-difference velocity."""
        pos, _ = pose_to_arrays(msg)
        stamp = seconds_of(msg.header.stamp)  # type: ignore[attr-defined]
        with self._lock:
            if self._prev_pose is not None and stamp > self._prev_pose[1]:
                self._fd_velocity = (pos - self._prev_pose[0]) / (stamp - self._prev_pose[1])
            self._prev_pose = (pos, stamp)
            self._latest[TCP_POSE] = _Latest(msg, received_s)
        self.notify_arrival()

    def on_tcp_twist(self, msg: object, received_s: float) -> None:
        """Store a geometry_msgs/TwistStamped of the TCP."""
        self._store(TCP_TWIST, msg, received_s)

    def on_object_pose(self, msg: object, received_s: float) -> None:
        """Store a geometry_msgs/PoseStamped of the tracked object (``object_pose_topic``)."""
        if not self.config.object_pose_topic:
            raise KeyError("object pose received, but the cell config has no object_pose_topic")
        self._store(OBJECT_POSE, msg, received_s)

    def _store(self, stream: str, msg: object, received_s: float) -> None:
        with self._lock:
            self._latest[stream] = _Latest(msg, received_s)
        self.notify_arrival()

    # -- waiting for data -------------------------------------------------------------------
    def arrivals(self) -> int:
        """How many messages arrived so far (also counts :meth:`notify_arrival` calls)."""
        return self._arrivals

    def notify_arrival(self) -> None:
        """Wake :meth:`wait_for_arrival`: a message was stored (here, or a reward elsewhere)."""
        with self._arrived:
            self._arrivals += 1
            self._arrived.notify_all()

    def wait_for_arrival(self, seen: int, timeout_s: float) -> bool:
        """Block until a message arrives after the count ``seen`` (:meth:`arrivals`) or
        ``timeout_s`` (s) passed; True if one did. A control loop that reads the count before
        it checks the streams misses no message that came in between."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._arrivals != seen, max(0.0, timeout_s))

    def overdue_at(self, since_s: float, max_age_s: float) -> float | None:
        """When (s) the first stream without a message since ``since_s`` is ``max_age_s`` old
        (-inf for one that never arrived); None when every stream is fresh."""
        with self._lock:
            late = [
                self._latest[s].received_s + max_age_s if s in self._latest else -np.inf
                for s in self.streams
                if s not in self._latest or self._latest[s].received_s < since_s
            ]
        return min(late) if late else None

    # -- queries ----------------------------------------------------------------------------
    def ages(self, now_s: float) -> dict[str, float]:
        """Age of each stream's last message (s); inf if none arrived yet."""
        with self._lock:
            return {
                s: (now_s - self._latest[s].received_s) if s in self._latest else float("inf")
                for s in self.streams
            }

    def safety_stream_times(self) -> dict[str, float]:
        """Receive time (s) per stream under the safety layer's names (see
        ``safety_config_for_cell``): ``joints``, ``tcp_pose``, ``tcp_twist``, ``object_pose``,
        camera names.
        Streams that never arrived are left out (the layer treats them as stale)."""
        names = {JOINT_STATES: "joints", TCP_POSE: "tcp_pose", TCP_TWIST: "tcp_twist",
                 OBJECT_POSE: "object_pose"}  # fmt: skip
        names.update({camera_stream(c): c for c in self.config.cameras})
        with self._lock:
            return {names[s]: v.received_s for s, v in self._latest.items() if s in names}

    def not_fresh_since(self, t_s: float) -> list[str]:
        """Streams without a message received at or after ``t_s`` (s)."""
        with self._lock:
            return [
                s for s in self.streams if s not in self._latest or self._latest[s].received_s < t_s
            ]

    def fresh_since(self, t_s: float) -> bool:
        """True when every stream has a message received at or after ``t_s`` (s)."""
        return not self.not_fresh_since(t_s)

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Last measured TCP position (3,) m and (w, x, y, z) quaternion (4,), or None."""
        with self._lock:
            latest = self._latest.get(TCP_POSE)
        return None if latest is None else pose_to_arrays(latest.msg)

    def assemble(self, now_s: float) -> Snapshot:
        """The observation from the latest messages, with stream ages at ``now_s`` (s)."""
        with self._lock:
            latest = dict(self._latest)
            fd_velocity = self._fd_velocity.copy()
        ages = {
            s: (now_s - latest[s].received_s) if s in latest else float("inf") for s in self.streams
        }
        stale = [s for s, age in ages.items() if not age <= self.config.max_age_s]
        used = {s: (v.msg, v.received_s) for s, v in latest.items()}
        if any(s not in latest for s in self.streams):
            return Snapshot(obs=None, ages_s=ages, stale=stale, messages=used)
        c = self.config
        obs: dict[str, np.ndarray] = {}
        stamps = []
        for cam in c.cameras:
            msg = latest[camera_stream(cam)].msg
            frame = image_to_rgb(msg, where=c.image_topic(cam))
            obs[keys.pixels_key(cam)] = fit_image(frame, c.image_size)
            stamps.append(seconds_of(msg.header.stamp))  # type: ignore[attr-defined]
        pose_msg, joints_msg = latest[TCP_POSE].msg, latest[JOINT_STATES].msg
        pos, quat = pose_to_arrays(pose_msg)
        if TCP_TWIST in latest:
            velocity, _ = twist_to_arrays(latest[TCP_TWIST].msg)
        else:
            velocity = fd_velocity
        arm = joint_positions(joints_msg, c.arm_joints, where=c.joint_states_topic)
        gripper_msg = joints_msg
        if c.gripper_joint not in set(joints_msg.name) and "gripper_joint" in latest:  # type: ignore[attr-defined]
            gripper_msg = latest["gripper_joint"].msg
        (grip,) = joint_positions(gripper_msg, [c.gripper_joint], where=c.joint_states_topic)
        state = np.empty(c.state_dim, dtype=np.float32)  # (18,) or (28,) float32
        state[0:3] = pos
        state[3:7] = canonical_quat(quat)
        state[7:10] = velocity
        state[10] = gripper_opening(grip, c)
        state[11:18] = arm
        stamped = [pose_msg, joints_msg]
        if OBJECT_POSE in latest:
            object_msg = latest[OBJECT_POSE].msg
            object_pos, object_quat = pose_to_arrays(object_msg)
            state[PROPRIO_DIM : PROPRIO_DIM + 3] = object_pos
            state[PROPRIO_DIM + 3 : PROPRIO_DIM + 7] = object_quat  # as tracked: no sign rule
            state[PROPRIO_DIM + 7 : PROPRIO_DIM + 10] = (
                state[PROPRIO_DIM : PROPRIO_DIM + 3] - state[0:3]
            )
            stamped.append(object_msg)
        obs[keys.STATE] = state
        stamps += [seconds_of(m.header.stamp) for m in stamped]  # type: ignore[attr-defined]
        return Snapshot(
            obs=obs, ages_s=ages, stale=stale, skew_s=max(stamps) - min(stamps), messages=used
        )
