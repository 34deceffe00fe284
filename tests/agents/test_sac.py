"""SAC: learns a bandit, ensemble shapes, detached actor encoder, guards, checkpoints."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents import AGENTS, BC, SAC, EncoderConfig, Policy, SACConfig
from robot_rl.agents.encoders import random_shift
from robot_rl.agents.networks import CriticEnsemble
from robot_rl.config import ConfigError, from_dict

PIXEL_SPEC = {
    "state": ((3,), np.dtype(np.float32)),
    "pixels_front": ((32, 32, 3), np.dtype(np.uint8)),
    "pixels_wrist": ((32, 32, 3), np.dtype(np.uint8)),
}
STATE_SPEC = {"state": ((3,), np.dtype(np.float32))}
SMALL = SACConfig(
    hidden_dims=(32, 32),
    critic_ensemble_size=4,
    utd_ratio=2,
    batch_size=8,
    encoder=EncoderConfig(conv_channels=(8, 8), conv_strides=(2, 2), latent_dim=16),
)


def random_batch(spec: dict, n: int, action_dim: int, *, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def obs() -> dict[str, torch.Tensor]:
        out = {}
        for key, (shape, dtype) in spec.items():
            if dtype == np.uint8:
                out[key] = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
            else:
                out[key] = torch.randn((n, *shape), generator=g)
        return out

    return {
        keys.OBS: obs(),
        keys.NEXT_OBS: obs(),
        keys.ACTION: torch.rand((n, action_dim), generator=g) * 2 - 1,
        keys.REWARD: torch.rand(n, generator=g),
        keys.TERMINATED: (torch.rand(n, generator=g) < 0.1).float(),
    }


def single_obs(spec: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: rng.integers(0, 256, shape, dtype=np.uint8)
        if dtype == np.uint8
        else rng.standard_normal(shape).astype(np.float32)
        for k, (shape, dtype) in spec.items()
    }


def test_registry_and_config_validation() -> None:
    assert AGENTS == {"sac": SAC, "bc": BC}
    with pytest.raises(ValueError, match="critic_subsample"):
        SACConfig(critic_ensemble_size=2, critic_subsample=3).validate()
    with pytest.raises(ConfigError, match=r"encoder\.drq_pad"):
        from_dict(SACConfig, {"encoder": {"drq_pad": -1}})
    cfg = from_dict(SACConfig, {"hidden_dims": [64, 64], "encoder": {"type": "none"}})
    assert cfg.hidden_dims == (64, 64) and cfg.encoder.type == "none"


def test_critic_ensemble_vectorised_matches_members_and_subsets() -> None:
    torch.manual_seed(0)
    critic = CriticEnsemble(5 + 2, (16, 16), 6)
    feats, act = torch.randn(9, 5), torch.randn(9, 2)
    q = critic(feats, act)
    assert q.shape == (6, 9)
    members = torch.tensor([4, 1])
    np.testing.assert_allclose(
        critic(feats, act, members=members).detach(), q[members].detach(), rtol=1e-5, atol=1e-6
    )
    # Member 3 computed by hand as an ordinary MLP.
    x = torch.cat([feats, act], -1)
    h = x @ critic.weights[0][3] + critic.biases[0][3]
    for i in range(1, 3):
        h = (
            torch.nn.functional.layer_norm(h, (16,)) * critic.ln_weights[i - 1][3]
            + critic.ln_biases[i - 1][3]
        )
        h = torch.relu(h) @ critic.weights[i][3] + critic.biases[i][3]
    np.testing.assert_allclose(h.squeeze(-1).detach(), q[3].detach(), rtol=1e-5, atol=1e-5)


def test_random_shift_keeps_shape_dtype_and_bounds() -> None:
    images = torch.randint(0, 256, (5, 16, 12, 3), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    shifted = random_shift(images, 4, g)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    assert torch.equal(random_shift(images, 0, g), images)
    # Interior pixels come from a shifted copy of the same image (shift <= pad).
    for b in range(5):
        found = any(
            torch.equal(shifted[b, 4:12, 4:8], images[b, 4 + dy : 12 + dy, 4 + dx : 8 + dx])
            for dy in range(-4, 5)
            for dx in range(-4, 5)
        )
        assert found


def test_actor_loss_leaves_encoder_grads_zero() -> None:
    sac = SAC(PIXEL_SPEC, 2, SMALL, device="cpu")
    batch = random_batch(PIXEL_SPEC, 8, 2)
    _, _, features = sac.critic_loss(batch)
    sac.critic_optimizer.zero_grad(set_to_none=True)
    sac.actor_optimizer.zero_grad(set_to_none=True)
    loss, _, _ = sac.actor_loss(features)
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in sac.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in sac.actor.parameters())
    # ...while the critic loss does train the encoder.
    critic_loss, _, _ = sac.critic_loss(batch)
    critic_loss.backward()
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in sac.encoder.trunk.parameters()
    )


def test_update_returns_stable_scalars_and_counts() -> None:
    sac = SAC(PIXEL_SPEC, 2, SMALL, device="auto")
    values = sac.update(random_batch(PIXEL_SPEC, 16, 2))
    assert set(values) == {
        "losses/critic",
        "losses/actor",
        "losses/temperature",
        "charts/temperature",
        "charts/q_mean",
        "charts/entropy",
    }
    assert all(isinstance(v, float) and np.isfinite(v) for v in values.values())
    assert sac.critic_updates == 2 and sac.actor_updates == 1
    assert sac.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_policy_from_policy_state_dict_acts_like_sac() -> None:
    sac = SAC(PIXEL_SPEC, 2, SMALL, device="cpu", seed=3)
    sac.update(random_batch(PIXEL_SPEC, 16, 2))
    policy = Policy(PIXEL_SPEC, 2, SMALL).eval()
    tensors = sac.policy_state_dict()
    assert all(t.device.type == "cpu" and t.is_contiguous() for t in tensors.values())
    policy.load_state_dict(tensors)
    for seed in range(3):
        obs = single_obs(PIXEL_SPEC, seed)
        a = sac.act(obs, deterministic=True)
        assert a.dtype == np.float32 and a.shape == (2,)
        np.testing.assert_array_equal(policy.act(obs, deterministic=True), a)
    stochastic = policy.act(single_obs(PIXEL_SPEC), deterministic=False)
    assert np.all(np.abs(stochastic) <= 1)


def test_nan_guards() -> None:
    sac = SAC(STATE_SPEC, 2, replace(SMALL, encoder=EncoderConfig()), device="cpu")
    batch = random_batch(STATE_SPEC, 16, 2)
    batch[keys.REWARD][3] = float("nan")
    with pytest.raises(FloatingPointError, match="losses/critic"):
        sac.update(batch)
    with torch.no_grad():
        sac.actor.net[-1].bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        sac.act(single_obs(STATE_SPEC))


def test_checkpoint_round_trip_is_exact() -> None:
    sac = SAC(PIXEL_SPEC, 2, SMALL, device="cpu", seed=1)
    sac.update(random_batch(PIXEL_SPEC, 16, 2, seed=1))
    blob = io.BytesIO()
    torch.save(sac.state_dict(), blob)
    blob.seek(0)
    restored = SAC(PIXEL_SPEC, 2, SMALL, device="cpu", seed=99)
    restored.load_state_dict(torch.load(blob, weights_only=True))
    obs = single_obs(PIXEL_SPEC)
    np.testing.assert_array_equal(
        restored.act(obs, deterministic=True), sac.act(obs, deterministic=True)
    )
    batch = random_batch(PIXEL_SPEC, 16, 2, seed=2)
    assert restored.update(batch) == sac.update(batch)  # same weights, Adam moments and RNG
    assert restored.actor_updates == sac.actor_updates == 2


@pytest.mark.learning
def test_sac_learns_a_continuous_bandit(learn_seed: int, record_figure) -> None:  # type: ignore[no-untyped-def]
    """One-step task: reward 1 - (a - target)^2 per dim; Q and the policy must find the target.

    `make test-repeat` (seeds 0..4): action error worst 0.019 (bound < 0.15), Q gap worst 2.07
    (bound > 0.5). No rendering, so the GL backend does not enter.
    """
    target = torch.tensor([0.6, -0.4])
    config = SACConfig(
        hidden_dims=(64, 64),
        critic_ensemble_size=2,
        utd_ratio=2,
        batch_size=64,
        actor_lr=1e-3,
        critic_lr=1e-3,
    )
    sac = SAC(STATE_SPEC, 2, config, device="cpu", seed=learn_seed)
    g = torch.Generator().manual_seed(learn_seed)
    obs = single_obs(STATE_SPEC)
    start = sac.act(obs, deterministic=True)
    n = config.utd_ratio * config.batch_size
    for _ in range(300):
        state = torch.zeros(n, 3)
        action = torch.rand((n, 2), generator=g) * 2 - 1
        batch = {
            keys.OBS: {"state": state},
            keys.NEXT_OBS: {"state": state},
            keys.ACTION: action,
            keys.REWARD: 1 - ((action - target) ** 2).sum(-1),
            keys.TERMINATED: torch.ones(n),
        }
        sac.update(batch)
    final = sac.act({"state": np.zeros(3, np.float32)}, deterministic=True)
    error = float(np.abs(final - target.numpy()).max())
    record_figure("action_error", error, bound=0.15, higher_is_better=False)
    assert error < 0.15, (start, final)
    with torch.no_grad():
        feats = torch.zeros(2, 3)
        q = sac.critic(feats, torch.stack([target, -target])).mean(0)
    record_figure("q_gap", float(q[0] - q[1]), bound=0.5)
    assert q[0] > q[1] + 0.5


def test_pretrained_encoder_needs_local_file(tmp_path) -> None:
    missing = tmp_path / "resnet10.safetensors"
    config = replace(
        SMALL, encoder=EncoderConfig(type="pretrained", encoder_weights_path=str(missing))
    )
    with pytest.raises(FileNotFoundError, match=r"resnet10\.safetensors"):
        SAC(PIXEL_SPEC, 2, config, device="cpu")
    from safetensors.torch import save_file

    from robot_rl.agents.encoders import ResNet10

    weights = {k: v for k, v in ResNet10((32, 32)).state_dict().items() if k not in ("mean", "std")}
    save_file(weights, str(missing))
    sac = SAC(PIXEL_SPEC, 2, config, device="cpu")
    assert not any(p.requires_grad for p in sac.encoder.trunk.parameters())
    values = sac.update(random_batch(PIXEL_SPEC, 8, 2))
    assert np.isfinite(values["losses/critic"])
    torch.testing.assert_close(sac.encoder.trunk.conv1.weight, weights["conv1.weight"])


def test_state_normalizer_standardises_and_travels_with_the_weights() -> None:
    """Entries on very different scales (N, rad, m) reach the MLP standardised and clipped; the
    shift and scale are part of the policy's weights, so the actor's copy acts the same."""
    sac = SAC(STATE_SPEC, 2, SACConfig(hidden_dims=(16,), critic_ensemble_size=2), device="cpu")
    rng = np.random.default_rng(0)
    rows = rng.normal([100.0, 0.5, -2.0], [30.0, 0.05, 0.0], size=(500, 3)).astype(np.float32)
    encoder = sac.policy.encoder
    encoder.fit_state_normalizer(rows)
    out = encoder({"state": torch.from_numpy(rows)}).numpy()
    np.testing.assert_allclose(out[:, :2].mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out[:, :2].std(0), 1.0, atol=1e-3)
    np.testing.assert_allclose(out[:, 2], 0.0, atol=1e-4)  # constant entry: floor std, centred
    far = encoder({"state": torch.tensor([[1e6, 0.5, -2.0]])}).numpy()
    assert far[0, 0] == encoder.state_clip
    policy = Policy(STATE_SPEC, 2, sac.config).eval()
    policy.load_state_dict(sac.policy_state_dict())
    obs = {"state": rows[0]}
    np.testing.assert_array_equal(
        policy.act(obs, deterministic=True), sac.act(obs, deterministic=True)
    )
    with pytest.raises(ValueError, match="state normalizer"):
        encoder.fit_state_normalizer(np.full((3, 3), np.nan, np.float32))
    off = SAC(STATE_SPEC, 2, SACConfig(encoder=EncoderConfig(normalize_state=False)), device="cpu")
    off.policy.encoder.fit_state_normalizer(rows)
    np.testing.assert_array_equal(
        off.policy.encoder({"state": torch.from_numpy(rows)}).numpy(), rows
    )


def test_actor_delay_trains_only_the_critic_first() -> None:
    sac = SAC(STATE_SPEC, 2, replace(SMALL, actor_delay=2), device="cpu", seed=0)
    actor0 = [p.detach().clone() for p in sac.actor.parameters()]
    critic0 = [p.detach().clone() for p in sac.critic.parameters()]
    alpha0 = float(sac.alpha)
    for i in range(2):
        sac.update(random_batch(STATE_SPEC, 16, 2, seed=i))
        assert all(torch.equal(a, b) for a, b in zip(actor0, sac.actor.parameters()))
        assert float(sac.alpha) == alpha0
    assert not all(torch.equal(a, b) for a, b in zip(critic0, sac.critic.parameters()))
    assert (sac.updates, sac.actor_updates, sac.critic_updates) == (2, 0, 4)
    sac.update(random_batch(STATE_SPEC, 16, 2, seed=2))
    assert not all(torch.equal(a, b) for a, b in zip(actor0, sac.actor.parameters()))
    assert (sac.updates, sac.actor_updates) == (3, 1)
    restored = SAC(STATE_SPEC, 2, replace(SMALL, actor_delay=2), device="cpu", seed=1)
    restored.load_state_dict(sac.state_dict())
    assert (restored.updates, restored.actor_updates) == (3, 1)
