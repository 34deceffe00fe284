"""
Twin node: the MuJoCo twin publishing what the robot and cameras publish.

Publishes /camera/<name>/color/image_raw, /joint_states, the TCP pose and twist, the
ground-truth reward and, for a cell with ``object_pose_topic``, the cube's ground-truth pose
(what a tracker such as an AprilTag detector publishes on a real cell) at the control rate;
a std_msgs/String on ``~/mute`` (comma-separated camera names, or ``object_pose``; empty:
none) stops those topics, the fault drill of a camera that stops publishing. Accepts the
same Cartesian and gripper commands as the robot and serves the reset service, so the whole
graph runs without hardware.
"""

from pathlib import Path
import threading

from geometry_msgs.msg import PoseStamped, TwistStamped
import rclpy
from rclpy.node import Node
from robot_rl.config import load_yaml
from robot_rl.ros_compat.messages import stamp_from_seconds
from robot_rl.ros_compat.twin_messages import twin_config_for_cell, TwinCell
from robot_rl.run_config import RunConfig
from robot_rl_ros.ros_io import (
    COMMAND_QOS, declare_cell_parameters, load_cell_config, make_executor, ros_session,
    SENSOR_QOS, to_ros)
from robot_rl_sim import make_env
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger


class TwinNode(Node):
    """Steps the twin at the control rate with the latest command and publishes its state."""

    def __init__(self):
        super().__init__('robot_rl_twin')
        self.declare_parameter('run_config', '')
        declare_cell_parameters(self)
        self.declare_parameter('seed', 0)
        run_config = load_yaml(RunConfig, Path(self.get_parameter('run_config').value))
        cell = load_cell_config(self)
        self.cell = cell
        twin_config = twin_config_for_cell(run_config.env, cell)
        seed = int(self.get_parameter('seed').value)
        self.twin = TwinCell(make_env(twin_config, seed=seed), cell, seed=seed)
        self.lock = threading.Lock()
        self.image_pubs = {
            cam: self.create_publisher(Image, cell.image_topic(cam), SENSOR_QOS)
            for cam in cell.cameras}
        self.joint_pub = self.create_publisher(JointState, cell.joint_states_topic, SENSOR_QOS)
        self.pose_pub = self.create_publisher(PoseStamped, cell.tcp_pose_topic, SENSOR_QOS)
        self.twist_pub = (
            self.create_publisher(TwistStamped, cell.tcp_twist_topic, SENSOR_QOS)
            if cell.tcp_twist_topic else None)
        self.object_pub = (
            self.create_publisher(PoseStamped, cell.object_pose_topic, SENSOR_QOS)
            if cell.object_pose_topic else None)
        self.reward_pub = self.create_publisher(Float64, cell.reward_topic, COMMAND_QOS)
        command_type = PoseStamped if cell.command_mode == 'pose' else TwistStamped
        self.create_subscription(command_type, cell.command_topic, self._on_command, COMMAND_QOS)
        self.create_subscription(
            Float64, cell.gripper_command_topic, self._on_gripper, COMMAND_QOS)
        self.create_service(Trigger, cell.reset_service, self._on_reset)
        self.muted = frozenset()
        self.create_subscription(String, '~/mute', self._on_mute, COMMAND_QOS)
        with self.lock:
            self.twin.reset()
        self.create_timer(1.0 / cell.control_hz, self._tick)

    def _on_command(self, msg):
        try:
            with self.lock:
                self.twin.command(command=msg)
        except ValueError as err:  # a real controller rejects it too; the twin says why
            self.get_logger().error(str(err))

    def _on_gripper(self, msg):
        try:
            with self.lock:
                self.twin.command(gripper=float(msg.data))
        except ValueError as err:
            self.get_logger().error(str(err))

    def _on_mute(self, msg):
        self.muted = frozenset(n.strip() for n in msg.data.split(',') if n.strip())
        self.get_logger().warning(f'muted topics: {sorted(self.muted) or "none"}')

    def _on_reset(self, request, response):
        with self.lock:
            self.twin.reset()
            self._publish()
        response.success = True
        response.message = 'twin reset'
        return response

    def _tick(self):
        with self.lock:
            self.twin.tick()
            self._publish()

    def _publish(self):
        now = self.get_clock().now().nanoseconds * 1e-9
        messages = self.twin.messages(stamp=stamp_from_seconds(now))
        for cam, image in messages.images.items():
            if cam not in self.muted:
                self.image_pubs[cam].publish(to_ros(image, Image()))
        self.joint_pub.publish(to_ros(messages.joint_state, JointState()))
        self.pose_pub.publish(to_ros(messages.tcp_pose, PoseStamped()))
        if self.twist_pub is not None:
            self.twist_pub.publish(to_ros(messages.tcp_twist, TwistStamped()))
        if self.object_pub is not None and 'object_pose' not in self.muted:
            self.object_pub.publish(to_ros(messages.object_pose, PoseStamped()))
        self.reward_pub.publish(Float64(data=self.twin.reward))


def main(args=None):
    """Run the twin node."""
    with ros_session(args):
        node = TwinNode()  # held here: an executor may keep only a weak reference
        executor = make_executor(node.get_logger())
        executor.add_node(node)
        while rclpy.ok():  # spin_once: see make_executor
            executor.spin_once(timeout_sec=0.1)


if __name__ == '__main__':
    main()
