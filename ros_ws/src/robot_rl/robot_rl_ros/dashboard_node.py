"""Dashboard node: serves the core's FastAPI dashboard app with uvicorn.

The app lives in the core (``robot_rl.dashboard``); this node only gives it its
parameters (run directory, bind address) and a ROS lifecycle. It binds 127.0.0.1 unless
told otherwise.
"""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


class DashboardNode(Node):
    """Declares the dashboard parameters."""

    def __init__(self):
        super().__init__('robot_rl_dashboard')
        self.declare_parameter('run_dir', '')
        self.declare_parameter('host', '127.0.0.1')
        self.declare_parameter('port', 8080)


def main(args=None):
    """Serve the dashboard until shut down."""
    try:
        with rclpy.init(args=args):
            node = DashboardNode()
            # robot_rl.dashboard.app.create_app(feed, token=...) needs the actor's live
            # DashboardFeed, which lives in the actor process; serving it from here needs a
            # feed over the transport (not written yet), so say so instead of serving nothing.
            node.get_logger().error(
                'dashboard_node: the dashboard needs the DashboardFeed of the actor; run it in '
                'the actor (robot-rl train) until the feed is available over the transport')
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
