"""
Actor node: cell topics -> core CellActor (env, safety layer, mixer, Actor) -> commands.

Subscribes to the cameras, /joint_states, the TCP pose (and twist), the reward, the
intervention, the e-stop and ``~/control``; publishes the Cartesian and gripper commands and
``~/status`` (JSON); serves ``~/estop``, ``~/release_estop`` and ``~/reset`` (Trigger). An
e-stop from a service or ``~/control`` is also published on the cell's e-stop topic.
Everything besides rclpy lives in ``robot_rl.ros_compat.cell_actor``: the core Actor runs
in a worker thread, every command passes the core SafetyLayer, the core InterventionMixer
chooses between policy and person. This thread only spins ROS callbacks.

Every executed action also goes out on ``/robot_rl/action``. Parameters beyond the cell's:
``resume`` (continue the run in ``run_dir``: a restarted actor loses no finished episode),
``policy_file`` (act with those weights, deterministically; no learner needed) and ``bag``
(record what the actor acted on to that MCAP directory; ``robot_rl_ros.bag_play`` replays it).
"""

import array
import json
from pathlib import Path
import threading
import time

from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.serialization import serialize_message
from robot_rl.config import load_yaml
from robot_rl.ros_compat.bag import ACTION_TOPIC
from robot_rl.ros_compat.cell_actor import CellActor
from robot_rl.ros_compat.observed_bag import ObservedBagWriter
from robot_rl.run_config import RunConfig
from robot_rl.app.build import configure_threads
from robot_rl.runtime.curve_keys import actor_keys
from robot_rl.runtime.transport_zmq import ZmqActorEndpoint
from robot_rl_ros.ros_io import (
    clock_s, COMMAND_QOS, declare_cell_parameters, load_cell_config, load_safety_config,
    make_executor, ros_session, subscribe_cell_sensors, to_ros)
from std_msgs.msg import Bool, Float32MultiArray, Float64, String
from std_srvs.srv import Trigger


