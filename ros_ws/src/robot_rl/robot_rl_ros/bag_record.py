"""
Record the cell's live topics to a rosbag2 MCAP bag without ros2 bag: rclpy raw + rosbags.

    python -m robot_rl_ros.bag_record runs/bag1 --duration-s 10 --ros-args -p cell_config:=...

Subscribes to the cell's sensor topics, reward and Cartesian command (topics and types from
the cell config, as ``robot_rl.ros_compat.bag`` names them) with raw (serialized CDR)
delivery and writes each message as received, stamped with its receive time (ns since the
epoch); ``ros2 bag play`` and ``robot_rl.ros_compat.bag.read_bag`` read the result.
"""

import argparse
from pathlib import Path
import sys
import time

import rclpy
from rclpy.node import Node
from robot_rl.ros_compat.bag import cell_topics, jazzy_typestore
from robot_rl_ros.ros_io import (
    CELL_MESSAGE_TYPES, COMMAND_QOS, declare_cell_parameters, load_cell_config, ros_session,
    SENSOR_QOS)
from rosbags.rosbag2 import StoragePlugin, Writer


class BagRecordNode(Node):
    """Writes every message of the cell's topics into an MCAP bag."""

    def __init__(self, path):
        super().__init__('robot_rl_bag_record')
        declare_cell_parameters(self)
        cell = load_cell_config(self)
        topics = {t: m for t, m in cell_topics(cell).items() if m in CELL_MESSAGE_TYPES}
        topics[cell.command_topic] = ('geometry_msgs/msg/PoseStamped'
                                      if cell.command_mode == 'pose'
                                      else 'geometry_msgs/msg/TwistStamped')
        self.writer = Writer(Path(path), version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        typestore = jazzy_typestore()
        self.counts = dict.fromkeys(topics, 0)
        sensors = {cell.image_topic(c) for c in cell.cameras} | {
            cell.joint_states_topic, cell.tcp_pose_topic, cell.tcp_twist_topic}
        for topic, msgtype in topics.items():
            connection = self.writer.add_connection(topic, msgtype, typestore=typestore)
            self.create_subscription(
                CELL_MESSAGE_TYPES[msgtype], topic,
                lambda raw, c=connection, t=topic: self._write(c, t, raw),
                SENSOR_QOS if topic in sensors else COMMAND_QOS, raw=True)

    def _write(self, connection, topic, raw):
        self.writer.write(connection, time.time_ns(), bytes(raw))
        self.counts[topic] += 1

    def close(self):
        """Finish the bag (metadata.yaml)."""
        self.writer.close()


def main(args=None):
    """Record until --duration-s has passed (or Ctrl-C)."""
    args = sys.argv if args is None else args
    own = rclpy.utilities.remove_ros_args(args)[1:]
    parser = argparse.ArgumentParser(description='record the cell topics to MCAP')
    parser.add_argument('path', help='new bag directory')
    parser.add_argument('--duration-s', type=float, default=0.0, help='0: until Ctrl-C')
    opts = parser.parse_args(own)
    with ros_session(args):
        node = BagRecordNode(opts.path)
        try:
            end = time.monotonic() + opts.duration_s if opts.duration_s > 0 else None
            while rclpy.ok() and (end is None or time.monotonic() < end):
                rclpy.spin_once(node, timeout_sec=0.1)
        finally:
            node.close()
            node.get_logger().info(f'{opts.path}: {node.counts}')


if __name__ == '__main__':
    main()
