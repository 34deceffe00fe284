"""The dashboard of a training run: the pieces ``robot-rl train --dashboard`` wires into the actor.

``DashboardSession`` owns the run controls (pause, latched e-stop, reset, take over), the live
feed, the teleop device (the page's keyboard/gamepad by default), the web server and the twin
camera stream. ``launch.train`` starts it before the demos (so the URL with the token is
printed at start), then ``attach``es it to the actor's env and episode store and passes
``mixer``, ``controls``, ``on_step``, ``on_episode`` and ``human_reset`` to the Actor.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from robot_rl.dashboard.app import DashboardServer
from robot_rl.dashboard.config import DashboardConfig
from robot_rl.dashboard.state import DashboardFeed, LabellingSink
from robot_rl.dashboard.twin_cameras import TwinCameraStream
from robot_rl.hil import HilConfig, InterventionMixer, RunControls, TeleopSource
from robot_rl.resets.human import HumanReset
from robot_rl.safety.wrapper import safety_layer_of
from robot_rl.teleop import TeleopConfig, TeleopDevice, make_device
from robot_rl.teleop.browser import BrowserTeleop


class DashboardSession:
    """Server, feed, controls, teleop and cameras of one run; ``close`` stops them all."""

    def __init__(
        self,
        config: DashboardConfig,
        teleop: TeleopConfig,
        *,
        hil: HilConfig,
        control_hz: float,
        env_cameras: tuple[str, ...],
        human_reset: HumanReset | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Open the teleop device (DeviceMissingError names a missing one) and build the server;
        ``control_hz``: the env's control rate (Hz), the wall-clock rate of ``realtime`` steps;
        ``human_reset``: the run's HumanReset, whose request the page shows with a continue
        button."""
        self.config = config
        self.hil = hil
        self.period_s = 1.0 / control_hz
        self.cameras = config.cameras or env_cameras
        self._clock, self._sleep = clock, sleep
        self.controls = RunControls()
        self.feed = DashboardFeed(
            self.controls, jpeg_quality=config.jpeg_quality, publish_obs_images=False
        )
        self.feed.human_reset = human_reset
        self.human_reset = human_reset
        if teleop.device == "none" and config.browser_teleop:
            teleop = dataclasses.replace(teleop, device="browser")
        self.device: TeleopDevice | None = make_device(teleop)
        browser = self.device if isinstance(self.device, BrowserTeleop) else None
        self.server = DashboardServer(
            self.feed, host=config.host, port=config.port, token=config.token or None,
            teleop=browser, allowed_origins=tuple(config.allowed_origins),
        )  # fmt: skip
        self.mixer: InterventionMixer | None = None
        self.cameras_stream: TwinCameraStream | None = None
        self._last_step_s: float | None = None

    @property
    def url(self) -> str:
        """Page address with the token."""
        return self.server.url

    def start(self) -> str:
        """Start serving; returns the URL with the token (print it)."""
        self.server.start()
        return self.url

    def attach(self, env: Any, action_dim: int, sink: Any, store: Any) -> LabellingSink:
        """Wire the session to the actor's env and episode store; returns the sink the actor
        must write to (labels from the page land in ``store``)."""
        source = TeleopSource(self.device, action_dim) if self.device is not None else None
        self.mixer = InterventionMixer(
            action_dim, config=self.hil, source=source, controls=self.controls
        )
        labeller = LabellingSink(sink, store)
        self.feed.labeller = labeller
        self.feed.safety = safety_layer_of(env)  # its counters on the page
        self.cameras_stream = TwinCameraStream(
            env, self.feed, cameras=self.cameras, size=self.config.image_size,
            hz=self.config.camera_hz,
        ).start()  # fmt: skip
        return labeller

    def on_step(self, next_obs: Any, step: Any, stats: Any) -> None:
        """Actor ``on_step``: snapshot the twin for the cameras, update the feed."""
        if self.cameras_stream is not None:
            self.cameras_stream.capture()
        self.feed.on_step(next_obs, step, stats)

    def on_episode(self, episode: Any, stats: Any) -> None:
        """Actor ``on_episode``: the charts."""
        self.feed.on_episode(episode, stats)

    def person_driving(self) -> bool:
        """A person holds or may take the arm: took over, intervening, or browser teleop on."""
        if self.controls.takeover or (self.mixer is not None and self.mixer.intervening):
            return True
        device = self.device
        return isinstance(device, BrowserTeleop) and device.connected

    def pace(self) -> None:
        """After each step: wait out the control period when the twin runs in wall-clock time."""
        mode = self.config.realtime
        now = self._clock()
        realtime = mode == "always" or (mode == "human" and self.person_driving())
        if realtime and self._last_step_s is not None:
            wait = self._last_step_s + self.period_s - now
            if wait > 0:
                self._sleep(wait)
                now = self._clock()
        self._last_step_s = now

    def close(self) -> None:
        """Stop the cameras, the server and the device."""
        if self.cameras_stream is not None:
            self.cameras_stream.close()
        self.server.stop()
        if self.device is not None:
            self.device.close()
