"""Cal-QL's calibrated conservative term and the critic pre-training (WSRL / Cal-QL offline
phase) of SAC, and the demos' Monte-Carlo returns-to-go they calibrate with."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents import SAC, SACConfig
from robot_rl.config import ConfigError, from_dict, save_yaml
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.data.replay import ReplayBuffer, returns_to_go
from robot_rl.envs.spec import spec_to_json
from robot_rl.run_config import RunConfig
from robot_rl.runtime.transport import InProcessTransport

SPEC = {keys.STATE: ((3,), np.dtype(np.float32))}
WEIGHT = torch.tensor([[1.0, -0.5], [0.3, 0.8], [-0.6, 0.2]])
SMALL = SACConfig(hidden_dims=(32, 32), critic_ensemble_size=2, utd_ratio=1, batch_size=64)


def bandit_data(rows: int, mc_return: float) -> dict[str, Any]:
    """A fixed one-step dataset: the data action is a function of the state, every row ends
    with reward 1 (so Q(s, a_data) = 1), and its return-to-go is ``mc_return``."""
    g = torch.Generator().manual_seed(0)
    state = torch.randn((rows, 3), generator=g)
    return {
        keys.OBS: {keys.STATE: state},
        keys.NEXT_OBS: {keys.STATE: torch.randn((rows, 3), generator=g)},
        keys.ACTION: 0.8 * torch.tanh(state @ WEIGHT),
        keys.REWARD: torch.ones(rows),
        keys.TERMINATED: torch.ones(rows),
        keys.IS_DEMO: torch.ones(rows),
        keys.MC_RETURN: torch.full((rows,), mc_return),
    }


def take(data: dict[str, Any], idx: torch.Tensor) -> dict[str, Any]:
    """Rows ``idx`` of a (nested) batch."""
    return {
        k: {kk: vv[idx] for kk, vv in v.items()} if isinstance(v, dict) else v[idx]
        for k, v in data.items()
    }


def train_on(data: dict[str, Any], config: SACConfig, *, seed: int, updates: int = 300) -> SAC:
    """``updates`` SAC updates on minibatches drawn from ``data``."""
    agent = SAC(SPEC, 2, config, device="cpu", seed=seed)
    rows = data[keys.REWARD].shape[0]
    rng = np.random.default_rng(seed)
    for _ in range(updates):
        agent.update(take(data, torch.from_numpy(rng.integers(0, rows, config.batch_size))))
    return agent


@torch.no_grad()
def mean_q(agent: SAC, data: dict[str, Any], actions: str) -> float:
    """Mean ensemble Q on the dataset's states for its "data" actions, "uniform" random actions
    or the "policy"'s samples."""
    features = agent.encoder(data[keys.OBS])
    rows = features.shape[0]
    if actions == "data":
        action = data[keys.ACTION]
    elif actions == "uniform":
        action = torch.rand((rows, 2), generator=torch.Generator().manual_seed(5)) * 2 - 1
    else:
        action, _ = agent.actor.sample(features, torch.Generator().manual_seed(6))
    return float(agent.q_values(features, action).mean())


def test_conservative_term_pushes_out_of_data_actions_below_the_data(
    learn_seed: int, record_figure: Any
) -> None:
    data = bandit_data(256, math.nan)  # no return known: no calibration
    gaps = {}
    for alpha in (0.0, 1.0):
        config = SACConfig(**{**SMALL.__dict__, "calql_alpha": alpha})
        agent = train_on(data, config, seed=learn_seed)
        gaps[alpha] = mean_q(agent, data, "data") - mean_q(agent, data, "uniform")
    # Measured (seeds 0-2): the gap is 1.5-1.9 with the term, |gap| < 0.01 without.
    record_figure("calql_gap", gaps[1.0], bound=0.8)
    record_figure("plain_gap", gaps[0.0], bound=0.3, higher_is_better=False)
    assert gaps[1.0] > 0.8, gaps
    assert abs(gaps[0.0]) < 0.3, gaps


def test_calibration_keeps_policy_values_up_where_the_return_is_known(
    learn_seed: int, record_figure: Any
) -> None:
    # The actor stays as initialised (its actions are not the data's), so only the critic
    # moves; with the demos' return known (1, what the data actions earn) the policy samples'
    # values are not pushed down directly, without it (NaN, no bounds: no floor) they are.
    config = SACConfig(**{**SMALL.__dict__, "calql_alpha": 1.0, "actor_delay": 10**6})
    q_pi = {}
    for mc in (1.0, math.nan):
        agent = train_on(bandit_data(256, mc), config, seed=learn_seed)
        q_pi[mc] = mean_q(agent, bandit_data(256, mc), "policy")
    lift = q_pi[1.0] - q_pi[math.nan]
    # Measured (seeds 0-2): lift 0.54-1.21.
    record_figure("calibration_lift", lift, bound=0.3)
    assert lift > 0.3, q_pi


