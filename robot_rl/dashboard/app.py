"""The dashboard web app (FastAPI + websockets) and an in-thread uvicorn server.

Every HTTP and websocket call needs the token (``?token=``, ``Authorization: Bearer`` or
``X-Token``); without it: 401. Controls are POST. State-changing requests and the websocket
from another origin get 403, bodies over 64 KiB 413 (``guard.py``). The websocket pushes the
latest JPEG of each camera as soon as it changes (older frames are skipped, never queued) and
the status at 5 Hz; the page sends browser gamepad/keyboard input back over the same socket
(JSON text; anything else closes it with a code and a reason, ``WS_*`` below).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import struct
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from robot_rl.dashboard.guard import MAX_BODY_BYTES, BodyLimit, OriginGuard, check_token
from robot_rl.dashboard.page import INDEX_HTML
from robot_rl.dashboard.state import DashboardFeed
from robot_rl.teleop.browser import BrowserTeleop

FRAME_POLL_S = 0.004  # websocket sender checks for new frames this often (adds <= 4 ms)
STATUS_PERIOD_S = 0.2
WS_UNSUPPORTED_DATA = 1003  # a binary message: the page only sends JSON text
WS_INVALID_PAYLOAD = 1007  # text that is not a teleop message
WS_MAX_MESSAGE_BYTES = 64 * 1024  # bigger: the server closes with 1009 (message too big)


def new_token() -> str:
    """A random URL-safe token."""
    return secrets.token_urlsafe(18)


class TokenAuth:
    """ASGI middleware: 401 for any HTTP or websocket call without the right token."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _authorised(self, scope: dict[str, Any]) -> bool:
        query = parse_qs(scope.get("query_string", b"").decode())
        offered = [v.encode() for v in query.get("token", [])]
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value.lower().startswith(b"bearer "):
                offered.append(value[7:].strip())
            elif name == b"x-token":
                offered.append(value.strip())
        return any(hmac.compare_digest(o, self.token) for o in offered)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await PlainTextResponse("401: token required", status_code=401)(scope, receive, send)
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"401: token required"})
        else:
            await send({"type": "websocket.close", "code": 1008})


class Label(BaseModel):
    """POST /api/label body."""

    episode: str = "last"
    success: bool


CONTROLS = (
    "pause", "resume", "estop", "release_estop", "reset", "takeover", "handback", "continue",
)  # fmt: skip


def frame_message(camera: str, seq: int, captured_s: float, jpeg: bytes) -> bytes:
    """Binary websocket message: u32 header length, JSON header, JPEG bytes."""
    header = json.dumps({"camera": camera, "seq": seq, "t": captured_s}).encode()
    return struct.pack("<I", len(header)) + header + jpeg


def page_message_problem(text: str, teleop: BrowserTeleop | None) -> str | None:
    """Apply one websocket text message from the page; why it is garbage, None when it was
    a teleop message (or ignored: no browser teleop in this run)."""
    try:
        msg = json.loads(text)
    except ValueError:
        return "not JSON"
    if not isinstance(msg, dict) or msg.get("type") not in ("teleop", "teleop_off"):
        return 'expected {"type": "teleop" | "teleop_off", ...}'
    if teleop is None:
        return None
    if msg["type"] == "teleop_off":
        teleop.detach()
        return None
    axes, gripper, intervene = msg.get("axes", []), msg.get("gripper", -1.0), msg.get("intervene")
    if not isinstance(axes, list) or not all(
        isinstance(a, int | float) and not isinstance(a, bool) for a in axes
    ):
        return "teleop.axes: expected a list of numbers"
    if not isinstance(gripper, int | float) or isinstance(gripper, bool):
        return "teleop.gripper: expected a number"
    if not isinstance(intervene, bool | None):
        return "teleop.intervene: expected true or false"
    try:
        teleop.update(axes, gripper, bool(intervene))
    except ValueError as err:  # NaN/inf axes
        return str(err)
    return None


