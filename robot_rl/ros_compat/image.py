"""sensor_msgs/Image <-> numpy, and fitting camera frames to the policy's image size.

Handles the encodings a RealSense or a twin publishes (``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``,
``mono8``, ``mono16``, ``16UC1`` depth in mm, ``32FC1`` depth in m), row padding (``step`` larger
than ``width * bytes per pixel``) and big-endian multi-byte data. Written here rather than
taken from cv_bridge because cv_bridge needs ROS and OpenCV, and the core must run without both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from robot_rl.ros_compat.messages import Header, Image, Time


@dataclass(frozen=True)
class Encoding:
    """Layout of one pixel: channels and numpy dtype of one channel (native byte order)."""

    channels: int
    dtype: np.dtype


ENCODINGS: dict[str, Encoding] = {
    "rgb8": Encoding(3, np.dtype(np.uint8)),
    "bgr8": Encoding(3, np.dtype(np.uint8)),
    "rgba8": Encoding(4, np.dtype(np.uint8)),
    "bgra8": Encoding(4, np.dtype(np.uint8)),
    "mono8": Encoding(1, np.dtype(np.uint8)),
    "8UC1": Encoding(1, np.dtype(np.uint8)),
    "mono16": Encoding(1, np.dtype(np.uint16)),
    "16UC1": Encoding(1, np.dtype(np.uint16)),
    "32FC1": Encoding(1, np.dtype(np.float32)),
}
"""Supported ``encoding`` strings (sensor_msgs/image_encodings.hpp names)."""


def _encoding(name: str, where: str) -> Encoding:
    enc = ENCODINGS.get(name)
    if enc is None:
        raise ValueError(
            f"{where}: unsupported image encoding {name!r} (supported: {', '.join(ENCODINGS)})"
        )
    return enc


def image_to_array(msg: object, *, where: str = "image") -> np.ndarray:
    """Pixels of an Image message: (H, W) for one channel, else (H, W, C); native byte order.

    ``msg`` is any object with the sensor_msgs/Image fields (plain, rclpy or rosbags). The
    result is a fresh contiguous array (row padding removed), never a view of ``msg.data``.
    """
    height, width = int(msg.height), int(msg.width)  # type: ignore[attr-defined]
    step = int(msg.step)  # type: ignore[attr-defined]
    encoding = str(msg.encoding)  # type: ignore[attr-defined]
    enc = _encoding(encoding, where)
    row_bytes = width * enc.channels * enc.dtype.itemsize
    if step < row_bytes:
        raise ValueError(
            f"{where}: step {step} B is smaller than width * pixel size = {row_bytes} B "
            f"({width} px, {encoding})"
        )
    raw = np.frombuffer(msg.data, dtype=np.uint8)  # type: ignore[attr-defined]  # (N,) uint8
    if raw.size < step * height:
        raise ValueError(
            f"{where}: data has {raw.size} B, expected step * height = {step * height} B"
        )
    rows = raw[: step * height].reshape(height, step)[:, :row_bytes]  # (H, row_bytes) view
    big = bool(msg.is_bigendian)  # type: ignore[attr-defined]
    dtype = enc.dtype.newbyteorder(">" if big else "<") if enc.dtype.itemsize > 1 else enc.dtype
    pixels = np.ascontiguousarray(rows).view(dtype)  # (H, W*C)
    pixels = pixels.astype(enc.dtype, copy=False)  # to native byte order
    if enc.channels == 1:
        return pixels.reshape(height, width).copy()
    return pixels.reshape(height, width, enc.channels).copy()


def image_to_rgb(msg: object, *, where: str = "image") -> np.ndarray:
    """RGB frame (H, W, 3) uint8 of a colour or 8-bit mono Image message."""
    encoding = str(msg.encoding)  # type: ignore[attr-defined]
    pixels = image_to_array(msg, where=where)
    if encoding == "rgb8":
        return pixels
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    if encoding in ("mono8", "8UC1"):
        return np.repeat(pixels[:, :, None], 3, axis=2)
    raise ValueError(f"{where}: encoding {encoding!r} is not a colour image (depth?)")


def array_to_image(
    pixels: np.ndarray,
    encoding: str,
    *,
    stamp: Time | None = None,
    frame_id: str = "",
    row_padding: int = 0,
    big_endian: bool = False,
) -> Image:
    """An Image message of ``pixels`` ((H, W) or (H, W, C), dtype of ``encoding``).

    ``row_padding`` adds that many zero bytes to every row (``step = width * pixel + padding``),
    as some drivers do for alignment.
    """
    enc = _encoding(encoding, "array_to_image")
    arr = np.asarray(pixels)
    expected = (enc.channels,) if enc.channels > 1 else ()
    if arr.ndim != 2 + len(expected) or arr.shape[2:] != expected or arr.dtype != enc.dtype:
        raise ValueError(
            f"array_to_image: {encoding} needs (H, W{', ' + str(enc.channels) if expected else ''})"
            f" {enc.dtype}, got {arr.shape} {arr.dtype}"
        )
    if row_padding < 0:
        raise ValueError(f"array_to_image: row_padding must be >= 0, got {row_padding}")
    height, width = arr.shape[:2]
    dtype = (
        enc.dtype.newbyteorder(">" if big_endian else "<") if enc.dtype.itemsize > 1 else enc.dtype
    )
    rows = np.ascontiguousarray(arr, dtype=dtype).view(np.uint8).reshape(height, -1)
    if row_padding:
        rows = np.concatenate([rows, np.zeros((height, row_padding), np.uint8)], axis=1)
    return Image(
        header=Header(stamp=stamp or Time(), frame_id=frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=rows.shape[1],
        data=rows.reshape(-1),
    )


def fit_image(frame: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop an (H, W, 3) uint8 frame to a square and resize it to (size, size, 3).

    The crop keeps the centre of the wider side, so a 640x480 RealSense frame keeps the same
    field of view in height as the policy's square images. Bilinear resampling (antialiased
    when shrinking). A frame already (size, size, 3) is returned unchanged.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"fit_image: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if size <= 0:
        raise ValueError(f"fit_image: size must be > 0 px, got {size}")
    height, width = frame.shape[:2]
    if height == width == size:
        return frame
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frame[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    resized = PILImage.fromarray(np.ascontiguousarray(square)).resize(
        (size, size), PILImage.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.uint8)  # (size, size, 3) uint8
