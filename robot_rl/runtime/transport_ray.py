"""The Ray transport: actor and learner endpoints living inside Ray actors (``runtime.engine: ray``).

The same Endpoint rules as the zmq transport (transport.py's module docstring): sends never
block (a call into the peer is ``.remote()``; a peer with too many unanswered calls makes
``send`` drop and count), receives have deadlines, every message is ``protocol.encode``'d.
Ray moves the bytes; what is written here is only where they wait.

- Steps leave an actor in batches, one batch per episode: the actor end holds an episode's
  encoded steps until the message after its last step (the episode's Metrics, sent once the
  episode is handed to the actor's store), then makes one call to the learner with the batch
  and that message. So the learner never sees two actors' episodes interleaved (its replay
  assembles one episode at a time), and an actor that dies mid-episode takes its
  half-written episode with it (discarded, as the zmq runtime does).
- Weights go out through the object store: the learner end ``ray.put``s the encoded
  Weights once and hands every actor a reference; each actor fetches it when it reads it.
- The Ray actors hosting the endpoints are threaded (``max_concurrency`` >= 2): Ray runs
  ``deliver`` in its own thread while the loop runs ``run``; the inboxes are locked queues.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import ray

from robot_rl.runtime.transport import DEFAULT_HWM, Endpoint
from robot_rl.wire.protocol import DEFAULT_MAX_MESSAGE_BYTES, Heartbeat, Message, Metrics, Step

MAX_IN_FLIGHT = 64  # unanswered calls into one peer before send() drops
MAX_EPISODE_STEPS = 100_000  # an episode longer than this is dropped rather than held


class _Inbox:
    """A bounded, thread-safe queue of (peer, payload or ObjectRef of a payload)."""

    def __init__(self, max_len: int) -> None:
        self.items: deque[tuple[Hashable, Any]] = deque()
        self.max_len = max_len
        self.cond = threading.Condition()
        self.dropped = 0

    def put_all(self, peer: Hashable, payloads: list[Any]) -> bool:
        """Append a whole batch at once (so it stays contiguous), or none of it when full."""
        with self.cond:
            if len(self.items) + len(payloads) > self.max_len and self.items:
                self.dropped += len(payloads)
                return False
            self.items.extend((peer, p) for p in payloads)
            self.cond.notify()
        return True

    def get(self, wait_s: float) -> tuple[Hashable, Any] | None:
        with self.cond:
            if not self.items and wait_s > 0:
                self.cond.wait(wait_s)
            return self.items.popleft() if self.items else None


class _Caller:
    """Calls ``deliver`` on one Ray actor without waiting, keeping at most MAX_IN_FLIGHT open."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.in_flight: list[Any] = []

    def call(self, *args: Any) -> bool:
        if len(self.in_flight) >= MAX_IN_FLIGHT // 2:  # prune answered calls (no wait)
            _done, self.in_flight = ray.wait(
                self.in_flight, num_returns=len(self.in_flight), timeout=0
            )
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            return False  # the peer is slow, dead or restarting: drop rather than pile up
        self.in_flight.append(self.handle.deliver.remote(*args))
        return True


def _fetch(peer: Hashable, item: Any) -> tuple[Hashable, bytes | memoryview | None]:
    """A payload, fetched from the object store when the item is a reference."""
    if isinstance(item, ray.ObjectRef):
        try:
            return peer, ray.get(item, timeout=30.0)
        except Exception:  # the owner died before we read it: counted as malformed
            return peer, None
    return peer, item


