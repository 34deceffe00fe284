"""robot_rl: real-robot reinforcement learning (SAC/RLPD) with a MuJoCo twin.

Importing this package pulls in neither rclpy nor fastapi (guarded by a test).
"""

__version__ = "0.1.0"
