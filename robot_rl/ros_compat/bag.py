"""rosbag2 (MCAP) recording and replay of a cell's streams, without ROS.

Uses rosbags (a maintained pure-Python rosbag2 + CDR implementation) with the ROS 2 Jazzy
type store, so a bag written here holds real sensor_msgs/geometry_msgs CDR payloads that
``ros2 bag play`` replays, and a bag recorded on the robot replays through the same
:class:`~robot_rl.ros_compat.assembler.ObservationAssembler` the actor uses.

Layout: the cell's sensor topics (from :class:`CellConfig`), the executed action on
``/robot_rl/action`` (std_msgs/Float32MultiArray, (A,) in [-1, 1]) and the reward on
``reward_topic``. Replay assembles one observation at every action message (the actor
observed, then acted) and one after the last message.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.messages import (
    Float32MultiArray,
    Float64,
    Image,
    JointState,
    PoseStamped,
    TwistStamped,
)
from robot_rl.ros_compat.twin_messages import CellMessages, twin_messages

ACTION_TOPIC = "/robot_rl/action"


def jazzy_typestore() -> Any:
    """The rosbags type store of ROS 2 Jazzy's message definitions."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def to_rosbags(msg: Any, typestore: Any) -> Any:
    """The rosbags message object of a plain ``robot_rl.ros_compat.messages`` dataclass."""
    cls = typestore.types[msg.MSGTYPE]
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        if dataclasses.is_dataclass(value):
            value = to_rosbags(value, typestore)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            value = [to_rosbags(v, typestore) for v in value]
        fields[f.name] = value
    return cls(**fields)


def serialize(msg: Any, typestore: Any) -> bytes:
    """CDR bytes of a plain message, as a ROS 2 publisher would put them on the wire."""
    return bytes(typestore.serialize_cdr(to_rosbags(msg, typestore), msg.MSGTYPE))


def deserialize(data: bytes, msgtype: str, typestore: Any) -> Any:
    """A rosbags message from CDR bytes (it has the ROS field names, so conversions read it)."""
    return typestore.deserialize_cdr(data, msgtype)


def cell_topics(config: CellConfig) -> dict[str, str]:
    """Topic -> ROS message type of everything a bag of the cell holds."""
    topics = {config.image_topic(cam): Image.MSGTYPE for cam in config.cameras}
    topics[config.joint_states_topic] = JointState.MSGTYPE
    topics[config.tcp_pose_topic] = PoseStamped.MSGTYPE
    if config.tcp_twist_topic:
        topics[config.tcp_twist_topic] = TwistStamped.MSGTYPE
    if config.object_pose_topic:
        topics[config.object_pose_topic] = PoseStamped.MSGTYPE
    topics[ACTION_TOPIC] = Float32MultiArray.MSGTYPE
    topics[config.reward_topic] = Float64.MSGTYPE
    return topics