class RayActorEndpoint(Endpoint):
    """Actor side: one learner Ray actor (its handle survives the learner's restarts)."""

    def __init__(
        self,
        learner: Any,
        actor_key: str,
        *,
        heartbeat_interval_s: float = 0.5,
        heartbeat_timeout_s: float = 3.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_queue: int = DEFAULT_HWM,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            "actor", heartbeat_interval_s=heartbeat_interval_s, heartbeat_timeout_s=heartbeat_timeout_s,
            max_message_bytes=max_message_bytes, clock=clock, wall_clock=wall_clock,
        )  # fmt: skip
        self.key = actor_key
        self.address = f"ray-actor://{actor_key}"
        self._learner = _Caller(learner)
        self._inbox = _Inbox(max_queue)
        self._episode: list[bytes] = []  # encoded steps of the open episode, not yet sent
        self._episode_ended = False  # the last held step ended its episode
        self.stats["episodes_sent"] = 0
        self.stats["steps_discarded"] = 0  # held steps of episodes that never finished

    def deliver(self, items: list[Any]) -> None:
        """Called by Ray (another thread): messages from the learner, bytes or references."""
        if not self._closed:
            self._inbox.put_all("learner", items)

    def send(self, msg: Message) -> bool:
        """Hold a Step until its episode is committed; send anything else now (with the
        finished episode's steps before it, in the same call)."""
        if self._closed:
            return self._count_send(False, msg)
        payload = self._encode(msg)
        if isinstance(msg, Step):
            if msg.t == 0 and self._episode:  # the previous episode never finished
                self.stats["steps_discarded"] += len(self._episode)
                self._episode = []
            if len(self._episode) >= MAX_EPISODE_STEPS:
                return self._count_send(False, msg)
            self._episode.append(payload)
            self._episode_ended = msg.terminated or msg.truncated
            return self._count_send(True, msg)
        batch: list[Any] = []
        if self._episode_ended and not isinstance(msg, Heartbeat):
            batch, self._episode, self._episode_ended = self._episode, [], False
        ok = self._learner.call(self.key, [*batch, payload])
        if ok:
            self.peers.note_sent()
            self.stats["episodes_sent"] += bool(batch)
        elif batch:
            self.stats["steps_discarded"] += len(batch)
        return self._count_send(ok, msg)

    def _recv_raw(self, wait_s: float) -> tuple[Hashable, bytes | memoryview | None] | None:
        item = self._inbox.get(wait_s)
        return None if item is None else _fetch(*item)

    def flush(self, *, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the learner took every call sent; True if it did."""
        pending = self._learner.in_flight
        if not pending:
            return True
        done, self._learner.in_flight = ray.wait(
            pending, num_returns=len(pending), timeout=timeout_s
        )
        return len(done) == len(pending)

    def close(self) -> None:
        """Drop held steps and queued messages; later sends are dropped."""
        self._closed = True
        self.stats["steps_discarded"] += len(self._episode)
        self._episode = []
        with self._inbox.cond:
            self._inbox.items.clear()


class RayLearnerEndpoint(Endpoint):
    """Learner side: actors are named Ray actors, looked up by name when first heard from
    (so a restarted learner finds them again from their next heartbeat)."""

    def __init__(
        self,
        *,
        namespace: str,
        heartbeat_interval_s: float = 0.5,
        heartbeat_timeout_s: float = 3.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_queue: int = 100 * DEFAULT_HWM,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            "learner", heartbeat_interval_s=heartbeat_interval_s, heartbeat_timeout_s=heartbeat_timeout_s,
            max_message_bytes=max_message_bytes, clock=clock, wall_clock=wall_clock,
        )  # fmt: skip
        self.namespace = namespace
        self.address = f"ray-learner://{namespace}"
        self._inbox = _Inbox(max_queue)
        self._callers: dict[Hashable, _Caller] = {}
        self._actor_env_steps: dict[Hashable, int] = {}

    @property
    def actors(self) -> list[Hashable]:
        """Keys (Ray actor names) of the actors heard from."""
        return list(self.peers.known_peers())

    def deliver(self, actor_key: str, items: list[Any]) -> None:
        """Called by Ray (another thread): one call of an actor, kept contiguous."""
        if not self._closed:
            self._inbox.put_all(actor_key, items)

    def recv(self, timeout_s: float = 0.0) -> Message | None:
        """As Endpoint.recv; an actor's ``actor/env_steps`` becomes the sum over all actors
        (the learner paces on the run's env steps, not one actor's)."""
        msg = super().recv(timeout_s)
        if isinstance(msg, Metrics) and "actor/env_steps" in msg.values:
            self._actor_env_steps[self.last_sender] = int(msg.values["actor/env_steps"])
            values = dict(msg.values)
            values["actor/env_steps"] = float(sum(self._actor_env_steps.values()))
            msg = Metrics(values)
        return msg

    def maybe_heartbeat(self) -> bool:
        """Heartbeat every known actor when due; nothing if none is known."""
        return bool(self.actors) and super().maybe_heartbeat()

    def send(self, msg: Message, identity: Hashable | None = None) -> bool:
        """To one actor, or every known actor; large payloads go through the object store."""
        if self._closed:
            return self._count_send(False, msg)
        targets = [identity] if identity is not None else self.actors
        if not targets:
            return self._count_send(False, msg)
        payload = self._encode(msg)
        item: Any = ray.put(payload) if len(payload) > 65536 else payload
        ok = True
        for target in targets:
            caller = self._caller(target)
            sent = caller is not None and caller.call([item])
            ok = self._count_send(sent, msg) and ok
        if identity is None:
            self.peers.note_sent()
        return ok

    def _caller(self, key: Hashable) -> _Caller | None:
        caller = self._callers.get(key)
        if caller is None:
            try:
                handle = ray.get_actor(str(key), namespace=self.namespace)
            except ValueError:  # not (or no longer) a named actor of this run
                self.peers.forget(key)
                return None
            caller = self._callers[key] = _Caller(handle)
        return caller

    def _recv_raw(self, wait_s: float) -> tuple[Hashable, bytes | memoryview | None] | None:
        item = self._inbox.get(wait_s)
        return None if item is None else _fetch(*item)

    def close(self) -> None:
        """Forget queued messages; later sends are dropped."""
        self._closed = True
        with self._inbox.cond:
            self._inbox.items.clear()
