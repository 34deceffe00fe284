"""The zmq transport: a learner ROUTER socket and actor DEALER sockets over TCP.

Both endpoints keep the rules of ``transport.py``'s module docstring: non-blocking sends that
count drops, bounded queues (high-water marks), receives with deadlines.
pyzmq does the networking and CURVE authentication; only those policies are written here.
Off loopback the learner serves CURVE only (keys: curve_keys.py) and refuses to bind without.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

import zmq
from zmq.auth.thread import ThreadAuthenticator

from robot_rl.runtime.curve_keys import ActorKeys, LearnerKeys, is_loopback_address
from robot_rl.runtime.transport import DEFAULT_HWM, Endpoint
from robot_rl.wire.protocol import DEFAULT_MAX_MESSAGE_BYTES, Message


def _poll_ms(wait_s: float) -> int:
    return math.ceil(wait_s * 1000) if wait_s > 0 else 0


def _zmq_socket(
    ctx: zmq.Context, kind: int, *, send_hwm: int, recv_hwm: int, max_bytes: int
) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)  # close() must not wait for an absent peer
    sock.setsockopt(zmq.SNDHWM, send_hwm)
    sock.setsockopt(zmq.RCVHWM, recv_hwm)
    # Hard memory guard: zmq drops a connection that sends a frame this big (the DEALER side
    # reconnects). Below it, decode() rejects oversize payloads and they are counted.
    sock.setsockopt(zmq.MAXMSGSIZE, 2 * max_bytes + 4096)
    return sock


class InsecureBindError(OSError):
    """A learner asked to bind a non-loopback address without CURVE keys."""


MAX_REFUSED = 1024  # refused routing ids remembered (left out of broadcasts)


class ZmqLearnerEndpoint(Endpoint):
    """Learner side: a ROUTER socket that any number of actors connect to.

    Actors are known by their zmq routing id from the first message they send; ``send``
    without an identity goes to every known actor whose connection is up. (Not only to those
    heard from within the heartbeat timeout: after a long update their heartbeats are still
    unread in the socket, and weights pushed then must not vanish.) zmq reports a closed
    connection as unroutable; that actor is then forgotten until it speaks again.

    With ``curve`` the socket is a CURVE server that accepts only the actor public keys in
    ``curve.authorized_dir`` (ZAP, pyzmq's authenticator thread); other clients never get a
    message through. Without it only loopback (or ipc/inproc) addresses may be bound.
    """

    def __init__(
        self,
        bind: str = "tcp://127.0.0.1:5555",
        *,
        heartbeat_interval_s: float = 0.5,
        heartbeat_timeout_s: float = 3.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        send_hwm: int = DEFAULT_HWM,
        recv_hwm: int = DEFAULT_HWM,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        curve: LearnerKeys | None = None,
    ) -> None:
        if curve is None and not is_loopback_address(bind):
            raise InsecureBindError(
                f"refusing to bind {bind!r} without CURVE keys: off loopback anyone "
                "who reaches the port could feed it steps; run `robot-rl learner RUN_DIR "
                "--make-keys` (keys in RUN_DIR/keys) or bind 127.0.0.1"
            )
        self._auth: ThreadAuthenticator | None = None
        self._refused: dict[bytes, None] = {}  # routing ids left out of broadcasts, oldest first
        super().__init__(
            "learner", heartbeat_interval_s=heartbeat_interval_s, heartbeat_timeout_s=heartbeat_timeout_s,
            max_message_bytes=max_message_bytes, clock=clock, wall_clock=wall_clock,
        )  # fmt: skip
        self._ctx = zmq.Context()  # our own context: no process-global zmq state
        self._sock = _zmq_socket(
            self._ctx, zmq.ROUTER, send_hwm=send_hwm, recv_hwm=recv_hwm, max_bytes=max_message_bytes
        )
        # Unroutable or full sends raise instead of vanishing, so they are counted as drops.
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # An actor that reconnects with its (fixed) routing id takes over its old slot.
        self._sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        if curve is not None:
            self._auth = ThreadAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(curve.authorized_dir))
            self._sock.curve_secretkey = curve.secret_key
            self._sock.curve_publickey = curve.public_key
            self._sock.curve_server = True
        try:
            self._sock.bind(bind)
        except zmq.ZMQError as err:
            self.close()
            raise OSError(f"learner cannot bind {bind!r}: {err}") from err
        self.address: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)

    @property
    def actors(self) -> list[bytes]:
        """Routing ids of the known actors (connected as far as zmq has told us)."""
        return [
            p for p in self.peers.known_peers() if isinstance(p, bytes) and p not in self._refused
        ]

    def refuse(self, identity: Hashable) -> None:
        """Leave this actor out of every broadcast (weights, progress, heartbeats)."""
        if isinstance(identity, bytes):
            self._refused[identity] = None
            while len(self._refused) > MAX_REFUSED:
                del self._refused[next(iter(self._refused))]

    def allow(self, identity: Hashable) -> None:
        """Undo ``refuse`` (the actor said Hello again, with the run's config hash)."""
        if isinstance(identity, bytes):
            self._refused.pop(identity, None)

    def maybe_heartbeat(self) -> bool:
        """Heartbeat every known actor when due; nothing (and no counted drop) if none is known."""
        return bool(self.actors) and super().maybe_heartbeat()

    def send(self, msg: Message, identity: bytes | None = None) -> bool:
        """Queue ``msg`` for one actor, or every known actor; True if every target took it."""
        if self._closed:
            return self._count_send(False, msg)
        return self.send_raw(self._encode(msg), identity, _msg=msg)

    def send_raw(
        self, payload: bytes, identity: bytes | None = None, *, _msg: Message | None = None
    ) -> bool:
        """Queue already-encoded bytes unchanged (tools and tests); same rules as ``send``."""
        targets = [identity] if identity is not None else self.actors
        if self._closed or not targets:
            return self._count_send(False, _msg)
        ok = True
        for target in targets:
            try:
                self._sock.send_multipart(
                    [target, payload], flags=zmq.NOBLOCK, copy=len(payload) < 65536
                )
                self._count_send(True, _msg)
            except zmq.Again:  # this actor's queue is full: it is slow, drop rather than wait
                ok = self._count_send(False, _msg)
            except zmq.ZMQError as err:  # EHOSTUNREACH: that actor disconnected
                if err.errno == zmq.EHOSTUNREACH:
                    self.peers.forget(target)
                ok = self._count_send(False, _msg)
        if identity is None:
            self.peers.note_sent()  # even if a slow actor dropped it: heartbeats keep their pace
        return ok

    def _recv_raw(self, wait_s: float) -> tuple[Hashable, bytes | memoryview | None] | None:
        if not self._sock.poll(_poll_ms(wait_s), zmq.POLLIN):
            return None
        frames = self._sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
        identity = frames[0].bytes
        if len(frames) != 2:
            self._malformed(identity, f"expected 1 payload frame, got {len(frames) - 1}")
            return identity, None
        return identity, frames[1].buffer

    def close(self) -> None:
        """Close the socket and context at once (linger 0)."""
        self._closed = True
        if hasattr(self, "_sock"):
            self._sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self._ctx.term()


class ZmqActorEndpoint(Endpoint):
    """Actor side: a DEALER socket connected to the learner; zmq reconnects on its own.

    The routing id is fixed per endpoint (``src``), so a restarted learner learns this actor
    from its next message (a heartbeat at the latest) and can answer it. With ``curve`` it
    connects as a CURVE client (a learner with keys accepts nothing else).
    """

    def __init__(
        self,
        connect: str,
        *,
        heartbeat_interval_s: float = 0.5,
        heartbeat_timeout_s: float = 3.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        send_hwm: int = DEFAULT_HWM,
        recv_hwm: int = DEFAULT_HWM,
        reconnect_max_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        curve: ActorKeys | None = None,
    ) -> None:
        super().__init__(
            "actor", heartbeat_interval_s=heartbeat_interval_s, heartbeat_timeout_s=heartbeat_timeout_s,
            max_message_bytes=max_message_bytes, clock=clock, wall_clock=wall_clock,
        )  # fmt: skip
        self._ctx = zmq.Context()
        self._sock = _zmq_socket(
            self._ctx, zmq.DEALER, send_hwm=send_hwm, recv_hwm=recv_hwm, max_bytes=max_message_bytes
        )
        self._sock.setsockopt(zmq.ROUTING_ID, self.src.encode())
        self._sock.setsockopt(zmq.RECONNECT_IVL, 100)  # ms
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, max(100, int(reconnect_max_s * 1000)))
        if curve is not None:
            self._sock.curve_secretkey = curve.secret_key
            self._sock.curve_publickey = curve.public_key
            self._sock.curve_serverkey = curve.server_public_key
        try:
            self._sock.connect(connect)
        except zmq.ZMQError as err:
            self.close()
            raise OSError(f"actor cannot connect to {connect!r}: {err}") from err
        self.address: str = connect

    def send(self, msg: Message) -> bool:
        """Queue ``msg`` for the learner; False (counted) when the queue is full."""
        if self._closed:
            return self._count_send(False, msg)
        return self.send_raw(self._encode(msg), _msg=msg)

    def send_raw(self, payload: bytes, *, _msg: Message | None = None) -> bool:
        """Queue already-encoded bytes unchanged (tools and tests); same rules as ``send``."""
        if self._closed:
            return self._count_send(False, _msg)
        try:
            # With no learner connected zmq still queues up to SNDHWM, then raises Again.
            self._sock.send(payload, flags=zmq.NOBLOCK, copy=len(payload) < 65536)
        except zmq.ZMQError:
            return self._count_send(False, _msg)
        self.peers.note_sent()
        return self._count_send(True, _msg)

    def _recv_raw(self, wait_s: float) -> tuple[Hashable, bytes | memoryview | None] | None:
        if not self._sock.poll(_poll_ms(wait_s), zmq.POLLIN):
            return None
        frames = self._sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
        if len(frames) != 1:
            self._malformed("learner", f"expected 1 frame, got {len(frames)}")
            return "learner", None
        return "learner", frames[0].buffer

    def close(self) -> None:
        """Close the socket and context at once (linger 0)."""
        self._closed = True
        if hasattr(self, "_sock"):
            self._sock.close(linger=0)
        self._ctx.term()
