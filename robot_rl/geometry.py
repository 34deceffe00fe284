"""Quaternions and TCP orientation: the one place the core and the twin do rotation maths.

Quaternions are (w, x, y, z), as MuJoCo orders them (ROS messages order them (x, y, z, w);
``ros_compat.geometry`` converts at the message boundary). Angles in rad. Products,
Euler-to-quaternion and axis-angle are MuJoCo's ``mju_*`` functions; written here are the
quaternion -> matrix -> Euler readings (MuJoCo has no matrix-to-Euler; see ``quat_to_matrix``
for why not ``mju_quat2Mat``) and the cell's convention on top of them:

- ``DOWN_QUAT``: the TCP pointing straight down, fingers closing along world y.
- An orientation is offset from it by world-frame roll, pitch, yaw:
  ``tcp_quat(rpy) = euler_to_quat(roll, pitch, yaw) * DOWN_QUAT``; ``tcp_offset_rpy`` inverts it.
- Hemisphere rule: q and -q are one rotation; the state vector keeps the sign whose dot with
  ``DOWN_QUAT`` is >= 0, so the nominal pose (w ~ 0) does not flip sign from step to step.

Safety-critical: the safety layer's orientation limits read ``tcp_offset_rpy``.
"""

from __future__ import annotations

import mujoco
import numpy as np

DOWN_QUAT = np.array([0.0, 1.0, 0.0, 0.0])  # (w, x, y, z): site axes x=+x, y=-y, z=-z


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of (w, x, y, z) quaternions (rotate by b, then by a)."""
    out = np.empty(4)
    mujoco.mju_mulQuat(out, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return out


def quat_from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """(w, x, y, z) quaternion of a rotation vector (axis * angle, rad)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    out = np.empty(4)
    mujoco.mju_axisAngle2Quat(out, rotvec / angle, angle)
    return out


def euler_to_quat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """World-frame rotation Rz(yaw) Ry(pitch) Rx(roll) as a (w, x, y, z) quaternion."""
    out = np.empty(4)
    mujoco.mju_euler2Quat(out, np.array([roll, pitch, yaw], dtype=np.float64), "XYZ")
    return out


def yaw_quat(yaw: float) -> np.ndarray:
    """(w, x, y, z) quaternion of a rotation by yaw (rad) about world z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(quat: np.ndarray) -> float:
    """Yaw (rad, [-pi, pi]) of a unit (w, x, y, z) quaternion: the z angle of its
    Rz(yaw) Ry(pitch) Rx(roll) decomposition."""
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix of a (w, x, y, z) quaternion, normalised first.

    Written out rather than ``mju_quat2Mat``: that one assumes a unit quaternion and rounds its
    diagonal differently, and this is the formula the safety layer's limits were tested with.
    """
    w, x, y, z = np.asarray(quat, dtype=np.float64) / max(float(np.linalg.norm(quat)), 1e-12)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_euler(rot: np.ndarray) -> np.ndarray:
    """(roll, pitch, yaw) rad with rot = Rz(yaw) Ry(pitch) Rx(roll); pitch in [-pi/2, pi/2]."""
    roll = np.arctan2(rot[2, 1], rot[2, 2])
    pitch = -np.arcsin(np.clip(rot[2, 0], -1.0, 1.0))
    yaw = np.arctan2(rot[1, 0], rot[0, 0])
    return np.array([roll, pitch, yaw])


def canonical_quat(quat: np.ndarray) -> np.ndarray:
    """The sign of a TCP quaternion the state vector uses (hemisphere rule): ``quat`` or
    ``-quat``, whichever has a dot product >= 0 with ``DOWN_QUAT``; float64."""
    q = np.asarray(quat, dtype=np.float64)
    return q if q @ DOWN_QUAT >= 0 else -q


def tcp_quat(rpy: np.ndarray) -> np.ndarray:
    """TCP (w, x, y, z) quaternion of world-frame (roll, pitch, yaw) rad offsets from down."""
    out = np.empty(4)
    mujoco.mju_mulQuat(out, euler_to_quat(*rpy), DOWN_QUAT)
    return out


def tcp_offset_rpy(quat: np.ndarray) -> np.ndarray:
    """(roll, pitch, yaw) rad of a TCP quaternion (w, x, y, z) relative to pointing down:
    the inverse of ``tcp_quat`` (either sign of ``quat``, any norm)."""
    # R @ R_down^T with R_down = diag(1, -1, -1): exact sign flips of two columns
    return matrix_to_euler(quat_to_matrix(quat) * np.array([1.0, -1.0, -1.0]))
