"""Peg insertion twin (``peg_insert``): a square peg held in the gripper goes into a square hole.

The HIL-SERL class of task: the peg starts in the gripper, a board with a through hole sits on
the table at a random x, y and yaw, and success is the peg tip at least ``insert_depth`` below
the board's top face inside the hole (sparse reward 1, episode ends). The hole's side is the
peg's plus ``peg_clearance`` (2 mm by default: 1 mm a side), so the peg must be centred to
about a millimetre and turned to the board's yaw (mod 90 deg) before it goes in.

Simplifications, stated: the peg is fixed to the gripper's base (no slip in the grasp; the
fingers close on it and the gripper action is ignored), and the board is a mocap body (it does
not move when pushed). The state observation keeps pick-cube's layout, with the hole in place of
the cube: 18:21 hole centre at the board's top face (m; with ``fine_offset_scale`` > 0,
tanh((hole centre - peg tip) / fine_offset_scale) instead), 21:25 board quaternion (w, x, y,
z), 25:28 hole centre minus peg tip (m). Its last 6 entries, in every obs mode (proprioception, as
on a real cell), are the wrist force/torque reading: force (N) and torque (N m) that the arm's
flange exerts on the gripper, in the sensor's frame, tared at reset (a real cell zeroes its
sensor with the gripper at rest) — so 28:34 from state, 18:24 in pixel modes.
"""

from __future__ import annotations

import enum
from typing import Any

import mujoco
import numpy as np

from robot_rl.geometry import yaw_quat
from robot_rl_sim.config import TwinConfig
from robot_rl_sim.env import PickCubeEnv

PEG_HALF_SIDE = 0.01  # m, the peg is 2 cm square
PEG_HALF_LENGTH = 0.03  # m, 6 cm long
PEG_IN_FINGERS = 0.015  # m of peg above the pinch point, between the fingers
BOARD_HALF_SIDE = 0.06  # m, the board is 12 cm square
BOARD_HALF_HEIGHT = 0.015  # m, 3 cm thick; the hole goes through
PINCH_OFFSET = 0.145  # m, pinch site below the gripper base's origin (gym-hil's Robotiq)
PARKED_CUBE = (1.2, 0.6)  # m, the pick-cube's cube is moved out of the cell
PEG_RGBA = (0.85, 0.55, 0.15, 1.0)
BOARD_RGBA = (0.35, 0.3, 0.25, 1.0)


WRENCH_DIM = 6  # force (3) + torque (3) of the wrist sensor
SETTLE_STEPS = 100  # physics steps (0.2 s) at reset before the wrist sensor is tared


