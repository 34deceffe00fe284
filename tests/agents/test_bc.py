"""BC fits demonstrations and shares the acting interface of SAC."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents import BC, BCConfig, BCPolicy, EncoderConfig

SPEC = {"state": ((4,), np.dtype(np.float32))}


def demo_batch(n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    state = torch.randn((n, 4), generator=g)
    action = torch.tanh(state[:, :2] * 1.5 - state[:, 2:] * 0.5)  # smooth expert in (-1, 1)
    return {keys.OBS: {"state": state}, keys.ACTION: action}


@pytest.mark.learning
def test_bc_fits_demos_and_policy_matches(learn_seed: int, record_figure) -> None:  # type: ignore[no-untyped-def]
    """`make test-repeat` (seeds 0..4): final/first loss worst 0.0013 (bound < 0.05)."""
    bc = BC(SPEC, 2, BCConfig(hidden_dims=(64, 64), lr=1e-3), device="cpu", seed=learn_seed)
    train = demo_batch(256, learn_seed)
    first = bc.update(train)["losses/bc"]
    for _ in range(300):
        last = bc.update(train)["losses/bc"]
    record_figure("loss_ratio", last / first, bound=0.05, higher_is_better=False)
    assert last < 0.05 * first
    policy = BCPolicy(SPEC, 2, bc.config).eval()
    policy.load_state_dict(bc.policy_state_dict())
    obs = {"state": train[keys.OBS]["state"][0].numpy()}
    np.testing.assert_allclose(policy.act(obs), train[keys.ACTION][0].numpy(), atol=0.15)
    np.testing.assert_array_equal(policy.act(obs), bc.act(obs, deterministic=True))


def test_bc_nll_handles_saturated_actions_and_pixels() -> None:
    spec = {**SPEC, "pixels_front": ((24, 24, 3), np.dtype(np.uint8))}
    config = BCConfig(
        hidden_dims=(32,),
        loss="nll",
        encoder=EncoderConfig(conv_channels=(8,), conv_strides=(2,), latent_dim=8),
    )
    bc = BC(spec, 2, config, device="cpu")
    batch = demo_batch(16, 1)
    batch[keys.OBS]["pixels_front"] = torch.randint(0, 256, (16, 24, 24, 3), dtype=torch.uint8)
    batch[keys.ACTION][:, 1] = 1.0  # gripper fully closed
    values = [bc.update(batch)["losses/bc"] for _ in range(20)]
    assert np.isfinite(values).all() and values[-1] < values[0]
    state = bc.state_dict()
    restored = BC(spec, 2, config, device="cpu", seed=5)
    restored.load_state_dict(state)
    obs = {"state": np.zeros(4, np.float32), "pixels_front": np.zeros((24, 24, 3), np.uint8)}
    np.testing.assert_array_equal(
        restored.act(obs, deterministic=True), bc.act(obs, deterministic=True)
    )
