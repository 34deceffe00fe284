"""The fuzz corpus of the servers: the learner socket and the dashboard.

``socket``: a real ``robot-rl learner`` process on a copy of the bench's tiny run; each case
sends payloads from a fresh zmq DEALER (its own routing id) and the runner then checks that
the process is alive and still answers a proper actor's hello. ``dashboard``: a real
``robot-rl dashboard`` process; each case sends HTTP or websocket requests, and the runner
checks that ``/api/status`` still answers. A server that died is a crash (restarted for the
next case); a case returns "silent_ok" when the server accepted what it must refuse.
Add a case to ``SOCKET_CASES`` / ``DASHBOARD_CASES``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuzz import ROOT, ServerCase, Tally

SHIPPED = ROOT / "configs" / "pick_cube_state.yaml"


def _wait(predicate: Callable[[], object], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------------ the learner
class LearnerServer:
    """A ``robot-rl learner`` process and the means to talk to it."""

    def __init__(self, fixtures: Any, work: Path) -> None:
        import zmq

        from robot_rl.config import config_hash, load_yaml
        from robot_rl.envs.spec import read_spec_file
        from robot_rl.run_config import RunConfig

        self.run = work / "socket_run"
        if not self.run.exists():
            shutil.copytree(fixtures.run, self.run)
        self.config_hash = config_hash(load_yaml(RunConfig, self.run / "config.yaml"))
        self.spec, self.action_dim = read_spec_file(self.run / "spec.json")
        self.ctx = zmq.Context()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        (self.run / "learner.json").unlink(missing_ok=True)
        log = (self.run / f"fuzz-learner-{self.starts}.log").open("wb")
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robot_rl.cli", "learner", str(self.run),
             "--bind", "tcp://127.0.0.1:0"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        if not _wait(lambda: (self.run / "learner.json").exists(), 120):
            raise RuntimeError(f"the learner did not come up; see {log.name}")
        self.address = json.loads((self.run / "learner.json").read_text())["address"]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def dealer(self) -> Any:
        import zmq

        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 500)
        sock.setsockopt(zmq.IDENTITY, secrets.token_bytes(8))
        sock.connect(self.address)
        return sock

    def send(self, payloads: list[bytes] | list[list[bytes]], *, settle_s: float = 0.3,
             first: bool = False) -> list[bytes]:  # fmt: skip
        """Send each payload (a frame, or a list of frames) from one new peer; returns what it
        received meanwhile."""
        import zmq

        sock = self.dealer()
        got: list[bytes] = []
        try:
            for payload in payloads:
                frames = payload if isinstance(payload, list) else [payload]
                sock.send_multipart(frames, copy=True)
            deadline = time.monotonic() + settle_s
            while time.monotonic() < deadline:
                if sock.poll(20):
                    got.append(sock.recv(zmq.NOBLOCK))
                    if first:
                        break
        finally:
            sock.close()
        return got

    def received_types(self, frames: list[bytes]) -> set[str]:
        from robot_rl.wire.protocol import ProtocolError, decode

        kinds = set()
        for frame in frames:
            try:
                kinds.add(decode(frame).type)
            except ProtocolError:
                kinds.add("?")
        return kinds

    def serves(self) -> bool:
        """A proper actor's hello is answered (heartbeat, weights or progress) within 5 s."""
        from robot_rl.wire.protocol import Hello, encode

        hello = encode(Hello("actor", self.run.name, self.config_hash), seq=0)
        return bool(self.send([hello], settle_s=5.0, first=True))

    # -- messages
    def obs(self, **over: Any) -> dict[str, Any]:
        import numpy as np

        out = {k: np.zeros(shape, dtype) for k, (shape, dtype) in self.spec.items()}
        out.update(over)
        return out

    def step(self, t: int = 0, *, episode_id: int = 1, **over: Any) -> Any:
        import numpy as np

        from robot_rl.wire.protocol import Step

        fields: dict[str, Any] = {
            "episode_id": episode_id, "t": t, "first_obs": self.obs() if t == 0 else None,
            "action": np.zeros(self.action_dim, np.float32), "reward": 0.0,
            "next_obs": self.obs(), "terminated": False, "truncated": False,
            "intervened": False, "source": 0, "timestamp": time.time(),
        }  # fmt: skip
        fields.update(over)
        return Step(**fields)

    def encode(self, msg: Any, seq: int = 1) -> bytes:
        from robot_rl.wire.protocol import encode

        return encode(msg, seq=seq)

    def hello(self, config_hash: str | None = None, role: str = "actor") -> bytes:
        from robot_rl.wire.protocol import Hello

        return self.encode(Hello(role, "fuzz", config_hash or self.config_hash), seq=0)

    def envelope(self, **over: Any) -> bytes:
        """A raw msgpack envelope (a valid step unless ``over`` changes it)."""
        import msgpack

        from robot_rl.wire.protocol import MAGIC, PROTOCOL_VERSION

        raw = {"magic": MAGIC, "v": PROTOCOL_VERSION, "type": "step", "seq": 1,
               "t": time.time(), "src": "fuzz", "body": self.step().to_body()}  # fmt: skip
        raw.update(over)
        return msgpack.packb(raw, use_bin_type=True)