class PegInsertEnv(PickCubeEnv):
    """Panda + Robotiq holding a 2 cm square peg above a board with a square hole (twin)."""

    EXTRA_STATE_DIM = WRENCH_DIM

    def _edit_scene(self, spec: mujoco.MjSpec) -> None:
        """A peg fixed under the gripper base, and a mocap board of four bars around a hole."""
        base = spec.body("base")
        centre = PINCH_OFFSET - PEG_IN_FINGERS + PEG_HALF_LENGTH  # base frame z points down
        base.add_geom(
            name="peg",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[PEG_HALF_SIDE, PEG_HALF_SIDE, PEG_HALF_LENGTH],
            pos=[0.0, 0.0, centre],
            rgba=list(PEG_RGBA),
            mass=0.02,
        )
        base.add_site(name="peg_tip", pos=[0.0, 0.0, centre + PEG_HALF_LENGTH])
        # Wrist F/T at the gripper's mounting face: what the flange exerts on gripper + peg.
        base.add_site(name="wrist_ft", pos=[0.0, 0.0, 0.0])
        for kind in ("force", "torque"):
            spec.add_sensor(
                name=f"wrist_{kind}",
                type=getattr(mujoco.mjtSensor, f"mjSENS_{kind.upper()}"),
                objtype=mujoco.mjtObj.mjOBJ_SITE,
                objname="wrist_ft",
            )
        self._wrench_tare = np.zeros(WRENCH_DIM)
        board = spec.worldbody.add_body(name="board", mocap=True, pos=[0.5, 0.0, 0.0])
        hole = PEG_HALF_SIDE + self.config.peg_clearance / 2  # half side of the hole
        bar = (BOARD_HALF_SIDE - hole) / 2  # half width of each bar
        offset = hole + bar
        for i, (x, y, hx, hy) in enumerate(
            [
                (offset, 0.0, bar, BOARD_HALF_SIDE),
                (-offset, 0.0, bar, BOARD_HALF_SIDE),
                (0.0, offset, hole, bar),
                (0.0, -offset, hole, bar),
            ]
        ):
            board.add_geom(
                name=f"board{i}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[hx, hy, BOARD_HALF_HEIGHT],
                pos=[x, y, BOARD_HALF_HEIGHT],
                rgba=list(BOARD_RGBA),
            )
        self._hole_half_side = hole
        self._board_yaw = 0.0  # rad, set by reset()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Randomise the TCP start and the board pose (seeded); the peg starts in the gripper."""
        super().reset(seed=seed, options=options)
        c, d, ids, rng = self.config, self.data, self.ids, self.np_random
        xy = np.asarray(c.cube_xy_nominal) + rng.uniform(-1, 1, 2) * np.asarray(c.board_xy_range)
        self._board_yaw = float(rng.uniform(-c.board_yaw_range, c.board_yaw_range))
        d.mocap_pos[0] = (*xy, 0.0)
        d.mocap_quat[0] = yaw_quat(self._board_yaw)
        d.qpos[ids.cube_qpos : ids.cube_qpos + 3] = (*PARKED_CUBE, c.cube_half_size)
        d.ctrl[ids.gripper_ctrl] = GRIPPER_HOLD
        # Let the fingers close on the peg and the arm settle before taring the wrist sensor.
        mujoco.mj_step(self.model, d, nstep=SETTLE_STEPS)
        mujoco.mj_forward(self.model, d)
        self._wrench_tare = np.zeros(WRENCH_DIM)
        self._wrench_tare = self._wrench()
        return self._observation(), self._info(success=False)

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """As pick-cube's step; the gripper action is ignored (the peg stays held)."""
        act = np.array(action, dtype=np.float32, copy=True)
        if act.shape == (self.config.action_dim,):
            act[-1] = 1.0
        return super().step(act)

    # -- twin-only ground truth ----------------------------------------------------------
    def ground_truth(self) -> dict[str, np.ndarray | float | bool]:
        """Pick-cube's ground truth plus the peg tip, the hole and the board's yaw (m, rad)."""
        gt = super().ground_truth()
        gt["peg_tip"] = self._peg_tip()
        gt["hole_pos"] = self._hole_top()
        gt["board_yaw"] = self._board_yaw
        gt["insertion"] = self._insertion()
        gt["wrench"] = self._wrench()
        return gt

    # -- internals -----------------------------------------------------------------------
    def _wrench(self) -> np.ndarray:
        """Tared wrist force (N) and torque (N m), sensor frame, (6,) float64."""
        force = self.data.sensor("wrist_force").data
        torque = self.data.sensor("wrist_torque").data
        return np.concatenate([force, torque]) - self._wrench_tare

    def _extra_state(self, out: np.ndarray) -> None:
        out[:] = self._wrench()

    def _peg_tip(self) -> np.ndarray:
        return self.data.site_xpos[self._tip_site].copy()

    def _hole_top(self) -> np.ndarray:
        return self.data.mocap_pos[0] + np.array([0.0, 0.0, 2 * BOARD_HALF_HEIGHT])

    def _insertion(self) -> float:
        """Depth of the peg tip below the board's top face inside the hole (m); 0 outside."""
        tip, hole = self._peg_tip(), self._hole_top()
        c, s = np.cos(self._board_yaw), np.sin(self._board_yaw)
        dx, dy = tip[:2] - hole[:2]
        local = np.array([c * dx + s * dy, -s * dx + c * dy])  # tip in the board's frame
        if np.max(np.abs(local)) > self._hole_half_side:
            return 0.0
        return max(0.0, float(hole[2] - tip[2]))

    def _success(self) -> bool:
        return self._insertion() >= self.config.insert_depth

    def _info(self, *, success: bool) -> dict[str, Any]:
        return {
            "success": success,
            "insertion": self._insertion(),
            "tip_to_hole": float(np.linalg.norm(self._hole_top() - self._peg_tip())),
        }

    def _observation(self) -> dict[str, np.ndarray]:
        obs = super()._observation()
        state = obs["state"]
        if self.config.obs_mode == "state":
            hole = self._hole_top()
            offset = hole - self._peg_tip()
            scale = self.config.fine_offset_scale
            state[18:21] = np.tanh(offset / scale) if scale > 0 else hole
            state[21:25] = yaw_quat(self._board_yaw)
            state[25:28] = offset
        return obs

    @property
    def _tip_site(self) -> int:
        return int(self.model.site("peg_tip").id)


