"""Learner node: the core learner (robot_rl.runtime.learner_main) on the workstation GPU.

Transitions come in and weights go out over the project's zmq transport (versioned msgpack
+ safetensors, never pickle), not over ROS topics. The node waits for the actor to write
the run directory (config.yaml, spec.json), then serves until the actor says stop.
"""

from pathlib import Path
import threading
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from robot_rl.runtime import learner_main


class LearnerNode(Node):
    """Runs the learner in a worker thread; ROS only supplies parameters and lifecycle."""

    def __init__(self):
        super().__init__('robot_rl_learner')
        self.declare_parameter('run_dir', '')
        self.declare_parameter('bind', 'tcp://0.0.0.0:5555')
        self.declare_parameter('demos', '')
        self.declare_parameter('wait_for_run_dir_s', 120.0)
        self.run_dir = Path(self.get_parameter('run_dir').value)
        self.result = None
        self.worker = threading.Thread(target=self._run, name='learner', daemon=True)

    def _run(self):
        deadline = time.monotonic() + float(self.get_parameter('wait_for_run_dir_s').value)
        needed = [self.run_dir / 'config.yaml', self.run_dir / 'spec.json']
        while not all(p.exists() for p in needed):
            if time.monotonic() > deadline:
                self.get_logger().error(f'{self.run_dir}: no config.yaml + spec.json in time')
                self.result = 1
                return
            time.sleep(0.1)
        argv = [str(self.run_dir), '--bind', self.get_parameter('bind').value]
        demos = self.get_parameter('demos').value
        if demos:
            argv += ['--demos', demos]
        self.get_logger().info(f'learner for {self.run_dir} on {argv[2]}')
        self.result = learner_main.main(argv)


def main(args=None):
    """Run the learner node until the learner finishes or the node is shut down."""
    try:
        with rclpy.init(args=args):
            node = LearnerNode()
            node.worker.start()
            while rclpy.ok() and node.worker.is_alive():
                rclpy.spin_once(node, timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
