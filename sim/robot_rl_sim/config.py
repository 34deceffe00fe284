"""Config of the MuJoCo twin of the pick-cube cell (loaded with ``robot_rl.config.load_yaml``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from robot_rl_sim.randomize import RandomizeConfig

KNOWN_CAMERAS: tuple[str, ...] = ("front", "wrist")
MAX_DISTRACTORS = 3
ObsMode = Literal["state", "pixels", "both"]


@dataclass(frozen=True)
class TwinConfig:
    """Pick-cube twin: timing, action scaling, observations, task randomisation, physics."""

    control_hz: float = 10.0
    """Env steps per second of simulated time (Hz)."""
    physics_dt: float = 0.002
    """Physics timestep (s); control period / physics_dt must be an integer."""
    use_rotation: bool = False
    """Actions are (dx, dy, dz, droll, dpitch, dyaw, gripper) instead of (dx, dy, dz, gripper)."""
    action_scale_xyz: float = 0.03
    """TCP translation per step for an action of 1 (m)."""
    action_scale_rot: float = 0.15
    """TCP rotation per step for an action of 1 (rad)."""
    max_tilt: float = 0.6
    """Largest roll/pitch away from pointing straight down (rad)."""
    max_yaw: float = 1.6
    """Largest yaw away from the nominal gripper yaw (rad)."""
    target_leash: float = 0.06
    """Largest distance between the commanded and the measured TCP position (m)."""
    workspace_low: tuple[float, ...] = (0.25, -0.3, 0.01)
    """Lower corner of the box the TCP target is kept in, world frame (m)."""
    workspace_high: tuple[float, ...] = (0.75, 0.3, 0.40)
    """Upper corner of the TCP workspace box, world frame (m)."""
    obs_mode: ObsMode = "state"
    """'state' (proprioception + cube pose), 'pixels' or 'both' (images + proprioception)."""
    image_size: int = 128
    """Height and width of camera observations (px)."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras observed in pixel modes; known: front, wrist."""
    render_size: int = 256
    """Height and width of ``env.render()`` frames (front camera, px)."""
    max_episode_steps: int = 50
    """Steps before an episode is truncated."""
    lift_height: float = 0.05
    """Cube lift above its rest height that counts as success (m)."""
    cube_xy_nominal: tuple[float, ...] = (0.5, 0.0)
    """Centre of the cube's start region, world frame (m)."""
    cube_xy_range: tuple[float, ...] = (0.08, 0.12)
    """Half-widths of the cube's uniform start region in x, y (m)."""
    cube_yaw_range: float = 0.0
    """Half-width of the cube's uniform start yaw (rad); the expert aligns only with rotation on."""
    cube_half_size: float = 0.02
    """Half the cube's edge length (m)."""
    distractors: int = 0
    """Distractor objects on the table (0..3): seen by cameras, absent from the state vector."""
    distractor_clearance: float = 0.09
    """Smallest distance between the cube's and a distractor's start centre (m)."""
    peg_clearance: float = 0.002
    """peg_insert: hole side minus peg side (m); the clearance per side is half of it."""
    board_xy_range: tuple[float, ...] = (0.05, 0.08)
    """peg_insert: half-widths of the board's uniform start region around cube_xy_nominal (m)."""
    board_yaw_range: float = 0.3
    """peg_insert: half-width of the board's uniform start yaw (rad)."""
    insert_depth: float = 0.015
    """peg_insert: depth of the peg tip below the board's top face that counts as success (m)."""
    fine_offset_scale: float = 0.0
    """peg_insert, state mode: > 0 puts tanh((hole centre - peg tip) / fine_offset_scale) in
    state 18:21 instead of the hole's position (redundant with the TCP's and 25:28), the offset
    magnified where it matters, within a few of these scales of the hole's axis (m). 0: off."""
    tcp_start: tuple[float, ...] = (0.45, 0.0, 0.22)
    """Nominal TCP start position, world frame (m)."""
    tcp_start_range: float = 0.02
    """Half-width of the uniform TCP start offset on each axis (m)."""
    solver_iterations: int = 20
    """Constraint solver iterations per physics step."""
    solver_ls_iterations: int = 10
    """Line-search iterations per solver iteration."""
    noslip_iterations: int = 0
    """Noslip post-processing iterations (0 = off; grasps hold without it at the defaults)."""
    ik_iterations: int = 3
    """Damped-least-squares IK iterations per control step."""
    expert_noise_std: float = 0.0
    """Std of Gaussian noise the scripted expert adds to its actions (action units)."""
    expert_misalign: float = 0.0
    """peg_insert: chance per episode that the scripted expert misjudges its alignment, goes
    down 2-4 mm off the hole, lands on the board, then lifts and lines up again (as a person
    does), so that its demos show that recovery. 0: never (the default demos)."""
    randomize: RandomizeConfig = field(default_factory=RandomizeConfig)
    """Domain randomisation of the pixels (lights, colours, camera pose), seeded per episode;
    off by default."""
    entry_point: str = ""
    """Bring your own env: ``"package.module:callable"`` returning a gymnasium.Env (Dict of Box
    observations, images uint8 (H, W, 3) under ``pixels`` keys; a 1-D Box action in [-1, 1]).
    When set the run uses it instead of the twin; of this block only ``control_hz`` (timestamps,
    video fps) and ``max_episode_steps`` (truncation) apply. Empty: the twin."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the ``entry_point`` callable."""

    @property
    def action_dim(self) -> int:
        """Number of action dimensions (4 or 7)."""
        return 7 if self.use_rotation else 4

    @property
    def substeps(self) -> int:
        """Physics steps per env step."""
        return round(1.0 / (self.control_hz * self.physics_dt))

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.entry_point and self.entry_point.count(":") != 1:
            raise ValueError(
                f"entry_point: expected 'package.module:callable', got {self.entry_point!r}"
            )
        try:
            self.randomize.validate()
        except ValueError as err:
            raise ValueError(f"randomize.{err}") from err
        if self.kwargs and not self.entry_point:
            raise ValueError("kwargs: given without entry_point (the twin takes no kwargs)")
        positive = {
            "control_hz": self.control_hz,
            "physics_dt": self.physics_dt,
            "action_scale_xyz": self.action_scale_xyz,
            "action_scale_rot": self.action_scale_rot,
            "target_leash": self.target_leash,
            "image_size": self.image_size,
            "render_size": self.render_size,
            "max_episode_steps": self.max_episode_steps,
            "lift_height": self.lift_height,
            "cube_half_size": self.cube_half_size,
            "distractor_clearance": self.distractor_clearance,
            "peg_clearance": self.peg_clearance,
            "insert_depth": self.insert_depth,
            "solver_iterations": self.solver_iterations,
            "solver_ls_iterations": self.solver_ls_iterations,
            "ik_iterations": self.ik_iterations,
        }
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
        non_negative = {
            "max_tilt": self.max_tilt,
            "max_yaw": self.max_yaw,
            "cube_yaw_range": self.cube_yaw_range,
            "board_yaw_range": self.board_yaw_range,
            "tcp_start_range": self.tcp_start_range,
            "noslip_iterations": self.noslip_iterations,
            "expert_noise_std": self.expert_noise_std,
            "fine_offset_scale": self.fine_offset_scale,
        }
        if not (math.isfinite(self.expert_misalign) and 0.0 <= self.expert_misalign <= 1.0):
            raise ValueError(f"expert_misalign: must be in [0, 1], got {self.expert_misalign!r}")
        for name, value in non_negative.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        period = 1.0 / self.control_hz
        if (
            abs(self.substeps * self.physics_dt - period) > 1e-9 * max(1.0, period)
            or self.substeps < 1
        ):
            raise ValueError(
                f"physics_dt: control period 1/control_hz = {period} s must be a whole number of "
                f"physics steps of {self.physics_dt} s"
            )
        if not (isinstance(self.distractors, int) and 0 <= self.distractors <= MAX_DISTRACTORS):
            raise ValueError(
                f"distractors: expected an int in 0..{MAX_DISTRACTORS}, got {self.distractors!r}"
            )
        if self.cube_half_size > 0.04:
            raise ValueError(
                f"cube_half_size: {self.cube_half_size} m does not fit the open gripper (<= 0.04)"
            )
        if self.obs_mode not in ("state", "pixels", "both"):
            raise ValueError(
                f"obs_mode: expected 'state', 'pixels' or 'both', got {self.obs_mode!r}"
            )
        if self.obs_mode != "state" and not self.cameras:
            raise ValueError(f"cameras: obs_mode {self.obs_mode!r} needs at least one camera")
        for cam in self.cameras:
            if cam not in KNOWN_CAMERAS:
                raise ValueError(
                    f"cameras: unknown camera {cam!r} (known: {', '.join(KNOWN_CAMERAS)})"
                )
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras: duplicate camera names in {self.cameras!r}")
        for name in ("workspace_low", "workspace_high", "tcp_start"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name}: expected 3 numbers (x, y, z in m)")
        for name in ("cube_xy_nominal", "cube_xy_range", "board_xy_range"):
            if len(getattr(self, name)) != 2:
                raise ValueError(f"{name}: expected 2 numbers (x, y in m)")
        for name in ("cube_xy_range", "board_xy_range"):
            if any(r < 0 for r in getattr(self, name)):
                raise ValueError(f"{name}: half-widths must be >= 0, got {getattr(self, name)}")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError(
                f"workspace_low: must be below workspace_high on every axis, got "
                f"{self.workspace_low} vs {self.workspace_high}"
            )
        if any(
            not (lo <= p <= hi)
            for lo, p, hi in zip(self.workspace_low, self.tcp_start, self.workspace_high)
        ):
            raise ValueError(f"tcp_start: {self.tcp_start} lies outside the workspace box")
