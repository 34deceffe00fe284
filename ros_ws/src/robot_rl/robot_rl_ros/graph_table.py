"""
The training graph as a table: launch arguments and the nodes (with parameters) they select.

One source for every way the graph starts: ``launch/train.launch.py`` turns the rows into
launch_ros Nodes, ``robot_rl_ros.graph`` starts them as processes from a venv without ROS
tooling, and the process tests start what ``python -m robot_rl_ros.graph`` would. Plain
Python and yaml only: the launch file runs in the ros2 CLI's interpreter, which may lack
both rclpy's venv and the robot_rl core.
"""

from dataclasses import dataclass, field
import os
import time

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
    'demos': ('', 'demonstration episode store the learner starts from (robot-rl demos)'),
    'run_dir': ('', 'run directory (default: /tmp/robot_rl_ros/run-<time>)'),
    'env_steps': ('-1', 'actor env steps (-1: from the run config)'),
    'resume': ('false', 'true: the actor continues the run in run_dir (no episode lost)'),
    'policy_file': ('', 'actor: act with these weights, deterministically (evaluation)'),
    'bag': ('', 'actor: record what it acted on to this MCAP directory (bag_play replays)'),
    'safety_config': ('', 'SafetyConfig YAML (default: limits derived from the cell)'),
    'reward_config': ('', 'hardware: reward model config YAML (configs/rewards/*.yaml)'),
    'success_button': ('-1', 'hardware: Joy button a person holds to label success'),
    'human_reset': ('false', 'hardware: a person resets the scene after the move home'),
    'reset_timeout_s': ('60.0', 'longest wait of the actor for the reset service (s)'),
    'dashboard': ('false', 'true: start the dashboard node'),
    'dashboard_port': ('8765', 'dashboard port (binds 127.0.0.1)'),
    'dashboard_token': ('', 'dashboard access token (default: random, logged)'),
    'teleop': ('false', 'true: start the teleop node (needs a joy/spacenav driver)'),
    'seed': ('0', 'sim: seed of the twin'),
}


@dataclass
class NodeRow:
    """One node of the graph: what to run, under which name, with which parameters."""

    executable: str
    name: str
    parameters: dict = field(default_factory=dict)
    package: str = 'robot_rl'
    namespace: str = ''


def defaults():
    """Return every launch argument at its default value (all strings, as launch has them)."""
    return {name: default for name, (default, _doc) in ARGUMENTS.items()}


def truthy(value):
    """Read a launch argument as a boolean ('true', '1', 'yes', 'on')."""
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


def _split(value):
    return [item.strip() for item in value.split(',') if item.strip()]


def cameras(arg, cell_config):
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


def realsense_rows(names, serials):
    """Return one realsense2_camera row per camera (/camera/<name>/...; serial a string)."""
    rows = []
    for i, name in enumerate(names):
        params = {'camera_name': name, 'enable_depth': False,
                  'rgb_camera.color_profile': '640x480x30'}
        if serials:
            params['serial_no'] = str(serials[i])
        rows.append(NodeRow(
            package='realsense2_camera', executable='realsense2_camera_node',
            namespace='camera', name=name, parameters=params))
    return rows


def node_rows(arg, share):
    """
    Return the graph's nodes for the launch arguments ``arg`` (missing ones: defaults).

    ``share`` is the package's share directory (its config/ holds the default run and
    cell files); unknown argument names raise ValueError naming them.
    """
    unknown = sorted(set(arg) - set(ARGUMENTS))
    if unknown:
        raise ValueError(f'unknown launch arguments {unknown}; known: {sorted(ARGUMENTS)}')
    arg = {**defaults(), **arg}
    sim = truthy(arg['sim'])
    run_config = arg['run_config'] or os.path.join(share, 'config', 'pick_cube_ros.yaml')
    default_cell = 'twin_cell.yaml' if sim else 'panda_cell.yaml'
    cell_config = arg['cell_config'] or os.path.join(share, 'config', default_cell)
    run_dir = arg['run_dir'] or f'/tmp/robot_rl_ros/run-{time.strftime("%Y%m%d-%H%M%S")}'
    cell = {'cell_config': cell_config, 'camera_names': arg['camera_names'],
            'camera_serials': arg['camera_serials']}
    address = f"tcp://{arg['learner_host']}:{arg['learner_port']}"
    rows = [NodeRow('actor_node', 'robot_rl_actor', {
        **cell, 'run_config': run_config, 'run_dir': run_dir, 'learner_address': address,
        'env_steps': int(arg['env_steps']), 'safety_config': arg['safety_config'],
        'reset_timeout_s': float(arg['reset_timeout_s']), 'resume': truthy(arg['resume']),
        'policy_file': arg['policy_file'], 'bag': arg['bag']})]
    if truthy(arg['start_learner']):
        rows.append(NodeRow('learner_node', 'robot_rl_learner', {
            **cell, 'run_config': run_config, 'run_dir': run_dir,
            # Started here, so on this machine: loopback (a keyless learner binds no other).
            'bind': f"tcp://127.0.0.1:{arg['learner_port']}", 'demos': arg['demos']}))
    if sim:
        rows.append(NodeRow('twin_node', 'robot_rl_twin', {
            **cell, 'run_config': run_config, 'seed': int(arg['seed'])}))
    else:
        rows.append(NodeRow('reset_node', 'robot_rl_reset', {
            **cell, 'safety_config': arg['safety_config'],
            'human_reset': truthy(arg['human_reset'])}))
        rows.append(NodeRow('reward_node', 'robot_rl_reward', {
            **cell, 'reward_config': arg['reward_config'],
            'success_button': int(arg['success_button'])}))
        if not truthy(arg['cameras_running']):
            rows += realsense_rows(*cameras(arg, cell_config))
    if truthy(arg['teleop']):
        rows.append(NodeRow('teleop_node', 'robot_rl_teleop', dict(cell)))
    if truthy(arg['dashboard']):
        rows.append(NodeRow('dashboard_node', 'robot_rl_dashboard', {
            **cell, 'actor': '/robot_rl_actor', 'port': int(arg['dashboard_port']),
            'token': arg['dashboard_token']}))
    return rows
