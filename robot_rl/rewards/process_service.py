"""Reward inference in its own process: batched asynchronous requests over local pipes.

A thread (``RewardService``) keeps a slow model off the control loop only while the model
releases the GIL; a VLM's Python-side preprocessing, a model that wants its own GPU process,
or a CPU model that should not compete with the actor's interpreter need a process. The
child is started with ``spawn`` (no forked torch or GL state) and builds the model itself
from a module-level factory and its arguments (our own code and config, handed over by
multiprocessing's spawn arguments). Observations and results cross the pipes as msgpack
maps with arrays tagged by :func:`robot_rl.wire.protocol.encode_array`, never pickles.

In the child a reader thread empties the request pipe into a queue (so the parent's
``submit`` never waits on a full pipe), and the main thread scores everything queued as one
batch of at most ``max_batch`` frames.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

import msgpack
import numpy as np

from robot_rl.rewards.base import RewardModel
from robot_rl.rewards.service import RewardResult, RewardServiceError
from robot_rl.wire.protocol import decode_array, encode_array

ModelFactory = Callable[..., RewardModel]


class ProcessRewardService:
    """A RewardModel built and run in a child process; ``submit``/``poll`` like RewardService.

    ``factory(*args)`` must be a module-level function (spawn imports it by name) that returns
    the model. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        factory: ModelFactory,
        *args: Any,
        max_batch: int = 32,
        max_pending: int = 1024,
        start_timeout_s: float = 120.0,
        torch_threads: int = 1,
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("reward_service: max_batch and max_pending must be >= 1")
        self.max_batch = max_batch
        self.max_pending = max_pending
        ctx = mp.get_context("spawn")
        req_recv, self._req_send = ctx.Pipe(duplex=False)
        self._res_recv, res_send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_serve,
            args=(factory, args, req_recv, res_send, max_batch, torch_threads),
            name="reward-service",
            daemon=True,
        )
        self._proc.start()
        req_recv.close()  # the child's ends: only the child holds them now
        res_send.close()
        self._sent_at: dict[int, float] = {}
        self._ready: deque[RewardResult] = deque()
        self._error: str | None = None
        self.batches = 0  # batches the child scored (for metrics)
        hello = self._receive(timeout_s=start_timeout_s)
        if hello is None:
            self.close()
            raise RewardServiceError(
                f"reward service: the model process did not start in {start_timeout_s} s"
            )
        if "error" in hello:
            self.close()
            raise RewardServiceError(f"reward service: building the model failed: {hello['error']}")
        self.hello = hello  # what the child said about its model (name, keys, hold)
        self.name: str = str(hello["name"])
        self.required_keys: tuple[str, ...] = tuple(hello["required_keys"])

    # -- requests -------------------------------------------------------------------------
    def submit(self, request_id: int, obs: Mapping[str, np.ndarray]) -> None:
        """Send one observation (unbatched arrays); returns at once. Raises when too many wait."""
        self._pump()
        if len(self._sent_at) >= self.max_pending:
            raise RewardServiceError(
                f"reward_service.max_pending: {self.max_pending} requests are waiting; "
                "the reward model is slower than the control loop"
            )
        if request_id in self._sent_at:
            raise ValueError(f"reward service: request id {request_id} is already pending")
        missing = [k for k in self.required_keys if k not in obs]
        if missing:
            raise ValueError(
                f"{self.name}: observation lacks {missing} (got keys {sorted(obs)}); "
                "the reward model reads them"
            )
        body = {
            "id": int(request_id),
            "obs": {k: encode_array(np.asarray(obs[k]), k) for k in self.required_keys},
        }
        self._sent_at[int(request_id)] = time.perf_counter()
        self._req_send.send_bytes(msgpack.packb(body))

    def poll(self) -> list[RewardResult]:
        """Results finished since the last poll (maybe none); never blocks."""
        self._pump()
        out = list(self._ready)
        self._ready.clear()
        return out

    def drain(self, count: int, *, timeout_s: float = 60.0) -> list[RewardResult]:
        """Block until ``count`` results arrived; raises on timeout or a failed model."""
        deadline = time.monotonic() + timeout_s
        self._pump()
        while len(self._ready) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RewardServiceError(
                    f"reward service: {len(self._ready)}/{count} results after {timeout_s} s"
                )
            self._pump(wait_s=min(left, 0.5))
        return [self._ready.popleft() for _ in range(count)]

    def score_step(self, obs: Mapping[str, np.ndarray], *, timeout_s: float = 30.0) -> RewardResult:
        """Score one observation and wait for it (the env wrapper's synchronous path)."""
        request_id = -1 - len(self._sent_at)  # negative ids: never a caller's (ids >= 0)
        while request_id in self._sent_at:
            request_id -= 1
        self.submit(request_id, obs)
        deadline = time.monotonic() + timeout_s
        while True:
            for i, result in enumerate(self._ready):
                if result.request_id == request_id:
                    del self._ready[i]
                    return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise RewardServiceError(
                    f"reward.timeout_s: no reward from {self.name!r} within {timeout_s} s"
                )
            self._pump(wait_s=min(left, 0.5))

    # -- lifecycle ------------------------------------------------------------------------
    def close(self, *, timeout_s: float = 30.0) -> None:
        """Let the child finish the queued requests, then stop it."""
        if not self._req_send.closed:
            self._req_send.close()  # the child's reader sees EOF
        self._proc.join(timeout=timeout_s)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5.0)
        if not self._res_recv.closed:
            self._res_recv.close()

    def __enter__(self) -> ProcessRewardService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------
    def _receive(self, *, timeout_s: float) -> dict[str, Any] | None:
        if not self._res_recv.poll(timeout_s):
            return None
        try:
            return dict(msgpack.unpackb(self._res_recv.recv_bytes(), raw=False))
        except EOFError:
            return {"error": f"the model process exited (exit code {self._proc.exitcode})"}

    def _pump(self, *, wait_s: float = 0.0) -> None:
        """Move every answer already in the pipe into ``_ready`` (waiting up to ``wait_s``)."""
        if self._error is not None:
            raise RewardServiceError(f"reward model {self.name!r} failed: {self._error}")
        while True:
            msg = self._receive(timeout_s=wait_s)
            if msg is None:
                if not self._proc.is_alive() and self._sent_at:
                    self._error = f"the model process died (exit code {self._proc.exitcode})"
                    raise RewardServiceError(f"reward model {self.name!r} failed: {self._error}")
                return
            wait_s = 0.0
            if "error" in msg:
                self._error = str(msg["error"])
                raise RewardServiceError(f"reward model {self.name!r} failed: {self._error}")
            now = time.perf_counter()
            reward = decode_array(msg["reward"], "reward")
            prob = decode_array(msg["success_prob"], "success_prob")
            success = decode_array(msg["success"], "success")
            for i, request_id in enumerate(msg["ids"]):
                sent = self._sent_at.pop(int(request_id), now)
                self._ready.append(
                    RewardResult(
                        int(request_id),
                        float(reward[i]),
                        float(prob[i]),
                        bool(success[i]),
                        now - sent,
                    )
                )
            self.batches += 1


