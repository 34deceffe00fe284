"""Asynchronous reward inference: the control loop asks, a worker thread answers later.

The actor calls :meth:`RewardService.submit` with the observation of step t (a copy of the
needed keys, no waiting) and collects finished rewards with :meth:`RewardService.poll` on a
later step. The worker drains the queue into batches of up to ``max_batch`` frames, so a slow
model (a VLM on CPU) costs throughput, never control-loop latency. A thread is enough in one
process because torch releases the GIL inside its kernels; ``measure_stall`` checks that.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from robot_rl.rewards.base import Batch, RewardModel, RewardOutput


class RewardServiceError(RuntimeError):
    """The reward worker failed or the request queue is full; the message says which."""


@dataclass(frozen=True)
class RewardResult:
    """The answer to one request."""

    request_id: int
    reward: float
    success_prob: float
    success: bool
    latency_s: float
    """Seconds from submit() to the result being ready."""


class DelayedReward:
    """A RewardModel that sleeps ``delay_s`` per batch before scoring (stall benchmarks)."""

    def __init__(self, model: RewardModel, *, delay_s: float) -> None:
        self.model = model
        self.delay_s = delay_s
        self.name = f"{model.name}+{delay_s * 1e3:.0f}ms"
        self.required_keys = model.required_keys

    def score(self, batch: Batch) -> RewardOutput:
        """Sleep, then score with the wrapped model."""
        time.sleep(self.delay_s)
        return self.model.score(batch)


def load_delayed_classifier(path: str, delay_s: float) -> DelayedReward:
    """A saved classifier that sleeps ``delay_s`` per batch (a process-service factory)."""
    from robot_rl.rewards.classifier import load_classifier

    return DelayedReward(load_classifier(path), delay_s=delay_s)


class RewardService:
    """Runs a RewardModel in a worker thread fed by a bounded queue (use as a context manager)."""

    def __init__(self, model: RewardModel, *, max_batch: int = 32, max_pending: int = 1024) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("reward_service: max_batch and max_pending must be >= 1")
        self.model = model
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._requests: queue.Queue[tuple[int, dict[str, np.ndarray], float] | None] = queue.Queue(
            max_pending
        )
        self._results: queue.Queue[RewardResult] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reward-service", daemon=True)
        self._thread.start()
        self.batches = 0  # batches scored so far (for metrics)

    def submit(self, request_id: int, obs: Mapping[str, np.ndarray]) -> None:
        """Queue one observation (unbatched arrays); never blocks. Raises when the queue is full."""
        self._raise_if_failed()
        item = {k: np.array(obs[k], copy=True) for k in self.model.required_keys}
        try:
            self._requests.put_nowait((request_id, item, time.perf_counter()))
        except queue.Full:
            raise RewardServiceError(
                f"reward_service.max_pending: {self.max_pending} requests are waiting; "
                "the reward model is slower than the control loop"
            ) from None

    def poll(self) -> list[RewardResult]:
        """Results finished since the last poll (maybe none); never blocks."""
        self._raise_if_failed()
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def drain(self, count: int, *, timeout_s: float = 60.0) -> list[RewardResult]:
        """Block until ``count`` results arrived (end of episode, tests); raises on timeout."""
        out: list[RewardResult] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            self._raise_if_failed()
            try:
                out.append(
                    self._results.get(timeout=min(0.05, max(deadline - time.monotonic(), 0)))
                )
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise RewardServiceError(
                        f"reward service: {len(out)}/{count} results after {timeout_s} s"
                    ) from None
        return out

    def close(self) -> None:
        """Stop the worker after the queued requests."""
        if self._thread.is_alive():
            self._requests.put(None)
            self._thread.join(timeout=30.0)

    def __enter__(self) -> RewardService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RewardServiceError(f"reward model {self.model.name!r} failed: {self._error!r}")

    def _run(self) -> None:
        while True:
            first = self._requests.get()
            if first is None:
                return
            items = [first]
            while len(items) < self.max_batch:
                try:
                    nxt = self._requests.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._requests.put(None)  # finish this batch, then stop
                    break
                items.append(nxt)
            batch = {k: np.stack([it[1][k] for it in items]) for k in self.model.required_keys}
            try:
                out = self.model.score(batch)
            except Exception as err:  # surfaced to the actor by the next submit/poll
                self._error = err
                return
            self.batches += 1
            now = time.perf_counter()
            for i, (request_id, _, t0) in enumerate(items):
                reward, prob, success = out.row(i)
                self._results.put(RewardResult(request_id, reward, prob, success, now - t0))


class AsyncRewardService(Protocol):
    """What a control loop needs of a reward service (thread or process)."""

    def submit(self, request_id: int, obs: Mapping[str, np.ndarray]) -> None: ...

    def poll(self) -> list[RewardResult]: ...

    def drain(self, count: int, *, timeout_s: float = 60.0) -> list[RewardResult]: ...

    def close(self) -> None: ...


def measure_stall(
    model: RewardModel,
    observations: Sequence[Mapping[str, np.ndarray]],
    *,
    control_hz: float = 10.0,
    use_service: bool = True,
    work: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Run a paced control loop over ``observations``; time what reward inference costs it.

    Each step does ``work`` (the policy, the env), then asks for the step's reward: through
    a thread :class:`RewardService` (submit + poll) or synchronously (``model.score``).
    Returns the reward call's mean and max time per step (ms), the share of steps that
    overran the control period and the mean result latency (ms).
    """
    if use_service:
        return measure_service_stall(
            RewardService(model), observations, control_hz=control_hz, work=work
        )
    return _paced_loop(
        observations,
        control_hz=control_hz,
        work=work,
        ask=lambda t, obs: model.score({k: np.asarray(obs[k])[None] for k in model.required_keys}),
    )


