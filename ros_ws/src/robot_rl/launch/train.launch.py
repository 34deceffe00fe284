"""
Launch the robot_rl training graph: ros2 launch robot_rl train.launch.py sim:=true|false.

sim:=true starts the twin node in place of the robot driver and cameras. On hardware the
reset and reward nodes start, and one realsense2_camera node per camera (names and serials
from camera_names / camera_serials, else from the cell config) unless cameras_running:=true.
The robot driver and its Cartesian controller are started by their own launch files.
This file runs in the interpreter of the ros2 CLI (not the venv), so it reads the cell
config with plain yaml and never imports the robot_rl core. The nodes and their
parameters come from robot_rl_ros.graph_table, the table the venv starter and tests read.
"""

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from robot_rl_ros.graph_table import ARGUMENTS, node_rows


def _launch_node(row):
    params = dict(row.parameters)
    if 'serial_no' in params:  # a string even when it looks like a number
        params['serial_no'] = ParameterValue(params['serial_no'], value_type=str)
    extra = {'namespace': row.namespace} if row.namespace else {}
    return Node(package=row.package, executable=row.executable, name=row.name,
                output='screen', parameters=[params], **extra)


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    share = get_package_share_directory('robot_rl')
    return [_launch_node(row) for row in node_rows(arg, share)]


def generate_launch_description():
    """Declare the launch arguments and the node set they select."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=doc)
         for name, (default, doc) in ARGUMENTS.items()]
        + [OpaqueFunction(function=_nodes)])
