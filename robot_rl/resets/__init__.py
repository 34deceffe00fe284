"""Reset controllers: scripted (through the safety layer), human (dashboard), learned (reset-free)."""

from robot_rl.resets.human import HumanReset, HumanResetTimeout
from robot_rl.resets.scripted import ResetResult, ScriptedReset, ScriptedResetConfig

__all__ = ["HumanReset", "HumanResetTimeout", "ResetResult", "ScriptedReset", "ScriptedResetConfig"]
