"""
Dashboard node: the core FastAPI dashboard app fed from the actor node's state.

The page's counters, charts and mode come from the actor's ``~/status`` (JSON), the live
frames from the camera topics; every button is sent back as a control name on the actor's
``~/control`` topic (``robot_rl.ros_compat.remote_dashboard``). Binds 127.0.0.1 unless told
otherwise; the access token is the ``token`` parameter or a random one that is logged.
"""

import json

import rclpy
from rclpy.node import Node
from robot_rl.dashboard.app import DashboardServer
from robot_rl.ros_compat.remote_dashboard import MirroredFeed
from robot_rl_ros.ros_io import (
    COMMAND_QOS, declare_cell_parameters, load_cell_config, ros_session, SENSOR_QOS)
from sensor_msgs.msg import Image
from std_msgs.msg import String


class DashboardNode(Node):
    """Serves the dashboard of the actor node named by ``actor``."""

    def __init__(self):
        super().__init__('robot_rl_dashboard')
        declare_cell_parameters(self)
        self.declare_parameter('actor', '/robot_rl_actor')
        self.declare_parameter('host', '127.0.0.1')
        self.declare_parameter('port', 8765)
        self.declare_parameter('token', '')
        self.declare_parameter('frame_period_s', 0.1)
        get = self.get_parameter
        cell = load_cell_config(self)
        actor = get('actor').value.rstrip('/')
        self.control_pub = self.create_publisher(String, f'{actor}/control', COMMAND_QOS)
        self.feed = MirroredFeed(
            lambda name: self.control_pub.publish(String(data=name)),
            frame_period_s=float(get('frame_period_s').value))
        self.create_subscription(String, f'{actor}/status', self._on_status, COMMAND_QOS)
        for cam in cell.cameras:
            self.create_subscription(
                Image, cell.image_topic(cam),
                lambda msg, cam=cam: self.feed.on_image(cam, msg, where=cell.image_topic(cam)),
                SENSOR_QOS)
        self.server = DashboardServer(
            self.feed, host=get('host').value, port=int(get('port').value),
            token=get('token').value or None)

    def _on_status(self, msg):
        self.feed.apply_status(json.loads(msg.data))


def main(args=None):
    """Serve the dashboard until shut down."""
    with ros_session(args):
        node = DashboardNode()
        node.server.start()
        node.get_logger().info(f'dashboard: {node.server.url}')
        try:
            rclpy.spin(node)
        finally:
            node.server.stop()


if __name__ == '__main__':
    main()