def _steps(server: LearnerServer, n: int, **over: Any) -> list[bytes]:
    out = [server.hello()]
    for t in range(n):
        out.append(server.encode(server.step(t, **over), seq=t + 1))
    return out


def _socket_cases() -> list[tuple[str, Callable[[LearnerServer], str | None]]]:
    import numpy as np

    def sends(build: Callable[[LearnerServer], list[Any]]) -> Callable[[LearnerServer], None]:
        def act(server: LearnerServer) -> None:
            server.send(build(server))

        return act

    def valid_step_bytes(server: LearnerServer) -> bytes:
        return server.encode(server.step(0))

    def truncated(fraction: float) -> Callable[[LearnerServer], None]:
        return sends(
            lambda s: [s.hello(), valid_step_bytes(s)[: int(len(valid_step_bytes(s)) * fraction)]]
        )

    def flipped(position: float) -> Callable[[LearnerServer], None]:
        def build(s: LearnerServer) -> list[Any]:
            data = bytearray(valid_step_bytes(s))
            i = int(len(data) * position)
            data[i] ^= 0xFF
            return [s.hello(), bytes(data)]

        return sends(build)

    def body_with(**fields: Any) -> Callable[[LearnerServer], None]:
        def build(s: LearnerServer) -> list[Any]:
            body = s.step().to_body()
            body.update(fields)
            return [s.hello(), s.envelope(body=body)]

        return sends(build)

    def nested(depth: int) -> bytes:
        import msgpack

        value: Any = 0
        for _ in range(depth):
            value = [value]
        return msgpack.packb(value)

    def wrong_hash_gets_weights(server: LearnerServer) -> str | None:
        got = server.send([server.hello(config_hash="f" * 16)], settle_s=2.0)
        return "silent_ok" if "weights" in server.received_types(got) else None

    def stranger_stop(server: LearnerServer) -> None:
        from robot_rl.wire.protocol import Control

        server.send([server.hello(), server.encode(Control("stop"))], settle_s=1.0)

    def metrics(values: dict[str, float]) -> Callable[[LearnerServer], None]:
        from robot_rl.wire.protocol import Metrics

        return sends(lambda s: [s.hello(), s.encode(Metrics(values))])

    def second_sender_t0(server: LearnerServer) -> None:
        import zmq

        actor = server.dealer()
        try:
            actor.send(server.hello())
            for t in range(10):
                actor.send(server.encode(server.step(t, episode_id=7), seq=t + 1))
            server.send([server.hello(), server.encode(server.step(0, episode_id=99))])
            for t in range(10, 20):
                actor.send(server.encode(server.step(t, episode_id=7), seq=t + 1))
            time.sleep(0.3)
        finally:
            actor.close()
        _ = zmq

    def big_header(s: LearnerServer) -> list[Any]:
        body = s.step().to_body()
        body["action"] = {"dtype": "float32", "shape": [0, 2**62], "data": b""}
        return [s.hello(), s.envelope(body=body)]

    state = next(iter(("state",)))
    return [
        ("empty-frame", sends(lambda s: [b""])),
        ("one-byte", sends(lambda s: [b"\x00"])),
        ("random-64", sends(lambda s: [os.urandom(64)])),
        ("random-4k", sends(lambda s: [os.urandom(4096)])),
        ("msgpack-int", sends(lambda s: [b"\x05"])),
        ("msgpack-list", sends(lambda s: [b"\x93\x01\x02\x03"])),
        ("no-magic", sends(lambda s: [s.envelope(magic="nope")])),
        ("wrong-version", sends(lambda s: [s.envelope(v=999)])),
        ("unknown-type", sends(lambda s: [s.envelope(type="teleport")])),
        ("body-not-map", sends(lambda s: [s.envelope(body=[1, 2])])),
        ("negative-seq", sends(lambda s: [s.envelope(seq=-1)])),
        ("huge-seq", sends(lambda s: [s.envelope(seq=2**63)])),
        ("nan-time", sends(lambda s: [s.envelope(t=float("nan"))])),
        ("long-src", sends(lambda s: [s.envelope(src="x" * 100_000)])),
        ("two-frames", sends(lambda s: [[s.hello(), s.hello()]])),
        ("three-empty-frames", sends(lambda s: [[b"", b"", b""]])),
        ("nested-1000", sends(lambda s: [nested(1000)])),
        ("nested-100k", sends(lambda s: [nested(100_000)])),
        ("oversize-20mb", sends(lambda s: [os.urandom(20 * 2**20)])),
        ("truncated-10pc", truncated(0.1)),
        ("truncated-50pc", truncated(0.5)),
        ("truncated-99pc", truncated(0.99)),
        ("bitflip-5pc", flipped(0.05)),
        ("bitflip-30pc", flipped(0.3)),
        ("bitflip-70pc", flipped(0.7)),
        ("step-without-hello", sends(lambda s: [s.encode(s.step(0))])),
        ("step-t5-without-t0", sends(lambda s: [s.hello(), s.encode(s.step(5))])),
        ("wrong-obs-shape", sends(lambda s: _steps(s, 3, next_obs=s.obs(**{state: np.zeros(5, np.float32)})))),
        ("missing-obs-key", sends(lambda s: _steps(s, 3, next_obs={}))),
        ("extra-obs-key", sends(lambda s: _steps(s, 3, next_obs=s.obs(extra=np.zeros(3, np.float32))))),
        ("float64-obs", sends(lambda s: _steps(s, 3, next_obs=s.obs(**{state: np.zeros(28, np.float64)})))),
        ("uint8-obs", sends(lambda s: _steps(s, 3, next_obs=s.obs(**{state: np.zeros(28, np.uint8)})))),
        ("action-too-short", sends(lambda s: _steps(s, 3, action=np.zeros(2, np.float32)))),
        ("action-2d", sends(lambda s: _steps(s, 3, action=np.zeros((2, 4), np.float32)))),
        ("action-huge-values", sends(lambda s: _steps(s, 3, action=np.full(4, 1e30, np.float32)))),
        ("nan-obs-150", sends(lambda s: _steps(s, 150, next_obs=s.obs(**{state: np.full(28, np.nan, np.float32)})))),
        ("inf-obs-40", sends(lambda s: _steps(s, 40, next_obs=s.obs(**{state: np.full(28, np.inf, np.float32)})))),
        ("array-header-0x2e62", sends(big_header)),
        ("array-data-short", body_with(action={"dtype": "float32", "shape": [4], "data": b"\x00" * 3})),
        ("array-bad-dtype", body_with(action={"dtype": "object", "shape": [4], "data": b"\x00" * 16})),
        ("reward-as-string", body_with(reward="lots")),
        ("t-negative", body_with(t=-1)),
        ("source-unknown", body_with(source=99)),
        ("info-nested", body_with(info={"a": {"b": 1}})),
        ("second-sender-t0", second_sender_t0),
        ("stranger-control-stop", stranger_stop),
        ("control-bogus", sends(lambda s: [s.hello(), s.encode(__import__("robot_rl.wire.protocol", fromlist=["Control"]).Control("bogus"))])),
        ("metrics-1e18-env-steps", metrics({"actor/env_steps": 1e18})),
        ("metrics-100k-keys", metrics({f"k{i}": 1.0 for i in range(100_000)})),
        ("metrics-nan", metrics({"actor/env_steps": float("nan")})),
        ("hello-wrong-config-hash", wrong_hash_gets_weights),
        ("hello-role-learner", sends(lambda s: [s.hello(role="learner")])),
        ("heartbeat-flood-5k", sends(lambda s: [s.hello()] * 5000)),
    ]  # fmt: skip


