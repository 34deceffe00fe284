"""The messages a real cell publishes, made from a twin observation (twin node, bag tests).

The twin's proprioceptive state (see robot_rl_sim.env) maps one-to-one onto a TCP
PoseStamped, a TCP TwistStamped (linear part) and a JointState (7 arm joints + the gripper
joint), and its camera frames onto rgb8 Images, so the ROS graph of ``sim:=true`` carries
exactly what the hardware graph carries. A cell that tracks the object (``object_pose_topic``)
also gets its PoseStamped: the twin's ground truth where a real cell has a tracker's estimate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl import keys
from robot_rl.ros_compat.config import PROPRIO_DIM, CellConfig
from robot_rl.ros_compat.geometry import gripper_position, make_joint_state, make_pose, make_twist
from robot_rl.ros_compat.image import array_to_image
from robot_rl.ros_compat.messages import Image, JointState, PoseStamped, Time, TwistStamped


@dataclass
class CellMessages:
    """Everything the cell's sensors publish for one instant."""

    images: dict[str, Image]
    """Camera name -> rgb8 image."""
    joint_state: JointState
    tcp_pose: PoseStamped
    tcp_twist: TwistStamped
    object_pose: PoseStamped | None = None
    """The tracked object's pose (cells with ``object_pose_topic``), else None."""


def twin_messages(
    obs: dict[str, np.ndarray],
    config: CellConfig,
    *,
    stamp: Time,
    object_pose: tuple[np.ndarray, np.ndarray] | None = None,
) -> CellMessages:
    """Messages carrying a twin observation (state (>= 18,) float32, pixels_<camera>).

    ``object_pose``: the object's position (3,) m and (w, x, y, z) quaternion (4,), needed
    when the cell has an ``object_pose_topic`` (ValueError otherwise)."""
    state = np.asarray(obs[keys.STATE], dtype=np.float64)
    if state.shape[0] < PROPRIO_DIM:
        raise ValueError(f"state: expected at least {PROPRIO_DIM} values, got {state.shape}")
    images = {}
    for cam in config.cameras:
        key = keys.pixels_key(cam)
        if key not in obs:
            raise KeyError(f"twin observation has no {key!r}; is the camera in the twin config?")
        images[cam] = array_to_image(obs[key], "rgb8", stamp=stamp, frame_id=f"{cam}_optical_frame")
    tracked = None
    if config.object_pose_topic:
        if object_pose is None:
            raise ValueError(
                f"object_pose_topic: {config.object_pose_topic} is set; pass the object pose"
            )
        tracked = make_pose(*object_pose, stamp=stamp, frame_id=config.base_frame)
    names = [*config.arm_joints, config.gripper_joint]
    positions = np.concatenate([state[11:18], [gripper_position(state[10], config)]])
    return CellMessages(
        images=images,
        joint_state=make_joint_state(names, positions, stamp=stamp),
        tcp_pose=make_pose(state[0:3], state[3:7], stamp=stamp, frame_id=config.base_frame),
        tcp_twist=make_twist(state[7:10], np.zeros(3), stamp=stamp, frame_id=config.base_frame),
        object_pose=tracked,
    )


def feed_assembler(assembler: object, messages: CellMessages, received_s: float) -> None:
    """Hand every message of ``messages`` to an ObservationAssembler at ``received_s`` (s)."""
    for cam, image in messages.images.items():
        assembler.on_image(cam, image, received_s)  # type: ignore[attr-defined]
    assembler.on_joint_state(messages.joint_state, received_s)  # type: ignore[attr-defined]
    assembler.on_tcp_pose(messages.tcp_pose, received_s)  # type: ignore[attr-defined]
    assembler.on_tcp_twist(messages.tcp_twist, received_s)  # type: ignore[attr-defined]
    if messages.object_pose is not None:
        assembler.on_object_pose(messages.object_pose, received_s)  # type: ignore[attr-defined]