def test_lower_bound_is_the_return_else_the_low_target_bound() -> None:
    mc = torch.tensor([0.5, math.nan, 0.0])
    batch = {keys.REWARD: torch.zeros(3), keys.MC_RETURN: mc}
    unbounded = SAC(SPEC, 2, SACConfig(**{**SMALL.__dict__, "calql_alpha": 1.0}), device="cpu")
    assert unbounded.calql_lower_bound(batch).tolist() == [0.5, -math.inf, 0.0]
    bounded_config = SACConfig(**{**SMALL.__dict__, "calql_alpha": 1.0, "q_target_bounds": (-1, 1)})
    bounded = SAC(SPEC, 2, bounded_config, device="cpu")
    assert bounded.calql_lower_bound(batch).tolist() == [0.5, -1.0, 0.0]
    assert bounded.calql_lower_bound({keys.REWARD: torch.zeros(2)}).tolist() == [-1.0, -1.0]


@pytest.mark.parametrize(
    "options",
    [
        {"critic_loss": "hl_gauss", "q_target_bounds": (0.0, 1.0)},
        {"gripper_critic": True, "calql_next_actions": False},
        {"base_policy": "bc", "base_pretrain_updates": 20, "action_std": 0.05},
    ],
)
def test_term_works_with_hl_gauss_gripper_head_and_base_policy(options: dict[str, Any]) -> None:
    config = SACConfig(**{**SMALL.__dict__, "calql_alpha": 1.0, **options})
    action_dim = 3 if config.gripper_critic else 2
    agent = SAC(SPEC, action_dim, config, device="cpu", seed=0)
    data = bandit_data(64, 1.0)
    if action_dim == 3:
        data[keys.ACTION] = torch.cat([data[keys.ACTION], torch.ones(64, 1)], -1)
        data[keys.PREV_ACTION] = data[keys.ACTION]
    agent.pretrain(lambda n: take(data, torch.arange(n) % 64))
    before = agent.critic.weights[0].detach().clone()
    values = agent.update(data)
    assert math.isfinite(values["losses/calql"]) and values["losses/calql"] > 0
    assert not torch.equal(before, agent.critic.weights[0])


def _episode(states: np.ndarray, rewards: list[float], *, terminated: bool) -> Episode:
    steps = len(rewards)
    done = np.zeros(steps, bool)
    done[-1] = True
    return Episode(
        observations={keys.STATE: states.astype(np.float32)},
        actions=np.zeros((steps, 2), np.float32),
        rewards=np.asarray(rewards, np.float32),
        terminated=done if terminated else np.zeros(steps, bool),
        truncated=np.zeros(steps, bool) if terminated else done,
        intervened=np.zeros(steps, bool),
        sources=np.full(steps, keys.SOURCE_CODE["demo"], np.uint8),
        timestamps=np.arange(steps + 1, dtype=np.float64),
        info={},
    )


def _run_dir(tmp_path: Path, sac: dict[str, Any]) -> Path:
    """A run directory (config, spec) and a demo store of two episodes whose observation is
    (episode, t, 0): one that ends in success with rewards 1, 0, 2 (not sparse, so that the
    discounting shows), one truncated without reward."""
    config = from_dict(RunConfig, {"sac": sac})
    save_yaml(config, tmp_path / "config.yaml")
    (tmp_path / "spec.json").write_text(json.dumps(spec_to_json(SPEC, 2)))
    store = EpisodeStore.create(tmp_path / "demos", obs_spec=SPEC, action_dim=2)
    for episode, (rewards, terminated) in enumerate((([1.0, 0.0, 2.0], True), ([0.0] * 4, False))):
        states = np.array([[episode, t, 0] for t in range(len(rewards) + 1)])
        store.write_episode(_episode(states, rewards, terminated=terminated))
    return tmp_path


def test_demo_returns_to_go_through_the_learners_demo_loading(tmp_path: Path) -> None:
    from robot_rl.app.learner_main import build_learner

    sac = {"hidden_dims": [16, 16], "critic_ensemble_size": 2, "discount": 0.9, "n_step": 2}
    run_dir = _run_dir(tmp_path, sac)
    _actor, learner_end = InProcessTransport.pair()
    learner: Any = build_learner(run_dir, learner_end, demos_path=run_dir / "demos")
    batch = learner.sampler.sample_demos(400)
    expected = {(0, 0): 1.0 + 0.81 * 2.0, (0, 1): 1.8, (0, 2): 2.0}  # gamma 0.9
    expected.update({(1, t): 0.0 for t in range(4)})
    seen = set()
    for state, mc, reward in zip(
        batch[keys.OBS][keys.STATE].tolist(),
        batch[keys.MC_RETURN].tolist(),
        batch[keys.REWARD].tolist(),
        strict=True,
    ):
        row = (int(state[0]), int(state[1]))
        seen.add(row)
        assert mc == pytest.approx(expected[row]), row
        if row == (0, 0):  # n-step rows still sum two rewards: 1 + 0.9 * 0
            assert reward == pytest.approx(1.0)
    assert seen == set(expected)
    assert batch[keys.IS_DEMO].tolist() == [1.0] * 400
    np.testing.assert_allclose(returns_to_go(np.array([0, 0, 1.0]), 0.5), [0.25, 0.5, 1.0])


