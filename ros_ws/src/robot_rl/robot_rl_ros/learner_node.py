"""
Learner node: the core learner (robot_rl.app.learner_main) on the workstation GPU.

Transitions come in and weights go out over the project's zmq transport (versioned msgpack
+ safetensors, never pickle), not over ROS topics. The node writes the run files
(config.yaml, spec.json) from the same run and cell configs as the actor, so it needs no
files from the actor and may run on another machine, then serves until the actor says stop.
Off loopback (``bind:=tcp://0.0.0.0:5555``) the learner serves CURVE only: ``make_keys:=true``
creates ``RUN_DIR/keys``; copy ``learner.key`` and ``actor.key_secret`` to the actor's run dir.
"""

from pathlib import Path
import threading

import rclpy
from rclpy.node import Node
from robot_rl.config import load_yaml
from robot_rl.ros_compat.cell_actor import write_run_files
from robot_rl.run_config import RunConfig
from robot_rl.app import learner_main
from robot_rl_ros.ros_io import declare_cell_parameters, load_cell_config, ros_session


class LearnerNode(Node):
    """Runs the learner in a worker thread; ROS only supplies parameters and lifecycle."""

    def __init__(self):
        super().__init__('robot_rl_learner')
        declare_cell_parameters(self)
        self.declare_parameter('run_config', '')
        self.declare_parameter('run_dir', '')
        self.declare_parameter('bind', 'tcp://127.0.0.1:5555')
        self.declare_parameter('make_keys', False)
        self.declare_parameter('demos', '')
        get = self.get_parameter
        if not get('run_dir').value:
            raise ValueError('run_dir: the learner node needs a run directory')
        self.run_dir = Path(get('run_dir').value)
        write_run_files(
            self.run_dir, load_yaml(RunConfig, Path(get('run_config').value)),
            load_cell_config(self))
        self.argv = [str(self.run_dir), '--bind', get('bind').value]
        if get('make_keys').value:
            self.argv.append('--make-keys')
        if get('demos').value:
            self.argv += ['--demos', get('demos').value]
        self.result = None
        self.worker = threading.Thread(target=self._run, name='learner', daemon=True)

    def _run(self):
        self.get_logger().info(f'learner for {self.run_dir} on {self.argv[2]}')
        self.result = learner_main.main(self.argv)


def main(args=None):
    """Run the learner node until the learner finishes or the node is shut down."""
    with ros_session(args):
        node = LearnerNode()
        node.worker.start()
        while rclpy.ok() and node.worker.is_alive():
            rclpy.spin_once(node, timeout_sec=0.2)


if __name__ == '__main__':
    main()
