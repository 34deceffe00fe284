"""
Reward node (hardware): the core RewardModel scores the cell's observations.

Subscribes to the streams the actor sees (cameras, joints, TCP pose and twist) and, at the
control rate, publishes the reward on the reward topic: the cell's ``success_reward`` once
the model's success decision held ``consecutive_steps`` periods, else 0
(``robot_rl.ros_compat.cell_reward``). The model comes from a ``configs/rewards/*.yaml``
file (classifier, clip or vlm; local weights only). A person holding the success button of
a Joy device labels success directly (without a reward config that is the only reward);
``~/reset_filter`` (Trigger) restarts the hold count.
"""

from pathlib import Path

import rclpy
from rclpy.node import Node
from robot_rl.config import load_yaml
from robot_rl.rewards.config import build_reward_model, RewardConfig
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.cell_reward import CellReward, check_reward_config
from robot_rl.ros_compat.joy import joy_success, JoyMapping
from robot_rl_ros.ros_io import (
    clock_s, COMMAND_QOS, declare_cell_parameters, load_cell_config, ros_session, SENSOR_QOS,
    subscribe_cell_sensors)
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64
from std_srvs.srv import Trigger


class RewardNode(Node):
    """Publishes the model's reward of the latest observation at the control rate."""

    def __init__(self):
        super().__init__('robot_rl_reward')
        declare_cell_parameters(self)
        self.declare_parameter('reward_config', '')
        self.declare_parameter('model_path', '')
        self.declare_parameter('consecutive_steps', 1)
        self.declare_parameter('joy_topic', '/joy')
        self.declare_parameter('success_button', -1)
        get = self.get_parameter
        self.cell = cell = load_cell_config(self)
        self.mapping = JoyMapping(success_button=int(get('success_button').value))
        path = get('reward_config').value
        model = None
        if path:
            config = load_yaml(RewardConfig, Path(path))
            check_reward_config(config)
            model = build_reward_model(config, model_path=get('model_path').value or None)
        elif self.mapping.success_button < 0:
            raise ValueError('reward_config: give a configs/rewards/*.yaml, or a '
                             'success_button for success labels by a person')
        self.reward = CellReward(
            model, cell, consecutive_steps=int(get('consecutive_steps').value))
        self.assembler = ObservationAssembler(cell)
        self.human_success = False
        subscribe_cell_sensors(self, cell, self.assembler)
        if self.mapping.success_button >= 0:
            self.create_subscription(Joy, get('joy_topic').value, self._on_joy, SENSOR_QOS)
        self.create_service(Trigger, '~/reset_filter', self._on_reset_filter)
        self.pub = self.create_publisher(Float64, cell.reward_topic, COMMAND_QOS)
        self.create_timer(1.0 / cell.control_hz, self._tick)

    def _on_joy(self, msg):
        self.human_success = joy_success(msg.buttons, self.mapping)

    def _on_reset_filter(self, request, response):
        self.reward.reset()
        response.success = True
        response.message = 'success hold count restarted'
        return response

    def _tick(self):
        snapshot = self.assembler.assemble(clock_s())
        value = self.reward.score(snapshot, human_success=self.human_success)
        if value is not None:  # stale data: say nothing, the actor marks the reward stale
            self.pub.publish(Float64(data=value))


def main(args=None):
    """Run the reward node."""
    with ros_session(args):
        rclpy.spin(RewardNode())


if __name__ == '__main__':
    main()
