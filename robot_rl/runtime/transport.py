"""Actor <-> learner transports: the Transport protocol, the shared Endpoint, an in-process pair.

The in-process pair (threads, for tests and ``runtime.transport: inprocess``) is here; the zmq
ROUTER/DEALER endpoints over TCP are in transport_zmq.py.

Rules every transport keeps (the SERL / LeRobot actors hang on a silent learner; ours must not):
- ``send`` never blocks: a slow or absent peer, or a full queue, makes it return False and
  count ``stats["send_dropped"]``; queues are bounded (zmq high-water marks, deque lengths).
- ``recv`` always has a deadline and returns the next valid message or None. Malformed or
  wrong-version payloads are counted in ``stats["malformed"]`` (last reason in ``last_error``)
  and dropped; the connection stays up. Heartbeats are consumed here, never returned.
- Every message goes through ``protocol.encode``/``decode`` (also in-process), stamped with the
  endpoint's own increasing ``seq``; receivers count duplicates and reordering and tolerate them.
- Endpoints are single-threaded objects (zmq sockets are not thread-safe); heartbeats are sent
  from the caller's loop, see heartbeat.py for why.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Hashable
from typing import Protocol

from robot_rl.runtime.heartbeat import PeerTable
from robot_rl.wire.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Heartbeat,
    Message,
    ProtocolError,
    decode,
    encode,
)

logger = logging.getLogger(__name__)

DEFAULT_HWM = 1000  # messages queued per peer and direction before send() starts dropping
_MAX_DRAIN = 10_000  # raw payloads one recv() may discard after its deadline before giving up


class Transport(Protocol):
    """What the actor and learner loops need from a connection to their peer."""

    stats: dict[str, int]

    def send(self, msg: Message) -> bool:
        """Queue ``msg`` without blocking; False (and a counted drop) if it cannot be queued."""
        ...

    def recv(self, timeout_s: float = 0.0) -> Message | None:
        """The next valid message, waiting at most ``timeout_s`` seconds; None if none came."""
        ...

    def peer_alive(self) -> bool:
        """Whether the peer sent anything within ``heartbeat_timeout_s``."""
        ...

    def maybe_heartbeat(self) -> bool:
        """Send a Heartbeat if ``heartbeat_interval_s`` passed since the last send; True if sent."""
        ...

    def close(self) -> None:
        """Release sockets and queues; never blocks (pending messages are discarded)."""
        ...


class Endpoint:
    """Shared bookkeeping: seq stamping, decoding with counting, liveness, recv deadlines."""

    def __init__(
        self,
        role: str,
        *,
        heartbeat_interval_s: float,
        heartbeat_timeout_s: float,
        max_message_bytes: int,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self.src = f"{role}-{uuid.uuid4().hex[:12]}"  # this endpoint instance, on every message
        self.peers = PeerTable(
            heartbeat_interval_s=heartbeat_interval_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            clock=clock,
        )
        self.max_message_bytes = max_message_bytes
        self.clock = clock
        self.wall_clock = wall_clock
        self.stats: dict[str, int] = dict.fromkeys(
            ("sent", "send_dropped", "received", "heartbeats_sent", "heartbeats_received",
             "malformed", "duplicates", "out_of_order"), 0
        )  # fmt: skip
        self.last_error: str | None = None
        self.last_sender: Hashable | None = None  # peer of the last message recv() returned
        # Sender instance (``src``) of the last valid message, heartbeats included: a new one
        # from the same peer is a restarted process (the actor then says Hello again).
        self.last_src: str | None = None
        self._seq = 0
        self._closed = False

    # -- to be provided by each transport ---------------------------------------------------
    def _recv_raw(self, wait_s: float) -> tuple[Hashable, bytes | memoryview | None] | None:
        raise NotImplementedError

    def send(self, msg: Message) -> bool:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    def _encode(self, msg: Message) -> bytes:
        self._seq += 1
        return encode(msg, seq=self._seq, t=self.wall_clock(), src=self.src)

    def _count_send(self, ok: bool, msg: Message | None) -> bool:
        if ok:
            self.stats["sent"] += 1
            if isinstance(msg, Heartbeat):
                self.stats["heartbeats_sent"] += 1
        else:
            self.stats["send_dropped"] += 1
        return ok

    def _malformed(self, peer: Hashable, reason: str) -> None:
        self.stats["malformed"] += 1
        self.last_error = f"from {peer!r:.80}: {reason[:500]}"  # hostile payloads stay out of logs
        count = self.stats["malformed"]
        if count & (count - 1) == 0:  # log the 1st, 2nd, 4th, 8th ... so a flood cannot flood logs
            logger.warning("dropped malformed message #%d %s", count, self.last_error)

    def _accept(self, peer: Hashable, payload: bytes | memoryview | None) -> Message | None:
        if payload is None:  # the transport already counted it as malformed (bad framing)
            return None
        try:
            env = decode(payload, max_bytes=self.max_message_bytes)
        except ProtocolError as err:
            self._malformed(peer, str(err))
            return None
        except (ValueError, TypeError, OverflowError, MemoryError) as err:
            # decode() raises only ProtocolError by contract; should a check be missing, the
            # payload is still one bad message from one peer, not the end of the learner.
            self._malformed(peer, f"undecodable payload ({type(err).__name__}: {err})")
            return None
        self.last_src = env.src
        verdict = self.peers.seen(peer, env.src, env.seq)
        if verdict == "duplicate":
            self.stats["duplicates"] += 1
        elif verdict == "out_of_order":
            self.stats["out_of_order"] += 1
        if isinstance(env.msg, Heartbeat):
            self.stats["heartbeats_received"] += 1
            return None
        self.stats["received"] += 1
        self.last_sender = peer
        return env.msg

    def recv(self, timeout_s: float = 0.0) -> Message | None:
        """The next valid message within ``timeout_s`` seconds (heartbeats go out while waiting)."""
        if self._closed:
            return None
        # Waits are real time even when a fake ``clock`` drives liveness: a frozen test clock
        # must not turn a timeout into a hang.
        deadline = time.monotonic() + max(0.0, timeout_s)
        discarded = 0
        while True:
            remaining = deadline - time.monotonic()
            item = self._recv_raw(min(max(remaining, 0.0), self.peers.heartbeat_interval_s))
            if item is None:
                if remaining <= 0:
                    return None
                self.maybe_heartbeat()  # a long wait must not silence us
                continue
            msg = self._accept(*item)
            if msg is not None:
                return msg
            discarded += 1
            if remaining <= 0 and discarded >= _MAX_DRAIN:
                return None

    def peer_alive(self) -> bool:
        """Whether any peer sent a message (heartbeats included) within the heartbeat timeout."""
        return self.peers.alive()

    def maybe_heartbeat(self) -> bool:
        """Send a Heartbeat when nothing went out for ``heartbeat_interval_s``; True if sent."""
        if self._closed or not self.peers.heartbeat_due():
            return False
        return self.send(Heartbeat())


class _Queue:
    """A bounded, thread-safe one-way queue of encoded messages."""

    def __init__(self, max_len: int) -> None:
        self.items: deque[bytes] = deque()
        self.max_len = max_len
        self.cond = threading.Condition()
        self.closed = False


class InProcessTransport(Endpoint):
    """One end of an in-process pair (threads); messages still go through encode/decode."""

    def __init__(
        self,
        inbox: _Queue,
        outbox: _Queue,
        role: str,
        *,
        heartbeat_interval_s: float,
        heartbeat_timeout_s: float,
        max_message_bytes: int,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        super().__init__(
            role, heartbeat_interval_s=heartbeat_interval_s, heartbeat_timeout_s=heartbeat_timeout_s,
            max_message_bytes=max_message_bytes, clock=clock, wall_clock=wall_clock,
        )  # fmt: skip
        self._inbox = inbox
        self._outbox = outbox
        self.address = f"inprocess://{self.src}"

    @classmethod
    def pair(
        cls,
        *,
        heartbeat_interval_s: float = 0.5,
        heartbeat_timeout_s: float = 3.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_queue: int = DEFAULT_HWM,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> tuple[InProcessTransport, InProcessTransport]:
        """(actor_end, learner_end), each queue bounded to ``max_queue`` messages."""
        to_learner, to_actor = _Queue(max_queue), _Queue(max_queue)
        opts = {
            "heartbeat_interval_s": heartbeat_interval_s, "heartbeat_timeout_s": heartbeat_timeout_s,
            "max_message_bytes": max_message_bytes, "clock": clock, "wall_clock": wall_clock,
        }  # fmt: skip
        actor = cls(to_actor, to_learner, "actor", **opts)  # type: ignore[arg-type]
        learner = cls(to_learner, to_actor, "learner", **opts)  # type: ignore[arg-type]
        return actor, learner

    def send(self, msg: Message) -> bool:
        """Queue ``msg`` for the other end; False (counted) if it is closed or its queue is full."""
        if self._closed:
            return self._count_send(False, msg)
        return self.send_raw(self._encode(msg), _msg=msg)

    def send_raw(self, payload: bytes, *, _msg: Message | None = None) -> bool:
        """Queue already-encoded bytes unchanged (tools and tests); same rules as ``send``."""
        box = self._outbox
        with box.cond:
            if self._closed or box.closed or len(box.items) >= box.max_len:
                return self._count_send(False, _msg)
            box.items.append(bytes(payload))
            box.cond.notify()
        self.peers.note_sent()
        return self._count_send(True, _msg)

    def _recv_raw(self, wait_s: float) -> tuple[Hashable, bytes | memoryview | None] | None:
        box = self._inbox
        with box.cond:
            if not box.items and wait_s > 0 and not box.closed:
                box.cond.wait(wait_s)
            return ("peer", box.items.popleft()) if box.items else None

    def close(self) -> None:
        """Close both directions; the other end's sends are dropped from now on."""
        self._closed = True
        for box in (self._inbox, self._outbox):
            with box.cond:
                box.closed = True
                box.items.clear()
                box.cond.notify_all()