def twin_config_for_cell(env_config: Any, cell: CellConfig) -> Any:
    """The twin's config (a robot_rl_sim TwinConfig) with the cell's cameras, rate and scales.

    Episodes never end inside the twin: the actor ends them and calls the reset service.
    """
    return dataclasses.replace(
        env_config,
        obs_mode="both" if cell.cameras else "state",
        cameras=tuple(cell.cameras) or env_config.cameras,
        image_size=cell.image_size,
        control_hz=cell.control_hz,
        use_rotation=cell.use_rotation,
        action_scale_xyz=cell.action_scale_xyz,
        action_scale_rot=cell.action_scale_rot,
        max_episode_steps=10**9,
    )


class TwinCell:
    """The twin behind the cell's interface: takes commands, steps, says what to publish.

    The twin node calls :meth:`command` from its subscriptions and :meth:`tick` from a timer
    at ``control_hz``; each tick applies the latest command for one control period (a missing
    command holds the TCP target, as an impedance controller does). ``env`` is a
    robot_rl_sim PickCubeEnv whose cameras match ``config.cameras``.
    """

    def __init__(self, env: object, config: CellConfig, *, seed: int) -> None:
        from robot_rl.ros_compat.geometry import command_to_twin_action

        self._to_action = command_to_twin_action
        self.env = env
        self.config = config
        self._seed = seed
        self._episode = 0
        self._command: object | None = None
        self._gripper = 0.0  # closure 0 open .. 1 closed
        self.obs: dict[str, np.ndarray] = {}
        self.reward = 0.0

    def reset(self) -> None:
        """Reset the twin to a new episode (seed, seed + 1, ...)."""
        self.obs, _ = self.env.reset(seed=self._seed + self._episode)  # type: ignore[attr-defined]
        self._episode += 1
        self._command = None
        self._gripper = 0.0
        self.reward = 0.0

    def command(self, command: object | None = None, gripper: float | None = None) -> None:
        """Store a Cartesian command and/or a gripper closure (0 open .. 1 closed).

        Raises ValueError naming the topic for a command in another frame than
        ``base_frame`` (a Cartesian controller would reject it too) or a non-finite gripper.
        """
        if command is not None:
            frame = getattr(getattr(command, "header", None), "frame_id", "")
            if frame and frame != self.config.base_frame:
                raise ValueError(
                    f"{self.config.command_topic}: command in frame {frame!r}, the cell "
                    f"commands in {self.config.base_frame!r}"
                )
            self._command = command
        if gripper is not None:
            if not np.isfinite(gripper):
                raise ValueError(f"{self.config.gripper_command_topic}: non-finite {gripper}")
            self._gripper = float(np.clip(gripper, 0.0, 1.0))

    def tick(self) -> np.ndarray:
        """Step the twin one control period with the latest command; returns the action used."""
        if not self.obs:
            self.reset()
        target = self.env.ground_truth()["tcp_target"]  # type: ignore[attr-defined]
        if self._command is None:
            action = np.zeros(self.config.action_dim, dtype=np.float32)
            action[-1] = 2.0 * self._gripper - 1.0
        else:
            action = self._to_action(self._command, self._gripper, target, self.config)
            if hasattr(self._command, "twist"):
                self._command = None  # a twist is a one-period command; a pose target persists
        self.obs, reward, _terminated, _truncated, _ = self.env.step(action)  # type: ignore[attr-defined]
        self.reward = float(reward)
        return action

    def messages(self, *, stamp: Time) -> CellMessages:
        """The sensor messages of the current twin state (object: the twin's ground truth)."""
        tracked = None
        if self.config.object_pose_topic:
            truth = self.env.ground_truth()  # type: ignore[attr-defined]
            tracked = (truth["cube_pos"], truth["cube_quat"])
        return twin_messages(self.obs, self.config, stamp=stamp, object_pose=tracked)
