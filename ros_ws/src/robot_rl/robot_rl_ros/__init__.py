"""ROS 2 nodes of robot_rl: thin adapters around the core library ``robot_rl``."""
