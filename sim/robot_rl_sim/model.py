"""Builds the MuJoCo model of the pick-cube cell from our scene XML and gym-hil's Panda assets.

The robot (Franka Panda + Robotiq 2F-85 meshes and kinematics) comes from the PyPI package
``gym-hil``, located on disk without importing its Python code. Our scene
(``assets/pick_cube_scene.xml``) includes gym-hil's ``panda.xml`` by absolute path; the result is
then edited with ``mujoco.MjSpec``:

- the 7 torque motors become MuJoCo position actuators (joint impedance: ``kp``, ``kv``) with
  gravity compensation on every arm body, so the physics substeps need no Python (see
  ``robot_rl_sim.control`` for why);
- the ~190k-face visual meshes are dropped and the collision meshes are drawn instead (coloured
  like the real arm), which keeps 128 px rendering cheap;
- gym-hil's force/torque sensors are removed: they force an extra RNE pass on every substep and
  the twin reads everything it needs from ``MjData`` directly.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from robot_rl_sim.config import TwinConfig

SpecEdit = Callable[[mujoco.MjSpec], None]  # adds a task's objects to the scene spec
SCENE_XML = Path(__file__).parent / "assets" / "pick_cube_scene.xml"
ASSETS_PLACEHOLDER = "__GYM_HIL_ASSETS__"
GYM_HIL_INSTALL = "pip install gym-hil==0.1.14 --no-deps"

ARM_JOINTS: tuple[str, ...] = tuple(f"joint{i}" for i in range(1, 8))
ARM_ACTUATORS: tuple[str, ...] = tuple(f"actuator{i}" for i in range(1, 8))
GRIPPER_ACTUATOR = "fingers_actuator"
TCP_SITE = "pinch"
CAMERA_NAMES: dict[str, str] = {"front": "front", "wrist": "handcam_rgb"}
# Joint impedance per arm joint: stiffness (N·m/rad) and damping (N·m·s/rad), about critically
# damped for the link inertias plus the 0.1 kg·m² rotor armature; torque limits are the Panda's.
ARM_KP = (600.0, 600.0, 500.0, 500.0, 200.0, 150.0, 60.0)
ARM_KV = (60.0, 60.0, 45.0, 45.0, 15.0, 12.0, 5.0)
ARM_TORQUE_LIMIT = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
# Collision-mesh colours (the visual meshes they stand in for are white links, dark hand).
ARM_RGBA = (0.92, 0.93, 0.94, 1.0)
HAND_RGBA = (0.18, 0.18, 0.18, 1.0)
CUBE_HALF_SIZE = 0.02  # m, default half edge of the cube (TwinConfig.cube_half_size)
# Distractor objects of the pick-cube scene: (MuJoCo geom type, size (m), colour). Shapes and
# colours differ from the red cube so a camera policy must find the right object; each rests on
# the table at height size[2] (boxes: half-height; cylinders: half-length).
DISTRACTORS: tuple[tuple[mujoco.mjtGeom, tuple[float, float, float], tuple[float, ...]], ...] = (
    (mujoco.mjtGeom.mjGEOM_BOX, (0.015, 0.015, 0.015), (0.15, 0.35, 0.85, 1.0)),
    (mujoco.mjtGeom.mjGEOM_CYLINDER, (0.016, 0.025, 0.0), (0.15, 0.7, 0.25, 1.0)),
    (mujoco.mjtGeom.mjGEOM_BOX, (0.025, 0.012, 0.012), (0.9, 0.75, 0.1, 1.0)),
)


class GymHilMissingError(ImportError):
    """The gym-hil package, whose Panda assets the twin uses, is not installed."""


def gym_hil_assets() -> Path:
    """Absolute path of gym-hil's ``assets`` folder (holds ``panda.xml`` and meshes)."""
    spec = importlib.util.find_spec("gym_hil")
    if spec is None or not spec.submodule_search_locations:
        raise GymHilMissingError(
            "robot_rl_sim needs the Panda assets of the gym-hil package; install them with "
            f"`{GYM_HIL_INSTALL}` (its Python code is not used, only its assets/ folder)"
        )
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    if not (assets / "panda.xml").is_file():
        raise GymHilMissingError(
            f"{assets}/panda.xml not found; reinstall with `{GYM_HIL_INSTALL}`"
        )
    return assets


def _is_hand_body(body: mujoco.MjsBody) -> bool:
    name = body.name
    return name in ("base_mount", "base") or any(name.startswith(p) for p in ("left_", "right_"))


def build_spec(config: TwinConfig, *, edit: SpecEdit | None = None) -> mujoco.MjSpec:
    """Scene spec with joint-impedance actuators, gravity compensation and light meshes;
    ``edit`` adds a task's own objects (called last, before compiling)."""
    assets = gym_hil_assets()
    xml = SCENE_XML.read_text().replace(ASSETS_PLACEHOLDER, str(assets))
    spec = mujoco.MjSpec.from_string(xml)

    spec.option.timestep = config.physics_dt
    spec.option.iterations = config.solver_iterations
    spec.option.ls_iterations = config.solver_ls_iterations
    spec.option.noslip_iterations = config.noslip_iterations

    # Drop visual-only geoms (group 2) and the meshes only they used.
    used_meshes: set[str] = set()
    for geom in list(spec.geoms):
        if geom.group == 2:
            spec.delete(geom)
        elif geom.type == mujoco.mjtGeom.mjGEOM_MESH:
            used_meshes.add(geom.meshname)
    for mesh in list(spec.meshes):
        if mesh.name not in used_meshes:
            spec.delete(mesh)
    for body in spec.bodies:
        if body.name == "world" or body.name == "cube":
            continue
        body.gravcomp = 1.0
        for geom in body.geoms:
            if geom.group == 3:
                geom.group = 0  # drawn by default now that the visual copies are gone
                if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
                    geom.material = ""
                    geom.rgba = HAND_RGBA if _is_hand_body(body) else ARM_RGBA
    for sensor in list(spec.sensors):
        spec.delete(sensor)
    _edit_cube(spec, config)

    joint_ranges = {j.name: np.array(j.range, dtype=np.float64) for j in spec.joints}
    for name, joint, kp, kv, limit in zip(
        ARM_ACTUATORS, ARM_JOINTS, ARM_KP, ARM_KV, ARM_TORQUE_LIMIT
    ):
        act = spec.actuator(name)
        act.set_to_position(kp=kp, kv=kv)
        act.ctrlrange = joint_ranges[joint]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = np.array([-limit, limit])
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    if edit is not None:
        edit(spec)
    return spec


