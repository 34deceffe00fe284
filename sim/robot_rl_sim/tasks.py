"""The twin's task table: each task names its env, its scripted expert and its default config.

``TASKS`` is the one registry (``robot-rl`` reads the run config's ``task`` against it)::

    task = get_task("pick_cube_hard")
    env = task.make_env(task.env, seed=0)          # gymnasium.Env
    expert = task.make_expert(env, noise_std=0.1, seed=0)

``Task.env`` is the task's full :class:`TwinConfig`; a run config's ``env:`` block is laid over
it, so a YAML file names only what it changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym

from robot_rl_sim.config import TwinConfig
from robot_rl_sim.env import make_env as make_pick_cube_env
from robot_rl_sim.expert import ScriptedExpert
from robot_rl_sim.peg import PegExpert
from robot_rl_sim.peg import make_env as make_peg_env


class Expert(Protocol):
    """A scripted policy reading the twin's ground truth."""

    def reset(self) -> None:
        """Start a new episode (after env.reset())."""

    def act(self) -> Any:
        """Next action, float32 (A,) in [-1, 1]."""


EnvFactory = Callable[..., gym.Env]  # (config: TwinConfig, *, seed: int | None) -> env
ExpertFactory = Callable[..., Expert]  # (env, *, noise_std: float, seed: int | None) -> expert


@dataclass(frozen=True)
class Task:
    """A twin task: what to build and how its demonstrations are made."""

    name: str
    summary: str
    """One line: what the robot must do and what counts as success."""
    make_env: EnvFactory
    make_expert: ExpertFactory
    env: TwinConfig = field(default_factory=TwinConfig)
    """Default env config of the task (a run config's ``env:`` block overrides its fields)."""
    demo_episodes: int = 20
    """Default number of demonstrations (``demos.num_episodes``)."""


# What makes it hard for imitation: precision (a 2 cm cube in an 8.5 cm gripper) and the variety
# of start states: the cube anywhere in a 32 x 44 cm region at any yaw and a TCP start anywhere
# in a 16 cm cube, covered by 10 demos (BC success against the number of demos: docs/tasks.md).
PICK_CUBE_HARD_ENV = TwinConfig(
    use_rotation=True,
    cube_yaw_range=math.pi / 4,  # every yaw of a square cube, up to its 90 deg symmetry
    cube_half_size=0.01,
    cube_xy_range=(0.16, 0.22),
    tcp_start_range=0.08,
    distractors=3,
)

PEG_INSERT_ENV = TwinConfig(
    use_rotation=True,  # the square peg must be turned to the board's yaw
    action_scale_xyz=0.02,
    max_episode_steps=100,
    tcp_start_range=0.03,
)

TASKS: dict[str, Task] = {
    "pick_cube": Task(
        name="pick_cube",
        summary="lift a 4 cm cube 5 cm off the table (4-D actions, no yaw)",
        make_env=make_pick_cube_env,
        make_expert=ScriptedExpert,
    ),
    "pick_cube_hard": Task(
        name="pick_cube_hard",
        summary="lift a 2 cm cube at any yaw from a wide region among distractors, 7-D actions",
        make_env=make_pick_cube_env,
        make_expert=ScriptedExpert,
        env=PICK_CUBE_HARD_ENV,
        demo_episodes=10,
    ),
    "peg_insert": Task(
        name="peg_insert",
        summary=(
            "insert a held 2 cm square peg 15 mm into a hole with 2 mm clearance on a board at "
            "random x, y, yaw (7-D actions)"
        ),
        make_env=make_peg_env,
        make_expert=PegExpert,
        env=PEG_INSERT_ENV,
    ),
}


def get_task(name: str) -> Task:
    """The task called ``name``; ValueError naming the field ``task`` if there is none."""
    task = TASKS.get(name)
    if task is None:
        raise ValueError(f"task: unknown task {name!r} (known: {', '.join(sorted(TASKS))})")
    return task


__all__ = ["TASKS", "Expert", "Task", "get_task"]
