"""Place-cube twin task for reset-free practice: a forward task and the backward task that
undoes it, in one scene that need not be reset between episodes.

- forward: pick the cube from the start region and put it down, released, in the target zone;
- backward: bring it from wherever it is back into the start region, released.

``PlaceCubeEnv`` is the pick-cube twin (same observations, actions, control) with the task's
success as reward. ``reset(options=...)`` takes:

- ``task``: "forward" or "backward" (default: the current task, first "forward");
- ``keep_scene``: True starts a new episode where the last one ended (reset-free): physics,
  cube and arm untouched, only the step counter and the task change;
- ``cube_xy``: (x, y) m, put the cube there instead of sampling its start (full reset only).

A full reset samples the cube in the region the task starts from (forward: start region,
backward: target zone). ``PlaceExpert`` is a scripted policy for either task (ground truth).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

import mujoco
import numpy as np

from robot_rl_sim.config import TwinConfig
from robot_rl_sim.env import PickCubeEnv

Task = Literal["forward", "backward"]
TASKS: tuple[str, ...] = ("forward", "backward")


@dataclass(frozen=True)
class PlaceConfig:
    """Regions of the place task, world frame (m)."""

    start_xy: tuple[float, ...] = (0.5, -0.08)
    """Centre of the start region (where forward starts and backward must return the cube)."""
    zone_xy: tuple[float, ...] = (0.5, 0.08)
    """Centre of the target zone (where forward must put the cube)."""
    region_half: tuple[float, ...] = (0.04, 0.04)
    """Half-widths in x, y of both regions (m): success means the cube centre is inside."""
    spawn_half: tuple[float, ...] = (0.03, 0.03)
    """Half-widths of the uniform cube spawn around a region centre at a full reset (m)."""
    max_rest_height: float = 0.01
    """Largest cube bottom height above the table that counts as put down (m)."""
    release_opening: float = 0.6
    """Gripper opening (0 closed .. 1 open) from which the cube counts as released."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name in ("start_xy", "zone_xy", "region_half", "spawn_half"):
            if len(getattr(self, name)) != 2:
                raise ValueError(f"{name}: expected 2 numbers (x, y in m)")
        if any(h <= 0 for h in self.region_half):
            raise ValueError(f"region_half: must be > 0, got {self.region_half}")
        if any(s < 0 for s in self.spawn_half):
            raise ValueError(f"spawn_half: must be >= 0, got {self.spawn_half}")
        if not self.max_rest_height > 0:
            raise ValueError(f"max_rest_height: must be > 0, got {self.max_rest_height}")

    def goal_xy(self, task: str) -> np.ndarray:
        """Centre (2,) m of the region a task must bring the cube to."""
        return np.asarray(self.zone_xy if task == "forward" else self.start_xy, dtype=np.float64)


def in_region(cube_pos: np.ndarray, centre: np.ndarray, half: np.ndarray) -> bool:
    """Whether a cube centre (3,) m lies over the xy box centre ± half."""
    return bool(np.all(np.abs(np.asarray(cube_pos)[:2] - centre) <= half))


def placed(gt: dict[str, Any], task: str, place: PlaceConfig) -> bool:
    """Task success from the twin's ground truth: cube in the goal region, down, released."""
    return (
        in_region(np.asarray(gt["cube_pos"]), place.goal_xy(task), np.asarray(place.region_half))
        and float(gt["cube_height"]) <= place.max_rest_height
        and float(gt["gripper_opening"]) >= place.release_opening
        and not gt["grasped"]
    )


