"""Safety layer between every action source and the robot: limits, watchdog, e-stop latch."""

from robot_rl.safety.config import SafetyConfig, safety_config_for_twin
from robot_rl.safety.faults import FaultInjector
from robot_rl.safety.layer import RobotState, SafeCommand, SafetyLayer
from robot_rl.safety.wrapper import SafetyWrapper

__all__ = [
    "FaultInjector",
    "RobotState",
    "SafeCommand",
    "SafetyConfig",
    "SafetyLayer",
    "SafetyWrapper",
    "safety_config_for_twin",
]
