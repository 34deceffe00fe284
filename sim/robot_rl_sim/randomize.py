"""Domain randomisation of the twin's pixels: lighting, table and object colours, camera pose.

Off by default (``env.randomize.enabled``). Each episode draws new values from its own RNG,
seeded by the episode's reset seed (the same seed gives the same look; the task's physics
randomisation is untouched, since it draws from the env's own RNG). What changes, around the
scene file's nominal values:

- light: the top light's diffuse colour (uniform scale per channel) and position (m),
  and the headlight's ambient level;
- colours: the table and cube materials, each distractor, the peg and the board (RGB offsets);
- cameras: every camera's position (m, per axis) and orientation (a rotation about a random
  axis, deg) relative to its mount.

Physics never reads these fields, so state observations and rewards are unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class RandomizeConfig:
    """Per-episode visual randomisation (``env.randomize``); every range is a half-width."""

    enabled: bool = False
    """Randomise at every reset; off: the scene file's nominal look."""
    light_scale: float = 0.3
    """Top light's diffuse colour scaled by 1 +- this, per channel."""
    light_pos: float = 0.3
    """Top light's position offset per axis (m)."""
    ambient: float = 0.15
    """Headlight ambient level offset (nominal 0.45)."""
    table_rgb: float = 0.15
    """Table colour offset per RGB channel (0..1 units)."""
    object_rgb: float = 0.15
    """Cube and distractor colour offset per RGB channel."""
    camera_pos: float = 0.005
    """Camera position offset per axis (m)."""
    camera_rot_deg: float = 2.0
    """Largest camera rotation about a random axis (deg)."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        for name in ("light_scale", "light_pos", "ambient", "table_rgb", "object_rgb",
                     "camera_pos", "camera_rot_deg"):  # fmt: skip
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        if self.light_scale >= 1:
            raise ValueError(f"light_scale: must be < 1, got {self.light_scale}")


class SceneRandomizer:
    """Holds a model's nominal visual values and applies one random draw per episode."""

    def __init__(self, model: mujoco.MjModel, config: RandomizeConfig) -> None:
        self.config = config
        self.model = model
        self._light = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_LIGHT, "top")
        self._light_diffuse = model.light_diffuse.copy()
        self._light_pos = model.light_pos.copy()
        self._ambient = model.vis.headlight.ambient.copy()
        self._materials = [
            i
            for i in (
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_MATERIAL, name)
                for name in ("table", "cube")
            )
            if i >= 0
        ]
        self._mat_rgba = model.mat_rgba.copy()
        # Objects without a material of their own, one colour offset per object: each
        # distractor, the peg, the board (its four bars alike).
        groups: dict[str, list[int]] = {}
        for geom in range(model.ngeom):
            body = _name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[geom]))
            name = _name(model, mujoco.mjtObj.mjOBJ_GEOM, geom)
            if body.startswith("distractor"):
                groups.setdefault(body, []).append(geom)
            elif name == "peg" or name.startswith("board"):
                groups.setdefault(name.rstrip("0123456789"), []).append(geom)
        self._objects = list(groups.values())
        self._geom_rgba = model.geom_rgba.copy()
        self._cam_pos = model.cam_pos.copy()
        self._cam_quat = model.cam_quat.copy()
        self.rng = np.random.default_rng()

    def seed(self, seed: int) -> None:
        """Seed the draws of the following episodes (called with the env's reset seed)."""
        self.rng = np.random.default_rng([seed, 0x5EED])

    def apply(self) -> None:
        """Draw and set this episode's lights, colours and camera poses."""
        c, m, rng = self.config, self.model, self.rng
        if self._light >= 0:
            scale = 1.0 + rng.uniform(-c.light_scale, c.light_scale, 3)
            m.light_diffuse[self._light] = np.clip(self._light_diffuse[self._light] * scale, 0, 1)
            m.light_pos[self._light] = self._light_pos[self._light] + rng.uniform(
                -c.light_pos, c.light_pos, 3
            )
        m.vis.headlight.ambient[:] = np.clip(
            self._ambient + rng.uniform(-c.ambient, c.ambient), 0, 1
        )
        for i, mat in enumerate(self._materials):
            spread = c.table_rgb if i == 0 else c.object_rgb
            m.mat_rgba[mat, :3] = np.clip(
                self._mat_rgba[mat, :3] + rng.uniform(-spread, spread, 3), 0, 1
            )
        for geoms in self._objects:
            offset = rng.uniform(-c.object_rgb, c.object_rgb, 3)
            m.geom_rgba[geoms, :3] = np.clip(self._geom_rgba[geoms, :3] + offset, 0, 1)
        for cam in range(m.ncam):
            m.cam_pos[cam] = self._cam_pos[cam] + rng.uniform(-c.camera_pos, c.camera_pos, 3)
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            angle = math.radians(rng.uniform(-c.camera_rot_deg, c.camera_rot_deg))
            turn = np.empty(4)
            mujoco.mju_axisAngle2Quat(turn, axis, angle)
            quat = np.empty(4)
            mujoco.mju_mulQuat(quat, self._cam_quat[cam], turn)
            m.cam_quat[cam] = quat


def _name(model: mujoco.MjModel, kind: mujoco.mjtObj, index: int) -> str:
    return mujoco.mj_id2name(model, kind, index) or ""


__all__ = ["RandomizeConfig", "SceneRandomizer"]
