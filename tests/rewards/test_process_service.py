"""Reward model in its own process: batched async requests over msgpack pipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.rewards import load_classifier
from robot_rl.rewards.process_service import ProcessRewardService
from robot_rl.rewards.service import (
    RewardServiceError,
    load_delayed_classifier,
    measure_service_stall,
)

pytestmark = pytest.mark.twin  # the classifier fixture records twin frames


def frames(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {"pixels_front": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)}  # (H, W, 3) uint8
        for _ in range(n)
    ]


def test_batched_results_match_the_model(twin_classifier_path: Path) -> None:
    obs = frames(12)
    expected = load_classifier(twin_classifier_path).score(
        {"pixels_front": np.stack([o["pixels_front"] for o in obs])}
    )
    with ProcessRewardService(
        load_delayed_classifier, str(twin_classifier_path), 0.05, max_batch=8
    ) as service:
        assert service.name.startswith("classifier") and service.required_keys == ("pixels_front",)
        for i, o in enumerate(obs):
            service.submit(i, o)
        results = sorted(service.drain(12, timeout_s=60), key=lambda r: r.request_id)
        assert service.batches < 12  # requests queued behind the slow model were batched
    assert [r.request_id for r in results] == list(range(12))
    np.testing.assert_allclose([r.success_prob for r in results], expected.success_prob, atol=1e-6)
    assert [r.success for r in results] == expected.success.tolist()
    assert all(r.latency_s > 0 for r in results)


def test_slow_model_does_not_stall_the_loop(twin_classifier_path: Path) -> None:
    service = ProcessRewardService(load_delayed_classifier, str(twin_classifier_path), 0.2)
    stats = measure_service_stall(service, frames(15), control_hz=10.0)
    assert stats["reward_call_max_ms"] < 50.0, stats  # a 200 ms model, a 100 ms period
    assert stats["overrun_fraction"] <= 0.1, stats
    assert stats["result_latency_mean_ms"] >= 200.0, stats


def test_errors_are_reported(twin_classifier_path: Path, tmp_path: Path) -> None:
    with pytest.raises(RewardServiceError, match=r"FileNotFoundError.*nope\.safetensors"):
        ProcessRewardService(load_delayed_classifier, str(tmp_path / "nope.safetensors"), 0.0)
    with ProcessRewardService(load_delayed_classifier, str(twin_classifier_path), 0.0) as service:
        with pytest.raises(ValueError, match=r"lacks.*pixels_front"):
            service.submit(0, {"pixels_wrist": frames(1)[0]["pixels_front"]})
        service.submit(1, {"pixels_front": np.zeros((32, 32, 3), np.float32)})  # wrong dtype
        with pytest.raises(RewardServiceError, match="uint8"):
            service.drain(1, timeout_s=60)
        with pytest.raises(RewardServiceError, match="uint8"):
            service.poll()  # the failure stays reported
