"""
Launch the robot_rl training graph: ros2 launch robot_rl train.launch.py sim:=true|false.

sim:=true starts the twin node in place of the robot driver and cameras. On hardware the
reset and reward nodes start, and one realsense2_camera node per camera (names and serials
from camera_names / camera_serials, else from the cell config) unless cameras_running:=true.
The robot driver and its Cartesian controller are started by their own launch files.
This file runs in the interpreter of the ros2 CLI (not the venv), so it reads the cell
config with plain yaml and never imports the robot_rl core.
"""

import os
import time

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
import yaml

ARGUMENTS = {
    'sim': ('true', 'true: the MuJoCo twin node replaces the robot and cameras'),
    'run_config': ('', 'run config YAML (agent, train, runtime); default: share/config'),
    'cell_config': ('', 'cell config YAML (topics, joints, cameras); default by sim'),
    'camera_names': ('', 'comma-separated camera names overriding the cell config'),
    'camera_serials': ('', 'comma-separated RealSense serials, one per camera name'),
    'cameras_running': ('false', 'true: do not start realsense2_camera nodes'),
    'learner_host': ('127.0.0.1', 'host of the learner (the GPU workstation)'),
    'learner_port': ('5555', 'TCP port of the learner'),
    'start_learner': ('true', 'false: the learner runs elsewhere (learner_node there)'),
    'run_dir': ('', 'run directory (default: /tmp/robot_rl_ros/run-<time>)'),
    'env_steps': ('-1', 'actor env steps (-1: from the run config)'),
    'safety_config': ('', 'SafetyConfig YAML (default: limits derived from the cell)'),
    'reward_config': ('', 'hardware: reward model config YAML (configs/rewards/*.yaml)'),
    'success_button': ('-1', 'hardware: Joy button a person holds to label success'),
    'human_reset': ('false', 'hardware: a person resets the scene after the move home'),
    'reset_timeout_s': ('60.0', 'longest wait of the actor for the reset service (s)'),
    'dashboard': ('false', 'true: start the dashboard node'),
    'dashboard_port': ('8765', 'dashboard port (binds 127.0.0.1)'),
    'dashboard_token': ('', 'dashboard access token (default: random, logged)'),
    'teleop': ('false', 'true: start the teleop node (needs a joy/spacenav driver)'),
}


def _truthy(value):
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def _split(value):
    return [item.strip() for item in value.split(',') if item.strip()]


def _cameras(arg, cell_config):
    """Return (names, serials) of the cameras: launch arguments first, else the cell file."""
    with open(cell_config) as f:
        cell = yaml.safe_load(f) or {}
    names = _split(arg['camera_names']) or list(cell.get('cameras', ['front', 'wrist']))
    serials = _split(arg['camera_serials'])
    if not serials and not _split(arg['camera_names']):
        serials = [str(s) for s in cell.get('camera_serials', [])]
    if serials and len(serials) != len(names):
        raise ValueError(f'camera_serials: {len(serials)} serials for cameras {names}')
    return names, serials


def _realsense_nodes(names, serials):
    nodes = []
    for i, name in enumerate(names):
        params = {'camera_name': name, 'enable_depth': False,
                  'rgb_camera.color_profile': '640x480x30'}
        if serials:  # a string even when it looks like a number
            params['serial_no'] = ParameterValue(serials[i], value_type=str)
        nodes.append(Node(
            package='realsense2_camera', executable='realsense2_camera_node',
            namespace='camera', name=name, output='screen', parameters=[params]))
    return nodes


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    share = get_package_share_directory('robot_rl')
    sim = _truthy(arg['sim'])
    run_config = arg['run_config'] or os.path.join(share, 'config', 'pick_cube_ros.yaml')
    default_cell = 'twin_cell.yaml' if sim else 'panda_cell.yaml'
    cell_config = arg['cell_config'] or os.path.join(share, 'config', default_cell)
    run_dir = arg['run_dir'] or f'/tmp/robot_rl_ros/run-{time.strftime("%Y%m%d-%H%M%S")}'
    cell = {'cell_config': cell_config, 'camera_names': arg['camera_names'],
            'camera_serials': arg['camera_serials']}
    address = f"tcp://{arg['learner_host']}:{arg['learner_port']}"
    nodes = [
        Node(package='robot_rl', executable='actor_node', name='robot_rl_actor',
             output='screen',
             parameters=[{**cell, 'run_config': run_config, 'run_dir': run_dir,
                          'learner_address': address, 'env_steps': int(arg['env_steps']),
                          'safety_config': arg['safety_config'],
                          'reset_timeout_s': float(arg['reset_timeout_s'])}]),
    ]
    if _truthy(arg['start_learner']):
        nodes.append(Node(
            package='robot_rl', executable='learner_node', name='robot_rl_learner',
            output='screen',
            parameters=[{**cell, 'run_config': run_config, 'run_dir': run_dir,
                         'bind': f"tcp://0.0.0.0:{arg['learner_port']}"}]))
    if sim:
        nodes.append(Node(
            package='robot_rl', executable='twin_node', name='robot_rl_twin', output='screen',
            parameters=[{**cell, 'run_config': run_config}]))
    else:
        nodes.append(Node(
            package='robot_rl', executable='reset_node', name='robot_rl_reset',
            output='screen',
            parameters=[{**cell, 'safety_config': arg['safety_config'],
                         'human_reset': _truthy(arg['human_reset'])}]))
        nodes.append(Node(
            package='robot_rl', executable='reward_node', name='robot_rl_reward',
            output='screen',
            parameters=[{**cell, 'reward_config': arg['reward_config'],
                         'success_button': int(arg['success_button'])}]))
        if not _truthy(arg['cameras_running']):
            nodes += _realsense_nodes(*_cameras(arg, cell_config))
    if _truthy(arg['teleop']):
        nodes.append(Node(package='robot_rl', executable='teleop_node',
                          name='robot_rl_teleop', output='screen', parameters=[cell]))
    if _truthy(arg['dashboard']):
        nodes.append(Node(package='robot_rl', executable='dashboard_node',
                          name='robot_rl_dashboard', output='screen',
                          parameters=[{**cell, 'actor': '/robot_rl_actor',
                                       'port': int(arg['dashboard_port']),
                                       'token': arg['dashboard_token']}]))
    return nodes


def generate_launch_description():
    """Declare the launch arguments and the node set they select."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=doc)
         for name, (default, doc) in ARGUMENTS.items()]
        + [OpaqueFunction(function=_nodes)])
