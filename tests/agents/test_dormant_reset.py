"""DrM's dormant-ratio-guided perturbation (sac.dormant_reset): it fires on a network with
dormant units and revives them, alpha follows DrM's formula, the BC base stays, off (or on
between checks) changes nothing, and a checkpoint keeps its count."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from robot_rl import keys
from robot_rl.agents import SAC, EncoderConfig, SACConfig
from robot_rl.agents.dormant_reset import perturb_factor, perturb_toward
from robot_rl.agents.sac import _split
from robot_rl.config import ConfigError, from_dict
from robot_rl.runtime.checkpoint import load_checkpoint, save_checkpoint

STATE_SPEC = {"state": ((6,), np.dtype(np.float32))}
PIXEL_SPEC = {
    "state": ((3,), np.dtype(np.float32)),
    "pixels_front": ((32, 32, 3), np.dtype(np.uint8)),
}
SMALL = SACConfig(hidden_dims=(32, 32), critic_ensemble_size=2, utd_ratio=2, batch_size=64)


def batch(spec: dict, n: int, action_dim: int, *, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def obs() -> dict[str, torch.Tensor]:
        return {
            k: torch.randint(0, 256, (n, *s), dtype=torch.uint8, generator=g)
            if d == np.uint8
            else torch.randn((n, *s), generator=g)
            for k, (s, d) in spec.items()
        }

    return {
        keys.OBS: obs(),
        keys.NEXT_OBS: obs(),
        keys.ACTION: torch.rand((n, action_dim), generator=g) * 2 - 1,
        keys.REWARD: torch.rand(n, generator=g),
        keys.TERMINATED: torch.zeros(n),
        keys.IS_DEMO: (torch.arange(n) % 2).float(),
    }


def params(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def kill_half_the_actor(sac: SAC) -> None:
    """Half the units of every hidden layer dead by construction: the LayerNorm shift of
    those units at -5 puts their ReLU input below 0 for all but ~1e-7 of the inputs."""
    with torch.no_grad():
        for layer in sac.actor.net:
            if isinstance(layer, nn.LayerNorm):
                layer.bias[: layer.bias.numel() // 2] = -5.0


def test_perturb_factor_is_drms_clipped_line() -> None:
    kw = {"rate": 2.0, "low": 0.2, "high": 0.9}
    assert perturb_factor(0.0, **kw) == 0.9  # few dormant units: a small nudge
    assert perturb_factor(0.1, **kw) == pytest.approx(0.8)
    assert perturb_factor(0.3, **kw) == pytest.approx(0.4)
    assert perturb_factor(0.6, **kw) == 0.2  # most dormant: the largest step allowed


def test_perturb_toward_interpolates_every_trainable_parameter() -> None:
    torch.manual_seed(0)
    net, fresh = nn.Linear(3, 4), nn.Linear(3, 4)
    old = params(net)
    net.bias.requires_grad_(False)
    moved = perturb_toward(net, fresh, 0.3)
    assert moved == [net.weight]
    torch.testing.assert_close(net.weight, 0.3 * old["weight"] + 0.7 * fresh.weight)
    torch.testing.assert_close(net.bias, old["bias"])  # frozen: untouched
    perturb_toward(net, fresh, 0.5, trainable_only=False)
    torch.testing.assert_close(net.bias, 0.5 * old["bias"] + 0.5 * fresh.bias)
    with pytest.raises(ValueError, match="does not match"):
        perturb_toward(net, nn.Linear(3, 5), 0.5)


def test_a_dormant_actor_is_perturbed_and_its_units_revive() -> None:
    config = replace(
        SMALL, dormant_reset=True, dormant_reset_every=1, dormant_reset_rate=1.5,
        dormant_reset_threshold=0.3,
    )  # fmt: skip
    sac = SAC(STATE_SPEC, 3, config, device="cpu", seed=0)
    kill_half_the_actor(sac)
    data = batch(STATE_SPEC, 128, 3)
    last = _split(data, config.utd_ratio)[-1]
    before = sac.actor_dormant_ratio(last)
    assert before >= 0.5  # the dead half (and any unit that is dormant anyway)
    critic_before = params(sac.critic)
    values = sac.update(data)  # the check runs after the actor step of update 1
    assert values["learner/dormant_resets"] == 1.0
    alpha = 1.0 - 1.5 * before  # inside [0.2, 0.9]: not clipped
    assert 0.2 < alpha < 0.9
    assert values["learner/dormant_reset_alpha"] == pytest.approx(alpha, abs=1e-6)
    after = sac.actor_dormant_ratio(last)
    # At alpha ~0.23 the dead units' shift is -1.1: most of them fire again (a unit whose
    # normalised input is mostly negative may stay dormant; measured 0.52 -> 0.20).
    assert after <= before / 2, (before, after)
    # The critic moved toward a fresh network too, and Adam forgot the moved parameters.
    assert any(not torch.equal(critic_before[k], v) for k, v in params(sac.critic).items())
    assert all(p not in sac.actor_optimizer.state for p in sac.actor.parameters())
    assert all(p not in sac.critic_optimizer.state for p in sac.critic.parameters())
    # Below the threshold now: the next check leaves the actor alone.
    values = sac.update(data)
    assert values["learner/dormant_resets"] == 1.0


def test_the_bc_base_policy_is_never_perturbed() -> None:
    config = replace(SMALL, base_policy="bc", base_pretrain_updates=0, dormant_reset=True)
    sac = SAC(STATE_SPEC, 3, config, device="cpu", seed=0)
    sac.update(batch(STATE_SPEC, 128, 3))  # every optimiser has state now
    assert sac.base is not None and sac.base_optimizer is not None
    base, actor, target = params(sac.base), params(sac.actor), params(sac.critic_target)
    base_moments = {k: dict(v) for k, v in sac.base_optimizer.state.items()}
    alpha = sac.perturb_dormant(0.4)
    assert alpha == pytest.approx(0.2)
    for name, value in params(sac.base).items():
        assert torch.equal(value, base[name]), name
    assert {k: dict(v) for k, v in sac.base_optimizer.state.items()}.keys() == base_moments.keys()
    assert any(not torch.equal(actor[k], v) for k, v in params(sac.actor).items())
    assert any(not torch.equal(target[k], v) for k, v in params(sac.critic_target).items())


def test_pixels_and_gripper_head_are_perturbed() -> None:
    config = replace(
        SMALL, batch_size=8, gripper_critic=True, dormant_reset=True,
        encoder=EncoderConfig(conv_channels=(8, 8), conv_strides=(2, 2), latent_dim=16),
    )  # fmt: skip
    sac = SAC(PIXEL_SPEC, 3, config, device="cpu", seed=0)
    sac.update(batch(PIXEL_SPEC, 16, 3))
    assert sac.gripper is not None and sac.gripper_target is not None
    encoder, gripper, head_target = (
        params(sac.encoder),
        params(sac.gripper),
        params(sac.gripper_target),
    )
    sac.perturb_dormant(0.05)  # alpha 0.9
    for before, module in ((encoder, sac.encoder), (gripper, sac.gripper)):
        assert any(not torch.equal(before[k], v) for k, v in params(module).items())
    assert any(not torch.equal(head_target[k], v) for k, v in params(sac.gripper_target).items())
    # buffers (the state normaliser) are not weights: they stay
    torch.testing.assert_close(sac.encoder.state_scale, encoder["state_scale"])
    assert np.isfinite(sac.update(batch(PIXEL_SPEC, 16, 3, seed=1))["losses/critic"])


@pytest.mark.parametrize(
    "fields",
    [
        {"dormant_reset": False, "dormant_reset_every": 1, "dormant_reset_threshold": 0.0},
        {"dormant_reset": True, "dormant_reset_every": 1000},  # on, between checks
    ],
)
def test_off_or_between_checks_changes_nothing(fields: dict) -> None:
    plain = SAC(STATE_SPEC, 3, SMALL, device="cpu", seed=3)
    other = SAC(STATE_SPEC, 3, replace(SMALL, **fields), device="cpu", seed=3)
    kill_half_the_actor(plain)
    kill_half_the_actor(other)
    for i in range(3):
        plain.update(batch(STATE_SPEC, 128, 3, seed=i))
        other.update(batch(STATE_SPEC, 128, 3, seed=i))
    assert other.dormant_resets == 0
    a, b = plain.state_dict(), other.state_dict()
    for part in ("policy", "critic", "critic_target"):
        for name, value in a[part].items():
            assert torch.equal(value, b[part][name]), (part, name)


def test_checkpoint_keeps_the_reset_count(tmp_path: Path) -> None:
    config = replace(SMALL, dormant_reset=True)
    sac = SAC(STATE_SPEC, 3, config, device="cpu", seed=0)
    sac.update(batch(STATE_SPEC, 128, 3))
    sac.perturb_dormant(0.3)
    sac.perturb_dormant(0.1)
    state = load_checkpoint(save_checkpoint(tmp_path, sac.updates, sac.state_dict()))
    resumed = SAC(STATE_SPEC, 3, config, device="cpu", seed=5)
    resumed.load_state_dict(state)
    assert resumed.dormant_resets == 2
    assert resumed.dormant_reset_alpha == pytest.approx(0.8)
    for name, value in params(sac.actor).items():
        assert torch.equal(value, params(resumed.actor)[name])
    # The next perturbation draws the same fresh network as the original run would.
    assert resumed.perturb_dormant(0.2) == sac.perturb_dormant(0.2)
    for name, value in params(sac.critic).items():
        assert torch.equal(value, params(resumed.critic)[name])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dormant_reset_every": 0}, "dormant_reset_every"),
        ({"dormant_reset_threshold": 1.5}, "dormant_reset_threshold"),
        ({"dormant_reset_rate": -1.0}, "dormant_reset_rate"),
        ({"dormant_reset_alpha_min": -0.1}, "dormant_reset_alpha_min"),
        (
            {"dormant_reset_alpha_min": 0.8, "dormant_reset_alpha_max": 0.5},
            "dormant_reset_alpha_max",
        ),
    ],
)
def test_bad_values_name_the_field(fields: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        replace(SMALL, **fields).validate()


def test_a_config_file_value_out_of_bounds_names_the_field() -> None:
    with pytest.raises(ConfigError, match="dormant_reset_every"):
        from_dict(SACConfig, {"dormant_reset": True, "dormant_reset_every": 0})
    config = from_dict(SACConfig, {"dormant_reset": True, "dormant_reset_threshold": 0.0})
    assert config.dormant_reset and config.dormant_reset_threshold == 0.0