class ActorNode(Node):
    """Runs the policy on the cell through ROS topics."""

    def __init__(self):
        super().__init__('robot_rl_actor')
        declare_cell_parameters(self)
        self.declare_parameter('run_config', '')
        self.declare_parameter('run_dir', '')
        self.declare_parameter('learner_address', 'tcp://127.0.0.1:5555')
        self.declare_parameter('env_steps', -1)
        self.declare_parameter('reset_timeout_s', 60.0)
        self.declare_parameter('safety_config', '')
        self.declare_parameter('resume', False)
        self.declare_parameter('policy_file', '')
        self.declare_parameter('bag', '')
        get = self.get_parameter
        run_config = load_yaml(RunConfig, Path(get('run_config').value))
        cell = load_cell_config(self)
        run_dir = get('run_dir').value or f'runs/ros-{time.strftime("%Y%m%d-%H%M%S")}'
        self.reset_timeout_s = float(get('reset_timeout_s').value)
        steps = int(get('env_steps').value)
        self.env_steps = steps if steps > 0 else run_config.train.env_steps
        self.cell = cell
        command_type = PoseStamped if cell.command_mode == 'pose' else TwistStamped
        self._command_type = command_type
        self.command_pub = self.create_publisher(command_type, cell.command_topic, COMMAND_QOS)
        self.gripper_pub = self.create_publisher(Float64, cell.gripper_command_topic, COMMAND_QOS)
        self.status_pub = self.create_publisher(String, '~/status', COMMAND_QOS)
        self.estop_pub = self.create_publisher(Bool, cell.estop_topic, COMMAND_QOS)
        self.action_pub = self.create_publisher(Float32MultiArray, ACTION_TOPIC, COMMAND_QOS)
        self.reset_client = self.create_client(Trigger, cell.reset_service)
        bag = None
        if get('bag').value:
            bag = ObservedBagWriter(get('bag').value, cell, serialize_msg=serialize_message)
        policy_file = get('policy_file').value
        self.core = CellActor(
            run_config, cell, Path(run_dir), publish=self._publish,
            request_reset=self._request_reset,
            safety=load_safety_config(get('safety_config').value, cell), clock=clock_s,
            stamp_clock=self._ros_time_s, resume=bool(get('resume').value),
            policy_file=Path(policy_file) if policy_file else None, bag=bag,
            publish_action=self._publish_action, reset_retry_s=self.reset_timeout_s)

        subscribe_cell_sensors(self, cell, self.core.assembler)
        self.create_subscription(
            Float64, cell.reward_topic,
            lambda msg: self.core.reward.set(float(msg.data), clock_s()), COMMAND_QOS)
        self.create_subscription(
            Float32MultiArray, cell.intervention_topic,
            lambda msg: self.core.intervention.set(np.asarray(msg.data, np.float32), clock_s()),
            COMMAND_QOS)
        self.create_subscription(Bool, cell.estop_topic, self._on_estop, COMMAND_QOS)
        self.create_subscription(String, '~/control', self._on_control, COMMAND_QOS)
        for name in ('estop', 'release_estop', 'reset'):
            self.create_service(
                Trigger, f'~/{name}',
                lambda request, response, name=name: self._serve(name, response))
        self.done = threading.Event()
        self.worker = threading.Thread(
            target=self._run_actor, args=(run_config, get('learner_address').value),
            name='actor', daemon=True)
        self.create_timer(1.0, self._publish_status)

    # -- ROS side ---------------------------------------------------------------------
    def _ros_time_s(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish(self, command, gripper):
        self.command_pub.publish(to_ros(command, self._command_type()))
        self.gripper_pub.publish(to_ros(gripper, Float64()))

    def _publish_action(self, action):
        self.action_pub.publish(Float32MultiArray(data=array.array('f', action.tobytes())))

    def _request_reset(self):
        # A request sent to a server that then died is lost with it: once DDS drops that
        # server (its participant lease, 20 s in Fast DDS, ran out), ask the next one.
        deadline = time.monotonic() + self.reset_timeout_s
        future = None
        while future is None or not future.done():  # the executor (main thread) completes it
            if time.monotonic() > deadline:
                raise TimeoutError(f'{self.cell.reset_service}: no answer in '
                                   f'{self.reset_timeout_s} s')
            if not self.reset_client.service_is_ready():
                if future is not None:
                    self.reset_client.remove_pending_request(future)
                    future = None
                    self.get_logger().warning(
                        f'{self.cell.reset_service}: the server went away; asking again')
            elif future is None:
                future = self.reset_client.call_async(Trigger.Request())
            time.sleep(0.01)
        response = future.result()
        if not response.success:
            raise RuntimeError(f'{self.cell.reset_service} failed: {response.message}')

    def _apply(self, name, source):
        try:
            message = self.core.control(name, source=source)
        except (LookupError, ValueError) as err:
            self.get_logger().error(f'{source}: {err}')
            return False, str(err)
        # rclpy ties a severity to each logging call site: one call per severity
        if name == 'estop':
            self.get_logger().error(message)
        else:
            self.get_logger().info(message)
        if name == 'estop' and source != self.cell.estop_topic:
            self.estop_pub.publish(Bool(data=True))  # the reset node stops a reset too
        return True, message

    def _on_estop(self, msg):
        if msg.data:
            self._apply('estop', self.cell.estop_topic)

    def _on_control(self, msg):
        self._apply(msg.data.strip(), '~/control')

    def _serve(self, name, response):
        response.success, response.message = self._apply(name, f'~/{name} service')
        return response

    def _publish_status(self):
        self.status_pub.publish(String(data=json.dumps(self.core.status())))
        self.core.write_latency()  # here, off the control thread

    # -- core side (worker thread) ----------------------------------------------------
    def _run_actor(self, run_config, learner_address):
        try:
            configure_threads(run_config.runtime.torch_threads)
            transport = ZmqActorEndpoint(
                learner_address,
                heartbeat_interval_s=run_config.runtime.heartbeat_interval_s,
                heartbeat_timeout_s=run_config.runtime.heartbeat_timeout_s,
                # A learner off this machine serves CURVE only: keys/ of the run dir.
                curve=actor_keys(self.core.run_dir))
            try:
                self.core.run(transport, self.env_steps)
            finally:
                transport.close()
        except Exception as err:  # noqa: B902 - report any failure, then end the node
            self.get_logger().error(f'actor stopped: {type(err).__name__}: {err}')
            raise
        finally:
            self.done.set()


def main(args=None):
    """Run the actor node until its env steps are done or it is shut down."""
    with ros_session(args):
        node = ActorNode()
        executor = make_executor(node.get_logger())
        executor.add_node(node)
        node.worker.start()
        try:
            while rclpy.ok() and not node.done.is_set():
                executor.spin_once(timeout_sec=0.1)
        finally:
            node.core.stop()
            node.worker.join(timeout=10.0)


if __name__ == '__main__':
    main()
