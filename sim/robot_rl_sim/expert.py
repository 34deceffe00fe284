"""Scripted pick-cube expert for demonstrations; reads the twin's ground truth (not the obs).

Phases: move above the cube with the gripper open, descend around it, close, lift. The
expert re-plans from the ground truth every step, so a cube that slips out sends it back to
the approach phase. With rotation actions enabled it also turns the gripper to the cube's yaw.
"""

from __future__ import annotations

import enum

import numpy as np

from robot_rl.geometry import quat_yaw
from robot_rl_sim.env import PickCubeEnv

APPROACH_HEIGHT = 0.07  # m above the cube centre before descending
GRASP_DEPTH = 0.0  # m, TCP height relative to the cube centre when closing
XY_TOLERANCE = 0.008  # m, horizontal alignment needed before descending
Z_TOLERANCE = 0.008  # m, height error accepted before closing
CLOSE_STEPS = 3  # control steps to let the fingers close before lifting
LIFT_HEIGHT = 0.15  # m above the table that the TCP is lifted to


class Phase(enum.Enum):
    """What the expert is doing."""

    APPROACH = "approach"
    DESCEND = "descend"
    CLOSE = "close"
    LIFT = "lift"


class ScriptedExpert:
    """Pick-cube policy from ground truth; ``act()`` returns float32 actions in [-1, 1]."""

    def __init__(
        self, env: PickCubeEnv, *, noise_std: float | None = None, seed: int | None = None
    ) -> None:
        self.env = env
        self.noise_std = env.config.expert_noise_std if noise_std is None else noise_std
        self._rng = np.random.default_rng(seed)
        self.phase = Phase.APPROACH
        self._close_count = 0

    def reset(self) -> None:
        """Start a new episode (call after env.reset())."""
        self.phase = Phase.APPROACH
        self._close_count = 0

    def act(self) -> np.ndarray:
        """Next action (A,) float32 in [-1, 1] for the env's current state."""
        gt = self.env.ground_truth()
        tcp = np.asarray(gt["tcp_pos"])
        cube = np.asarray(gt["cube_pos"])
        xy_err = float(np.linalg.norm(cube[:2] - tcp[:2]))
        above = cube + np.array([0.0, 0.0, APPROACH_HEIGHT])
        grasp = cube + np.array([0.0, 0.0, GRASP_DEPTH])

        if self.phase is Phase.LIFT and not gt["grasped"]:
            self.phase = Phase.APPROACH  # dropped it: start over
        if self.phase is Phase.APPROACH and xy_err < XY_TOLERANCE and tcp[2] > cube[2] + 0.03:
            self.phase = Phase.DESCEND
        if self.phase is Phase.DESCEND:
            if xy_err > 2.5 * XY_TOLERANCE:
                self.phase = Phase.APPROACH
            elif abs(tcp[2] - grasp[2]) < Z_TOLERANCE:
                self.phase = Phase.CLOSE
                self._close_count = 0
        if self.phase is Phase.CLOSE:
            self._close_count += 1
            if self._close_count > CLOSE_STEPS:
                self.phase = Phase.LIFT

        gripper = -1.0
        if self.phase is Phase.APPROACH:
            # rise first if low and off to the side, so the fingers do not sweep the cube away
            goal = (
                above
                if tcp[2] > cube[2] + 0.03 or xy_err < 0.02
                else np.array([*tcp[:2], above[2]])
            )
        elif self.phase is Phase.DESCEND:
            goal = grasp
        elif self.phase is Phase.CLOSE:
            goal, gripper = grasp, 1.0
        else:
            goal, gripper = np.array([*cube[:2], LIFT_HEIGHT]), 1.0

        scale = self.env.config.action_scale_xyz
        action = np.zeros(self.env.config.action_dim)
        action[:3] = (goal - tcp) / scale
        if self.env.config.use_rotation:
            action[3:6] = self._rotation_action(np.asarray(gt["cube_quat"]))
        action[-1] = gripper
        if self.noise_std > 0:
            action[:-1] += self._rng.normal(0.0, self.noise_std, action.size - 1)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _rotation_action(self, cube_quat: np.ndarray) -> np.ndarray:
        """Turn the gripper yaw toward the cube's yaw (mod 90 deg); keep it pointing down."""
        cube_yaw = quat_yaw(cube_quat)
        cube_yaw = (cube_yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # square: 90 deg symmetric
        rpy = np.asarray(self.env.ground_truth()["tcp_target_rpy"])
        scale = self.env.config.action_scale_rot
        return np.array([-rpy[0], -rpy[1], cube_yaw - rpy[2]]) / scale
