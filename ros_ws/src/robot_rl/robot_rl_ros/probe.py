"""
A listening rclpy node of its own context, for process tests and benchmarks of the graph.

Not a node of the graph: tests and ``scripts/bench/ros_graph.py`` use it to subscribe to the
graph's topics (every message logged with its monotonic receive time), publish to them and
call its services from outside the node processes, on the graph's DDS domain.
"""

import time

import rclpy
from rclpy.executors import SingleThreadedExecutor


class Probe:
    """This process's own rclpy context and node on DDS domain ``domain_id``."""

    def __init__(self, domain_id, name='robot_rl_probe'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received = {}

    def listen(self, msg_type, topic, qos=10):
        """Subscribe to ``topic``; return the list (receive time s, message) it fills."""
        log = self.received.setdefault(topic, [])
        self.node.create_subscription(
            msg_type, topic, lambda msg: log.append((time.monotonic(), msg)), qos)
        return log

    def spin_until(self, done, timeout_s, what):
        """Spin until ``done()``; raise TimeoutError naming ``what`` after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f'timed out after {timeout_s} s: {what}')
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds):
        """Spin for ``seconds`` s."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self):
        """Destroy the node and shut its context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
