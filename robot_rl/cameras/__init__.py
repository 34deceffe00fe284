"""Camera sources behind one interface: the twin's cameras and Intel RealSense (pyrealsense2).

For users without ROS: ``RealSenseCamera`` reads a camera directly; ``TwinCamera`` renders a
twin camera; both are :class:`CameraSource` and give :class:`Frame` objects, and
:func:`read_pixels` turns a set of them into the ``pixels_<camera>`` observation entries.
With ROS, realsense2_camera publishes the same frames as sensor_msgs/Image instead.
"""

from robot_rl.cameras.base import (
    CameraSource,
    CameraUnavailableError,
    Frame,
    TwinCamera,
    read_pixels,
)

__all__ = ["CameraSource", "CameraUnavailableError", "Frame", "TwinCamera", "read_pixels"]
