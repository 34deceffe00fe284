"""The dashboard session of ``robot-rl train --dashboard``: pacing, devices, config checks."""

from __future__ import annotations

import pytest

from robot_rl.app.launch import train
from robot_rl.config import ConfigError, from_dict
from robot_rl.dashboard.config import DashboardConfig
from robot_rl.dashboard.session import DashboardSession
from robot_rl.hil import HilConfig
from robot_rl.run_config import RunConfig
from robot_rl.teleop import TeleopConfig
from robot_rl.teleop.browser import BrowserTeleop


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def session(realtime: str, fake: FakeTime, teleop: str = "none") -> DashboardSession:
    return DashboardSession(
        DashboardConfig(enabled=True, port=0, realtime=realtime),  # type: ignore[arg-type]
        TeleopConfig(device=teleop),
        hil=HilConfig(),
        control_hz=10.0,
        env_cameras=("front", "wrist"),
        clock=fake.clock,
        sleep=fake.sleep,
    )


def steps(s: DashboardSession, fake: FakeTime, n: int, step_s: float = 0.01) -> None:
    for _ in range(n):
        fake.now += step_s  # the env step itself
        s.pace()


def test_realtime_human_paces_only_while_a_person_drives() -> None:
    fake = FakeTime()
    s = session("human", fake)
    steps(s, fake, 5)
    assert fake.slept == []  # the policy drives: as fast as training goes
    s.controls.set_takeover(True)
    steps(s, fake, 5)
    assert fake.slept == pytest.approx([0.09] * 5)  # 10 Hz in wall-clock time
    s.controls.set_takeover(False)
    fake.slept.clear()
    steps(s, fake, 3)
    assert fake.slept == []


def test_browser_teleop_switched_on_counts_as_driving() -> None:
    fake = FakeTime()
    s = session("human", fake)
    assert isinstance(s.device, BrowserTeleop)  # teleop.device none + browser_teleop
    assert not s.person_driving()
    s.device.update([0.0] * 6, -1.0, False)  # the page ticked "browser teleop"
    assert s.person_driving()


def test_realtime_always_and_never() -> None:
    fake = FakeTime()
    steps(session("always", fake), fake, 4)
    assert fake.slept == pytest.approx([0.09] * 3)
    fake = FakeTime()
    s = session("never", fake)
    s.controls.set_takeover(True)
    steps(s, fake, 4)
    assert fake.slept == []


def test_dashboard_config_is_validated_with_the_field_named() -> None:
    with pytest.raises(ConfigError, match=r"dashboard\.camera_hz"):
        from_dict(RunConfig, {"dashboard": {"camera_hz": 0}})
    with pytest.raises(ConfigError, match=r"dashboard\.colour: unknown key"):
        from_dict(RunConfig, {"dashboard": {"colour": "red"}})
    assert from_dict(RunConfig, {"dashboard": {"cameras": ["front"]}}).dashboard.cameras == (
        "front",
    )


def test_training_with_a_teleop_device_needs_the_dashboard() -> None:
    config = RunConfig(teleop=TeleopConfig(device="keyboard"))
    with pytest.raises(ConfigError, match=r"teleop\.device=keyboard.*--dashboard"):
        train(config)


def test_unknown_dashboard_camera_is_named() -> None:
    from robot_rl_sim import TwinConfig, make_env

    from robot_rl.dashboard.twin_cameras import TwinCameraStream

    env = make_env(TwinConfig(), seed=0)
    try:
        with pytest.raises(ValueError, match=r"dashboard\.cameras: unknown camera"):
            TwinCameraStream(env, None, cameras=("top",), size=64, hz=10.0)
    finally:
        env.close()