class PlaceCubeEnv(PickCubeEnv):
    """Forward/backward place task on the pick-cube twin; reward 1 and terminated on success."""

    def __init__(
        self,
        config: TwinConfig | None = None,
        place: PlaceConfig | None = None,
        *,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(config, render_mode=render_mode)
        self.place = place or PlaceConfig()
        self.place.validate()
        self.task: str = "forward"
        self._started = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """New episode; see the module docstring for ``options``."""
        options = dict(options or {})
        task = options.pop("task", self.task)
        if task not in TASKS:
            raise ValueError(f"options.task: expected 'forward' or 'backward', got {task!r}")
        keep = bool(options.pop("keep_scene", False))
        cube_xy = options.pop("cube_xy", None)
        if options:
            raise ValueError(f"options: unknown keys {sorted(options)}")
        self.task = task
        if keep and self._started:
            self._steps = 0
            return self._observation(), self._info(success=False)
        super().reset(seed=seed)
        self._started = True
        if cube_xy is None:
            centre = self.place.goal_xy("backward" if task == "forward" else "forward")
            cube_xy = centre + self.np_random.uniform(-1, 1, 2) * np.asarray(self.place.spawn_half)
        d, ids = self.data, self.ids
        d.qpos[ids.cube_qpos : ids.cube_qpos + 3] = (*cube_xy, self.config.cube_half_size)
        d.qvel[ids.cube_dof : ids.cube_dof + 6] = 0.0
        mujoco.mj_forward(self.model, d)
        return self._observation(), self._info(success=False)

    def _success(self) -> bool:
        return placed(self.ground_truth(), self.task, self.place)

    def _info(self, *, success: bool) -> dict[str, Any]:
        info = super()._info(success=success)
        info["task"] = self.task
        return info


# ------------------------------------------------------------------------------ expert
APPROACH_HEIGHT = 0.07  # m above the cube centre before descending
CARRY_HEIGHT = 0.08  # m, TCP height while carrying
XY_TOLERANCE = 0.008  # m
Z_TOLERANCE = 0.008  # m
CLOSE_STEPS = 3  # steps for the fingers to close before lifting
OPEN_STEPS = 3  # steps for the fingers to open before leaving


class PlacePhase(enum.Enum):
    """What the place expert is doing."""

    APPROACH = "approach"
    DESCEND = "descend"
    CLOSE = "close"
    CARRY = "carry"
    LOWER = "lower"
    RELEASE = "release"
    RETREAT = "retreat"


class PlaceExpert:
    """Scripted pick-and-place for the env's current task, from ground truth."""

    def __init__(
        self, env: PlaceCubeEnv, *, noise_std: float = 0.0, seed: int | None = None
    ) -> None:
        self.env = env
        self.noise_std = noise_std
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Start a new episode (call after env.reset()); picks a drop point in the goal region."""
        self.phase = PlacePhase.APPROACH
        self._count = 0
        half = np.asarray(self.env.place.region_half) * 0.4
        self._drop_xy = self.env.place.goal_xy(self.env.task) + self._rng.uniform(-half, half)

    def act(self) -> np.ndarray:
        """Next action (A,) float32 in [-1, 1]."""
        gt = self.env.ground_truth()
        tcp, cube = np.asarray(gt["tcp_pos"]), np.asarray(gt["cube_pos"])
        xy_err = float(np.linalg.norm(cube[:2] - tcp[:2]))
        drop = np.array([*self._drop_xy, cube[2]])
        half_size = self.env.config.cube_half_size
        p = self.phase
        if p in (PlacePhase.CARRY, PlacePhase.LOWER) and not gt["grasped"]:
            p = PlacePhase.APPROACH  # dropped it: start over
        if p is PlacePhase.APPROACH and xy_err < XY_TOLERANCE and tcp[2] > cube[2] + 0.03:
            p = PlacePhase.DESCEND
        if p is PlacePhase.DESCEND:
            if xy_err > 2.5 * XY_TOLERANCE:
                p = PlacePhase.APPROACH
            elif abs(tcp[2] - cube[2]) < Z_TOLERANCE:
                p, self._count = PlacePhase.CLOSE, 0
        if p is PlacePhase.CLOSE:
            self._count += 1
            if self._count > CLOSE_STEPS:
                p = PlacePhase.CARRY
        if p is PlacePhase.CARRY and np.linalg.norm(tcp[:2] - drop[:2]) < XY_TOLERANCE:
            p = PlacePhase.LOWER
        if p is PlacePhase.LOWER and tcp[2] < half_size + 0.006:
            p, self._count = PlacePhase.RELEASE, 0
        if p is PlacePhase.RELEASE:
            self._count += 1
            if self._count > OPEN_STEPS:
                p = PlacePhase.RETREAT
        self.phase = p

        gripper = -1.0
        if p is PlacePhase.APPROACH:
            above = cube + np.array([0.0, 0.0, APPROACH_HEIGHT])
            low_and_off = tcp[2] <= cube[2] + 0.03 and xy_err >= 0.02
            goal = np.array([*tcp[:2], above[2]]) if low_and_off else above
        elif p is PlacePhase.DESCEND:
            goal = cube
        elif p is PlacePhase.CLOSE:
            goal, gripper = cube, 1.0
        elif p is PlacePhase.CARRY:
            # rise first, then travel: the cube must not drag along the table
            high = tcp[2] > CARRY_HEIGHT - 0.02
            goal = (
                np.array([*drop[:2], CARRY_HEIGHT]) if high else np.array([*tcp[:2], CARRY_HEIGHT])
            )
            gripper = 1.0
        elif p is PlacePhase.LOWER:
            goal, gripper = np.array([*drop[:2], half_size + 0.002]), 1.0
        elif p is PlacePhase.RELEASE:
            goal = tcp
        else:
            goal = np.array([*tcp[:2], half_size + APPROACH_HEIGHT])
        config = self.env.config
        action = np.zeros(config.action_dim)
        action[:3] = (goal - tcp) / config.action_scale_xyz
        action[-1] = gripper
        if self.noise_std > 0:
            action[:-1] += self._rng.normal(0.0, self.noise_std, action.size - 1)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def make_place_env(
    config: TwinConfig, place: PlaceConfig | None = None, *, seed: int | None = None
) -> PlaceCubeEnv:
    """Place-cube twin env; with a seed, its first reset() is seeded."""
    env = PlaceCubeEnv(config, place)
    if seed is not None:
        env._pending_seed = seed
        env.action_space.seed(seed)
    return env


__all__ = [
    "TASKS",
    "PlaceConfig",
    "PlaceCubeEnv",
    "PlaceExpert",
    "PlacePhase",
    "in_region",
    "make_place_env",
    "placed",
]
