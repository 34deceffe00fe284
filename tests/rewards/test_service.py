"""Asynchronous reward service: the control loop never waits for a slow model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from robot_rl.rewards import (
    GT_CUBE_HEIGHT,
    GT_GRASPED,
    DelayedReward,
    GroundTruthReward,
    RewardService,
    measure_stall,
)
from robot_rl.rewards.service import RewardServiceError


def obs(height: float, grasped: bool) -> dict[str, np.ndarray]:
    return {GT_CUBE_HEIGHT: np.float32(height), GT_GRASPED: np.bool_(grasped)}  # type: ignore[dict-item]


def test_results_arrive_later_and_match_sync() -> None:
    slow = DelayedReward(GroundTruthReward(), delay_s=0.05)
    steps = [obs(0.01 * t, t % 2 == 0) for t in range(12)]
    with RewardService(slow, max_batch=8) as service:
        start = time.perf_counter()
        for t, o in enumerate(steps):
            service.submit(t, o)
        submit_s = time.perf_counter() - start
        results = sorted(service.drain(len(steps)), key=lambda r: r.request_id)
    assert submit_s < 0.02  # 12 submits while the model sleeps 50 ms per batch
    assert [r.request_id for r in results] == list(range(12))
    assert [r.success for r in results] == [0.01 * t >= 0.05 and t % 2 == 0 for t in range(12)]
    assert service.batches < 12  # requests were batched


def test_slow_model_does_not_stall_loop() -> None:
    slow = DelayedReward(GroundTruthReward(), delay_s=0.08)
    steps = [obs(0.1, True)] * 8
    asynchronous = measure_stall(slow, steps, control_hz=20.0, use_service=True)
    synchronous = measure_stall(slow, steps, control_hz=20.0, use_service=False)
    assert asynchronous["reward_call_max_ms"] < 20.0 and asynchronous["overrun_fraction"] == 0.0
    assert synchronous["overrun_fraction"] == 1.0


def test_worker_errors_and_backlog_are_reported() -> None:
    service = RewardService(GroundTruthReward())
    service.submit(0, {GT_CUBE_HEIGHT: np.zeros(2), GT_GRASPED: np.zeros(3, bool)})  # ragged
    with pytest.raises(RewardServiceError, match="ground_truth"):
        service.drain(1, timeout_s=5.0)
    service.close()
    with (
        RewardService(
            DelayedReward(GroundTruthReward(), delay_s=0.2), max_batch=1, max_pending=2
        ) as busy,
        pytest.raises(RewardServiceError, match="max_pending"),
    ):
        for t in range(10):
            busy.submit(t, obs(0.0, False))