GRIPPER_HOLD = 255.0  # Robotiq command: fingers closed on the peg


class PegPhase(enum.Enum):
    """What the peg expert is doing."""

    ALIGN = "align"
    DESCEND = "descend"
    SEARCH = "search"


ALIGN_HEIGHT = 0.02  # m of peg tip above the board before descending
GAIN = 0.7  # fraction of the remaining error commanded per step (damps the arm's lag)
PRESS = 0.01  # m, how far below the peg tip the descent aims at most
ALIGN_XY = 0.001  # m, tip-to-hole error accepted before descending
NEAR = 0.01  # m, tip-to-hole distance (horizontal) where the fine motion starts
FINE_NOISE = 0.2  # noise scale of the fine motion (of noise_std)
ALIGN_YAW = 0.04  # rad, yaw error accepted before descending
STUCK_STEPS = 3  # steps without the tip going down that count as stuck on the board
SPIRAL_PITCH = 0.0006  # m the spiral's radius grows per turn
SPIRAL_STEP = 0.9  # rad the spiral turns per control step
MISALIGN = (0.002, 0.004)  # m, range of a misjudged descent's offset from the hole's axis


class PegExpert:
    """Scripted insertion from ground truth: align above the hole, descend, spiral on contact.

    ``act()`` returns float32 actions in [-1, 1]; noise (action units) goes on the motion
    dimensions, as a person's hand shakes a SpaceMouse, and drops to ``FINE_NOISE`` of it near
    the hole, where a person slows down. With ``misalign`` (default: the env config's
    ``expert_misalign``) > 0, that fraction of episodes has one misjudged descent: the expert
    believes it is lined up while 2-4 mm off, goes down onto the board, and once stuck there
    lifts and lines up again, the recovery a learner otherwise never sees in the demos.
    """

    def __init__(
        self,
        env: PegInsertEnv,
        *,
        noise_std: float | None = None,
        seed: int | None = None,
        misalign: float | None = None,
    ) -> None:
        self.env = env
        self.noise_std = env.config.expert_noise_std if noise_std is None else noise_std
        self.misalign = env.config.expert_misalign if misalign is None else misalign
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Start a new episode (call after env.reset())."""
        self.phase = PegPhase.ALIGN
        self._stuck = 0
        self._last_z = np.inf
        self._angle = 0.0
        self._offset: np.ndarray | None = None  # m, xy aim error of a misjudged descent
        self._misjudge = self.misalign > 0 and self._rng.random() < self.misalign
        self.misjudged = False  # whether this episode's misjudged descent has happened

    def act(self) -> np.ndarray:
        """Next action (A,) float32 in [-1, 1] for the env's current state."""
        gt = self.env.ground_truth()
        tip, hole = np.asarray(gt["peg_tip"]), np.asarray(gt["hole_pos"])
        xy_err = float(np.linalg.norm(hole[:2] - tip[:2]))
        yaw_err = self._yaw_error(float(gt["board_yaw"]), np.asarray(gt["tcp_target_rpy"]))
        if self._offset is None and self._misjudge and xy_err < NEAR and abs(yaw_err) < ALIGN_YAW:
            # thinks it is lined up: aims at a point beside the hole's axis and goes down
            angle = self._rng.uniform(0.0, 2 * np.pi)
            self._offset = self._rng.uniform(*MISALIGN) * np.array([np.cos(angle), np.sin(angle)])
            self._misjudge, self.misjudged = False, True
            self.phase = PegPhase.DESCEND
        if self.phase is PegPhase.ALIGN and xy_err < ALIGN_XY and abs(yaw_err) < ALIGN_YAW:
            self.phase = PegPhase.DESCEND
        entered = tip[2] < hole[2] - 0.004  # m, the tip is in the hole
        if entered:
            self._offset = None  # slid into the hole after all
        misjudging = self._offset is not None
        off_hole = self.phase is not PegPhase.ALIGN and not entered and xy_err > 2.5 * ALIGN_XY
        if off_hole and not misjudging:
            self.phase = PegPhase.ALIGN  # off the hole: lift a little and line up again
        if self.phase is PegPhase.DESCEND:
            on_board = tip[2] > hole[2] - 0.003 and tip[2] > self._last_z - 0.0005
            self._stuck = self._stuck + 1 if on_board else 0
            if self._stuck >= STUCK_STEPS and misjudging:
                # felt the board beside the hole: lift and line up properly
                self.phase, self._offset, self._stuck = PegPhase.ALIGN, None, 0
            elif self._stuck >= STUCK_STEPS:
                self.phase, self._angle = PegPhase.SEARCH, 0.0
        self._last_z = float(tip[2])

        goal = hole + np.array([0.0, 0.0, ALIGN_HEIGHT])
        if self.phase is PegPhase.ALIGN and xy_err > 0.01:
            goal[2] = max(goal[2], tip[2])  # line up before coming down to the board
        elif self.phase is PegPhase.DESCEND:
            # press at most PRESS below the tip: a light push slides, a hard one sticks
            aim = hole[:2] if self._offset is None else hole[:2] + self._offset
            goal = np.array([*aim, max(hole[2] - 2 * self.env.config.insert_depth, tip[2] - PRESS)])
        elif self.phase is PegPhase.SEARCH:
            self._angle += SPIRAL_STEP
            radius = SPIRAL_PITCH * self._angle / (2 * np.pi)
            goal = hole + np.array([radius * np.cos(self._angle), radius * np.sin(self._angle), 0])
            goal[2] = tip[2] - 0.3 * PRESS
            if entered:
                self.phase = PegPhase.DESCEND  # found the hole
        config = self.env.config
        action = np.zeros(config.action_dim)
        action[:3] = GAIN * (goal - tip) / config.action_scale_xyz
        if config.use_rotation:
            rpy = np.asarray(gt["tcp_target_rpy"])
            action[3:6] = np.array([-rpy[0], -rpy[1], yaw_err]) / config.action_scale_rot
        action[-1] = 1.0
        if self.noise_std > 0:
            # a person slows down for the fine part: less shake within NEAR of the hole
            near = xy_err < NEAR and tip[2] < hole[2] + 2 * ALIGN_HEIGHT
            std = self.noise_std * (FINE_NOISE if near else 1.0)
            action[:-1] += self._rng.normal(0.0, std, action.size - 1)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    @staticmethod
    def _yaw_error(board_yaw: float, tcp_rpy: np.ndarray) -> float:
        """Gripper yaw change that lines the square peg up with the hole (rad, mod 90 deg)."""
        err = board_yaw - float(tcp_rpy[2])
        return float((err + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def make_env(config: TwinConfig, *, seed: int | None = None) -> PegInsertEnv:
    """Peg-insertion twin env; with a seed, its first reset() is seeded."""
    env = PegInsertEnv(config)
    if seed is not None:
        env._pending_seed = seed
        env.action_space.seed(seed)
    return env


__all__ = ["PegExpert", "PegInsertEnv", "PegPhase", "make_env"]
