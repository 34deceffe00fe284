"""The dashboard's trust boundary on a real server: weak tokens, foreign origins (a cross-site
form POST in a real browser), oversized bodies, garbage on the websocket."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from robot_rl.dashboard.app import DashboardServer
from robot_rl.dashboard.config import DashboardConfig
from robot_rl.dashboard.guard import MAX_BODY_BYTES, token_problem
from robot_rl.dashboard.state import DashboardFeed
from robot_rl.hil import RunControls
from robot_rl.teleop import TeleopConfig
from robot_rl.teleop.browser import BrowserTeleop
from tests.waiting import wait_for

TOKEN = "guard-test-token-0123456789"
LAN_ORIGIN = "http://robot-ws.lan:8765"


@dataclass
class Served:
    server: DashboardServer
    controls: RunControls
    teleop: BrowserTeleop

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def own_origin(self) -> str:
        return self.base


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    controls = RunControls()
    teleop = BrowserTeleop(TeleopConfig(device="browser", timeout_s=5.0))
    server = DashboardServer(
        DashboardFeed(controls), port=0, token=TOKEN, teleop=teleop, allowed_origins=(LAN_ORIGIN,)
    ).start()
    try:
        yield Served(server, controls, teleop)
    finally:
        server.stop()


def pause(served: Served, **headers: str) -> int:
    """POST pause with the token in the URL (what a leaked link allows); the status code."""
    url = f"{served.base}/api/control/pause"
    status = httpx.post(url, params={"token": TOKEN}, headers=headers).status_code
    if served.controls.paused:
        served.controls.resume()
        assert status == 200
    return status


def test_weak_tokens_are_refused_with_the_rule() -> None:
    assert "at least 16 characters, got 1" in (token_problem("a") or "")
    assert "different characters" in (token_problem("a" * 32) or "")
    assert "URL-safe" in (token_problem("correct horse battery staple") or "")
    assert token_problem(TOKEN) is None
    with pytest.raises(ValueError, match="token: too weak"):
        DashboardServer(DashboardFeed(RunControls()), port=0, token="secret")
    with pytest.raises(ValueError, match=r"dashboard\.token: too weak"):
        DashboardConfig(token="a").validate()
    with pytest.raises(ValueError, match=r"dashboard\.allowed_origins\[0\]"):
        DashboardConfig(allowed_origins=("robot-ws.lan",)).validate()
    DashboardConfig(token=TOKEN, allowed_origins=(LAN_ORIGIN,)).validate()


def test_the_cli_refuses_a_weak_token_in_one_line_naming_the_flag() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "robot_rl.cli", "dashboard", "configs/pick_cube_state.yaml",
         "--token", "a"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "argument --token" in last and "at least 16 characters" in last


def test_state_changes_from_another_origin_are_refused(served: Served) -> None:
    assert pause(served, Origin="https://evil.example") == 403
    assert pause(served, Origin="null") == 403  # a sandboxed or file:// page
    assert pause(served, **{"Sec-Fetch-Site": "cross-site"}) == 403
    # DNS rebinding: the attacker's name resolves to this machine, Host and Origin agree
    rebound = f"evil.example:{served.server.port}"
    assert pause(served, Origin=f"http://{rebound}", Host=rebound) == 403
    assert not served.controls.paused
    assert pause(served, Origin=served.own_origin) == 200  # the page's own buttons
    local = f"localhost:{served.server.port}"
    assert pause(served, Origin=f"http://{local}", Host=local) == 200  # the page via localhost
    assert pause(served, Origin=LAN_ORIGIN) == 200  # listed in allowed_origins
    assert pause(served) == 200  # no Origin: not a browser's cross-site request (curl, ROS)
    # reading is not refused (a cross-site page cannot read the answer anyway)
    status = httpx.get(f"{served.base}/api/status", params={"token": TOKEN}, headers={
        "Origin": "https://evil.example"})  # fmt: skip
    assert status.status_code == 200
    # the token is still checked first
    assert httpx.post(f"{served.base}/api/control/pause").status_code == 401


def test_the_websocket_refuses_another_origin(served: Served) -> None:
    url = f"ws://127.0.0.1:{served.server.port}/ws?token={TOKEN}"
    with pytest.raises(InvalidStatus) as err:
        ws_client.connect(url, origin="https://evil.example", open_timeout=5)  # type: ignore[arg-type]
    assert err.value.response.status_code == 403
    with ws_client.connect(url, origin=served.own_origin, open_timeout=5) as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv(timeout=5))["type"] == "status"


def test_a_cross_site_form_post_from_a_real_browser_is_refused(
    served: Served, browser: Any
) -> None:
    """A page on another origin auto-submits a form to the dashboard with the token in the
    action URL (a leaked link): Chromium sends its Origin, the dashboard answers 403."""
    target = f"{served.base}/api/control/pause?token={TOKEN}"
    form = (
        f'<form id="f" method="POST" action="{target}"><input name="x" value="1"></form>'
        "<script>document.getElementById('f').submit()</script>"
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(form)))
            self.end_headers()
            self.wfile.write(form)

        def log_message(self, *args: Any) -> None:
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()
    page = browser.new_page()
    try:
        answers: list[int] = []
        page.on("response", lambda r: answers.append(r.status) if "/api/control" in r.url else None)
        # localhost vs 127.0.0.1: another site to the browser, the same machine to the socket
        page.goto(f"http://localhost:{evil.server_address[1]}/")
        wait_for(lambda: answers, timeout_s=15, what="the form's POST answered")
        assert answers == [403]
        assert "403" in page.content() and not served.controls.paused
    finally:
        page.close()
        evil.shutdown()
        evil.server_close()


def _raw_request(port: int, head: bytes, body_part: bytes) -> tuple[bytes, float]:
    """Send ``head`` and a part of the body over a raw socket; (answer, seconds it took)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head + body_part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer, time.monotonic() - started


