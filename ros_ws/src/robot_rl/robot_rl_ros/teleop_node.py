"""
Teleop node: sensor_msgs/Joy (SpaceMouse via spacenav, gamepads via joy) -> interventions.

Publishes the human action on the cell's intervention topic (std_msgs/Float32MultiArray,
(A,) in [-1, 1]); an empty array means hands off (dead-man button released).
"""

import rclpy
from rclpy.node import Node
from robot_rl.ros_compat.joy import joy_to_action, JoyMapping
from robot_rl_ros.ros_io import (
    COMMAND_QOS, declare_cell_parameters, load_cell_config, ros_session, SENSOR_QOS)
from sensor_msgs.msg import Joy
from std_msgs.msg import Float32MultiArray


class TeleopNode(Node):
    """Maps every Joy message to an intervention message."""

    def __init__(self):
        super().__init__('robot_rl_teleop')
        declare_cell_parameters(self)
        self.declare_parameter('joy_topic', '/joy')
        self.declare_parameter('axes', [1, 0, 2])
        self.declare_parameter('signs', [1.0, 1.0, 1.0])
        self.declare_parameter('deadman_button', 0)
        self.declare_parameter('close_button', 1)
        self.cell = load_cell_config(self)
        get = self.get_parameter
        self.mapping = JoyMapping(
            axes=tuple(get('axes').value), signs=tuple(get('signs').value),
            deadman_button=get('deadman_button').value, close_button=get('close_button').value)
        self.mapping.validate()
        self.pub = self.create_publisher(
            Float32MultiArray, self.cell.intervention_topic, COMMAND_QOS)
        self.create_subscription(Joy, get('joy_topic').value, self._on_joy, SENSOR_QOS)

    def _on_joy(self, msg):
        action = joy_to_action(
            msg.axes, msg.buttons, self.mapping, action_dim=self.cell.action_dim)
        self.pub.publish(Float32MultiArray(data=action.tolist()))


def main(args=None):
    """Run the teleop node."""
    with ros_session(args):
        rclpy.spin(TeleopNode())


if __name__ == '__main__':
    main()
