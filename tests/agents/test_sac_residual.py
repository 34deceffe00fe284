"""SAC with a behaviour-cloning base policy: pre-training, the residual's bound, the fixed
exploration std, checkpoints and config errors."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents import SAC, Policy, SACConfig
from robot_rl.agents.sac import BASE_MEAN_LIMIT

STATE_SPEC = {"state": ((3,), np.dtype(np.float32))}
RESIDUAL = SACConfig(
    hidden_dims=(32, 32),
    critic_ensemble_size=2,
    utd_ratio=2,
    batch_size=32,
    base_policy="bc",
    residual_scale=0.3,
    base_pretrain_updates=300,
    action_std=0.05,
)


def demo_batch(n: int, *, seed: int = 0) -> dict:
    """Demo rows whose action is a fixed function of the state: a = 0.8 * tanh(s @ W)."""
    g = torch.Generator().manual_seed(seed)
    state = torch.randn((n, 3), generator=g)
    weight = torch.tensor([[1.0, -0.5], [0.3, 0.8], [-0.6, 0.2]])
    return {
        keys.OBS: {"state": state},
        keys.NEXT_OBS: {"state": torch.randn((n, 3), generator=g)},
        keys.ACTION: 0.8 * torch.tanh(state @ weight),
        keys.REWARD: torch.zeros(n),
        keys.TERMINATED: torch.zeros(n),
        keys.IS_DEMO: torch.ones(n),
    }


def test_pretraining_fits_the_base_and_the_policy_starts_at_it() -> None:
    agent = SAC(STATE_SPEC, 2, RESIDUAL, device="cpu", seed=0)
    held_out = demo_batch(256, seed=99)
    with torch.no_grad():
        before = float(agent.base_loss(held_out))
    values = agent.pretrain(lambda n: demo_batch(n, seed=agent.base_updates))
    with torch.no_grad():
        after = float(agent.base_loss(held_out))
    assert agent.base_updates == RESIDUAL.base_pretrain_updates
    assert values["losses/base_bc"] < 0.05 < before, (before, values)
    assert after < 0.1 * before
    # The residual starts near zero: the acting mean is the base's, the std the configured one.
    obs = held_out[keys.OBS]
    with torch.no_grad():
        base = agent.policy.base_mean(obs)
        mean, log_std = agent.policy.mean_log_std(obs)
    assert base is not None
    assert torch.allclose(mean, base, atol=0.02)
    assert torch.allclose(log_std.exp(), torch.full_like(log_std, 0.05), rtol=0.05)
    action = agent.act({"state": obs["state"][0].numpy()}, deterministic=True)
    np.testing.assert_allclose(action, held_out[keys.ACTION][0].numpy(), atol=0.15)


def test_the_residual_cannot_move_the_mean_further_than_its_scale() -> None:
    agent = SAC(STATE_SPEC, 2, RESIDUAL, device="cpu", seed=1)
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.mul_(50.0)  # a critic that pulled as hard as it could
    obs = demo_batch(128, seed=3)[keys.OBS]
    with torch.no_grad():
        base = agent.policy.base_mean(obs)
        mean, _ = agent.policy.mean_log_std(obs)
    assert base is not None
    assert (base.abs() <= BASE_MEAN_LIMIT).all()
    gap = (mean - base).abs()
    assert (gap <= RESIDUAL.residual_scale + 1e-6).all()
    assert gap.max() > 0.9 * RESIDUAL.residual_scale  # and it does use its range


def test_per_entry_residual_scales_bound_each_entry_and_keep_the_policy_file_keys() -> None:
    config = replace(RESIDUAL, residual_scales=(0.05, 0.6))
    agent = SAC(STATE_SPEC, 2, config, device="cpu", seed=1)
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.mul_(50.0)
    obs = demo_batch(128, seed=3)[keys.OBS]
    with torch.no_grad():
        base = agent.policy.base_mean(obs)
        mean, _ = agent.policy.mean_log_std(obs)
    assert base is not None
    gap = (mean - base).abs()
    for entry, bound in enumerate(config.residual_scales or ()):
        assert (gap[:, entry] <= bound + 1e-6).all()
        assert gap[:, entry].max() > 0.9 * bound
    # the bounds come from the config on both ends: weights load into a one-bound policy's keys
    plain = Policy(STATE_SPEC, 2, RESIDUAL)
    plain.load_state_dict(agent.policy.state_dict())


@pytest.mark.parametrize(
    ("scales", "message"),
    [((0.1, -0.2), "residual_scales must be finite numbers > 0"), ((), "finite numbers > 0")],
)
def test_bad_residual_scales_are_named(scales: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SAC(STATE_SPEC, 2, replace(RESIDUAL, residual_scales=scales), device="cpu")


def test_residual_scales_of_the_wrong_length_name_the_field_and_the_count() -> None:
    with pytest.raises(ValueError, match=r"residual_scales: expected 2 values .* got 3"):
        SAC(STATE_SPEC, 2, replace(RESIDUAL, residual_scales=(0.1, 0.1, 0.1)), device="cpu")


def test_updates_train_the_residual_and_the_base_and_the_base_gets_no_critic_gradient() -> None:
    agent = SAC(STATE_SPEC, 2, RESIDUAL, device="cpu", seed=2)
    agent.pretrain(lambda n: demo_batch(n, seed=agent.base_updates))
    batch = demo_batch(2 * RESIDUAL.batch_size, seed=7)
    batch[keys.IS_DEMO] = (torch.arange(2 * RESIDUAL.batch_size) % 2).float()
    batch[keys.REWARD] = torch.rand(2 * RESIDUAL.batch_size)
    base_before = [p.detach().clone() for p in agent.base.parameters()]  # type: ignore[union-attr]
    actor_before = [p.detach().clone() for p in agent.actor.parameters()]
    values = agent.update(batch)
    assert np.isfinite(values["losses/base_bc"])
    assert agent.base_updates == RESIDUAL.base_pretrain_updates + 1
    assert any(
        not torch.equal(a, b) for a, b in zip(actor_before, agent.actor.parameters(), strict=True)
    )
    # The base moved by one BC step only: with every demo row's action matching it, a BC step
    # on an already fitted base is small, unlike the critic's pull.
    moved = max(
        float((a - b).abs().max())
        for a, b in zip(base_before, agent.base.parameters(), strict=True)  # type: ignore[union-attr]
    )
    assert 0 < moved < 0.01


@pytest.mark.parametrize("fixed", [True, False])
def test_a_fixed_std_keeps_the_temperature_fixed(fixed: bool) -> None:
    """With a fixed std the entropy the temperature could steer is only the tanh's, and
    steering it pushes every action toward 0: the temperature stays where it starts."""
    config = replace(RESIDUAL, action_std=0.05 if fixed else None, base_pretrain_updates=0)
    agent = SAC(STATE_SPEC, 2, config, device="cpu", seed=3)
    start = float(agent.alpha)
    for k in range(20):
        values = agent.update(demo_batch(2 * config.batch_size, seed=k))
        assert np.isfinite(values["losses/temperature"])
    assert agent.actor_updates == 20
    if fixed:
        assert float(agent.alpha) == start
    else:  # a learned std's entropy is far from the target at first: the temperature moves
        assert abs(float(agent.alpha) - start) > 1e-3 * start


def test_checkpoint_round_trip_keeps_the_base_and_its_optimiser() -> None:
    agent = SAC(STATE_SPEC, 2, RESIDUAL, device="cpu", seed=3)
    agent.pretrain(lambda n: demo_batch(n, seed=agent.base_updates))
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    other = SAC(STATE_SPEC, 2, RESIDUAL, device="cpu", seed=4)
    other.load_state_dict(torch.load(buffer, weights_only=False))
    assert other.base_updates == agent.base_updates
    obs = {"state": np.array([0.3, -0.2, 0.5], np.float32)}
    np.testing.assert_array_equal(
        agent.act(obs, deterministic=True), other.act(obs, deterministic=True)
    )
    # The acting policy of the actor process loads the pushed weights, base included.
    policy = Policy(STATE_SPEC, 2, RESIDUAL)
    policy.load_state_dict(agent.policy_state_dict())
    np.testing.assert_array_equal(
        policy.act(obs, deterministic=True), agent.act(obs, deterministic=True)
    )
    plain = SAC(STATE_SPEC, 2, replace(RESIDUAL, base_policy="none"), device="cpu", seed=0)
    with pytest.raises((KeyError, RuntimeError), match="base"):
        agent.load_state_dict(plain.state_dict())


def test_plain_sac_has_no_base_and_pretrain_is_a_no_op() -> None:
    agent = SAC(STATE_SPEC, 2, replace(RESIDUAL, base_policy="none"), device="cpu", seed=0)
    assert agent.base is None and agent.pretrain(lambda n: demo_batch(n)) == {}
    with torch.no_grad():
        _, log_std = agent.policy.mean_log_std(demo_batch(16)[keys.OBS])
    assert torch.allclose(log_std.exp(), torch.full_like(log_std, 0.05), rtol=0.05)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_policy", "dagger", "base_policy"),
        ("residual_scale", 0.0, "residual_scale"),
        ("base_pretrain_updates", -1, "base_pretrain_updates"),
    ],
)
def test_bad_fields_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(RESIDUAL, **{field: value}).validate()


def test_an_action_std_out_of_range_is_named() -> None:
    with pytest.raises(ValueError, match="action_std"):
        SAC(STATE_SPEC, 2, replace(RESIDUAL, action_std=50.0), device="cpu")