def test_online_rows_have_no_return() -> None:
    buffer = ReplayBuffer(SPEC, 2, 20, return_discount=0.9)
    buffer.start_episode({keys.STATE: np.zeros(3, np.float32)})
    for t in range(3):
        buffer.add_step(np.zeros(2), 1.0, {keys.STATE: np.full(3, t, np.float32)}, t == 2, False)
    assert np.isnan(buffer.gather(buffer.sample_indices(10))[keys.MC_RETURN]).all()
    plain = ReplayBuffer(SPEC, 2, 20)  # no return discount: unknown even for whole episodes
    plain.add_episode(_episode(np.zeros((3, 3)), [0.0, 1.0], terminated=True))
    assert np.isnan(plain.gather(plain.sample_indices(10))[keys.MC_RETURN]).all()
    with pytest.raises(ValueError, match="return_discount"):
        ReplayBuffer(SPEC, 2, 20, return_discount=1.5)


def test_critic_pretraining_runs_through_the_learner_and_moves_the_critic(
    tmp_path: Path,
) -> None:
    from robot_rl.app.learner_main import PRETRAIN_STATUS, build_learner

    sac = {
        "hidden_dims": [16, 16],
        "critic_ensemble_size": 2,
        "batch_size": 16,
        "utd_ratio": 2,
        "calql_alpha": 1.0,
        "critic_pretrain_updates": 30,
    }
    run_dir = _run_dir(tmp_path, sac)
    config = from_dict(RunConfig, {"sac": sac})
    fresh = SAC(SPEC, 2, config.sac, device="cpu", seed=config.seed)
    _actor, learner_end = InProcessTransport.pair()
    learner: Any = build_learner(run_dir, learner_end, demos_path=run_dir / "demos")
    agent = learner.agent
    assert learner.pretrained  # its weights go to the actor when it connects
    assert agent.critic_updates == 30 * 2 and agent.actor_updates == 30
    assert learner.updates == 0  # the online count (pacing) starts at zero
    # Its progress went where the launcher's start-up deadline looks (app/supervisor.py).
    status = json.loads((run_dir / PRETRAIN_STATUS).read_text())
    assert status == {"done": 30, "total": 30}
    for name in ("critic", "actor"):
        before, after = getattr(fresh, name).state_dict(), getattr(agent, name).state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before), name
    values = agent.pretrain(lambda n: learner.sampler.sample_demos(n))
    assert set(values) == {
        "losses/pretrain_critic",
        "losses/pretrain_actor",
        "losses/pretrain_calql",
    }
    assert all(math.isfinite(v) for v in values.values()), values


def test_pretrain_only_keeps_the_term_out_of_online_updates() -> None:
    options = {"calql_alpha": 1.0, "critic_pretrain_updates": 3, "calql_pretrain_only": True}
    agent = SAC(SPEC, 2, SACConfig(**{**SMALL.__dict__, **options}), device="cpu")
    data = bandit_data(64, 1.0)
    values = agent.pretrain(lambda n: take(data, torch.arange(n) % 64))
    assert values["losses/pretrain_calql"] > 0
    online = agent.update(data)
    assert "losses/calql" not in online and math.isfinite(online["losses/critic"])


def test_checkpoint_after_pretraining_resumes_exactly() -> None:
    """A learner resumed from a checkpoint taken after pre-training makes the same Cal-QL
    update: the term's random draws come from the agent's saved generator."""
    options = {"calql_alpha": 1.0, "critic_pretrain_updates": 3}
    config = SACConfig(**{**SMALL.__dict__, **options})
    agent = SAC(SPEC, 2, config, device="cpu", seed=1)
    data = bandit_data(64, 1.0)
    agent.pretrain(lambda n: take(data, torch.arange(n) % 64))
    blob = io.BytesIO()
    torch.save(agent.state_dict(), blob)
    blob.seek(0)
    restored = SAC(SPEC, 2, config, device="cpu", seed=99)
    restored.load_state_dict(torch.load(blob, weights_only=True))
    assert restored.update(data) == agent.update(data)


def test_critic_pretraining_names_a_non_finite_loss() -> None:
    config = SACConfig(**{**SMALL.__dict__, "critic_pretrain_updates": 2})
    agent = SAC(SPEC, 2, config, device="cpu")
    data = bandit_data(64, 1.0)
    data[keys.REWARD] = torch.full((64,), math.nan)
    with pytest.raises(FloatingPointError, match=r"critic pre-training.*losses/critic"):
        agent.pretrain(lambda n: take(data, torch.arange(n) % 64))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("calql_alpha", -1.0),
        ("calql_alpha", math.inf),
        ("calql_actions", 0),
        ("critic_pretrain_updates", -1),
    ],
)
def test_config_errors_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"sac\.{field}"):
        from_dict(RunConfig, {"sac": {field: value}})
    with pytest.raises(ValueError, match=field):
        SACConfig(**{field: value}).validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calql_pretrain_only needs"):
        from_dict(RunConfig, {"sac": {"calql_pretrain_only": True, "calql_alpha": 1.0}})
