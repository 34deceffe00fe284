"""Peer liveness and sequence bookkeeping shared by every transport.

Heartbeats are sent from the caller's loop (``Transport.maybe_heartbeat``), not from a
background thread: zmq sockets are not thread-safe, and a heartbeat that comes from the loop
itself proves that the loop (not just the process) is alive — an actor stuck in a camera read
should look dead to the learner.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Literal

SeqVerdict = Literal["ok", "duplicate", "out_of_order"]


class PeerTable:
    """Last-seen times (monotonic s) per peer and last sequence number per sender instance."""

    def __init__(
        self,
        *,
        heartbeat_interval_s: float,
        heartbeat_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_peers: int = 1024,
    ) -> None:
        if heartbeat_interval_s <= 0:
            raise ValueError(f"heartbeat_interval_s must be > 0, got {heartbeat_interval_s}")
        if heartbeat_timeout_s <= heartbeat_interval_s:
            raise ValueError(
                f"heartbeat_timeout_s ({heartbeat_timeout_s}) must exceed heartbeat_interval_s "
                f"({heartbeat_interval_s}), or a healthy peer would look dead between heartbeats"
            )
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.clock = clock
        self.max_peers = max_peers
        self._last_seen: OrderedDict[Hashable, float] = OrderedDict()  # oldest first
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        self._last_sent = -float("inf")

    def seen(self, peer: Hashable, src: str, seq: int) -> SeqVerdict:
        """Record a valid message from ``peer`` (sender instance ``src``) and judge its seq."""
        self._last_seen[peer] = self.clock()
        self._last_seen.move_to_end(peer)
        # A restarted peer is a new sender instance (new src), so its seq may start again at 1.
        key = src or repr(peer)
        last = self._last_seq.get(key)
        self._last_seq[key] = seq if last is None else max(last, seq)
        self._last_seq.move_to_end(key)
        for table in (self._last_seen, self._last_seq):
            while len(table) > self.max_peers:
                table.popitem(last=False)
        if last is None or seq > last:
            return "ok"
        return "duplicate" if seq == last else "out_of_order"

    def alive(self, peer: Hashable | None = None) -> bool:
        """Whether ``peer`` (any peer if None) sent something within the heartbeat timeout."""
        if peer is not None:
            seen = self._last_seen.get(peer)
            return seen is not None and self.clock() - seen <= self.heartbeat_timeout_s
        return bool(self.live_peers())

    def live_peers(self) -> list[Hashable]:
        """Peers heard from within the heartbeat timeout, most recent last."""
        now = self.clock()
        return [p for p, seen in self._last_seen.items() if now - seen <= self.heartbeat_timeout_s]

    def known_peers(self) -> list[Hashable]:
        """Every peer heard from and not forgotten, alive or not, most recent last."""
        return list(self._last_seen)

    def forget(self, peer: Hashable) -> None:
        """Drop a peer (e.g. one that cannot be routed to any more)."""
        self._last_seen.pop(peer, None)

    def heartbeat_due(self) -> bool:
        """Whether ``heartbeat_interval_s`` passed since the last send to every peer."""
        return self.clock() - self._last_sent >= self.heartbeat_interval_s

    def note_sent(self) -> None:
        """A message just went to every peer; it doubles as a heartbeat."""
        self._last_sent = self.clock()
