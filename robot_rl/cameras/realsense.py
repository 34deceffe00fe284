"""Intel RealSense cameras read directly with pyrealsense2 (no ROS), as a CameraSource.

``pyrealsense2`` is imported only when a camera is opened, so the core installs and runs
without it. Install it with ``pip install pyrealsense2`` (it needs ``libusb-1.0-0`` from
apt); on ROS machines, realsense2_camera publishes the same frames as sensor_msgs/Image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.cameras.base import CameraUnavailableError, Frame


def _import_rs() -> Any:
    try:
        import pyrealsense2 as rs
    except ImportError as err:
        raise CameraUnavailableError(
            f"pyrealsense2 is not usable ({err}); install it with 'pip install pyrealsense2' "
            "and the Debian package libusb-1.0-0, or run the cameras through ROS 2 "
            "(realsense2_camera)"
        ) from err
    return rs


def list_serials() -> list[str]:
    """Serial numbers of the connected RealSense devices."""
    rs = _import_rs()
    return [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]


class RealSenseCamera:
    """One RealSense colour stream (and optionally depth aligned to it)."""

    def __init__(
        self,
        name: str,
        serial: str,
        *,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        depth: bool = False,
    ) -> None:
        """Open device ``serial`` streaming rgb8 at width x height px, fps Hz."""
        rs = _import_rs()
        serials = list_serials()
        if serial not in serials:
            raise CameraUnavailableError(
                f"camera {name!r}: no RealSense with serial {serial!r} (connected: {serials or 'none'})"
            )
        self.name = name
        self._rs = rs
        config = rs.config()
        config.enable_device(serial)
        config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        if depth:
            config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        self._pipeline = rs.pipeline()
        try:
            profile = self._pipeline.start(config)
        except RuntimeError as err:
            raise CameraUnavailableError(
                f"camera {name!r} ({serial}): cannot start {width}x{height} rgb8 at {fps} Hz: {err}"
            ) from err
        self._align = rs.align(rs.stream.color) if depth else None
        self._depth_scale = (
            profile.get_device().first_depth_sensor().get_depth_scale() if depth else 0.0
        )  # m per z16 unit

    def read(self, timeout_s: float = 1.0) -> Frame:
        """The next frame; CameraUnavailableError when none comes within ``timeout_s`` (s)."""
        try:
            frames = self._pipeline.wait_for_frames(int(timeout_s * 1000))
        except RuntimeError as err:
            raise CameraUnavailableError(
                f"camera {self.name!r}: no frame in {timeout_s} s"
            ) from err
        if self._align is not None:
            frames = self._align.process(frames)
        color = frames.get_color_frame()
        rgb = np.asanyarray(color.get_data()).copy()  # (H, W, 3) uint8; the SDK reuses its buffer
        depth_m = None
        if self._align is not None:
            z16 = np.asanyarray(frames.get_depth_frame().get_data())  # (H, W) uint16
            depth_m = z16.astype(np.float32) * np.float32(self._depth_scale)
        return Frame(rgb=rgb, timestamp_s=color.get_timestamp() * 1e-3, depth_m=depth_m)

    def close(self) -> None:
        """Stop streaming."""
        self._pipeline.stop()