def socket_group(_fixtures: Any) -> list[ServerCase]:
    return [
        ServerCase("socket", name, act, quick=i % 3 == 0)
        for i, (name, act) in enumerate(_socket_cases())
    ]


# ---------------------------------------------------------------------------- the dashboard
class DashboardServer:
    """A ``robot-rl dashboard`` process on the twin with a strong token."""

    def __init__(self, _fixtures: Any, work: Path) -> None:
        self.work = work
        self.token = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        log = (self.work / f"fuzz-dashboard-{self.starts}.log").open("wb")
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robot_rl.cli", "dashboard", str(SHIPPED), "--port",
             str(self.port), "--token", self.token],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        if not _wait(self.serves, 120):
            raise RuntimeError(f"the dashboard did not come up; see {log.name}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> int:  # fmt: skip
        """HTTP status of one request (0 when the connection failed)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            conn.close()

    def serves(self) -> bool:
        return self.request("GET", f"/api/status?token={self.token}", timeout_s=3.0) == 200

    def raw(self, data: bytes, *, read: bool = True) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as sock:
            sock.sendall(data)
            if not read:
                return b""
            try:
                return sock.recv(4096)
            except OSError:
                return b""

    def ws_handshake(self, origin: str | None, *, token: bool = True) -> bytes:
        query = f"?token={self.token}" if token else ""
        lines = [f"GET /ws{query} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version: 13"]  # fmt: skip
        if origin is not None:
            lines.append(f"Origin: {origin}")
        return self.raw(("\r\n".join(lines) + "\r\n\r\n").encode())


def _refused(status: int) -> str | None:
    """pass for a 4xx (or a closed connection), silent_ok for anything accepted."""
    return None if status == 0 or 400 <= status < 500 else "silent_ok"


def _dashboard_cases() -> list[tuple[str, Callable[[DashboardServer], str | None]]]:
    def get(path: str, **kw: Any) -> Callable[[DashboardServer], str | None]:
        return lambda s: _refused(s.request("GET", path.replace("TOKEN", s.token), **kw))

    def post(path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Callable[[DashboardServer], str | None]:  # fmt: skip
        def act(s: DashboardServer) -> str | None:
            verdict = _refused(s.request("POST", path.replace("TOKEN", s.token), body=body,
                                         headers=headers))  # fmt: skip
            s.request("POST", f"/api/control/resume?token={s.token}")  # undo a pause
            return verdict

        return act

    def accepted(path: str) -> Callable[[DashboardServer], str | None]:
        def act(s: DashboardServer) -> str | None:
            status = s.request("GET", path.replace("TOKEN", s.token))
            return None if status == 200 else "wrong_refusal"

        return act

    def ws(origin: str | None, *, token: bool = True, ok: bool = False) -> Callable[[DashboardServer], str | None]:  # fmt: skip
        def act(s: DashboardServer) -> str | None:
            reply = s.ws_handshake(origin, token=token)
            upgraded = reply.startswith(b"HTTP/1.1 101")
            if ok:
                return None if upgraded else "wrong_refusal"
            return "silent_ok" if upgraded else None

        return act

    def ws_garbage(s: DashboardServer) -> str | None:
        import asyncio

        import websockets

        async def go() -> None:
            url = f"ws://127.0.0.1:{s.port}/ws?token={s.token}"
            async with websockets.connect(url, origin=f"http://127.0.0.1:{s.port}") as conn:
                await conn.send("{not json")
                await conn.send(b"\x00\xff" * 100)
                with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
                    await asyncio.wait_for(conn.recv(), 2.0)

        with contextlib.suppress(OSError, websockets.WebSocketException):
            asyncio.run(go())
        return None

    def many_connections(s: DashboardServer) -> str | None:
        socks = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(50)]
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.5)
        for sock in socks:
            sock.close()
        return None

    def weak_token(s: DashboardServer) -> str | None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "robot_rl.cli", "dashboard", str(SHIPPED), "--port", str(port),
             "--token", "a"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "silent_ok"  # it served with a one-letter token
        return "silent_ok" if proc.returncode == 0 else None

    evil = {"Origin": "http://evil.example"}
    return [
        ("no-token", get("/")),
        ("wrong-token", get("/?token=wrong")),
        ("token-prefix", lambda s: _refused(s.request("GET", f"/?token={s.token[:-1]}"))),
        ("empty-token", get("/?token=")),
        ("bearer-ok", lambda s: None if s.request("GET", "/api/status", headers={
            "Authorization": f"Bearer {s.token}"}) == 200 else "wrong_refusal"),
        ("status-ok", accepted("/api/status?token=TOKEN")),
        ("unknown-control", post("/api/control/selfdestruct?token=TOKEN")),
        ("cross-site-pause", post("/api/control/pause?token=TOKEN", headers=evil)),
        ("cross-site-estop-form", post("/api/control/estop?token=TOKEN", b"a=1", headers={
            **evil, "Content-Type": "application/x-www-form-urlencoded"})),
        ("cross-site-label", post("/api/label?token=TOKEN", b'{"episode": 0, "success": true}',
                                  headers={**evil, "Content-Type": "application/json"})),
        ("label-garbage-json", post("/api/label?token=TOKEN", b"{nope", {"Content-Type": "application/json"})),
        ("label-wrong-types", post("/api/label?token=TOKEN", b'{"episode": "x", "success": 3}',
                                   {"Content-Type": "application/json"})),
        ("label-40mib-body", post("/api/label?token=TOKEN", b"[" + b"1," * (20 * 2**20) + b"1]",
                                  {"Content-Type": "application/json"})),
        ("frame-traversal", get("/api/frame/../../../etc/passwd?token=TOKEN")),
        ("frame-encoded-traversal", get("/api/frame/%2e%2e%2f%2e%2e%2fetc%2fpasswd?token=TOKEN")),
        ("frame-unknown-camera", get("/api/frame/nope?token=TOKEN")),
        ("huge-header", lambda s: _refused(s.request("GET", f"/api/status?token={s.token}",
                                                     headers={"X-Big": "a" * 200_000}))),
        ("garbage-request-line", lambda s: (s.raw(b"\x00\x01\x02 garbage\r\n\r\n"), None)[1]),
        ("http-0.9", lambda s: (s.raw(b"GET /\r\n"), None)[1]),
        ("many-half-open-connections", many_connections),
        ("ws-no-token", ws(None, token=False)),
        ("ws-evil-origin", ws("http://evil.example")),
        ("ws-null-origin", ws("null")),
        ("ws-same-origin-ok", ws("http://127.0.0.1:PORT", ok=True)),
        ("ws-garbage-messages", ws_garbage),
        ("weak-token-refused", weak_token),
    ]  # fmt: skip


def dashboard_group(_fixtures: Any) -> list[ServerCase]:
    cases = []
    for i, (name, act) in enumerate(_dashboard_cases()):
        if name == "ws-same-origin-ok":
            act = _same_origin(act)
        cases.append(ServerCase("dashboard", name, act, quick=i % 3 == 0))
    return cases


def _same_origin(_act: Callable[[DashboardServer], str | None]) -> Callable[[DashboardServer], str | None]:  # fmt: skip
    def act(s: DashboardServer) -> str | None:
        reply = s.ws_handshake(f"http://127.0.0.1:{s.port}")
        return None if reply.startswith(b"HTTP/1.1 101") else "wrong_refusal"

    return act


# ------------------------------------------------------------------------------ the runner
SERVERS: dict[str, Callable[[Any, Path], Any]] = {
    "socket": LearnerServer,
    "dashboard": DashboardServer,
}


def run_server_cases(
    cases: list[ServerCase], fixtures: Any, tallies: dict[str, Tally], *, verbose: bool
) -> None:
    """Each group's cases against one server (restarted after a crash)."""
    fixtures.prepare(cases)
    for group in dict.fromkeys(c.group for c in cases):
        server = SERVERS[group](fixtures, fixtures.root)
        try:
            for case in (c for c in cases if c.group == group):
                started = time.monotonic()
                try:
                    verdict = case.act(server) or "pass"
                    detail = ""
                except Exception as err:  # the bench's own request failed: not the server's fault
                    verdict, detail = "pass", f"client error {type(err).__name__}: {err}"
                time.sleep(0.3)  # a fatal payload takes a moment to end the process
                if not server.alive():
                    verdict, detail = "crash", "the server process died"
                elif not server.serves():
                    if _wait(lambda s=server: not s.alive(), 5.0):
                        verdict, detail = "crash", "the server process died"
                    else:
                        verdict, detail = "hang", "the server is alive but no longer answers"
                tallies[group].add(case.name, verdict, detail)
                if verbose or verdict != "pass":
                    print(f"[{verdict:>13}] {group}/{case.name} ({time.monotonic() - started:.1f} s)"
                          f"{': ' + detail if detail else ''}", flush=True)  # fmt: skip
                if verdict in ("crash", "hang"):
                    server.stop()
                    server.start()
        finally:
            server.stop()


GROUPS: dict[str, Callable[[Any], list[Any]]] = {
    "socket": socket_group,
    "dashboard": dashboard_group,
}
