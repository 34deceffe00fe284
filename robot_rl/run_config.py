"""The run config: one YAML file composes the env, agent, demos, training and runtime configs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from robot_rl_sim.config import TwinConfig
from robot_rl_sim.tasks import get_task

from robot_rl.agents.bc import BCConfig
from robot_rl.agents.sac import SACConfig
from robot_rl.config import to_dict
from robot_rl.dashboard.config import DashboardConfig
from robot_rl.hil import HilConfig
from robot_rl.rewards.config import EnvRewardConfig
from robot_rl.runtime.config import RuntimeConfig, TrainConfig
from robot_rl.safety.config import SafetyConfig
from robot_rl.teleop.device import TeleopConfig


@dataclass
class DemoConfig:
    """Scripted (twin) demonstrations recorded before training."""

    num_episodes: int = 20
    """Number of successful demonstrations to record."""
    noise: float = 0.1
    """Std of Gaussian noise added to the expert's actions (diversifies demos)."""
    max_attempts: int = 100
    """Give up after this many expert attempts (some fail)."""
    seed: int = 10_000
    """Seed of the first demo episode (kept apart from training seeds)."""
    expert_entry_point: str = ""
    """With ``env.entry_point``: ``"package.module:callable"`` making the scripted expert,
    called as ``f(env, noise_std=..., seed=...)`` with the unwrapped env; the expert has
    ``reset()`` (after env.reset) and ``act() -> float32 (A,)`` in [-1, 1]. Empty: the twin
    task's expert (an entry-point env then needs ``--demos STORE`` or ``num_episodes: 0``)."""

    def validate(self) -> None:
        if self.num_episodes < 0:
            raise ValueError("num_episodes must be >= 0")
        if self.noise < 0:
            raise ValueError("noise must be >= 0")
        if self.expert_entry_point and self.expert_entry_point.count(":") != 1:
            raise ValueError(
                f"expert_entry_point: expected 'package.module:callable', "
                f"got {self.expert_entry_point!r}"
            )


@dataclass
class ResetsConfig:
    """How the scene is put back between training episodes (``robot-rl train``)."""

    mode: Literal["env", "scripted", "human"] = "env"
    """env: the env's own reset only (the twin teleports arm and cube); scripted: first drive
    the TCP home (gripper open) through the safety layer, then the env reset (twin: randomises
    the scene); human: the actor waits for a person to put the scene back and press continue
    on the dashboard (needs ``--dashboard``), then the env reset."""
    human_timeout_s: float = 300.0
    """human: seconds to wait for continue; past them the run ends with an error (committed
    episodes are kept; ``--resume`` goes on)."""
    human_message: str = "put the scene back, then press continue"
    """human: what the dashboard's banner asks of the person."""
    home: tuple[float, ...] = ()
    """scripted: TCP home (x, y, z in m, world frame); empty: ``env.tcp_start``."""
    home_tolerance: float = 0.01
    """scripted: distance to home that counts as arrived (m)."""
    home_max_steps: int = 40
    """scripted: control steps allowed for the move home before the env reset anyway."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not self.human_timeout_s > 0:
            raise ValueError(f"resets.human_timeout_s: must be > 0, got {self.human_timeout_s}")
        if self.home and len(self.home) != 3:
            raise ValueError(
                f"resets.home: expected 3 numbers (x, y, z in m) or [], got {self.home}"
            )
        if not self.home_tolerance > 0:
            raise ValueError(f"resets.home_tolerance: must be > 0, got {self.home_tolerance}")
        if self.home_max_steps < 1:
            raise ValueError(f"resets.home_max_steps: must be >= 1, got {self.home_max_steps}")


@dataclass
class RunConfig:
    """A whole training run."""

    name: str = "run"
    """Run name; the run directory is <runs_dir>/<name>-<timestamp>."""
    runs_dir: str = "runs"
    """Parent folder of run directories."""
    seed: int = 0
    """Seed of the run (env, networks, replay sampling)."""
    task: str = "pick_cube"
    """Twin task, a key of ``robot_rl_sim.tasks.TASKS`` (pick_cube, pick_cube_hard, ...): it
    picks the env and the scripted expert, and a config read from a mapping (YAML, ``--set``,
    ``from_dict``) takes the defaults of ``env``, ``demos.num_episodes`` and the safety action
    frame from it (see ``config_defaults``). The real cell's task is named by its robot config."""
    agent: Literal["sac", "bc"] = "sac"
    """Which agent to train: sac (RLPD) or bc (baseline on demos)."""
    env: TwinConfig = field(default_factory=TwinConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    demos: DemoConfig = field(default_factory=DemoConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hil: HilConfig = field(default_factory=HilConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    """Safety layer every command passes through (limits, watchdog, e-stop); its action frame
    (action_dim, scales, control_hz) must match env's. The defaults fit the task's twin."""
    reward: EnvRewardConfig = field(default_factory=EnvRewardConfig)
    """Reward model that replaces the env's reward (ground_truth: the env's own)."""
    teleop: TeleopConfig = field(default_factory=TeleopConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    resets: ResetsConfig = field(default_factory=ResetsConfig)
    """Reset controller run at every episode boundary after the first (default: env reset)."""
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        # The name is one path component of the run directory (<runs_dir>/<name>-<time>).
        if not self.name or len(self.name) > 100 or any(c in self.name for c in "/\\\0"):
            raise ValueError(
                f"name: expected 1..100 characters without '/', '\\' or NUL, got {self.name!r:.60}"
            )
        get_task(self.task)
        if self.demos.expert_entry_point and not self.env.entry_point:
            raise ValueError(
                "demos.expert_entry_point: set without env.entry_point (the twin task "
                f"{self.task!r} has its own expert)"
            )

    @classmethod
    def config_defaults(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """What a config mapping's own values are laid over: the task's env config, its demo
        count, and a safety action frame and workspace equal to the task's env (so a task with
        7-D actions needs no safety block of its own).

        The safety defaults follow the task, not the file's ``env:`` block: a file that changes
        the env's action frame must change ``safety`` too, and make_env says so if it does not.
        Raises ValueError naming ``task`` for an unknown task.
        """
        name = data.get("task", "pick_cube")
        if not isinstance(name, str):
            return {}  # the field's type check names it
        task = get_task(name)
        twin = task.env
        return {
            "env": to_dict(twin),
            "demos": {"num_episodes": task.demo_episodes},
            "safety": {
                "action_dim": twin.action_dim,
                "action_scale_xyz": twin.action_scale_xyz,
                "action_scale_rot": twin.action_scale_rot,
                "control_hz": twin.control_hz,
                "workspace_low": list(twin.workspace_low),
                "workspace_high": list(twin.workspace_high),
                "max_tilt": twin.max_tilt,
                "max_yaw": twin.max_yaw,
            },
        }
