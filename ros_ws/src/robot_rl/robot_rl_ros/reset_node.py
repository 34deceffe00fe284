"""Reset node (hardware): std_srvs/Trigger that opens the gripper and moves the TCP home.

Sends pose targets toward ``home_position`` (straight down) for ``reset_settle_s`` seconds
through the same command topic the actor uses, then answers. Scripted and learned resets
from the core will replace the straight-line move.
"""

import time

from geometry_msgs.msg import PoseStamped
import numpy as np
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from robot_rl.ros_compat.geometry import DOWN_QUAT, make_pose
from robot_rl.ros_compat.messages import stamp_from_seconds
from robot_rl_ros.ros_io import COMMAND_QOS, load_cell_config, to_ros
from std_msgs.msg import Float64
from std_srvs.srv import Trigger


class ResetNode(Node):
    """Serves the cell's reset service."""

    def __init__(self):
        super().__init__('robot_rl_reset')
        self.declare_parameter('cell_config', '')
        self.cell = load_cell_config(self.get_parameter('cell_config').value)
        if self.cell.command_mode != 'pose':
            raise ValueError('command_mode: the reset node sends pose targets; use pose')
        self.pose_pub = self.create_publisher(PoseStamped, self.cell.command_topic, COMMAND_QOS)
        self.gripper_pub = self.create_publisher(
            Float64, self.cell.gripper_command_topic, COMMAND_QOS)
        self.create_service(
            Trigger, self.cell.reset_service, self._on_reset,
            callback_group=ReentrantCallbackGroup())

    def _on_reset(self, request, response):
        home = np.asarray(self.cell.home_position, dtype=np.float64)
        end = time.monotonic() + self.cell.reset_settle_s
        while time.monotonic() < end:
            stamp = stamp_from_seconds(self.get_clock().now().nanoseconds * 1e-9)
            pose = make_pose(home, DOWN_QUAT, stamp=stamp, frame_id=self.cell.base_frame)
            self.pose_pub.publish(to_ros(pose, PoseStamped()))
            self.gripper_pub.publish(Float64(data=0.0))
            time.sleep(1.0 / self.cell.control_hz)
        response.success = True
        response.message = f'moved to {self.cell.home_position}'
        return response


def main(args=None):
    """Run the reset node."""
    try:
        with rclpy.init(args=args):
            rclpy.spin(ResetNode(), executor=MultiThreadedExecutor())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