def _serve(
    factory: ModelFactory,
    args: tuple[Any, ...],
    requests: Connection,
    results: Connection,
    max_batch: int,
    torch_threads: int,
) -> None:
    """Child process: build the model, then score queued requests in batches until EOF."""
    import torch

    torch.set_num_threads(max(1, torch_threads))
    try:
        model = factory(*args)
    except Exception as err:  # reported to the parent, which raises it
        results.send_bytes(msgpack.packb({"error": f"{type(err).__name__}: {err}"}))
        return
    hold = int(getattr(getattr(model, "config", None), "consecutive_steps", 1))
    hello = {"name": model.name, "required_keys": list(model.required_keys)}
    results.send_bytes(msgpack.packb({**hello, "consecutive_steps": hold}))
    inbox: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        while True:
            try:
                inbox.put(requests.recv_bytes())
            except (EOFError, OSError):
                inbox.put(None)
                return

    threading.Thread(target=read, name="reward-requests", daemon=True).start()
    done = False
    while not done:
        first = inbox.get()
        if first is None:
            return
        raw = [first]
        while len(raw) < max_batch:
            try:
                nxt = inbox.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                done = True  # score this last batch, then stop
                break
            raw.append(nxt)
        try:
            bodies = [msgpack.unpackb(r, raw=False) for r in raw]
            batch = {
                k: np.stack([decode_array(b["obs"][k], k) for b in bodies])
                for k in model.required_keys
            }
            out = model.score(batch)
        except Exception as err:  # reported to the parent on its next call
            results.send_bytes(msgpack.packb({"error": f"{type(err).__name__}: {err}"}))
            return
        results.send_bytes(
            msgpack.packb(
                {
                    "ids": [int(b["id"]) for b in bodies],
                    "reward": encode_array(out.reward.astype(np.float32), "reward"),
                    "success_prob": encode_array(out.success_prob.astype(np.float32), "prob"),
                    "success": encode_array(out.success.astype(bool), "success"),
                }
            )
        )
