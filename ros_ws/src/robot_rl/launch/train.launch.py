"""ros2 launch robot_rl train.launch.py [sim:=true|false] [run_config:=...] [cell_config:=...].

sim:=true starts the twin node in place of the robot driver and cameras; on hardware the
RealSense nodes start (one per camera name + serial) unless cameras_running:=true.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

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
    'run_dir': ('/tmp/robot_rl_ros_run', 'run directory shared by actor and learner'),
    'env_steps': ('-1', 'actor env steps (-1: from the run config)'),
    'dashboard': ('false', 'true: start the dashboard node'),
    'teleop': ('false', 'true: start the teleop node (needs a joy/spacenav driver)'),
}


def _truthy(value):
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    share = get_package_share_directory('robot_rl')
    sim = _truthy(arg['sim'])
    run_config = arg['run_config'] or os.path.join(share, 'config', 'pick_cube_ros.yaml')
    default_cell = 'twin_cell.yaml' if sim else 'panda_cell.yaml'
    cell_config = arg['cell_config'] or os.path.join(share, 'config', default_cell)
    common = {'cell_config': cell_config}
    address = f"tcp://{arg['learner_host']}:{arg['learner_port']}"
    nodes = [
        Node(package='robot_rl', executable='actor_node', name='robot_rl_actor',
             output='screen',
             parameters=[{**common, 'run_config': run_config, 'run_dir': arg['run_dir'],
                          'learner_address': address,
                          'env_steps': int(arg['env_steps'])}]),
    ]
    if _truthy(arg['start_learner']):
        nodes.append(Node(
            package='robot_rl', executable='learner_node', name='robot_rl_learner',
            output='screen',
            parameters=[{'run_dir': arg['run_dir'],
                         'bind': f"tcp://0.0.0.0:{arg['learner_port']}"}]))
    if sim:
        nodes.append(Node(
            package='robot_rl', executable='twin_node', name='robot_rl_twin', output='screen',
            parameters=[{**common, 'run_config': run_config}]))
    else:
        nodes.append(Node(package='robot_rl', executable='reset_node', name='robot_rl_reset',
                          output='screen', parameters=[common]))
        nodes.append(Node(package='robot_rl', executable='reward_node', name='robot_rl_reward',
                          output='screen', parameters=[common]))
        names = [n for n in arg['camera_names'].split(',') if n]
        serials = [s for s in arg['camera_serials'].split(',') if s]
        if names and serials and len(names) != len(serials):
            raise ValueError(f'camera_serials: {len(serials)} serials for {len(names)} cameras')
        if not _truthy(arg['cameras_running']):
            for i, name in enumerate(names):
                params = {'camera_name': name, 'enable_depth': False,
                          'rgb_camera.color_profile': '640x480x30'}
                if serials:  # a string even when it looks like a number
                    params['serial_no'] = ParameterValue(serials[i], value_type=str)
                nodes.append(Node(
                    package='realsense2_camera', executable='realsense2_camera_node',
                    namespace='camera', name=name, output='screen', parameters=[params]))
    if _truthy(arg['teleop']):
        nodes.append(Node(package='robot_rl', executable='teleop_node',
                          name='robot_rl_teleop', output='screen', parameters=[common]))
    if _truthy(arg['dashboard']):
        nodes.append(Node(package='robot_rl', executable='dashboard_node',
                          name='robot_rl_dashboard', output='screen',
                          parameters=[{'run_dir': arg['run_dir']}]))
    return nodes


def generate_launch_description():
    """Launch arguments and the node set they select."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=doc)
         for name, (default, doc) in ARGUMENTS.items()]
        + [OpaqueFunction(function=_nodes)])
