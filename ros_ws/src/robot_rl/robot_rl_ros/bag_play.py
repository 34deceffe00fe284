"""
Replay an actor-recorded bag into an actor node, one observation per request.

    python -m robot_rl_ros.bag_play BAG --actions-out actions.json --ros-args -p cell_config:=...

The bag is one the actor node wrote with its ``bag`` parameter
(``robot_rl.ros_compat.observed_bag``). This node stands in for the cell: it serves the
cell's reset service and publishes the next recorded observation's messages (raw CDR, as
recorded) whenever the actor asks for one, by calling the reset service or by publishing an
action on ``/robot_rl/action``. The actions the actor sends back are written to
``--actions-out`` (JSON) with the recorded ones; exit status 0 when every recorded
observation was played. Unlike ``ros2 bag play`` (wall-clock pacing) the replayed actor
sees exactly the recorded observations in the recorded order, so a deterministic policy
must send the recorded actions.
"""

import argparse
import json
from pathlib import Path
import sys
import time

import rclpy
from rclpy.node import Node
from robot_rl.ros_compat.bag import ACTION_TOPIC
from robot_rl.ros_compat.observed_bag import observed_groups
from robot_rl_ros.ros_io import (
    CELL_MESSAGE_TYPES, COMMAND_QOS, declare_cell_parameters, load_cell_config, ros_session,
    SENSOR_QOS)
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import Trigger


class BagPlayNode(Node):
    """The cell, played back from an actor-recorded bag."""

    def __init__(self, path):
        super().__init__('robot_rl_bag_play')
        declare_cell_parameters(self)
        cell = load_cell_config(self)
        self.bag = observed_groups(path)
        self.next_group = 0
        self.replayed = []
        self.mismatched_kinds = []
        self.pubs = {}
        for group in self.bag.groups:
            for topic, msgtype, _raw in group.messages:
                if topic not in self.pubs:
                    qos = COMMAND_QOS if topic == cell.reward_topic else SENSOR_QOS
                    self.pubs[topic] = self.create_publisher(
                        CELL_MESSAGE_TYPES[msgtype], topic, qos)
        self.create_service(Trigger, cell.reset_service, self._on_reset)
        self.create_subscription(Float32MultiArray, ACTION_TOPIC, self._on_action, COMMAND_QOS)

    @property
    def finished(self):
        """True once every recorded observation was published and its action came back."""
        return self.next_group >= len(self.bag.groups) and (
            len(self.replayed) >= len(self.bag.actions))

    def _play(self, asked_for):
        if self.next_group >= len(self.bag.groups):
            return False
        group = self.bag.groups[self.next_group]
        if group.kind != asked_for:  # the replayed actor took another path than the recorded
            self.mismatched_kinds.append((self.next_group, group.kind, asked_for))
        self.next_group += 1
        for topic, _msgtype, raw in group.messages:
            self.pubs[topic].publish(raw)  # rclpy publishes serialized bytes as they are
        return True

    def _on_reset(self, request, response):
        response.success = self._play('reset')
        response.message = 'replayed' if response.success else 'the bag is played out'
        return response

    def _on_action(self, msg):
        self.replayed.append([float(v) for v in msg.data])
        self._play('step')


def main(args=None):
    """Replay until every observation was played (or --timeout-s); write the actions."""
    args = sys.argv if args is None else args
    own = rclpy.utilities.remove_ros_args(args)[1:]
    parser = argparse.ArgumentParser(description='replay an actor-recorded bag')
    parser.add_argument('path', help='bag directory written by the actor node')
    parser.add_argument('--actions-out', required=True, help='JSON file of the actions')
    parser.add_argument('--timeout-s', type=float, default=120.0)
    opts = parser.parse_args(own)
    with ros_session(args):
        node = BagPlayNode(opts.path)
        deadline = time.monotonic() + opts.timeout_s
        while rclpy.ok() and not node.finished and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        Path(opts.actions_out).write_text(json.dumps({
            'recorded': [a.tolist() for a in node.bag.actions], 'replayed': node.replayed,
            'groups': len(node.bag.groups), 'played': node.next_group,
            'mismatched_kinds': node.mismatched_kinds}))
        node.get_logger().info(
            f'played {node.next_group}/{len(node.bag.groups)} observations, '
            f'{len(node.replayed)} actions back')
        return 0 if node.finished else 1


if __name__ == '__main__':
    sys.exit(main())
