"""QoS profiles, config loading and plain-message -> rclpy-message copying for the nodes."""

import array
import dataclasses
from pathlib import Path

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from robot_rl.config import load_yaml
from robot_rl.ros_compat.config import CellConfig

# Sensor data: only the newest sample matters; a late frame is worse than a dropped one.
SENSOR_QOS = QoSProfile(
    reliability=ReliabilityPolicy.BEST_EFFORT,
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    durability=DurabilityPolicy.VOLATILE,
)
# Commands, rewards, interventions, e-stop: every message must arrive.
COMMAND_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    durability=DurabilityPolicy.VOLATILE,
)
_TYPECODES = {np.dtype(np.uint8): 'B', np.dtype(np.float64): 'd', np.dtype(np.float32): 'f'}


def load_cell_config(path: str) -> CellConfig:
    """Load and validate a CellConfig YAML file (errors name the file and field)."""
    if not path:
        return CellConfig()
    config = load_yaml(CellConfig, Path(path))
    config.validate()
    return config


def to_ros(plain, ros_msg):
    """Copy a robot_rl.ros_compat.messages dataclass into an rclpy message; returns it."""
    for field in dataclasses.fields(plain):
        value = getattr(plain, field.name)
        if dataclasses.is_dataclass(value):
            to_ros(value, getattr(ros_msg, field.name))
        elif isinstance(value, np.ndarray):
            # array.array is the fast path of rosidl setters (no per-element checks)
            code = _TYPECODES[value.dtype]
            setattr(ros_msg, field.name, array.array(code, np.ascontiguousarray(value).tobytes()))
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            raise TypeError(f'{field.name}: nested message lists are not copied')
        else:
            setattr(ros_msg, field.name, value)
    return ros_msg


def clock_s():
    """The receive clock every node and the bridge env share (monotonic s)."""
    import time

    return time.monotonic()
