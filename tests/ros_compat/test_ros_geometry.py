"""JointState / PoseStamped / TwistStamped conversions over CDR, commands, Joy mapping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from robot_rl.ros_compat.bag import deserialize, jazzy_typestore, serialize
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.geometry import (
    CommandMapper,
    command_to_twin_action,
    gripper_opening,
    gripper_position,
    joint_positions,
    make_joint_state,
    make_pose,
    make_twist,
    pose_to_arrays,
    twist_to_arrays,
)
from robot_rl.ros_compat.joy import JoyMapping, joy_to_action
from robot_rl.ros_compat.messages import Time, stamp_from_seconds

TS = jazzy_typestore()
STAMP = Time(sec=3, nanosec=500)


def wire(msg: object) -> Any:
    return deserialize(serialize(msg, TS), msg.MSGTYPE, TS)  # type: ignore[attr-defined]


def test_pose_keeps_quaternion_order_explicit() -> None:
    quat_wxyz = np.array([0.1, 0.9, -0.3, 0.2]) / np.linalg.norm([0.1, 0.9, -0.3, 0.2])
    msg = wire(make_pose(np.array([0.5, -0.1, 0.2]), quat_wxyz, stamp=STAMP, frame_id="base"))
    assert msg.pose.orientation.w == pytest.approx(quat_wxyz[0])  # ROS (x, y, z, w) fields
    pos, quat = pose_to_arrays(msg)
    np.testing.assert_allclose(pos, [0.5, -0.1, 0.2])
    np.testing.assert_allclose(quat, quat_wxyz)
    assert msg.header.frame_id == "base" and msg.header.stamp.nanosec == 500


def test_twist_and_joint_state_round_trip() -> None:
    lin, ang = twist_to_arrays(
        wire(make_twist(np.array([0.1, 0, -0.2]), np.array([0, 0.3, 0]), stamp=STAMP, frame_id="b"))
    )
    np.testing.assert_allclose(lin, [0.1, 0, -0.2])
    np.testing.assert_allclose(ang, [0, 0.3, 0])
    names = ["finger", *(f"joint{i}" for i in range(1, 8))]
    msg = wire(make_joint_state(names, np.arange(8.0), stamp=STAMP))
    np.testing.assert_array_equal(joint_positions(msg, ["joint2", "finger"]), [2.0, 0.0])
    with pytest.raises(ValueError, match=r"/joint_states: joints \['elbow'\] not in the message"):
        joint_positions(msg, ["elbow"], where="/joint_states")


def test_gripper_opening_inverts_position() -> None:
    c = CellConfig(gripper_open_position=0.04, gripper_closed_position=0.0)  # a parallel-jaw in m
    for opening in (0.0, 0.25, 1.0):
        assert gripper_opening(gripper_position(opening, c), c) == pytest.approx(opening)


def test_pose_commands_integrate_box_and_leash() -> None:
    c = CellConfig(target_leash=0.05)
    mapper = CommandMapper(c)
    start = np.array([0.45, 0.0, 0.22])
    mapper.reset(start, np.array([0.0, 1.0, 0.0, 0.0]))
    cmd, grip = mapper.command(np.array([1, 0, 0, 1], np.float32), start, stamp=STAMP)
    pos, quat = pose_to_arrays(cmd)
    np.testing.assert_allclose(pos, start + np.array([0.03, 0.0, 0.0]))
    np.testing.assert_allclose(quat, [0, 1, 0, 0])
    assert grip.data == 1.0
    cmd, _ = mapper.command(np.array([1, 0, 0, -1], np.float32), start, stamp=STAMP)
    assert pose_to_arrays(cmd)[0][0] == pytest.approx(start[0] + 0.05)  # leashed to 5 cm
    mapper.reset(np.array([0.74, 0.0, 0.02]), np.array([0.0, 1.0, 0.0, 0.0]))
    cmd, _ = mapper.command(
        np.array([1, 0, -1, 0], np.float32), np.array([0.74, 0, 0.02]), stamp=STAMP
    )
    np.testing.assert_allclose(pose_to_arrays(cmd)[0], [0.75, 0.0, 0.01])  # workspace box
    with pytest.raises(ValueError, match="non-finite"):
        mapper.command(np.array([np.nan, 0, 0, 0]), start, stamp=STAMP)
    with pytest.raises(ValueError, match=r"expected shape \(4,\)"):
        mapper.command(np.zeros(7), start, stamp=STAMP)


def test_twist_commands_and_the_twin_inverse() -> None:
    c = CellConfig(command_mode="twist", use_rotation=True)
    mapper = CommandMapper(c)
    action = np.array([0.5, -1, 0.2, 0.1, 0, -0.4, 0.6], np.float32)
    cmd, grip = mapper.command(action, np.zeros(3), stamp=STAMP)
    lin, ang = twist_to_arrays(cmd)
    np.testing.assert_allclose(lin, action[:3] * 0.03 * 10.0, rtol=1e-6)  # m/s at 10 Hz
    np.testing.assert_allclose(ang, action[3:6] * 0.15 * 10.0, rtol=1e-6)
    back = command_to_twin_action(wire(cmd), grip.data, np.zeros(3), c)
    np.testing.assert_allclose(back, action, atol=1e-6)


def test_pose_command_maps_back_to_the_same_twin_action() -> None:
    c = CellConfig()
    mapper = CommandMapper(c)
    start = np.array([0.45, 0.0, 0.22])
    mapper.reset(start, np.array([0.0, 1.0, 0.0, 0.0]))
    action = np.array([0.3, -0.2, 0.5, -1.0], np.float32)
    cmd, grip = mapper.command(action, start, stamp=stamp_from_seconds(1.0))
    np.testing.assert_allclose(command_to_twin_action(cmd, grip.data, start, c), action, atol=1e-6)


def test_joy_needs_the_deadman_button() -> None:
    m = JoyMapping(axes=(1, 0, 2), signs=(1.0, -1.0, 1.0), deadman_button=0, close_button=1)
    axes = [0.5, 0.02, -0.7]
    assert joy_to_action(axes, [0, 1], m, action_dim=4).size == 0  # released: hands off
    np.testing.assert_allclose(joy_to_action(axes, [1, 1], m, action_dim=4), [0.0, -0.5, -0.7, 1.0])
    np.testing.assert_allclose(joy_to_action(axes, [1, 0], m, action_dim=4)[-1], -1.0)
    with pytest.raises(ValueError, match="mapping uses axis 2"):
        joy_to_action([0.0, 0.0], [1], m, action_dim=4)


def test_cell_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="camera_serials: expected one per camera"):
        CellConfig(camera_serials=("123",)).validate()
    with pytest.raises(ValueError, match="max_age_s"):
        CellConfig(max_age_s=0.05).validate()
    assert CellConfig().image_topic("wrist") == "/camera/wrist/color/image_raw"
