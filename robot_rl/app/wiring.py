"""What ``robot-rl train`` wires around its actor: the dashboard session and the reset controllers.

``launch.py`` runs the training; this module builds the optional parts it is configured with:
the live dashboard (with a human reset when ``resets.mode: human``), the phase shown on it, and
the scripted reset controller (``resets.mode: scripted``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from robot_rl.config import ConfigError
from robot_rl.hil import InterventionMixer, RunControls
from robot_rl.resets.human import HumanReset
from robot_rl.resets.scripted import ScriptedReset, ScriptedResetConfig
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import ActorStats
from robot_rl.wire.protocol import Step

if TYPE_CHECKING:  # the web stack is imported only when a run is watched
    from robot_rl.dashboard.session import DashboardSession


@dataclass(frozen=True)
class ActorHooks:
    """What a watched run plugs into its Actor; all None (``ActorHooks()``): nobody watches."""

    mixer: InterventionMixer | None = None
    """Chooses policy or person each step (teleop, take over)."""
    controls: RunControls | None = None
    """Pause, latched e-stop and reset, checked before every env step."""
    on_step: Callable[[dict[str, np.ndarray], Step, ActorStats], None] | None = None
    """After each step: the live feed and the twin's cameras."""
    human_reset: HumanReset | None = None
    """A person puts the scene back and presses continue (``resets.mode: human``)."""


def actor_hooks(session: DashboardSession | None) -> ActorHooks:
    """The hooks of ``session`` (attached to the env already); none without a dashboard."""
    if session is None:
        return ActorHooks()
    return ActorHooks(
        mixer=session.mixer,
        controls=session.controls,
        on_step=session.on_step,
        human_reset=session.human_reset,
    )


def start_dashboard(config: RunConfig) -> DashboardSession | None:
    """The run's DashboardSession, serving, its URL printed; None when the dashboard is off."""
    if not config.dashboard.enabled:
        if config.resets.mode == "human":
            raise ConfigError(
                "resets.mode=human: a person continues after each reset on the dashboard; "
                "it needs the dashboard (dashboard.enabled, --dashboard)"
            )
        if config.teleop.device != "none":
            raise ConfigError(
                f"teleop.device={config.teleop.device}: training with a teleop device needs "
                "the dashboard (dashboard.enabled, --dashboard) to pause, resume and hand back"
            )
        return None
    from robot_rl.dashboard.session import DashboardSession

    human = None
    if config.resets.mode == "human":
        human = HumanReset(timeout_s=config.resets.human_timeout_s)
    session = DashboardSession(
        config.dashboard, config.teleop, hil=config.hil, control_hz=config.env.control_hz,
        env_cameras=tuple(config.env.cameras), human_reset=human,
    )  # fmt: skip
    print(f"dashboard: {session.start()}", flush=True)
    return session


def set_phase(session: DashboardSession | None, phase: str) -> None:
    """Show ``phase`` on the dashboard's status line; nothing when there is no dashboard."""
    if session is not None:
        session.feed.phase = phase


def scripted_reset(config: RunConfig) -> ScriptedReset | None:
    """The run's scripted reset controller (``resets.mode: scripted``), None otherwise."""
    r = config.resets
    if r.mode != "scripted":
        return None
    home = r.home or tuple(config.env.tcp_start)
    return ScriptedReset(
        ScriptedResetConfig(
            home=home, tolerance=r.home_tolerance, max_steps=r.home_max_steps,
            action_scale_xyz=config.env.action_scale_xyz,
        )
    )  # fmt: skip
