"""Reward node (hardware): publishes the reward of each control step on the reward topic.

Source ``joy``: a human holds a Joy button while the task is done (success labels, as in
HIL-SERL). A learned success classifier will plug in here through the core's RewardModel.
"""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from robot_rl.ros_compat.joy import joy_success, JoyMapping
from robot_rl_ros.ros_io import COMMAND_QOS, load_cell_config, SENSOR_QOS
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64


class RewardNode(Node):
    """Publishes 1.0 while the success button is held, else 0.0, at the control rate."""

    def __init__(self):
        super().__init__('robot_rl_reward')
        self.declare_parameter('cell_config', '')
        self.declare_parameter('joy_topic', '/joy')
        self.declare_parameter('success_button', 2)
        self.cell = load_cell_config(self.get_parameter('cell_config').value)
        self.mapping = JoyMapping(success_button=self.get_parameter('success_button').value)
        self.success = False
        self.pub = self.create_publisher(Float64, self.cell.reward_topic, COMMAND_QOS)
        self.create_subscription(
            Joy, self.get_parameter('joy_topic').value, self._on_joy, SENSOR_QOS)
        self.create_timer(1.0 / self.cell.control_hz, self._tick)

    def _on_joy(self, msg):
        self.success = joy_success(msg.buttons, self.mapping)

    def _tick(self):
        self.pub.publish(Float64(data=1.0 if self.success else 0.0))


def main(args=None):
    """Run the reward node."""
    try:
        with rclpy.init(args=args):
            rclpy.spin(RewardNode())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