def distractor_rest_height(index: int) -> float:
    """Height of distractor ``index``'s centre when it rests upright on the table (m)."""
    kind, size, _ = DISTRACTORS[index]
    return size[1] if kind == mujoco.mjtGeom.mjGEOM_CYLINDER else size[2]


def _edit_cube(spec: mujoco.MjSpec, config: TwinConfig) -> None:
    """Cube edge from the config; ``config.distractors`` free objects (placed by the env)."""
    half = config.cube_half_size
    spec.geom("cube").size = np.array([half, half, half])
    for i in range(config.distractors):
        kind, size, rgba = DISTRACTORS[i]
        body = spec.worldbody.add_body(name=f"distractor{i}", pos=[0.5, 0.0, 0.5])
        body.add_freejoint(name=f"distractor{i}")
        body.add_geom(type=kind, size=list(size), rgba=list(rgba), mass=0.05)


@dataclass(frozen=True)
class CellIds:
    """Indices into ``MjModel``/``MjData`` arrays of the things the twin reads and writes."""

    arm_qpos: np.ndarray  # (7,) int, qpos addresses of joint1..7
    arm_dof: np.ndarray  # (7,) int, dof addresses of joint1..7
    arm_ctrl: np.ndarray  # (7,) int, actuator ids of actuator1..7
    joint_range: np.ndarray  # (7, 2) float64, rad
    gripper_ctrl: int
    gripper_qpos: int  # right driver joint: 0 rad open .. 0.8 rad closed
    gripper_range: np.ndarray  # (2,) float64, rad
    tcp_site: int
    cube_body: int
    cube_geom: int
    cube_qpos: int  # address of the cube freejoint (pos 3 + quat 4)
    cube_dof: int
    left_finger_bodies: frozenset[int]
    right_finger_bodies: frozenset[int]
    cameras: dict[str, int]  # our camera name -> MjModel camera id
    distractor_qpos: tuple[int, ...] = ()  # freejoint address of each distractor


def cell_ids(model: mujoco.MjModel) -> CellIds:
    """Look up the ids the twin needs (raises KeyError naming a missing element)."""

    def find(kind: mujoco.mjtObj, name: str) -> int:
        index = int(mujoco.mj_name2id(model, kind, name))
        if index < 0:
            raise KeyError(f"pick-cube model has no {kind.name[6:].lower()} named {name!r}")
        return index

    def jid(name: str) -> int:
        return find(mujoco.mjtObj.mjOBJ_JOINT, name)

    arm_j = [jid(n) for n in ARM_JOINTS]
    grip_j = jid("right_driver_joint")
    cube_j = jid("cube")

    def finger_bodies(side: str) -> frozenset[int]:
        ids = set()
        for b in range(model.nbody):
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or ""
            if name.startswith(f"{side}_") and ("pad" in name or "follower" in name):
                ids.add(b)
        return frozenset(ids)

    return CellIds(
        arm_qpos=np.array([model.jnt_qposadr[j] for j in arm_j]),
        arm_dof=np.array([model.jnt_dofadr[j] for j in arm_j]),
        arm_ctrl=np.array([find(mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in ARM_ACTUATORS]),
        joint_range=np.array([model.jnt_range[j] for j in arm_j], dtype=np.float64),
        gripper_ctrl=find(mujoco.mjtObj.mjOBJ_ACTUATOR, GRIPPER_ACTUATOR),
        gripper_qpos=int(model.jnt_qposadr[grip_j]),
        gripper_range=np.array(model.jnt_range[grip_j], dtype=np.float64),
        tcp_site=find(mujoco.mjtObj.mjOBJ_SITE, TCP_SITE),
        cube_body=find(mujoco.mjtObj.mjOBJ_BODY, "cube"),
        cube_geom=find(mujoco.mjtObj.mjOBJ_GEOM, "cube"),
        cube_qpos=int(model.jnt_qposadr[cube_j]),
        cube_dof=int(model.jnt_dofadr[cube_j]),
        left_finger_bodies=finger_bodies("left"),
        right_finger_bodies=finger_bodies("right"),
        cameras={
            ours: find(mujoco.mjtObj.mjOBJ_CAMERA, theirs) for ours, theirs in CAMERA_NAMES.items()
        },
        distractor_qpos=tuple(
            int(model.jnt_qposadr[j])
            for j in range(model.njnt)
            if (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or "").startswith(
                "distractor"
            )
        ),
    )


def build_model(
    config: TwinConfig, *, edit: SpecEdit | None = None
) -> tuple[mujoco.MjModel, CellIds]:
    """Compiled model of the cell (with a task's ``edit`` of the spec) and the ids it uses."""
    model = build_spec(config, edit=edit).compile()
    size = max(config.image_size, config.render_size)
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), size)
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), size)
    return model, cell_ids(model)
