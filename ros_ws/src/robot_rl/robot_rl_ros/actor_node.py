"""Actor node: cell topics -> observations -> core Actor (policy) -> Cartesian commands.

Subscribes to the cameras, /joint_states, the TCP pose (and twist), the reward, the
intervention and the e-stop; publishes the Cartesian command and the gripper command.
The core ``robot_rl.runtime.actor.Actor`` runs in a worker thread over a
``robot_rl.ros_compat.bridge_env.BridgeEnv`` and talks to the learner over the project's
zmq transport; this thread only spins ROS callbacks.
"""

import json
from pathlib import Path
import threading
import time

from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from robot_rl.config import config_hash, load_yaml, save_yaml
from robot_rl.envs.spec import spec_to_json
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.bridge_env import BridgeEnv, LatestValue
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.build import configure_threads, env_spec, make_policy
from robot_rl.runtime.protocol import Control, Hello
from robot_rl.runtime.transport import ZmqActorEndpoint
from robot_rl_ros.ros_io import clock_s, COMMAND_QOS, load_cell_config, SENSOR_QOS, to_ros
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float32MultiArray, Float64, String
from std_srvs.srv import Trigger


class ActorNode(Node):
    """Runs the policy on the cell through ROS topics."""

    def __init__(self):
        super().__init__('robot_rl_actor')
        self.declare_parameter('run_config', '')
        self.declare_parameter('cell_config', '')
        self.declare_parameter('run_dir', '')
        self.declare_parameter('learner_address', 'tcp://127.0.0.1:5555')
        self.declare_parameter('env_steps', -1)
        self.declare_parameter('reset_timeout_s', 30.0)
        get = self.get_parameter
        self.run_config = load_yaml(RunConfig, Path(get('run_config').value))
        self.cell = load_cell_config(get('cell_config').value)
        run_dir = get('run_dir').value or f'runs/ros-{time.strftime("%Y%m%d-%H%M%S")}'
        self.run_dir = Path(run_dir)
        self.reset_timeout_s = float(get('reset_timeout_s').value)
        steps = int(get('env_steps').value)
        self.env_steps = steps if steps > 0 else self.run_config.train.env_steps

        cell = self.cell
        self.assembler = ObservationAssembler(cell)
        self.reward = LatestValue()
        self.intervention = LatestValue()
        for cam in cell.cameras:
            self.create_subscription(
                Image, cell.image_topic(cam),
                lambda msg, cam=cam: self.assembler.on_image(cam, msg, clock_s()), SENSOR_QOS)
        self.create_subscription(
            JointState, cell.joint_states_topic,
            lambda msg: self.assembler.on_joint_state(msg, clock_s()), SENSOR_QOS)
        self.create_subscription(
            PoseStamped, cell.tcp_pose_topic,
            lambda msg: self.assembler.on_tcp_pose(msg, clock_s()), SENSOR_QOS)
        if cell.tcp_twist_topic:
            self.create_subscription(
                TwistStamped, cell.tcp_twist_topic,
                lambda msg: self.assembler.on_tcp_twist(msg, clock_s()), SENSOR_QOS)
        self.create_subscription(
            Float64, cell.reward_topic, lambda msg: self.reward.set(msg.data, clock_s()),
            COMMAND_QOS)
        self.create_subscription(
            Float32MultiArray, cell.intervention_topic,
            lambda msg: self.intervention.set(np.asarray(msg.data, np.float32), clock_s()),
            COMMAND_QOS)
        self.create_subscription(Bool, cell.estop_topic, self._on_estop, COMMAND_QOS)
        self.create_service(Trigger, '~/estop', self._estop_service)
        command_type = PoseStamped if cell.command_mode == 'pose' else TwistStamped
        self._command_type = command_type
        self.command_pub = self.create_publisher(command_type, cell.command_topic, COMMAND_QOS)
        self.gripper_pub = self.create_publisher(Float64, cell.gripper_command_topic, COMMAND_QOS)
        self.status_pub = self.create_publisher(String, '~/status', COMMAND_QOS)
        self.reset_client = self.create_client(Trigger, cell.reset_service)

        self.env = BridgeEnv(
            cell, self.assembler, publish=self._publish, request_reset=self._request_reset,
            reward=self.reward, intervention=self.intervention, clock=clock_s)
        self.actor = None
        self.done = threading.Event()
        self.worker = threading.Thread(target=self._run_actor, name='actor', daemon=True)
        self.create_timer(1.0, self._publish_status)

    # -- ROS side ---------------------------------------------------------------------
    def _publish(self, command, gripper):
        self.command_pub.publish(to_ros(command, self._command_type()))
        self.gripper_pub.publish(to_ros(gripper, Float64()))

    def _request_reset(self):
        if not self.reset_client.wait_for_service(timeout_sec=self.reset_timeout_s):
            raise TimeoutError(f'{self.cell.reset_service}: no reset service')
        future = self.reset_client.call_async(Trigger.Request())
        deadline = time.monotonic() + self.reset_timeout_s
        while not future.done():  # the executor thread completes it
            if time.monotonic() > deadline:
                raise TimeoutError(f'{self.cell.reset_service}: no answer in '
                                   f'{self.reset_timeout_s} s')
            time.sleep(0.01)
        response = future.result()
        if not response.success:
            raise RuntimeError(f'{self.cell.reset_service} failed: {response.message}')

    def _on_estop(self, msg):
        if msg.data:
            self._estop('e-stop topic')

    def _estop_service(self, request, response):
        self._estop('e-stop service')
        response.success = True
        response.message = 'e-stop latched; restart the actor to release it'
        return response

    def _estop(self, why):
        self.get_logger().error(f'{why}: holding and stopping the actor')
        self.env.estop()
        if self.actor is not None:
            self.actor.stop_requested = True

    def _publish_status(self):
        stats = self.actor.stats if self.actor is not None else None
        status = {
            'env_steps': stats.env_steps if stats else 0,
            'episodes': stats.episodes if stats else 0,
            'weights_version': stats.weights_version if stats else 0,
            'learner_updates': stats.learner_updates if stats else 0,
            'stale': self.assembler.assemble(clock_s()).stale,
            'estop': self.env.estopped,
        }
        self.status_pub.publish(String(data=json.dumps(status)))

    # -- core side (worker thread) ----------------------------------------------------
    def _run_actor(self):
        config = self.run_config
        try:
            configure_threads(config.runtime.torch_threads)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml(config, self.run_dir / 'config.yaml')
            spec, action_dim = env_spec(self.env)
            (self.run_dir / 'spec.json').write_text(json.dumps(spec_to_json(spec, action_dim)))
            digest = config_hash(config)
            transport = ZmqActorEndpoint(
                self.get_parameter('learner_address').value,
                heartbeat_interval_s=config.runtime.heartbeat_interval_s,
                heartbeat_timeout_s=config.runtime.heartbeat_timeout_s)
            transport.send(Hello(role='actor', run_id=self.run_dir.name, config_hash=digest))
            self.actor = Actor(
                self.env, make_policy(config, spec, action_dim), transport,
                config_hash=digest, seed=config.seed, updates_per_env_step=0.0,
                learning_starts=config.train.learning_starts)
            try:
                self.actor.run(self.env_steps)
            finally:
                transport.send(Control(command='stop'))
                transport.close()
        except Exception as err:  # noqa: B902 - report any failure, then end the node
            self.get_logger().error(f'actor stopped: {type(err).__name__}: {err}')
            raise
        finally:
            self.done.set()


def main(args=None):
    """Run the actor node until its env steps are done or it is shut down."""
    try:
        with rclpy.init(args=args):
            node = ActorNode()
            node.worker.start()
            while rclpy.ok() and not node.done.is_set():
                rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