def test_a_40_mib_body_is_refused_with_413_unread(served: Served) -> None:
    size = 40 * 1024 * 1024
    head = (
        f"POST /api/label?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    answer, took = _raw_request(served.server.port, head, b"{" + b" " * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert took < 5.0  # answered while 40 MiB - 1 KiB were never sent
    # chunked, no length: refused as soon as the limit is passed
    chunk = b" " * 8192
    head = (
        f"POST /api/label?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    body = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * (MAX_BODY_BYTES // len(chunk) + 2)
    answer, _ = _raw_request(served.server.port, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # a body of the page's size still goes through to the route (409: no labeller here)
    label = httpx.post(
        f"{served.base}/api/label", params={"token": TOKEN},
        json={"episode": "last", "success": True},
    )  # fmt: skip
    assert label.status_code == 409


@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        ("not json {", 1007, "not JSON"),
        ('{"type": "rm -rf"}', 1007, "expected"),
        ('{"type": "teleop", "axes": [NaN, 0]}', 1007, "non-finite"),
        ('{"type": "teleop", "axes": "left"}', 1007, "teleop.axes"),
        ('{"type": "teleop", "axes": [0], "gripper": "open"}', 1007, "teleop.gripper"),
        (b"\x00\xff binary", 1003, "binary"),
        ("x" * (70 * 1024), 1009, ""),
    ],
    ids=["text", "type", "nan", "axes", "gripper", "binary", "too-big"],
)
def test_garbage_on_the_websocket_closes_it_with_a_code_and_reason(
    served: Served, message: str | bytes, code: int, reason: str
) -> None:
    url = f"ws://127.0.0.1:{served.server.port}/ws?token={TOKEN}"
    with ws_client.connect(url, open_timeout=5, max_size=None) as ws:
        ws.send('{"type": "teleop", "axes": [0.5, 0, 0], "gripper": 1, "intervene": true}')
        wait_for(lambda: served.teleop.poll().intervene, timeout_s=5, what="teleop applied")
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(1000):
                ws.recv(timeout=5)
    received = closed.value.rcvd
    assert received is not None and received.code == code and reason in received.reason
    wait_for(lambda: not served.teleop.connected, timeout_s=5, what="teleop released")
    served.teleop.detach()
