"""MuJoCo twin of the pick-cube cell (Franka Panda + Robotiq 2F-85, one cube on a table).

Importing this package first picks a headless OpenGL backend (``MUJOCO_GL``, see ``_gl``),
so import it before anything imports ``mujoco``. Public API::

    env = make_env(TwinConfig(obs_mode="both"), seed=0)   # gymnasium.Env
    expert = ScriptedExpert(env)                          # demos from ground truth
    register_envs()                                       # optional gymnasium ids
"""

from robot_rl_sim import _gl  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from robot_rl_sim._gl import RenderBackendError
from robot_rl_sim.config import KNOWN_CAMERAS, TwinConfig
from robot_rl_sim.env import PickCubeEnv, SimulationDivergedError, make_env
from robot_rl_sim.expert import ScriptedExpert
from robot_rl_sim.model import GymHilMissingError

PICK_CUBE_ID = "robot_rl_sim/PickCube-v0"


def register_envs() -> None:
    """Register ``robot_rl_sim/PickCube-v0`` with gymnasium (kwargs: config=TwinConfig(...))."""
    import gymnasium as gym

    if PICK_CUBE_ID not in gym.registry:
        gym.register(id=PICK_CUBE_ID, entry_point="robot_rl_sim.env:PickCubeEnv")


__all__ = [
    "KNOWN_CAMERAS",
    "PICK_CUBE_ID",
    "GymHilMissingError",
    "PickCubeEnv",
    "RenderBackendError",
    "ScriptedExpert",
    "SimulationDivergedError",
    "TwinConfig",
    "make_env",
    "register_envs",
]
