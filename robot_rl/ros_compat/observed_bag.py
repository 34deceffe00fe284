"""A rosbag2 (MCAP) of what the actor acted on, and its observations in order for a replay.

A bag recorded beside the graph (``robot_rl_ros.bag_record``) holds every message as a third
process received it, so which frame the actor used for which command is a guess. This bag
is written by the actor itself (actor node parameter ``bag``):

- every message an observation was built from, once, at its receive time (the cell's topics
  as :func:`robot_rl.ros_compat.bag.cell_topics` names them);
- after them, on ``/robot_rl/observed`` (std_msgs/Header), a marker: the observation was
  assembled then, ``frame_id`` ``reset`` (an episode's first) or ``step``;
- the reward the step waited for (``reward_topic``), and on ``/robot_rl/action``
  (std_msgs/Float32MultiArray) every executed action (A,) in [-1, 1] after its command.

:func:`observed_groups` splits such a bag at the markers; ``robot_rl_ros.bag_play`` publishes
one group whenever the actor asks for the next observation (a reset request or an action),
so a replayed actor sees the recorded observations in the recorded order, whatever the timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.ros_compat.assembler import (
    JOINT_STATES,
    OBJECT_POSE,
    TCP_POSE,
    TCP_TWIST,
    camera_stream,
)
from robot_rl.ros_compat.bag import ACTION_TOPIC, cell_topics, jazzy_typestore, serialize
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.messages import Float32MultiArray, Float64, Header, stamp_from_seconds

OBSERVED_TOPIC = "/robot_rl/observed"
OBSERVED_KINDS = ("reset", "step")


def _ns(t_s: float) -> int:
    return max(0, round(t_s * 1e9))


class ObservedBagWriter:
    """Writes the actor's observations (their messages), rewards and actions to a new bag.

    ``serialize(msg)`` gives the CDR bytes of a received message (the node passes rclpy's
    ``serialize_message``; the default handles ``robot_rl.ros_compat.messages`` dataclasses).
    All calls come from the actor's thread.
    """

    def __init__(
        self,
        path: str | Path,
        config: CellConfig,
        *,
        serialize_msg: Callable[[Any], bytes] | None = None,
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.config = config
        self.typestore = jazzy_typestore()
        self._serialize = serialize_msg or (lambda msg: serialize(msg, self.typestore))
        self._writer = Writer(Path(path), version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        topics = {**cell_topics(config), OBSERVED_TOPIC: Header.MSGTYPE}
        self._connections = {
            topic: self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            for topic, msgtype in topics.items()
        }
        c = config
        self._topic = {camera_stream(cam): c.image_topic(cam) for cam in c.cameras}
        self._topic.update({
            JOINT_STATES: c.joint_states_topic, "gripper_joint": c.joint_states_topic,
            TCP_POSE: c.tcp_pose_topic, TCP_TWIST: c.tcp_twist_topic,
            OBJECT_POSE: c.object_pose_topic,
        })  # fmt: skip
        self._last: dict[str, object] = {}  # stream -> the message written last
        self._last_reward_s: float | None = None
        self.observations = 0
        self.actions = 0
        self._closed = False

    def _write(self, topic: str, t_s: float, raw: bytes) -> None:
        self._writer.write(self._connections[topic], _ns(t_s), raw)

    def on_observed(
        self, snapshot: Any, kind: str, reward: tuple[float, float] | None = None
    ) -> None:
        """Write an assembled observation: its new messages, the reward (value, receive s)
        it waited for, then the marker at the newest receive time."""
        if kind not in OBSERVED_KINDS:
            raise ValueError(f"kind: expected one of {OBSERVED_KINDS}, got {kind!r}")
        newest = 0.0
        for stream, (msg, received_s) in sorted(snapshot.messages.items(), key=lambda i: i[1][1]):
            newest = max(newest, received_s)
            if self._last.get(stream) is msg:
                continue  # used before (a stale step): the replay must not send it again
            self._last[stream] = msg
            self._write(self._topic[stream], received_s, bytes(self._serialize(msg)))
        if reward is not None and reward[1] != self._last_reward_s:
            self._last_reward_s = reward[1]
            newest = max(newest, reward[1])
            raw = serialize(Float64(data=float(reward[0])), self.typestore)
            self._write(self.config.reward_topic, reward[1], raw)
        marker = Header(stamp=stamp_from_seconds(newest), frame_id=kind)
        self._write(OBSERVED_TOPIC, newest + 1e-6, serialize(marker, self.typestore))
        self.observations += 1

    def on_action(self, action: np.ndarray, sent_s: float) -> None:
        """Write one executed action (A,) float32, sent at ``sent_s`` (s)."""
        msg = Float32MultiArray(data=np.asarray(action, dtype=np.float32))
        self._write(ACTION_TOPIC, sent_s, serialize(msg, self.typestore))
        self.actions += 1

    def close(self) -> None:
        """Finish the bag (metadata.yaml); later calls do nothing."""
        if not self._closed:
            self._closed = True
            self._writer.close()


@dataclass
class ObservedGroup:
    """The messages of one observation, in receive order, and what asked for it."""

    kind: str
    """``reset`` or ``step``."""
    messages: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(topic, ROS message type, CDR bytes)."""


@dataclass
class ObservedBag:
    """An actor-written bag, split for a replay."""

    groups: list[ObservedGroup]
    actions: list[np.ndarray]
    """(A,) float32 per executed action, in order."""


def observed_groups(path: str | Path) -> ObservedBag:
    """Split an ObservedBagWriter bag at its markers; raise ValueError if it has none."""
    from rosbags.rosbag2 import Reader

    typestore = jazzy_typestore()
    groups: list[ObservedGroup] = []
    actions: list[np.ndarray] = []
    pending: list[tuple[str, str, bytes]] = []
    with Reader(Path(path)) as reader:
        for connection, _t_ns, raw in reader.messages():
            topic, msgtype = connection.topic, connection.msgtype
            if topic == OBSERVED_TOPIC:
                marker = typestore.deserialize_cdr(raw, msgtype)
                groups.append(ObservedGroup(kind=str(marker.frame_id), messages=pending))
                pending = []
            elif topic == ACTION_TOPIC:
                actions.append(
                    np.asarray(typestore.deserialize_cdr(raw, msgtype).data, dtype=np.float32)
                )
            else:
                pending.append((topic, msgtype, bytes(raw)))
    if not groups:
        raise ValueError(f"{path}: no {OBSERVED_TOPIC} markers; not a bag the actor recorded")
    return ObservedBag(groups=groups, actions=actions)
