"""The core dashboard fed from another process: the actor node's status topic and the cameras.

The dashboard node (ros_ws) serves the core FastAPI app (robot_rl.dashboard.app) over a
:class:`MirroredFeed`: the actor's JSON status (``CellActor.status``) updates the counters,
charts and mode; camera topics give the live frames. Every button of the page becomes a
control name sent back to the actor (``~/control``, ``CellActor.control``), so the actor's
own ``RunControls`` and safety layer stay the only authority; the local copy only shows what
was asked until the next status says what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from robot_rl.dashboard.state import DashboardFeed, LabellingSink
from robot_rl.hil import RunControls
from robot_rl.ros_compat.image import image_to_rgb

Send = Callable[[str], None]


class RemoteControls(RunControls):
    """RunControls whose switches are sent to the actor as control names."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self._send = send

    def pause(self, reason: str = "paused") -> None:
        """Ask the actor to pause."""
        super().pause(reason)
        self._send("pause")

    def resume(self) -> None:
        """Ask the actor to resume."""
        super().resume()
        self._send("resume")

    def estop(self) -> None:
        """Ask the actor to latch its e-stop (a software stop, never the robot's own e-stop)."""
        super().estop()
        self._send("estop")

    def release_estop(self) -> None:
        """Ask the actor to release its e-stop latch."""
        super().release_estop()
        self._send("release_estop")

    def request_reset(self) -> None:
        """Ask the actor to end the episode and reset."""
        self._send("reset")

    def set_takeover(self, on: bool) -> None:
        """Ask the actor to hand control to the person (True) or back to the policy."""
        super().set_takeover(on)
        self._send("takeover" if on else "handback")

    def sync(self, status: Mapping[str, Any]) -> None:
        """Mirror the actor's switches from its status (sends nothing)."""
        if status.get("estopped"):
            RunControls.estop(self)
        else:
            RunControls.release_estop(self)
        if status.get("paused"):
            RunControls.pause(self, str(status.get("pause_reason") or "paused"))
        else:
            RunControls.resume(self)
        RunControls.set_takeover(self, bool(status.get("takeover")))


class RemoteLabeller(LabellingSink):
    """Success/failure labels sent to the actor, which owns the episode store."""

    def __init__(self, send: Send) -> None:
        super().__init__(sink=None, store=None)
        self._send = send

    def label_current(self, success: bool) -> None:
        """Label the running episode."""
        self._send(f"label_current:{int(success)}")

    def label_last(self, success: bool) -> int:
        """Label the last written episode; the id is the actor's to know (returns -1)."""
        self._send(f"label_last:{int(success)}")
        return -1


class MirroredFeed(DashboardFeed):
    """A DashboardFeed whose state comes from the actor's status messages."""

    def __init__(
        self,
        send: Send,
        *,
        frame_period_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        jpeg_quality: int = 80,
    ) -> None:
        """``send(control)`` publishes a control name to the actor; frames of one camera are
        encoded at most once per ``frame_period_s`` (s)."""
        self.remote = RemoteControls(send)
        super().__init__(self.remote, labeller=RemoteLabeller(send), jpeg_quality=jpeg_quality)
        self.frame_period_s = frame_period_s
        self._clock = clock
        self._last_frame: dict[str, float] = {}

    def apply_status(self, status: Mapping[str, Any]) -> None:
        """Take the actor's status (``CellActor.status``) as the feed's state."""
        self.remote.sync(status)
        history = status.get("history") or {}
        with self._lock:
            self.env_steps = int(status.get("env_steps", 0))
            self.episode = int(status.get("episode", 0))
            self.episode_return = float(status.get("episode_return", 0.0))
            self.episode_steps = int(status.get("episode_steps", 0))
            self.episode_interventions = int(status.get("episode_interventions", 0))
            success = status.get("last_success")
            self.last_success = None if success is None else bool(success)
            self.last_intervened = bool(status.get("last_intervened", False))
            self.learner_updates = int(status.get("learner_updates", 0))
            self.weights_version = int(status.get("weights_version", 0))
            self.phase = str(status.get("phase", "running"))
            for name in self.history:
                self.history[name] = [float(v) for v in history.get(name, [])]

    def on_image(self, camera: str, msg: object, *, where: str = "") -> bool:
        """Show a sensor_msgs/Image of ``camera`` unless one was shown within the frame period.

        Returns True when the frame was encoded.
        """
        now = self._clock()
        if now - self._last_frame.get(camera, -float("inf")) < self.frame_period_s:
            return False
        self._last_frame[camera] = now
        self.publish_frame(camera, image_to_rgb(msg, where=where or camera))
        return True


__all__ = ["MirroredFeed", "RemoteControls", "RemoteLabeller"]
