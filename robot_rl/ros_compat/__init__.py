"""Message conversion and stream handling for the ROS 2 adapter, without ROS.

Everything the nodes in ``ros_ws/`` do besides talking to rclpy lives here, so it is
tested on this machine: sensor_msgs/Image <-> numpy (:mod:`.image`), JointState / poses /
twists and action -> Cartesian command (:mod:`.geometry`), time-synchronised observations
with per-stream staleness (:mod:`.assembler`), a gymnasium env over the streams
(:mod:`.bridge_env`), twin -> cell messages (:mod:`.twin_messages`), Joy -> intervention
(:mod:`.joy`) and rosbag2 MCAP record/replay (:mod:`.bag`, needs ``rosbags``).
This package never imports rclpy.
"""
