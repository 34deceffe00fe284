"""HL-Gauss classification critic and the dormant-neuron ratio (issue 15, "Critic stability")."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents import SAC, Policy, SACConfig
from robot_rl.agents.dormant import dormant_ratio
from robot_rl.agents.hl_gauss import HLGaussSupport
from robot_rl.agents.networks import mlp, mlp_hidden_activations
from robot_rl.config import ConfigError, from_dict
from robot_rl.data.replay import ReplayBuffer
from robot_rl.run_config import TrainConfig
from robot_rl.runtime.learner import Learner
from robot_rl.runtime.metrics import MetricsLogger, read_jsonl
from robot_rl.runtime.transport import InProcessTransport
from tests.agents.test_sac import STATE_SPEC, random_batch, single_obs

HL = SACConfig(
    hidden_dims=(32, 32),
    critic_ensemble_size=2,
    utd_ratio=2,
    batch_size=8,
    critic_loss="hl_gauss",
    q_target_bounds=(0.0, 1.0),
)


# ----------------------------------------------------------------------------- projection
def test_histogram_mean_is_the_target_and_its_mass_sums_to_one() -> None:
    support = HLGaussSupport(-1.0, 2.0, 51, 0.75)
    width = 3.0 / 51
    # targets at least 5 sigma (= 3.75 bin widths) inside the range
    inside = torch.linspace(-1.0 + 4 * width, 2.0 - 4 * width, 200)
    hist = support.to_histogram(inside)
    assert hist.shape == (200, 51) and bool((hist >= 0).all())
    torch.testing.assert_close(hist.sum(-1), torch.ones(200), atol=1e-5, rtol=0)
    mean = (hist * support.centres).sum(-1)
    torch.testing.assert_close(mean, inside, atol=1e-4, rtol=0)
    # the histogram is spread: sigma 0.75 of a bin puts mass on the neighbouring bins
    assert float(hist.max(-1).values.max()) < 0.6
    # at a bound, half the Gaussian lies outside: still finite, a distribution, near the bound
    edge = support.to_histogram(torch.tensor([-1.0, 2.0]))
    assert bool(torch.isfinite(edge).all())
    torch.testing.assert_close(edge.sum(-1), torch.ones(2), atol=1e-5, rtol=0)
    edge_mean = (edge * support.centres).sum(-1)
    assert -1.0 < float(edge_mean[0]) < -1.0 + width and 2.0 - width < float(edge_mean[1]) < 2.0
    # logits that are the log of a histogram give back its mean
    logits = torch.log(support.to_histogram(torch.tensor([0.3, 1.1])))
    torch.testing.assert_close(
        support.expected(logits), torch.tensor([0.3, 1.1]), atol=1e-4, rtol=0
    )


def test_cross_entropy_is_least_at_the_target_histogram() -> None:
    support = HLGaussSupport(0.0, 1.0, 21, 0.75)
    target = torch.tensor([0.4])
    best = torch.log(support.to_histogram(target) + 1e-12).unsqueeze(0)  # (E=1, B=1, K)
    shifted = torch.log(support.to_histogram(torch.tensor([0.6])) + 1e-12).unsqueeze(0)
    assert float(support.loss(best, target)) < float(support.loss(shifted, target))


# ----------------------------------------------------------------------------- config
def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="q_target_bounds"):
        SACConfig(critic_loss="hl_gauss").validate()
    with pytest.raises(ValueError, match="critic_loss"):
        SACConfig(critic_loss="huber").validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="hl_gauss_bins"):
        from_dict(
            SACConfig, {"critic_loss": "hl_gauss", "q_target_bounds": [0, 1], "hl_gauss_bins": 1}
        )
    with pytest.raises(ConfigError, match="hl_gauss_sigma"):
        from_dict(SACConfig, {"hl_gauss_sigma": 0.0})
    with pytest.raises(ConfigError, match="q_target_bounds"):
        from_dict(SACConfig, {"critic_loss": "hl_gauss"})
    with pytest.raises(ConfigError, match="critic_loss"):
        from_dict(SACConfig, {"critic_loss": "huber"})
    cfg = from_dict(SACConfig, {"critic_loss": "hl_gauss", "q_target_bounds": [0, 1]})
    assert (cfg.critic_loss, cfg.hl_gauss_bins, cfg.hl_gauss_sigma) == ("hl_gauss", 51, 0.75)


def test_mse_default_is_unchanged_by_the_option_code() -> None:
    """The default critic still outputs one value per member and trains on the squared error."""
    sac = SAC(STATE_SPEC, 2, replace(HL, critic_loss="mse"), device="cpu", seed=0)
    assert sac.hl_gauss is None and sac.critic.weights[-1].shape[-1] == 1
    loss, q, _ = sac.critic_loss(random_batch(STATE_SPEC, 8, 2))
    assert q.shape == (2, 8) and float(loss.detach()) >= 0


# ----------------------------------------------------------------------------- learning
def _bandit_batch(n: int, g: torch.Generator, *, terminal: bool) -> dict:
    state = torch.zeros(n, 3)
    action = torch.rand((n, 2), generator=g) * 2 - 1
    reward = 0.5 + 0.4 * action[:, 0] if terminal else torch.full((n,), 0.3)
    return {
        keys.OBS: {"state": state},
        keys.NEXT_OBS: {"state": state},
        keys.ACTION: action,
        keys.REWARD: reward,
        keys.TERMINATED: torch.full((n,), float(terminal)),
    }


@pytest.mark.learning
def test_hl_gauss_critic_learns_known_values(learn_seed: int, record_figure) -> None:  # type: ignore[no-untyped-def]
    """One state. Terminal rows with reward 0.5 + 0.4 a_0: Q(a_0 = -0.5) = 0.3, Q(0.5) = 0.7.
    Non-terminal rows with reward 0.3 and gamma 0.5: Q = 0.3 / (1 - 0.5) = 0.6 for every action,
    reached only by bootstrapping through the histogram means of the target critics."""
    config = replace(
        HL, hidden_dims=(64, 64), batch_size=64, critic_lr=1e-3, discount=0.5, tau=0.05
    )
    probe = torch.tensor([[-0.5, 0.0], [0.5, 0.0], [0.0, 0.7]])
    for terminal, expected in ((True, [0.3, 0.7, 0.5]), (False, [0.6, 0.6, 0.6])):
        sac = SAC(STATE_SPEC, 2, config, device="cpu", seed=learn_seed)
        g = torch.Generator().manual_seed(learn_seed)
        n = config.utd_ratio * config.batch_size
        for _ in range(250):
            values = sac.update(_bandit_batch(n, g, terminal=terminal))
        assert np.isfinite(values["losses/critic"])
        with torch.no_grad():
            q = sac.q_values(sac.encoder({"state": torch.zeros(3, 3)}), probe).mean(0)
        error = float((q - torch.tensor(expected)).abs().max())
        record_figure(f"q_error_terminal_{terminal}", error, bound=0.03, higher_is_better=False)
        assert error < 0.03, (terminal, q.tolist())


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_and_policy_export_with_hl_gauss() -> None:
    sac = SAC(STATE_SPEC, 2, HL, device="cpu", seed=1)
    assert sac.critic.weights[-1].shape == (2, 32, 51)
    sac.update(random_batch(STATE_SPEC, 16, 2, seed=1))
    blob = io.BytesIO()
    torch.save(sac.state_dict(), blob)
    blob.seek(0)
    restored = SAC(STATE_SPEC, 2, HL, device="cpu", seed=99)
    restored.load_state_dict(torch.load(blob, weights_only=True))
    batch = random_batch(STATE_SPEC, 16, 2, seed=2)
    assert restored.update(batch) == sac.update(batch)
    # the acting policy knows nothing of the critic: same tensors as an MSE agent's, and a
    # Policy built from the default config loads and acts on them
    tensors = sac.policy_state_dict()
    mse_keys = SAC(STATE_SPEC, 2, replace(HL, critic_loss="mse"), device="cpu").policy_state_dict()
    assert {k: v.shape for k, v in tensors.items()} == {k: v.shape for k, v in mse_keys.items()}
    policy = Policy(STATE_SPEC, 2, replace(HL, critic_loss="mse")).eval()
    policy.load_state_dict(tensors)
    obs = single_obs(STATE_SPEC)
    np.testing.assert_array_equal(
        policy.act(obs, deterministic=True), sac.act(obs, deterministic=True)
    )
    # an MSE agent refuses the HL-Gauss critic (different head shape)
    with pytest.raises(RuntimeError, match="size mismatch"):
        SAC(STATE_SPEC, 2, replace(HL, critic_loss="mse"), device="cpu").load_state_dict(
            sac.state_dict()
        )


# ----------------------------------------------------------------------------- dormant ratio
def test_dormant_ratio_zero_when_all_units_are_active_one_for_a_zeroed_layer() -> None:
    g = torch.Generator().manual_seed(0)
    active = torch.rand((256, 64), generator=g) * torch.linspace(0.5, 2.0, 64)  # (B, H)
    assert dormant_ratio([active]) == 0.0
    quiet = active.clone()
    quiet[:, 3] *= 0.01  # 1 % of the layer's mean activity: dormant (tau 2.5 %)
    quiet[:, 9] *= 0.1  # 10 %: still alive
    assert dormant_ratio([quiet]) == 1 / 64
    assert dormant_ratio([active, quiet]) == 1 / 128  # counted over all layers
    assert dormant_ratio([active.expand(3, 256, 64)]) == 0.0  # ensemble members: (E, B, H)
    torch.manual_seed(0)
    net = mlp(8, (64, 64), 2)
    x = torch.randn(256, 8)
    with torch.no_grad():
        assert dormant_ratio(mlp_hidden_activations(net, x)) < 0.05  # a few die at init
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        assert dormant_ratio(mlp_hidden_activations(net, x)) == 1.0


def test_sac_dormant_ratios_for_actor_and_every_critic_member() -> None:
    spec = {"state": ((8,), np.dtype(np.float32))}
    sac = SAC(spec, 2, replace(HL, hidden_dims=(32,)), device="cpu", seed=0)
    batch = random_batch(spec, 64, 2)
    generator = sac.generator.get_state()
    fresh = sac.dormant_ratios(batch)
    assert fresh == {"learner/dormant_actor": 0.0, "learner/dormant_critic": 0.0}
    assert torch.equal(sac.generator.get_state(), generator)  # draws nothing
    with torch.no_grad():
        sac.critic.weights[0][1].zero_()  # member 1's hidden layer: its 32 units die
        sac.critic.biases[0][1].zero_()
        sac.actor.net[0].weight.zero_()
        sac.actor.net[0].bias.zero_()
    dead = sac.dormant_ratios(batch)
    assert dead["learner/dormant_actor"] == 1.0
    assert dead["learner/dormant_critic"] == 0.5  # 32 of the 2 members' 64 units


def test_learner_logs_dormant_ratios_on_its_logged_updates(tmp_path: Path) -> None:
    agent = SAC(STATE_SPEC, 2, replace(HL, utd_ratio=1), device="cpu")
    online = ReplayBuffer(STATE_SPEC, 2, 100)
    rng = np.random.default_rng(0)
    online.start_episode({"state": rng.standard_normal(3).astype(np.float32)})
    for t in range(20):
        next_obs = {"state": rng.standard_normal(3).astype(np.float32)}
        online.add_step(rng.uniform(-1, 1, 2).astype(np.float32), 0.0, next_obs, t == 19, False)
    learner: Learner | None = None
    give_up = time.monotonic() + 60
    learner = Learner(
        agent,
        InProcessTransport.pair()[1],
        demo_buffer=ReplayBuffer(STATE_SPEC, 2, 10),
        online_buffer=online,
        # unpaced: the steps went straight into replay, none came from an actor
        train=TrainConfig(learning_starts=10, log_every=3, updates_per_env_step=0),
        batch_size=8,
        demo_fraction=0.5,
        run_dir=tmp_path,
        config_hash="h",
        metrics=MetricsLogger(tmp_path / "metrics", "learner"),
        should_exit=lambda: (
            learner is not None and (learner.updates >= 7 or time.monotonic() > give_up)
        ),
    )
    learner.run()
    rows = {row["updates"]: row for row in read_jsonl(tmp_path / "metrics" / "learner.jsonl")}
    assert sorted(rows) == [3, 6, 7]
    for updates in (3, 6):
        assert 0.0 <= rows[updates]["learner/dormant_actor"] <= 1.0
        assert 0.0 <= rows[updates]["learner/dormant_critic"] <= 1.0
    assert "learner/dormant_actor" not in rows[7]  # the closing row: not a logged update
