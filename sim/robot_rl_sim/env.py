"""Gymnasium env of the pick-cube twin: delta-TCP actions at 10 Hz, sparse lift reward.

Observation ``"state"`` (float32), in this order (D = 18, or 28 in obs_mode "state"):

====== ==== =========================================================
index  size content
====== ==== =========================================================
0:3    3    TCP (pinch site) position, world frame (m)
3:7    4    TCP orientation quaternion (w, x, y, z), sign: x >= 0 (down = (0,1,0,0))
7:10   3    TCP linear velocity, world frame (m/s)
10     1    gripper opening in [0, 1] (1 = fully open)
11:18  7    arm joint positions joint1..joint7 (rad)
18:21  3    cube position, world frame (m) — obs_mode "state" only
21:25  4    cube quaternion (w, x, y, z) — obs_mode "state" only
25:28  3    cube position relative to the TCP (m) — obs_mode "state" only; the
            difference an MLP would otherwise have to learn to compute
====== ==== =========================================================

Pixel modes carry proprioception only (a real cell has no cube pose) plus
``"pixels_<camera>"`` uint8 (image_size, image_size, 3) for each configured camera.
Action: float32 (4,) = (dx, dy, dz, gripper) or (7,) = (dx, dy, dz, droll, dpitch, dyaw,
gripper) in [-1, 1]; deltas are scaled by ``action_scale_xyz`` (m) / ``action_scale_rot`` (rad);
gripper is absolute, -1 open .. +1 closed.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from robot_rl import keys
from robot_rl.geometry import canonical_quat, yaw_quat
from robot_rl_sim.config import TwinConfig
from robot_rl_sim.control import HOME_Q, CartesianIK, TcpTarget
from robot_rl_sim.model import build_model, distractor_rest_height
from robot_rl_sim.randomize import SceneRandomizer
from robot_rl_sim.render import CameraRig

PROPRIO_DIM = 18
CUBE_DIM = 10
GRIPPER_CTRL_MAX = 255.0  # Robotiq actuator command for fully closed
RESET_IK_ITERATIONS = 40
DISTRACTOR_GAP = 0.06  # m, smallest distance between two distractors' start centres


class SimulationDivergedError(RuntimeError):
    """The MuJoCo integration blew up (NaN/huge accelerations) during a step."""


class PickCubeEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Franka Panda + Robotiq 2F-85 picking a 4 cm cube off a table (MuJoCo twin)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012 (gymnasium API)
    EXTRA_STATE_DIM = 0
    """Task readings appended to the state vector in every obs mode (peg_insert: the wrist F/T)."""

    def __init__(
        self, config: TwinConfig | None = None, *, render_mode: str | None = "rgb_array"
    ) -> None:
        config = config or TwinConfig()
        config.validate()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: only 'rgb_array' is supported, got {render_mode!r}")
        self.config = config
        self.render_mode = render_mode
        self.metadata = {"render_modes": ["rgb_array"], "render_fps": config.control_hz}
        self.model, self.ids = build_model(config, edit=self._edit_scene)
        self.data = mujoco.MjData(self.model)
        self._ik = CartesianIK(self.model, self.ids)
        self._target = TcpTarget(config)
        self._q_cmd = HOME_Q.copy()  # (7,) rad, last joint target sent to the actuators
        self._cameras = CameraRig(self.model)  # renderers are created on first use only
        self._randomizer = (
            SceneRandomizer(self.model, config.randomize) if config.randomize.enabled else None
        )
        self._image_cams = config.cameras if config.obs_mode != "state" else ()
        self._state_dim = (
            PROPRIO_DIM + (CUBE_DIM if config.obs_mode == "state" else 0) + self.EXTRA_STATE_DIM
        )
        self._steps = 0
        self._pending_seed: int | None = None  # applied by the first reset() (see make_env)
        self._vel6 = np.zeros(6)
        self._quat = np.zeros(4)

        spaces: dict[str, gym.Space[Any]] = {
            keys.STATE: gym.spaces.Box(-np.inf, np.inf, (self._state_dim,), np.float32)
        }
        size = config.image_size
        for cam in self._image_cams:
            spaces[keys.pixels_key(cam)] = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        # gym.spaces.Dict is a Space[dict[str, Any]]; the Env generic wants the narrower type
        self.observation_space = gym.spaces.Dict(spaces)  # type: ignore[assignment]
        self.action_space = gym.spaces.Box(-1.0, 1.0, (config.action_dim,), np.float32)

    # -- gymnasium API -------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Randomise the cube and TCP start (from the env's seeded RNG) and return obs, info."""
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        super().reset(seed=seed)
        c, m, d, ids, rng = self.config, self.model, self.data, self.ids, self.np_random
        mujoco.mj_resetData(m, d)
        if self._randomizer is not None:  # its own RNG: the scene's draws stay as without it
            if seed is not None:
                self._randomizer.seed(seed)
            self._randomizer.apply()
        cube_xy = np.asarray(c.cube_xy_nominal) + rng.uniform(-1, 1, 2) * np.asarray(
            c.cube_xy_range
        )
        cube_yaw = rng.uniform(-c.cube_yaw_range, c.cube_yaw_range)
        tcp_start = np.asarray(c.tcp_start) + rng.uniform(-c.tcp_start_range, c.tcp_start_range, 3)
        self._target.reset(tcp_start)
        q = self._ik.solve(
            HOME_Q, self._target.pos, self._target.quat, iterations=RESET_IK_ITERATIONS
        )
        d.qpos[ids.arm_qpos] = q
        d.ctrl[ids.arm_ctrl] = q
        d.ctrl[ids.gripper_ctrl] = 0.0
        d.qpos[ids.cube_qpos : ids.cube_qpos + 3] = (*cube_xy, c.cube_half_size)
        d.qpos[ids.cube_qpos + 3 : ids.cube_qpos + 7] = yaw_quat(cube_yaw)
        self._place_distractors(cube_xy)
        self._q_cmd = q
        self._steps = 0
        mujoco.mj_forward(m, d)
        return self._observation(), self._info(success=False)

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one delta-TCP action for 1/control_hz s of simulated time."""
        c, m, d, ids = self.config, self.model, self.data, self.ids
        act = np.asarray(action, dtype=np.float64)
        if act.shape != (c.action_dim,):
            raise ValueError(f"action: expected shape ({c.action_dim},), got {act.shape}")
        if not np.all(np.isfinite(act)):
            raise ValueError(f"action: non-finite values are rejected, got {act.tolist()}")
        act = np.clip(act, -1.0, 1.0)
        delta_rpy = act[3:6] * c.action_scale_rot if c.use_rotation else None
        self._target.apply(act[:3] * c.action_scale_xyz, delta_rpy, d.site_xpos[ids.tcp_site])
        self._q_cmd = self._ik.solve(
            self._q_cmd, self._target.pos, self._target.quat, iterations=c.ik_iterations
        )
        d.ctrl[ids.arm_ctrl] = self._q_cmd
        d.ctrl[ids.gripper_ctrl] = (act[-1] + 1.0) * 0.5 * GRIPPER_CTRL_MAX
        mujoco.mj_step(m, d, nstep=c.substeps)
        if d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number:
            # MuJoCo has silently reset the state; continuing would record nonsense
            raise SimulationDivergedError(
                f"physics diverged at t={d.time:.3f} s (step {self._steps}); action {act.tolist()}"
            )
        mujoco.mj_forward(m, d)  # positions, velocities and contacts of the final state
        self._steps += 1
        success = self._success()
        truncated = not success and self._steps >= c.max_episode_steps
        return self._observation(), float(success), success, truncated, self._info(success=success)

    def render(self) -> np.ndarray:
        """Front-camera frame, uint8 (render_size, render_size, 3); works in every obs mode."""
        return self._cameras.render(self.data, self.ids.cameras["front"], self.config.render_size)

    def close(self) -> None:
        """Free renderers (GL contexts)."""
        self._cameras.close()

    # -- twin-only ground truth ----------------------------------------------------------
    def ground_truth(self) -> dict[str, np.ndarray | float | bool]:
        """Simulator state for scripted experts and rewards (m, rad); never on the real robot."""
        d, ids = self.data, self.ids
        return {
            "tcp_pos": d.site_xpos[ids.tcp_site].copy(),
            "tcp_target": self._target.pos.copy(),
            "tcp_target_rpy": self._target.rpy.copy(),
            "cube_pos": d.xpos[ids.cube_body].copy(),
            "cube_quat": d.xquat[ids.cube_body].copy(),
            "gripper_opening": self._gripper_opening(),
            "grasped": self._grasped(),
            "cube_height": self._cube_height(),
        }

    # -- internals -----------------------------------------------------------------------
    def _edit_scene(self, spec: mujoco.MjSpec) -> None:
        """Add a task's own objects to the scene spec (pick-cube: none)."""

    def _extra_state(self, out: np.ndarray) -> None:
        """Fill the task's readings at the end of the state vector (pick-cube: none)."""

    def _place_distractors(self, cube_xy: np.ndarray) -> None:
        """Put each distractor at a random spot of the (widened) cube region, clear of the cube
        and of each other; one that finds no room in 50 tries is parked beside the table."""
        c, d, rng = self.config, self.data, self.np_random
        centre, half = np.asarray(c.cube_xy_nominal), np.asarray(c.cube_xy_range) + 0.04
        placed: list[np.ndarray] = [np.asarray(cube_xy)]
        for i, adr in enumerate(self.ids.distractor_qpos):
            xy = np.array([1.2, -0.6 + 0.1 * i])  # parked off the table's edge region
            for _ in range(50):
                candidate = centre + rng.uniform(-1, 1, 2) * half
                gaps = [np.linalg.norm(candidate - p) for p in placed]
                if gaps[0] >= c.distractor_clearance and min(gaps) >= DISTRACTOR_GAP:
                    xy = candidate
                    break
            placed.append(xy)
            d.qpos[adr : adr + 3] = (*xy, distractor_rest_height(i))
            d.qpos[adr + 3 : adr + 7] = yaw_quat(rng.uniform(-np.pi, np.pi))

    def _gripper_opening(self) -> float:
        lo, hi = self.ids.gripper_range
        closed = (self.data.qpos[self.ids.gripper_qpos] - lo) / (hi - lo)
        return float(np.clip(1.0 - closed, 0.0, 1.0))

    def _cube_height(self) -> float:
        return float(self.data.xpos[self.ids.cube_body, 2] - self.config.cube_half_size)

    def _grasped(self) -> bool:
        """Both fingers touch the cube."""
        m, d, ids = self.model, self.data, self.ids
        left = right = False
        for i in range(d.ncon):
            g1, g2 = d.contact.geom1[i], d.contact.geom2[i]
            if g1 == ids.cube_geom:
                other = g2
            elif g2 == ids.cube_geom:
                other = g1
            else:
                continue
            body = m.geom_bodyid[other]
            left = left or body in ids.left_finger_bodies
            right = right or body in ids.right_finger_bodies
        return left and right

    def _success(self) -> bool:
        return self._cube_height() >= self.config.lift_height and self._grasped()

    def _info(self, *, success: bool) -> dict[str, Any]:
        d, ids = self.data, self.ids
        tcp_to_cube = float(np.linalg.norm(d.site_xpos[ids.tcp_site] - d.xpos[ids.cube_body]))
        return {"success": success, "cube_height": self._cube_height(), "tcp_to_cube": tcp_to_cube}

    def _observation(self) -> dict[str, np.ndarray]:
        m, d, ids = self.model, self.data, self.ids
        state = np.empty(self._state_dim, dtype=np.float32)  # (D,) float32
        state[0:3] = d.site_xpos[ids.tcp_site]
        mujoco.mju_mat2Quat(self._quat, d.site_xmat[ids.tcp_site])
        state[3:7] = canonical_quat(self._quat)  # q or -q: the sign does not flip step to step
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_SITE, ids.tcp_site, self._vel6, 0)
        state[7:10] = self._vel6[3:]
        state[10] = self._gripper_opening()
        state[11:18] = d.qpos[ids.arm_qpos]
        if self.EXTRA_STATE_DIM:
            self._extra_state(state[-self.EXTRA_STATE_DIM :])
        if self.config.obs_mode == "state":
            state[18:21] = d.xpos[ids.cube_body]
            state[21:25] = d.xquat[ids.cube_body]
            state[25:28] = state[18:21] - state[0:3]
        obs = {keys.STATE: state}
        for cam in self._image_cams:
            obs[keys.pixels_key(cam)] = self._cameras.render(
                d, ids.cameras[cam], self.config.image_size
            )
        return obs


def make_env(config: TwinConfig, *, seed: int | None = None) -> PickCubeEnv:
    """Pick-cube twin env; with a seed, its first reset() is seeded (same seed, same episodes)."""
    env = PickCubeEnv(config)
    if seed is not None:
        env._pending_seed = seed
        env.action_space.seed(seed)
    return env


__all__ = ["PickCubeEnv", "SimulationDivergedError", "make_env"]
