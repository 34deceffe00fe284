"""
Reset node (hardware): the core reset controllers behind the cell's reset service.

Serves the cell's ``reset_service`` (std_srvs/Trigger): the core ``ScriptedReset`` drives
the TCP home with the gripper open, through the core ``SafetyLayer`` and the same command
topics the actor uses; with ``human_reset`` a person then puts the scene back and calls
``~/continue`` (Trigger), waited for at most ``human_timeout_s``
(``robot_rl.ros_compat.cell_reset``). The cell's e-stop topic (Bool, True) stops a reset in
progress (until the next reset request); ``~/estop`` (Trigger) latches until
``~/release_estop`` (Trigger).
"""

from geometry_msgs.msg import PoseStamped, TwistStamped
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from robot_rl.resets.human import HumanReset
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.cell_reset import CellReset, describe
from robot_rl.safety.layer import SafetyLayer
from robot_rl_ros.ros_io import (
    clock_s, COMMAND_QOS, declare_cell_parameters, load_cell_config, load_safety_config,
    ros_session, SENSOR_QOS, to_ros)
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64
from std_srvs.srv import Trigger


class ResetNode(Node):
    """Serves the cell's reset service."""

    def __init__(self):
        super().__init__('robot_rl_reset')
        declare_cell_parameters(self)
        self.declare_parameter('safety_config', '')
        self.declare_parameter('human_reset', False)
        self.declare_parameter('human_timeout_s', 45.0)
        get = self.get_parameter
        self.cell = cell = load_cell_config(self)
        command_type = PoseStamped if cell.command_mode == 'pose' else TwistStamped
        self._command_type = command_type
        self.command_pub = self.create_publisher(command_type, cell.command_topic, COMMAND_QOS)
        self.gripper_pub = self.create_publisher(Float64, cell.gripper_command_topic, COMMAND_QOS)
        human = None
        if get('human_reset').value:
            human = HumanReset(timeout_s=float(get('human_timeout_s').value))
        self.human = human
        asm = ObservationAssembler(cell)
        self.layer = SafetyLayer(load_safety_config(get('safety_config').value, cell))
        self.core = CellReset(
            cell, asm, publish=self._publish, human=human, safety=self.layer, clock=clock_s,
            stamp_clock=lambda: self.get_clock().now().nanoseconds * 1e-9)
        # sensor callbacks keep running while the (blocking) reset service waits for data
        sensors = ReentrantCallbackGroup()
        for cam in cell.cameras:
            self.create_subscription(
                Image, cell.image_topic(cam),
                lambda msg, cam=cam: asm.on_image(cam, msg, clock_s()), SENSOR_QOS,
                callback_group=sensors)
        self.create_subscription(
            JointState, cell.joint_states_topic,
            lambda msg: asm.on_joint_state(msg, clock_s()), SENSOR_QOS, callback_group=sensors)
        self.create_subscription(
            PoseStamped, cell.tcp_pose_topic, lambda msg: asm.on_tcp_pose(msg, clock_s()),
            SENSOR_QOS, callback_group=sensors)
        if cell.tcp_twist_topic:
            self.create_subscription(
                TwistStamped, cell.tcp_twist_topic,
                lambda msg: asm.on_tcp_twist(msg, clock_s()), SENSOR_QOS,
                callback_group=sensors)
        services = ReentrantCallbackGroup()
        self.create_service(
            Trigger, cell.reset_service, self._on_reset, callback_group=services)
        self.create_service(Trigger, '~/continue', self._on_continue, callback_group=services)
        self.create_service(Trigger, '~/estop', self._on_estop, callback_group=services)
        self.create_service(
            Trigger, '~/release_estop', self._on_release, callback_group=services)
        self.create_subscription(
            Bool, cell.estop_topic, self._on_estop_topic, COMMAND_QOS, callback_group=sensors)

    def _publish(self, command, gripper):
        self.command_pub.publish(to_ros(command, self._command_type()))
        self.gripper_pub.publish(to_ros(gripper, Float64()))

    def _on_reset(self, request, response):
        try:
            response.success, response.message = describe(self.core.run())
        except (TimeoutError, RuntimeError, ValueError) as err:
            response.success, response.message = False, f'{type(err).__name__}: {err}'
        # rclpy ties a severity to each logging call site: one call per severity
        if response.success:
            self.get_logger().info(f'reset: {response.message}')
        else:
            self.get_logger().error(f'reset: {response.message}')
        return response

    def _on_continue(self, request, response):
        if self.human is None:
            response.success, response.message = False, 'human_reset is off'
        else:
            self.human.press_continue()
            response.success, response.message = True, 'continue pressed'
        return response

    def _on_estop(self, request, response):
        self.core.estop('reset node ~/estop')
        self.get_logger().error('e-stop latched (~/estop) until ~/release_estop')
        response.success, response.message = True, 'e-stop latched until ~/release_estop'
        return response

    def _on_release(self, request, response):
        self.core.release_estop()
        response.success, response.message = True, 'e-stop released'
        return response

    def _on_estop_topic(self, msg):
        if msg.data:
            self.core.estop(self.cell.estop_topic, until_next_reset=True)
            self.get_logger().error(f'{self.cell.estop_topic}: holding; a reset in progress fails')


def main(args=None):
    """Run the reset node."""
    with ros_session(args):
        rclpy.spin(ResetNode(), executor=MultiThreadedExecutor(num_threads=4))


if __name__ == '__main__':
    main()
