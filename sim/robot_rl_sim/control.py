"""TCP control of the twin: task-space impedance realised as Cartesian IK + joint impedance.

Why not an operational-space controller? gym-hil computes its OSC torques in Python at every
physics substep; that Python is ~80% of its step time. Here the stiffness lives in MuJoCo: each
arm joint has a position actuator (kp, kv) and every arm body has gravity compensation, so the
substeps of one control period run in C with ``mj_step(model, data, nstep)``. Once per control
step (10 Hz) Python turns the TCP target into a joint target with a few damped-least-squares IK
iterations (``mj_jacSite`` + a 6x6 solve, with a null-space pull toward a home posture), clipped
to the joint ranges minus a margin. The closed loop behaves like a task-space impedance around
the TCP target, as on a real Panda running a joint impedance controller fed by IK.

Targets: the commanded TCP position is integrated from the delta actions (so a held cube does
not make the arm drift down under a zero action), kept inside the workspace box and within a
leash of the measured TCP (so pushing into the table does not wind up a large force).
Orientation is straight down with a fixed yaw unless rotation actions are enabled; then roll,
pitch, yaw offsets are integrated and clipped to ``max_tilt`` / ``max_yaw``.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.geometry import DOWN_QUAT, tcp_quat
from robot_rl_sim.config import TwinConfig
from robot_rl_sim.model import CellIds

HOME_Q = np.array([0.0, 0.2, 0.0, -2.2, 0.0, 2.4, 0.785])  # rad, elbow up, hand down
JOINT_MARGIN = 0.05  # rad kept clear of every joint limit
IK_DAMPING = 0.05  # DLS damping λ (m, rad): bounds joint steps near singularities
IK_MAX_STEP = 0.25  # rad, largest joint change per IK iteration (stay in the linear regime)
NULLSPACE_GAIN = 0.2  # fraction of the posture error removed per iteration in the null space


class CartesianIK:
    """Damped-least-squares IK for the TCP site on a scratch ``MjData`` (the sim is untouched)."""

    def __init__(self, model: mujoco.MjModel, ids: CellIds) -> None:
        self._model = model
        self._ids = ids
        self._scratch = mujoco.MjData(model)
        self._lo = ids.joint_range[:, 0] + JOINT_MARGIN  # (7,) rad
        self._hi = ids.joint_range[:, 1] - JOINT_MARGIN
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._jac = np.zeros((6, 7))
        self._err = np.zeros(6)
        self._quat = np.zeros(4)
        self._quat_err = np.zeros(4)
        self._neg = np.zeros(4)
        self._eye6 = np.eye(6) * IK_DAMPING**2
        self._eye7 = np.eye(7)

    def clip(self, q: np.ndarray) -> np.ndarray:
        """Joint positions clipped to the ranges minus the safety margin (rad)."""
        return np.clip(q, self._lo, self._hi)

    def tcp_pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: TCP position (m) and (w, x, y, z) quaternion for arm joints q."""
        d = self._scratch
        d.qpos[self._ids.arm_qpos] = q
        mujoco.mj_kinematics(self._model, d)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, d.site_xmat[self._ids.tcp_site])
        return d.site_xpos[self._ids.tcp_site].copy(), quat

    def solve(
        self,
        q_start: np.ndarray,
        target_pos: np.ndarray,
        target_quat: np.ndarray,
        *,
        iterations: int,
    ) -> np.ndarray:
        """Arm joint target (7,) rad that puts the TCP at target_pos (m) with target_quat."""
        m, d, ids = self._model, self._scratch, self._ids
        q = self.clip(np.asarray(q_start, dtype=np.float64))
        dofs = ids.arm_dof
        for _ in range(iterations):
            d.qpos[ids.arm_qpos] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_jacSite(m, d, self._jacp, self._jacr, ids.tcp_site)
            self._jac[:3] = self._jacp[:, dofs]
            self._jac[3:] = self._jacr[:, dofs]
            self._err[:3] = target_pos - d.site_xpos[ids.tcp_site]
            # world-frame rotation error: target * conj(current) as a rotation vector
            mujoco.mju_mat2Quat(self._quat, d.site_xmat[ids.tcp_site])
            mujoco.mju_negQuat(self._neg, self._quat)
            mujoco.mju_mulQuat(self._quat_err, target_quat, self._neg)
            mujoco.mju_quat2Vel(self._err[3:], self._quat_err, 1.0)
            jac = self._jac
            jjt_inv_jac = np.linalg.solve(jac @ jac.T + self._eye6, jac)  # (6, 7)
            pinv = jjt_inv_jac.T  # (7, 6) damped pseudo-inverse
            dq = pinv @ self._err
            dq += (self._eye7 - pinv @ jac) @ (NULLSPACE_GAIN * (HOME_Q - q))
            step = np.max(np.abs(dq))
            if step > IK_MAX_STEP:
                dq *= IK_MAX_STEP / step
            q = self.clip(q + dq)
        return q


class TcpTarget:
    """Commanded TCP pose integrated from delta actions, kept in the workspace box."""

    def __init__(self, config: TwinConfig) -> None:
        self._config = config
        self._low = np.array(config.workspace_low, dtype=np.float64)
        self._high = np.array(config.workspace_high, dtype=np.float64)
        self.pos = np.zeros(3)  # m, world frame
        self.rpy = np.zeros(3)  # rad, offsets from DOWN_QUAT (world-frame roll, pitch, yaw)
        self.quat = DOWN_QUAT.copy()

    def reset(self, pos: np.ndarray, rpy: np.ndarray | None = None) -> None:
        """Start the target at pos (m) with orientation offsets rpy (rad)."""
        self.pos[:] = np.clip(pos, self._low, self._high)
        self.rpy[:] = 0.0 if rpy is None else rpy
        self._update_quat()

    def apply(
        self, delta_xyz: np.ndarray, delta_rpy: np.ndarray | None, measured_pos: np.ndarray
    ) -> None:
        """Move the target by delta_xyz (m) and delta_rpy (rad), then box, leash and clip."""
        c = self._config
        pos = np.clip(self.pos + delta_xyz, self._low, self._high)
        offset = pos - measured_pos
        dist = float(np.linalg.norm(offset))
        if dist > c.target_leash:
            pos = np.clip(measured_pos + offset * (c.target_leash / dist), self._low, self._high)
        self.pos[:] = pos
        if delta_rpy is not None:
            self.rpy += delta_rpy
            self.rpy[:2] = np.clip(self.rpy[:2], -c.max_tilt, c.max_tilt)
            self.rpy[2] = np.clip(self.rpy[2], -c.max_yaw, c.max_yaw)
            self._update_quat()

    def _update_quat(self) -> None:
        self.quat[:] = tcp_quat(self.rpy)
