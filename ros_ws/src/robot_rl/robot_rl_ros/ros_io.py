"""QoS profiles, config loading and plain-message -> rclpy-message copying for the nodes."""

import array
import contextlib
import dataclasses
from pathlib import Path
import time

from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from robot_rl.config import load_yaml
from robot_rl.ros_compat.config import CellConfig, safety_config_for_cell, with_cameras
from robot_rl.safety.config import SafetyConfig
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64

# Sensor data: only the newest sample matters; a late frame is worse than a dropped one.
SENSOR_QOS = QoSProfile(
    reliability=ReliabilityPolicy.BEST_EFFORT,
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    durability=DurabilityPolicy.VOLATILE,
)
# Commands, rewards, interventions, e-stop, status: every message must arrive.
COMMAND_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    durability=DurabilityPolicy.VOLATILE,
)
# The cell's message types by their ROS name, as a bag stores them (bag_record, bag_play).
CELL_MESSAGE_TYPES = {
    'sensor_msgs/msg/Image': Image, 'sensor_msgs/msg/JointState': JointState,
    'geometry_msgs/msg/PoseStamped': PoseStamped,
    'geometry_msgs/msg/TwistStamped': TwistStamped, 'std_msgs/msg/Float64': Float64}
_TYPECODES = {np.dtype(np.uint8): 'B', np.dtype(np.float64): 'd', np.dtype(np.float32): 'f'}


@contextlib.contextmanager
def ros_session(args=None):
    """
    Initialise rclpy for a node's main(); shut it down however the block ends.

    Jazzy's rclpy.init() returns None (it is a context manager only from Kilted on), so
    ``with rclpy.init(args=args):`` as in the newer ros2/examples fails here. Ctrl-C and an
    external shutdown end the block quietly.
    """
    rclpy.init(args=args)
    try:
        yield
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()


def make_executor(logger=None):
    """
    Return the executor the actor and twin nodes spin: rclpy's EventsExecutor.

    Its wait and dispatch run in C++: measured in the sim graph (docs/ros2.md, latency) it
    cut the median of the actor's receive stage (camera stamp -> last message received)
    by about 30 % against SingleThreadedExecutor, which rebuilds a wait set in Python for
    each callback. Spin it with ``spin_once`` in a loop: this
    wheel's ``EventsExecutor.spin()`` busy-loops at 100 % CPU and serves nothing. Where
    rclpy predates it (Jazzy before 7.1.4), a SingleThreadedExecutor, said on ``logger``.
    """
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError as err:
        from rclpy.executors import SingleThreadedExecutor
        if logger is not None:
            logger.warning(f'no EventsExecutor in this rclpy ({err}); SingleThreadedExecutor')
        return SingleThreadedExecutor()
    return EventsExecutor()


def declare_cell_parameters(node):
    """Declare the parameters every cell node reads: the cell file and camera overrides."""
    node.declare_parameter('cell_config', '')
    node.declare_parameter('camera_names', '')
    node.declare_parameter('camera_serials', '')


def load_cell_config(node):
    """Load the node's cell config (parameter cell_config; empty: the twin defaults)."""
    path = node.get_parameter('cell_config').value
    config = load_yaml(CellConfig, Path(path)) if path else CellConfig()
    return with_cameras(
        config, node.get_parameter('camera_names').value,
        node.get_parameter('camera_serials').value)


def load_safety_config(path, cell):
    """
    Load a SafetyConfig file (empty path: limits derived from the cell).

    Raises ValueError naming the field when its action frame disagrees with the cell's.
    """
    if not path:
        return safety_config_for_cell(cell)
    config = load_yaml(SafetyConfig, Path(path))
    expected = safety_config_for_cell(cell)
    for name in ('action_dim', 'action_scale_xyz', 'action_scale_rot', 'control_hz'):
        if getattr(config, name) != getattr(expected, name):
            raise ValueError(f'{path}: {name} is {getattr(config, name)}, the cell says '
                             f'{getattr(expected, name)}')
    config.validate()
    return config


def to_ros(plain, ros_msg):
    """Copy a robot_rl.ros_compat.messages dataclass into an rclpy message; return it."""
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
    """Return the receive clock every node and the bridge env share (monotonic s)."""
    return time.monotonic()


def subscribe_cell_sensors(node, cell, assembler):
    """
    Subscribe ``node`` to the cell's cameras, joint states, TCP pose (and twist, and the
    tracked object's pose).

    Every message goes to ``assembler`` stamped with :func:`clock_s` on arrival.
    """
    for cam in cell.cameras:
        node.create_subscription(
            Image, cell.image_topic(cam),
            lambda msg, cam=cam: assembler.on_image(cam, msg, clock_s()), SENSOR_QOS)
    node.create_subscription(
        JointState, cell.joint_states_topic,
        lambda msg: assembler.on_joint_state(msg, clock_s()), SENSOR_QOS)
    node.create_subscription(
        PoseStamped, cell.tcp_pose_topic,
        lambda msg: assembler.on_tcp_pose(msg, clock_s()), SENSOR_QOS)
    if cell.tcp_twist_topic:
        node.create_subscription(
            TwistStamped, cell.tcp_twist_topic,
            lambda msg: assembler.on_tcp_twist(msg, clock_s()), SENSOR_QOS)
    if cell.object_pose_topic:
        node.create_subscription(
            PoseStamped, cell.object_pose_topic,
            lambda msg: assembler.on_object_pose(msg, clock_s()), SENSOR_QOS)
