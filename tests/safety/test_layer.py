"""SafetyLayer: property-based limits (hypothesis) and each intervention on its own."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.config import ConfigError, from_dict
from robot_rl.geometry import tcp_offset_rpy
from robot_rl.safety.config import SafetyConfig
from robot_rl.safety.fault_suite import command_violations
from robot_rl.safety.layer import RobotState, SafetyLayer

DOWN = np.array([0.0, 1.0, 0.0, 0.0])
HOME = np.array([0.5, 0.0, 0.2])
JOINTS = np.array([0.0, 0.2, 0.0, -2.2, 0.0, 2.4, 0.785])


def state(pos: np.ndarray = HOME, *, t: float = 0.0, quat: np.ndarray = DOWN, **kw) -> RobotState:
    """A healthy robot state with every stream fresh at time t (s)."""
    config = SafetyConfig()
    return RobotState(
        tcp_pos=np.asarray(pos, dtype=np.float64),
        tcp_quat=quat,
        tcp_vel=kw.get("vel", np.zeros(3)),
        joint_pos=kw.get("joints", JOINTS),
        stream_times=dict.fromkeys(config.stream_deadlines, t),
    )


floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
step_strategy = st.fixed_dictionaries(
    {
        "action": st.lists(floats, min_size=7, max_size=7),
        "pos": st.tuples(*(st.floats(-0.2, 1.0) for _ in range(3))),
        "quat": st.tuples(*(st.floats(-1, 1) for _ in range(4))),
        "vel": st.floats(0.0, 2.0),
        "age": st.floats(0.0, 0.6),
        "dt": st.floats(0.0, 0.3),
        "estop": st.sampled_from([None, "estop", "release"]),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([4, 7]), st.lists(step_strategy, min_size=1, max_size=30))
def test_no_input_sequence_yields_a_command_outside_the_limits(
    action_dim: int, steps: list
) -> None:
    config = SafetyConfig(action_dim=action_dim)
    layer = SafetyLayer(config)
    now = 0.0
    for s in steps:
        now += s["dt"]
        if s["estop"] == "estop":
            layer.estop("test")
        elif s["estop"] == "release":
            layer.release()
        quat = np.asarray(s["quat"]) if np.linalg.norm(s["quat"]) > 1e-3 else DOWN
        st_ = RobotState(
            np.asarray(s["pos"]),
            quat,
            np.array([s["vel"], 0.0, 0.0]),
            JOINTS,
            dict.fromkeys(config.stream_deadlines, now - s["age"]),
        )
        prev = layer._gripper
        command = layer.filter(np.asarray(s["action"][:action_dim], np.float32), st_, now)
        assert command_violations(config, st_, prev, command) == []
        assert command.action.dtype == np.float32
        if layer.estopped:
            assert command.held
        if config.rotation and not command.held:
            # the commanded orientation stays inside the limits (or moves back toward them)
            rpy = tcp_offset_rpy(quat)
            nxt = rpy + command.action[3:6] * config.action_scale_rot
            limit = np.array([config.max_tilt, config.max_tilt, config.max_yaw]) + 1e-5
            assert np.all((np.abs(nxt) <= limit) | (np.abs(nxt) <= np.abs(rpy) + 1e-5))


@pytest.mark.parametrize(
    ("action", "event"),
    [
        ([np.nan, 0, 0, 0], "reject:nan"),
        ([0, np.inf, 0, 0], "reject:nan"),
        ([0, 0, 1.5, 0], "reject:range"),
        ([0, 0, 0], "reject:shape"),
    ],
)
def test_bad_actions_hold_the_arm_and_are_counted(action: list, event: str) -> None:
    layer = SafetyLayer(SafetyConfig(max_gripper_step=2.0))
    layer.filter(np.array([0.0, 0.0, 0.0, 0.5]), state(), 0.0)  # gripper command 0.5
    command = layer.filter(np.asarray(action, np.float32), state(t=0.1), 0.1)
    assert command.held and command.events == [event]
    np.testing.assert_array_equal(command.action, [0, 0, 0, 0.5])  # no motion, gripper kept
    assert layer.stats["held"] == 1 and layer.stats[f"event/{event}"] == 1


def test_estop_latches_until_release_from_any_thread() -> None:
    layer = SafetyLayer(SafetyConfig())
    move = np.array([1.0, 0.0, 0.0, -1.0], np.float32)
    thread = threading.Thread(target=layer.estop, args=("dashboard button",))
    thread.start()
    thread.join()
    for k in range(5):
        assert layer.filter(move, state(t=k * 0.1), k * 0.1).held
    assert layer.estopped == "dashboard button"
    layer.release()
    command = layer.filter(move, state(t=0.6), 0.6)
    assert not command.held and command.action[0] > 0
    stats = layer.stats
    assert stats["estop_triggered"] == 1 and stats["estop_released"] == 1
    assert stats["event/estop"] == 5 and stats["estop_latched"] == 0


def test_stale_stream_holds_then_ends_the_episode() -> None:
    config = SafetyConfig(stream_deadlines={"joints": 0.25, "front": 0.25}, stale_timeout=0.5)
    layer = SafetyLayer(config)
    move = np.array([1.0, 0.0, 0.0, -1.0], np.float32)
    ended = []
    for k in range(12):
        now = k * 0.1
        times = {"joints": now, "front": min(now, 0.2)}  # the front camera froze at 0.2 s
        command = layer.filter(move, RobotState(HOME, DOWN, None, None, times), now)
        assert command.held == (now - 0.2 > 0.25)
        ended.append(command.end_episode)
    assert ended.index(True) == 10  # stale since 0.5 s, + stale_timeout 0.5 s
    fresh = {"joints": 1.2, "front": 1.2}
    assert not layer.filter(move, RobotState(HOME, DOWN, None, None, fresh), 1.2).held


def test_missing_stream_counts_as_stale() -> None:
    layer = SafetyLayer(SafetyConfig(stream_deadlines={"wrist": 0.2}))
    command = layer.filter(np.zeros(4), RobotState(HOME), 0.0)
    assert command.held and command.events == ["stale:wrist"]


def test_pose_jump_holds_until_the_pose_settles() -> None:
    layer = SafetyLayer(SafetyConfig(pose_settle_steps=2))
    move = np.array([0.5, 0.0, 0.0, -1.0], np.float32)
    assert not layer.filter(move, state(HOME), 0.0).held
    jumped = HOME + np.array([0.0, 0.15, 0.0])
    held = [layer.filter(move, state(jumped, t=k * 0.1), k * 0.1).held for k in range(1, 5)]
    assert held == [True, True, True, False]


def test_translation_is_clipped_to_the_step_box_and_speed() -> None:
    config = SafetyConfig(max_step_xyz=0.04, max_speed=0.3)  # 0.03 m per step at 10 Hz
    layer = SafetyLayer(config)
    command = layer.filter(np.array([1.0, 1.0, 1.0, -1.0], np.float32), state(), 0.0)
    assert np.linalg.norm(command.action[:3] * config.action_scale_xyz) == pytest.approx(0.03)
    assert "clip:step" in command.events
    near_floor = np.array([0.5, 0.0, 0.015])
    layer.reset()  # a new episode: the far-away pose is not a jump
    command = layer.filter(np.array([0.0, 0.0, -1.0, -1.0], np.float32), state(near_floor), 0.1)
    assert near_floor[2] + command.action[2] * config.action_scale_xyz == pytest.approx(0.01)
    assert "clip:box" in command.events


def test_gripper_rate_is_limited() -> None:
    layer = SafetyLayer(SafetyConfig(max_gripper_step=0.5))
    grips = [
        float(layer.filter(np.array([0, 0, 0, 1.0]), state(), 0.0).action[-1]) for _ in range(5)
    ]
    assert grips == pytest.approx([-0.5, 0.0, 0.5, 1.0, 1.0])


def test_overspeed_holds() -> None:
    layer = SafetyLayer(SafetyConfig(max_measured_speed=0.5))
    command = layer.filter(np.zeros(4), state(vel=np.array([0.6, 0.0, 0.0])), 0.0)
    assert command.held and command.events == ["overspeed"]


def test_near_a_joint_limit_the_arm_only_retreats() -> None:
    layer = SafetyLayer(SafetyConfig())
    layer.filter(np.zeros(4), state(HOME), 0.0)  # all joints clear here
    near = JOINTS.copy()
    near[3] = -0.08  # joint4 within 0.03 rad of its -0.0698 limit
    away = HOME + np.array([0.02, 0.0, 0.0])
    command = layer.filter(
        np.array([1.0, 0.0, 0.0, -1.0], np.float32), state(away, joints=near), 0.1
    )
    assert "joint_limit" in command.events
    assert command.action[0] < 0  # back toward the last clear pose, not further out


def test_tcp_offset_rpy_of_down_and_yawed_poses() -> None:
    np.testing.assert_allclose(tcp_offset_rpy(DOWN), 0.0, atol=1e-9)
    yaw = 0.3  # Rz(yaw) * down
    quat = np.array([-np.sin(yaw / 2) * 0, np.cos(yaw / 2), np.sin(yaw / 2), 0.0])
    np.testing.assert_allclose(tcp_offset_rpy(quat), [0.0, 0.0, yaw], atol=1e-9)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"max_step_xyz": -1.0}, "max_step_xyz"),
        ({"workspace_low": [0.8, 0.0, 0.0]}, "workspace_low"),
        ({"action_dim": 5}, "action_dim"),
        ({"stream_deadlines": {"front": 0.0}}, "stream_deadlines.front"),
        ({"max_speed": "fast"}, "max_speed"),
    ],
)
def test_config_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        from_dict(SafetyConfig, data)
