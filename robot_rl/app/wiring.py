"""What ``robot-rl train`` wires around its actor: the dashboard session and the reset controllers.

``launch.py`` runs the training; this module builds the optional parts it is configured with:
the live dashboard (with a human reset when ``resets.mode: human``), the phase shown on it, and
the scripted reset controller (``resets.mode: scripted``).
"""

from __future__ import annotations

from typing import Any

from robot_rl.config import ConfigError
from robot_rl.resets.human import HumanReset
from robot_rl.resets.scripted import ScriptedReset, ScriptedResetConfig
from robot_rl.run_config import RunConfig


def start_dashboard(config: RunConfig) -> Any:
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


def set_phase(session: Any, phase: str) -> None:
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