def create_app(
    feed: DashboardFeed,
    *,
    token: str,
    teleop: BrowserTeleop | None = None,
    allowed_origins: tuple[str, ...] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """The dashboard ASGI app: FastAPI behind the token check, then the origin check, then
    the body limit (``guard.py``); ``allowed_origins``: origins besides the page's own that
    may change state (``http://host:port``)."""
    app = FastAPI(title="robot_rl dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    controls = feed.controls

    @app.get("/")
    def index() -> HTMLResponse:
        return HTMLResponse(INDEX_HTML)

    @app.get("/api/status")
    def status() -> JSONResponse:
        return JSONResponse(feed.status())

    @app.get("/api/history")
    def history() -> JSONResponse:
        return JSONResponse(feed.history_json())

    @app.get("/api/frame/{camera}")
    def frame(camera: str) -> Response:
        latest = feed.frames().get(camera)
        if latest is None:
            raise HTTPException(404, f"no frame from camera {camera!r}")
        return Response(latest.jpeg, media_type="image/jpeg")

    @app.post("/api/control/{name}")
    def control(name: str) -> JSONResponse:
        if name not in CONTROLS:
            raise HTTPException(404, f"unknown control {name!r}; one of {CONTROLS}")
        action = {
            "pause": lambda: controls.pause("paused by operator"),
            "resume": controls.resume,
            "estop": controls.estop,
            "release_estop": controls.release_estop,
            "reset": controls.request_reset,
            "takeover": lambda: controls.set_takeover(True),
            "handback": lambda: controls.set_takeover(False),
            "continue": feed.press_continue,  # the person has put the scene back
        }[name]
        try:
            action()
        except LookupError as err:  # continue in a run without a human reset
            raise HTTPException(409, str(err)) from err
        return JSONResponse({"ok": True, "control": name, "mode": feed.mode()})

    @app.post("/api/label")
    def label(body: Label) -> JSONResponse:
        try:
            return JSONResponse(feed.label(body.episode, body.success))
        except (LookupError, ValueError) as err:
            raise HTTPException(409, str(err)) from err

    @app.websocket("/ws")
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        sent: dict[str, int] = {}
        next_status = 0.0

        async def receive_input() -> tuple[int, str] | None:
            """Until the page goes (None) or sends garbage: the close code and reason."""
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return None
                if message.get("text") is None:
                    return WS_UNSUPPORTED_DATA, "binary message: send JSON text"
                problem = page_message_problem(message["text"], teleop)
                if problem is not None:
                    return WS_INVALID_PAYLOAD, f"bad message: {problem}"[:120]

        reader = asyncio.create_task(receive_input())
        try:
            while not reader.done():
                for camera, latest in feed.frames().items():
                    if sent.get(camera) != latest.seq:
                        sent[camera] = latest.seq
                        await ws.send_bytes(
                            frame_message(camera, latest.seq, latest.captured_s, latest.jpeg)
                        )
                now = time.monotonic()
                if now >= next_status:
                    next_status = now + STATUS_PERIOD_S
                    await ws.send_text(json.dumps({"type": "status", **feed.status()}))
                await asyncio.sleep(FRAME_POLL_S)
            closing = reader.result()
            if closing is not None:
                await ws.close(code=closing[0], reason=closing[1])
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            if teleop is not None:
                teleop.disconnect()

    guarded = OriginGuard(BodyLimit(app, max_body_bytes), allowed_origins)
    return TokenAuth(guarded, token)


class DashboardServer:
    """Uvicorn in a background thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        feed: DashboardFeed,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        token: str | None = None,
        teleop: BrowserTeleop | None = None,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        """``token``: None for a random one; a given one must pass ``guard.check_token``
        (ValueError otherwise)."""
        if token is not None:
            check_token(token)
        self.token = token or new_token()
        self.host = host
        app = create_app(feed, token=self.token, teleop=teleop, allowed_origins=allowed_origins)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off",
            ws_max_size=WS_MAX_MESSAGE_BYTES,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)
        self.port = port

    def start(self, *, timeout_s: float = 10.0) -> DashboardServer:
        """Start serving; returns once the socket listens."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"dashboard did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        """Page address with the token."""
        return f"http://{self.host}:{self.port}/?token={self.token}"

    def stop(self) -> None:
        """Shut down and join the server thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
