"""A live dashboard over a twin actor loop, both in threads of the test process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.dashboard.app import DashboardServer
from robot_rl.dashboard.state import DashboardFeed, LabellingSink
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.envs.spec import obs_spec_from_space
from robot_rl.hil import InterventionMixer, RunControls, TeleopSource
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.teleop import TeleopConfig
from robot_rl.teleop.browser import BrowserTeleop

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class NoWeightsPolicy:
    """The actor acts uniformly at random until weights arrive; none do here."""

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray:
        raise AssertionError("no weights were pushed")

    def load_state_dict(self, state: Any, strict: bool = True) -> Any:
        return None


@dataclass
class Live:
    server: DashboardServer
    actor: Actor
    feed: DashboardFeed
    controls: RunControls
    store: EpisodeStore
    teleop: BrowserTeleop


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from robot_rl_sim import TwinConfig, make_env

    env = make_env(
        TwinConfig(obs_mode="both", image_size=64, max_episode_steps=15, control_hz=10.0), seed=0
    )
    store = EpisodeStore.create(
        tmp_path_factory.mktemp("dash") / "episodes",
        obs_spec=obs_spec_from_space(env.observation_space),
        action_dim=4,
    )
    controls = RunControls()
    sink = LabellingSink(store, store)
    feed = DashboardFeed(controls, labeller=sink)
    teleop = BrowserTeleop(TeleopConfig(device="browser", deadzone=0.05, timeout_s=0.5))
    mixer = InterventionMixer(4, source=TeleopSource(teleop, 4), controls=controls)
    transport, _learner_end = InProcessTransport.pair()
    actor = Actor(
        env, NoWeightsPolicy(), transport, config_hash="x", seed=0, store=sink,
        mixer=mixer, controls=controls, on_step=feed.on_step, on_episode=feed.on_episode,
    )  # fmt: skip

    def paced(_stats: Any) -> None:
        time.sleep(0.05)  # ~10-20 Hz like the cell, and leave the CPU to the browser

    thread = threading.Thread(target=actor.run, args=(10**9,), kwargs={"progress": paced})
    thread.start()
    server = DashboardServer(feed, port=0, teleop=teleop).start()
    try:
        yield Live(server, actor, feed, controls, store, teleop)
    finally:
        actor.stop_requested = True
        controls.release_estop()
        controls.resume()
        thread.join(timeout=10)
        server.stop()
        env.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing (pip install playwright)"
    )
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    """Screenshots go to $ROBOT_RL_ARTIFACTS or <repo>/artifacts (gitignored)."""
    root = Path(os.environ.get("ROBOT_RL_ARTIFACTS", Path(__file__).parents[2] / "artifacts"))
    root.mkdir(parents=True, exist_ok=True)
    return root
