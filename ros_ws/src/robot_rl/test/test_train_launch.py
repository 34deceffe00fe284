"""
launch_testing: train.launch.py sim:=true moves transitions to the learner and weights back.

Starts the twin, actor, learner and dashboard nodes (no cameras: the CI container has no
GL), then listens to the actor's status topic until the actor reports learner updates
(transitions reached the learner and it trained) and a weights version >= 1 (weights
reached the actor), and reads the same counters from the dashboard's HTTP API.
"""

import json
import os
import tempfile
import time
import unittest
import urllib.request

from ament_index_python.packages import get_package_share_directory
import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
import launch_testing.actions
import pytest
import rclpy
from std_msgs.msg import String

TIME_LIMIT_S = 180.0
RUN_DIR = tempfile.mkdtemp(prefix='robot_rl_launch_test_')
DASHBOARD = 'http://127.0.0.1:8799/api/status?token=ci-dashboard-token-0123'


@pytest.mark.launch_test
def generate_test_description():
    """Launch the training graph of sim:=true with the CI cell."""
    share = get_package_share_directory('robot_rl')
    train = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'train.launch.py')),
        launch_arguments={
            'sim': 'true',
            'cell_config': os.path.join(share, 'config', 'ci_cell.yaml'),
            'run_dir': RUN_DIR,
            'learner_port': '5599',
            'dashboard': 'true',
            'dashboard_port': '8799',
            'dashboard_token': 'ci-dashboard-token-0123',
        }.items())
    return launch.LaunchDescription([train, launch_testing.actions.ReadyToTest()])


class TestTrainingGraph(unittest.TestCase):
    """Checks on the running graph."""

    def test_transitions_reach_learner_and_weights_reach_actor(self):
        """Within the time limit, the actor reports learner updates and pushed weights."""
        rclpy.init()
        try:
            node = rclpy.create_node('train_launch_probe')
            status = {}
            node.create_subscription(
                String, '/robot_rl_actor/status',
                lambda msg: status.update(json.loads(msg.data)), 10)
            deadline = time.monotonic() + TIME_LIMIT_S
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.5)
                if status.get('weights_version', 0) >= 1 and status.get('learner_updates', 0):
                    break
            self.assertGreater(status.get('env_steps', 0), 0, status)
            self.assertGreater(status.get('learner_updates', 0), 0, status)
            self.assertGreaterEqual(status.get('weights_version', 0), 1, status)
            self.assertTrue(os.path.exists(os.path.join(RUN_DIR, 'spec.json')))
            node.destroy_node()
        finally:
            rclpy.shutdown()

    def test_dashboard_serves_the_actor_state(self):
        """The dashboard node's page API reports the actor's env steps (mirrored over ROS)."""
        deadline = time.monotonic() + TIME_LIMIT_S
        served = {}
        while time.monotonic() < deadline and not served.get('env_steps'):
            try:
                with urllib.request.urlopen(DASHBOARD, timeout=2.0) as reply:
                    served = json.loads(reply.read())
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)
        self.assertGreater(served.get('env_steps', 0), 0, served)
