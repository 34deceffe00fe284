"""Learner algorithms: SAC (SERL/RLPD recipe) and a behaviour-cloning baseline."""

from __future__ import annotations

from robot_rl.agents.bc import BC, BCConfig, BCPolicy
from robot_rl.agents.encoders import EncoderConfig
from robot_rl.agents.sac import SAC, Policy, SACConfig

AGENTS: dict[str, type[SAC] | type[BC]] = {"sac": SAC, "bc": BC}
"""Agent classes by the name used in run configs (``agent: sac``)."""

__all__ = ["AGENTS", "BC", "SAC", "BCConfig", "BCPolicy", "EncoderConfig", "Policy", "SACConfig"]
