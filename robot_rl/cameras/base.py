"""The camera interface, the twin's cameras behind it, and frames -> observation entries."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from robot_rl import keys
from robot_rl.ros_compat.image import fit_image


class CameraUnavailableError(RuntimeError):
    """A camera cannot be opened or read (missing library, device, or timeout)."""


@dataclass
class Frame:
    """One camera frame."""

    rgb: np.ndarray
    """(H, W, 3) uint8 colour image."""
    timestamp_s: float
    """Capture time (s) on the source's clock (device clock for RealSense)."""
    depth_m: np.ndarray | None = None
    """(H, W) float32 depth aligned to ``rgb`` (m), when the source provides it."""


class CameraSource(Protocol):
    """A camera that gives the latest frame on request."""

    name: str

    def read(self, timeout_s: float = 1.0) -> Frame:
        """The next frame; raises CameraUnavailableError after ``timeout_s`` (s)."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


class TwinCamera:
    """A camera of the MuJoCo twin, rendering the twin's current state on ``read``."""

    def __init__(
        self,
        env: Any,
        name: str,
        *,
        size: int = 128,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from robot_rl_sim.render import CameraRig

        twin = env.unwrapped
        if name not in twin.ids.cameras:
            raise CameraUnavailableError(
                f"twin camera {name!r} does not exist (cameras: {sorted(twin.ids.cameras)})"
            )
        self.name = name
        self._twin = twin
        self._camera_id = twin.ids.cameras[name]
        self._rig = CameraRig(twin.model)
        self._size = size
        self._clock = clock

    def read(self, timeout_s: float = 1.0) -> Frame:
        """Render the twin's current state from this camera (timeout unused: never waits)."""
        rgb = self._rig.render(self._twin.data, self._camera_id, self._size)
        return Frame(rgb=rgb, timestamp_s=self._clock())

    def close(self) -> None:
        """Free the renderer's GL context."""
        self._rig.close()


def read_pixels(
    sources: Mapping[str, CameraSource], size: int, *, timeout_s: float = 1.0
) -> dict[str, np.ndarray]:
    """``pixels_<name>`` -> (size, size, 3) uint8 from every source (centre crop + resize)."""
    return {
        keys.pixels_key(name): fit_image(source.read(timeout_s).rgb, size)
        for name, source in sources.items()
    }