def measure_service_stall(
    service: AsyncRewardService,
    observations: Sequence[Mapping[str, np.ndarray]],
    *,
    control_hz: float = 10.0,
    work: Callable[[], None] | None = None,
) -> dict[str, float]:
    """:func:`measure_stall` through a started service (thread or process); closes it."""
    latency: list[float] = []

    def ask(t: int, obs: Mapping[str, np.ndarray]) -> None:
        service.submit(t, obs)
        latency.extend(r.latency_s for r in service.poll())

    try:
        stats = _paced_loop(observations, control_hz=control_hz, work=work, ask=ask)
        left = len(observations) - len(latency)
        latency.extend(r.latency_s for r in service.drain(left, timeout_s=600.0))
    finally:
        service.close()
    stats["result_latency_mean_ms"] = round(float(np.mean(latency)) * 1e3, 2)
    return stats


def _paced_loop(
    observations: Sequence[Mapping[str, np.ndarray]],
    *,
    control_hz: float,
    work: Callable[[], None] | None,
    ask: Callable[[int, Mapping[str, np.ndarray]], object],
) -> dict[str, float]:
    """Control loop at ``control_hz``: work, then ``ask`` for the reward; time the asks."""
    period = 1.0 / control_hz
    call_s: list[float] = []
    overruns = 0
    for t, obs in enumerate(observations):
        start = time.perf_counter()
        if work is not None:
            work()
        t0 = time.perf_counter()
        ask(t, obs)
        call_s.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        overruns += elapsed > period
        time.sleep(max(0.0, period - elapsed))
    return {
        "reward_call_mean_ms": round(float(np.mean(call_s)) * 1e3, 3),
        "reward_call_max_ms": round(float(np.max(call_s)) * 1e3, 3),
        "overrun_fraction": round(overruns / len(observations), 3),
        # synchronous calls: the result is there when the call returns
        "result_latency_mean_ms": round(float(np.mean(call_s)) * 1e3, 2),
    }
