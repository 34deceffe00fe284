"""robot_rl.geometry against MuJoCo's own mju_* functions, its round trips and the hemisphere rule.

The references are computed a different way from the code under test: rotation matrices from
``mju_quat2Mat`` and products of per-axis matrices, rotation vectors from ``mju_quat2Vel``.
"""

from __future__ import annotations

import mujoco
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from robot_rl import keys
from robot_rl.geometry import (
    DOWN_QUAT,
    canonical_quat,
    euler_to_quat,
    quat_from_rotvec,
    quat_mul,
    quat_to_matrix,
    quat_yaw,
    tcp_offset_rpy,
    tcp_quat,
    yaw_quat,
)

angle = st.floats(-np.pi, np.pi, allow_nan=False)
# pitch away from +-pi/2, where roll and yaw are one degree of freedom (gimbal lock)
pitch = st.floats(-1.5, 1.5, allow_nan=False)
component = st.floats(-1.0, 1.0, allow_nan=False)
quats = st.tuples(component, component, component, component).filter(
    lambda q: np.linalg.norm(q) > 1e-3
)


def mju_matrix(quat: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix of a quaternion, by MuJoCo (normalised first)."""
    q = np.array(quat, dtype=np.float64)
    mujoco.mju_normalize4(q)
    out = np.empty(9)
    mujoco.mju_quat2Mat(out, q)
    return out.reshape(3, 3)


def rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def test_down_points_the_tcp_z_axis_at_the_table() -> None:
    np.testing.assert_allclose(mju_matrix(DOWN_QUAT), np.diag([1.0, -1.0, -1.0]), atol=1e-15)


@given(angle, pitch, angle)
def test_euler_to_quat_is_rz_ry_rx(roll: float, p: float, yaw: float) -> None:
    expected = rz(yaw) @ ry(p) @ rx(roll)
    np.testing.assert_allclose(mju_matrix(euler_to_quat(roll, p, yaw)), expected, atol=1e-12)


@given(quats)
def test_quat_to_matrix_matches_mujoco_for_any_norm(q: tuple[float, ...]) -> None:
    np.testing.assert_allclose(quat_to_matrix(np.array(q)), mju_matrix(np.array(q)), atol=1e-12)


@given(quats, quats)
def test_quat_mul_composes_rotations(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    qa, qb = np.array(a) / np.linalg.norm(a), np.array(b) / np.linalg.norm(b)
    np.testing.assert_allclose(
        mju_matrix(quat_mul(qa, qb)), mju_matrix(qa) @ mju_matrix(qb), atol=1e-12
    )


@given(st.tuples(angle, angle, angle).filter(lambda v: 1e-9 < np.linalg.norm(v) < np.pi - 1e-6))
def test_rotvec_round_trip_through_mujoco(v: tuple[float, float, float]) -> None:
    rotvec = np.array(v)
    back = np.empty(3)
    mujoco.mju_quat2Vel(back, quat_from_rotvec(rotvec), 1.0)
    np.testing.assert_allclose(back, rotvec, atol=1e-12)


def test_zero_rotvec_is_the_identity() -> None:
    np.testing.assert_array_equal(quat_from_rotvec(np.zeros(3)), [1.0, 0.0, 0.0, 0.0])


@given(angle, pitch, angle)
def test_tcp_offset_rpy_inverts_tcp_quat_for_either_sign(roll: float, p: float, y: float) -> None:
    rpy = np.array([roll, p, y])
    q = tcp_quat(rpy)
    np.testing.assert_allclose(mju_matrix(q), rz(y) @ ry(p) @ rx(roll) @ np.diag([1, -1, -1]),
                               atol=1e-12)  # fmt: skip
    for sign in (1.0, -1.0):
        got = tcp_offset_rpy(sign * q)
        # roll and yaw of +-pi are the same angle
        np.testing.assert_allclose(np.angle(np.exp(1j * (got - rpy))), 0.0, atol=1e-9)


def test_tcp_offset_rpy_of_a_non_unit_quaternion_is_that_of_its_direction() -> None:
    q = tcp_quat(np.array([0.1, -0.2, 0.7]))
    np.testing.assert_allclose(tcp_offset_rpy(3.5 * q), [0.1, -0.2, 0.7], atol=1e-12)


@given(angle)
def test_yaw_quat_and_quat_yaw(yaw: float) -> None:
    np.testing.assert_allclose(yaw_quat(yaw), euler_to_quat(0.0, 0.0, yaw), atol=1e-15)
    assert abs(np.angle(np.exp(1j * (quat_yaw(yaw_quat(yaw)) - yaw)))) < 1e-12


@given(angle, pitch, angle)
def test_quat_yaw_is_the_z_angle_of_the_decomposition(roll: float, p: float, y: float) -> None:
    assert abs(np.angle(np.exp(1j * (quat_yaw(euler_to_quat(roll, p, y)) - y)))) < 1e-9


@given(quats)
def test_hemisphere_rule_keeps_the_rotation_and_picks_the_down_side(q: tuple[float, ...]) -> None:
    quat = np.array(q)
    c = canonical_quat(quat)
    assert c @ DOWN_QUAT >= 0
    np.testing.assert_array_equal(np.abs(c), np.abs(quat))  # q or -q, nothing else
    np.testing.assert_array_equal(canonical_quat(c), c)  # idempotent
    np.testing.assert_array_equal(canonical_quat(-quat), c if quat @ DOWN_QUAT != 0 else -c)


def test_hemisphere_rule_on_the_boundary_keeps_the_given_sign() -> None:
    q = np.array([0.6, 0.0, 0.8, 0.0])  # dot with DOWN_QUAT is 0: kept as given
    np.testing.assert_array_equal(canonical_quat(q), q)
    np.testing.assert_array_equal(canonical_quat(-q), -q)


def test_the_twin_state_quaternion_follows_the_rule() -> None:
    """A rotating twin episode (real MuJoCo): every state quaternion lies in the down
    hemisphere and is the TCP site's orientation."""
    from robot_rl_sim.tasks import get_task

    task = get_task("pick_cube_hard")
    env = task.make_env(task.env, seed=0)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    try:
        for _step in range(30):
            state = obs[keys.STATE]
            quat = state[3:7].astype(np.float64)
            assert quat @ DOWN_QUAT >= 0
            site = env.data.site_xmat[env.ids.tcp_site].reshape(3, 3)
            np.testing.assert_allclose(mju_matrix(quat), site, atol=1e-5)  # float32 state
            obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
    finally:
        env.close()
