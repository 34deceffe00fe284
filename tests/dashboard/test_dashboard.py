"""The dashboard in a real browser (system Chromium, headless) over a live twin actor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from tests.dashboard.conftest import Live
from tests.waiting import wait_for


def test_requests_without_the_token_are_refused(live: Live) -> None:
    base = f"http://127.0.0.1:{live.server.port}"
    assert live.server.host == "127.0.0.1"
    for method, path in [("GET", "/"), ("GET", "/api/status"), ("POST", "/api/control/estop")]:
        assert httpx.request(method, base + path).status_code == 401
        assert httpx.request(method, base + path, params={"token": "wrong"}).status_code == 401
    assert not live.controls.estopped
    with pytest.raises(InvalidStatus) as err:
        ws_client.connect(f"ws://127.0.0.1:{live.server.port}/ws", open_timeout=5)
    assert err.value.response.status_code == 401
    auth = {"Authorization": f"Bearer {live.server.token}"}
    assert httpx.get(base + "/api/status", headers=auth).status_code == 200
    assert httpx.get(base + "/api/control/pause", headers=auth).status_code == 405  # POST only


def test_page_frames_labels_estop_and_takeover(
    live: Live, browser: Any, artifacts_dir: Path
) -> None:
    page = browser.new_page()
    page.goto(live.server.url)
    # camera frames arrive for both cameras, and they change
    page.wait_for_function(
        "() => (window.__frames.front || 0) > 5 && (window.__frames.wrist || 0) > 5", timeout=15000
    )
    hashes = page.evaluate("() => window.__hashes.front")
    assert len(set(hashes)) > 1, "front camera frames do not change"
    page.wait_for_function("() => window.__status && window.__status.mode === 'policy'")

    # success / failure buttons reach the episode store
    wait_for(lambda: len(live.store.episode_ids()) >= 1)
    # Both labels POST to /api/label: clear the log so each wait sees its own response.
    page.evaluate("() => { document.getElementById('log').textContent = '' }")
    page.click("#label_last_failure")
    page.wait_for_function("() => document.getElementById('log').textContent.includes('200')")
    last = live.store.episode_ids()[-1]
    info = live.store.episode_attrs(last)["info"]
    assert info["success"] is False and info["labelled_by"] == "operator"
    page.evaluate("() => { document.getElementById('log').textContent = '' }")
    page.click("#label_current_success")
    page.wait_for_function("() => document.getElementById('log').textContent.includes('200')")

    # The label goes with the episode running at the click, the first one handed to the store
    # after it; episodes handed over before the click may still be committing behind `last`.
    def operator_labelled() -> list[int]:
        ids = [i for i in live.store.episode_ids() if i > last]
        return [i for i in ids if live.store.episode_attrs(i)["info"].get("labelled_by")]

    wait_for(lambda: bool(operator_labelled()))
    labelled_ids = operator_labelled()
    assert len(labelled_ids) == 1  # one click labels one episode
    labelled = live.store.episode_attrs(labelled_ids[0])["info"]
    assert labelled["success"] is True and labelled["labelled_by"] == "operator"

    # browser keyboard teleop takes over
    page.check("#teleop")
    page.keyboard.down("w")
    wait_for(lambda: live.feed.last_intervened, timeout_s=5)
    page.keyboard.up("w")
    page.uncheck("#teleop")

    # the latched e-stop stops the twin within one control step and needs an explicit release
    page.click("#estop")
    wait_for(lambda: live.controls.estopped)
    at_stop = live.actor.stats.env_steps
    time.sleep(0.6)
    assert live.actor.stats.env_steps <= at_stop + 1
    page.wait_for_function("() => window.__status.mode === 'e-stopped'")
    page.screenshot(path=str(artifacts_dir / "dashboard.png"))
    page.click("#resume")  # resume does not release an e-stop
    time.sleep(0.3)
    assert live.controls.estopped and live.actor.stats.env_steps <= at_stop + 1
    page.click("#release_estop")
    wait_for(lambda: live.actor.stats.env_steps > at_stop + 2)
    page.close()


def test_continue_without_a_human_reset_is_refused(live: Live) -> None:
    base = f"http://127.0.0.1:{live.server.port}"
    auth = {"Authorization": f"Bearer {live.server.token}"}
    response = httpx.post(base + "/api/control/continue", headers=auth)
    assert response.status_code == 409 and "resets.mode" in response.text
    status = httpx.get(base + "/api/status", headers=auth).json()
    assert status["human_reset"] is None and status["safety"] is None  # a bare twin here
