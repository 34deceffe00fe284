"""Message conversion and stream handling for the ROS 2 adapter, without ROS.

Everything the nodes in ``ros_ws/`` do besides talking to rclpy lives here, so it is
tested on this machine: sensor_msgs/Image <-> numpy (:mod:`.image`), JointState / poses /
twists and action -> Cartesian command (:mod:`.geometry`), time-synchronised observations
with per-stream staleness (:mod:`.assembler`), a gymnasium env over the streams whose
commands pass the core SafetyLayer (:mod:`.bridge_env`), the actor node's core
(:mod:`.cell_actor`: InterventionMixer, RunControls, DashboardFeed, episode store, Actor),
the reset and reward nodes' cores (:mod:`.cell_reset`, :mod:`.cell_reward`), the dashboard
fed from the actor's status (:mod:`.remote_dashboard`), twin -> cell messages
(:mod:`.twin_messages`), Joy -> intervention (:mod:`.joy`) and rosbag2 MCAP record/replay
(:mod:`.bag`, needs ``rosbags``). This package never imports rclpy.
"""