class BagRecorder:
    """Writes a cell's messages into a new rosbag2 directory with MCAP storage."""

    def __init__(self, path: str | Path, config: CellConfig) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.config = config
        self.typestore = jazzy_typestore()
        self._writer = Writer(Path(path), version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {
            topic: self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            for topic, msgtype in cell_topics(config).items()
        }

    def write(self, topic: str, msg: Any, t_ns: int) -> None:
        """Write one plain message on ``topic`` at bag time ``t_ns`` (ns)."""
        connection = self._connections.get(topic)
        if connection is None:
            raise KeyError(f"topic {topic!r} is not recorded (topics: {sorted(self._connections)})")
        self._writer.write(connection, int(t_ns), serialize(msg, self.typestore))

    def write_sensors(self, messages: CellMessages, t_ns: int) -> None:
        """Write every sensor message of one instant at ``t_ns`` (ns)."""
        c = self.config
        for cam, image in messages.images.items():
            self.write(c.image_topic(cam), image, t_ns)
        self.write(c.joint_states_topic, messages.joint_state, t_ns)
        self.write(c.tcp_pose_topic, messages.tcp_pose, t_ns)
        if c.tcp_twist_topic:
            self.write(c.tcp_twist_topic, messages.tcp_twist, t_ns)
        if messages.object_pose is not None:
            self.write(c.object_pose_topic, messages.object_pose, t_ns)

    def write_action(self, action: np.ndarray, t_ns: int) -> None:
        """Write an executed action (A,) in [-1, 1] at ``t_ns`` (ns)."""
        self.write(ACTION_TOPIC, Float32MultiArray(data=np.asarray(action, np.float32)), t_ns)

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self._writer.close()

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_bag(path: str | Path) -> Iterator[tuple[str, int, Any]]:
    """(topic, t_ns, rosbags message) of every message, in time order."""
    from rosbags.rosbag2 import Reader

    typestore = jazzy_typestore()
    with Reader(Path(path)) as reader:
        for connection, t_ns, raw in reader.messages():
            yield connection.topic, t_ns, typestore.deserialize_cdr(raw, connection.msgtype)


@dataclasses.dataclass
class Replay:
    """What a bag replay produced."""

    observations: list[dict[str, np.ndarray]]
    """obs_0 .. obs_T, one per action message plus one at the end."""
    actions: list[np.ndarray]
    """(A,) float32 per action message."""
    rewards: list[float]
    """Every reward message, in order."""


def replay_bag(path: str | Path, config: CellConfig) -> Replay:
    """Feed a bag through an ObservationAssembler, with bag time as the receive clock."""
    assembler = ObservationAssembler(config)
    handlers: dict[str, Callable[[Any, float], None]] = {
        config.image_topic(cam): functools.partial(assembler.on_image, cam)
        for cam in config.cameras
    }
    handlers[config.joint_states_topic] = assembler.on_joint_state
    handlers[config.tcp_pose_topic] = assembler.on_tcp_pose
    if config.tcp_twist_topic:
        handlers[config.tcp_twist_topic] = assembler.on_tcp_twist
    if config.object_pose_topic:
        handlers[config.object_pose_topic] = assembler.on_object_pose
    replay = Replay(observations=[], actions=[], rewards=[])
    now = 0.0
    for topic, t_ns, msg in read_bag(path):
        now = t_ns * 1e-9
        if topic == ACTION_TOPIC:
            replay.observations.append(_observe(assembler, now, path))
            replay.actions.append(np.asarray(msg.data, dtype=np.float32))
        elif topic == config.reward_topic:
            replay.rewards.append(float(msg.data))
        elif topic in handlers:
            handlers[topic](msg, now)
    replay.observations.append(_observe(assembler, now, path))
    return replay


def _observe(
    assembler: ObservationAssembler, now: float, path: str | Path
) -> dict[str, np.ndarray]:
    snapshot = assembler.assemble(now)
    if snapshot.obs is None:
        raise ValueError(f"{path}: streams {snapshot.stale} have no message before t = {now:.3f} s")
    return snapshot.obs


def record_twin_run(
    env: Any,
    config: CellConfig,
    path: str | Path,
    *,
    steps: int,
    seed: int,
    policy: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run the twin for ``steps`` steps, recording its streams and actions; returns its obs.

    Sensors of obs_t are written at t / control_hz, the action 1 µs later and the reward of
    the step with obs_{t+1}, as a live recording would order them. ``policy`` defaults to
    uniform random actions from ``seed``. A cell with ``object_pose_topic`` records the
    twin's ground-truth object pose.
    """
    from robot_rl.ros_compat.messages import stamp_from_seconds

    rng = np.random.default_rng(seed)
    period_ns = round(1e9 / config.control_hz)
    obs, _ = env.reset(seed=seed)
    observed = [obs]
    done = False
    with BagRecorder(path, config) as bag:
        for t in range(steps + 1):
            t_ns = 1_000_000_000 + t * period_ns  # start at 1 s: stamps must be > 0
            tracked = None
            if config.object_pose_topic:
                truth = env.unwrapped.ground_truth()
                tracked = (truth["cube_pos"], truth["cube_quat"])
            stamp = stamp_from_seconds(t_ns * 1e-9)
            bag.write_sensors(twin_messages(obs, config, stamp=stamp, object_pose=tracked), t_ns)
            if t == steps or done:
                break
            space = env.action_space
            action = (
                policy(obs) if policy else rng.uniform(space.low, space.high).astype(np.float32)
            )
            bag.write_action(action, t_ns + 1_000)
            obs, reward, terminated, truncated, _ = env.step(action)
            bag.write(config.reward_topic, Float64(data=float(reward)), t_ns + period_ns - 1_000)
            observed.append(obs)
            done = bool(terminated or truncated)
    return observed
