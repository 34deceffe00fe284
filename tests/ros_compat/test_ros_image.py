"""Image <-> numpy through real sensor_msgs/Image CDR bytes (rosbags, ROS 2 Jazzy types)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from robot_rl.ros_compat.bag import deserialize, jazzy_typestore, serialize
from robot_rl.ros_compat.image import array_to_image, fit_image, image_to_array, image_to_rgb
from robot_rl.ros_compat.messages import Image, stamp_from_seconds

TS = jazzy_typestore()
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # (H, W, 3) uint8, odd sizes on purpose


def over_the_wire(msg: Image) -> Any:
    """The message as a ROS 2 subscriber would get it: CDR-serialised and deserialised."""
    return deserialize(serialize(msg, TS), Image.MSGTYPE, TS)


@pytest.mark.parametrize("padding", [0, 3, 64])
@pytest.mark.parametrize(
    ("encoding", "pixels"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("rgba8", np.concatenate([RGB, np.full((5, 7, 1), 255, np.uint8)], axis=2)),
        ("bgra8", np.concatenate([RGB[:, :, ::-1], np.zeros((5, 7, 1), np.uint8)], axis=2)),
    ],
)
def test_colour_encodings_round_trip_with_row_padding(
    encoding: str, pixels: np.ndarray, padding: int
) -> None:
    msg = array_to_image(pixels, encoding, stamp=stamp_from_seconds(12.5), row_padding=padding)
    assert msg.step == 7 * pixels.shape[2] + padding
    wire = over_the_wire(msg)
    assert wire.encoding == encoding and wire.header.stamp.sec == 12
    np.testing.assert_array_equal(image_to_rgb(wire), RGB)
    np.testing.assert_array_equal(image_to_array(wire), pixels)


def test_mono8_becomes_grey_rgb() -> None:
    grey = RGB[:, :, 0]
    rgb = image_to_rgb(over_the_wire(array_to_image(grey, "mono8", row_padding=1)))
    assert rgb.shape == (5, 7, 3)
    np.testing.assert_array_equal(rgb[:, :, 2], grey)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_16_bit_depth_in_both_byte_orders(encoding: str, big_endian: bool) -> None:
    depth = RNG.integers(0, 65535, (4, 6), dtype=np.uint16)  # (H, W) mm
    msg = array_to_image(depth, encoding, big_endian=big_endian, row_padding=4)
    assert msg.is_bigendian == int(big_endian)
    if big_endian:  # the first pixel's high byte comes first on the wire
        assert msg.data[0] == depth[0, 0] >> 8
    out = image_to_array(over_the_wire(msg))
    assert out.dtype == np.uint16 and out.dtype.isnative
    np.testing.assert_array_equal(out, depth)
    with pytest.raises(ValueError, match="not a colour image"):
        image_to_rgb(msg)


def test_float_depth_in_metres() -> None:
    depth = RNG.uniform(0.1, 3.0, (3, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        image_to_array(array_to_image(depth, "32FC1", big_endian=True)), depth
    )


def test_bad_messages_name_the_topic() -> None:
    msg = array_to_image(RGB, "rgb8")
    with pytest.raises(ValueError, match="/cam/x: unsupported image encoding 'yuv422'"):
        image_to_rgb(
            Image(height=5, width=7, encoding="yuv422", step=14, data=msg.data), where="/cam/x"
        )
    short = Image(height=5, width=7, encoding="rgb8", step=21, data=msg.data[:50])
    with pytest.raises(ValueError, match="data has 50 B, expected step \\* height = 105 B"):
        image_to_rgb(short)
    with pytest.raises(ValueError, match="step 20 B is smaller"):
        image_to_rgb(Image(height=5, width=7, encoding="rgb8", step=20, data=msg.data))
    with pytest.raises(ValueError, match="rgb8 needs"):
        array_to_image(RGB[:, :, 0], "rgb8")


def test_fit_image_crops_the_centre_and_resizes() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)  # (H, W, 3), a RealSense VGA frame
    frame[:, 80:560] = 200  # the centred square is bright, the side bands dark
    out = fit_image(frame, 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert out.min() == 200
    same = np.ascontiguousarray(RGB[:5, :5])
    assert fit_image(same, 5) is same  # already (size, size, 3): returned unchanged, no copy
    np.testing.assert_array_equal(fit_image(RGB, 5), RGB[:, 1:6])
