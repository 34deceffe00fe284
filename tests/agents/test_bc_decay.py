"""sac.bc_weight_decay: the BC weight follows the online success rate the learner feeds it
from the step stream (episodes a person intervened in left out), floored, checkpointed; a
running learner logs it (and dormant_reset's count) in its metrics file."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents.bc_decay import SuccessWindow, decayed_bc_weight
from robot_rl.agents.sac import SAC, SACConfig
from robot_rl.config import ConfigError, from_dict
from robot_rl.data.replay import ReplayBuffer
from robot_rl.run_config import TrainConfig
from robot_rl.runtime.checkpoint import list_checkpoints, load_checkpoint
from robot_rl.runtime.learner import Learner
from robot_rl.runtime.metrics import MetricsLogger, read_jsonl
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.wire.protocol import Step

SPEC = {keys.STATE: ((4,), np.dtype(np.float32))}
DECAY = SACConfig(
    hidden_dims=(16, 16), critic_ensemble_size=2, utd_ratio=1, batch_size=16,
    bc_weight=2.0, bc_weight_decay=True, bc_weight_min=0.2, bc_decay_window=4,
)  # fmt: skip


def obs(value: float) -> dict[str, np.ndarray]:
    return {keys.STATE: np.full(4, value, np.float32)}


def episode(
    episode_id: int, *, success: bool, length: int = 3, intervened_at: int | None = None,
    info: dict | None = None,
) -> list[Step]:  # fmt: skip
    """Steps of one online episode; success as the twin reports it: a terminal reward 1."""
    steps = []
    for t in range(length):
        last = t == length - 1
        steps.append(
            Step(
                episode_id=episode_id, t=t, first_obs=obs(0.0) if t == 0 else None,
                action=np.zeros(2, np.float32), reward=1.0 if (last and success) else 0.0,
                next_obs=obs(t + 1.0), terminated=last and success,
                truncated=last and not success, intervened=t == intervened_at,
                source=keys.SOURCE_CODE["human" if t == intervened_at else "policy"],
                timestamp=float(t), info=(info or {}) if last else {},
            )
        )  # fmt: skip
    return steps


def make_learner(tmp_path: Path, config: SACConfig) -> Learner:
    _actor_end, learner_end = InProcessTransport.pair()
    agent = SAC(SPEC, 2, config, device="cpu", seed=0)
    return Learner(
        agent, learner_end, demo_buffer=ReplayBuffer(SPEC, 2, 50),
        online_buffer=ReplayBuffer(SPEC, 2, 500), train=TrainConfig(), batch_size=16,
        demo_fraction=0.5, run_dir=tmp_path, config_hash="h",
    )  # fmt: skip


def demo_batch(n: int = 16) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        keys.OBS: {keys.STATE: torch.randn((n, 4), generator=g)},
        keys.NEXT_OBS: {keys.STATE: torch.randn((n, 4), generator=g)},
        keys.ACTION: torch.rand((n, 2), generator=g) * 2 - 1,
        keys.REWARD: torch.zeros(n),
        keys.TERMINATED: torch.zeros(n),
        keys.IS_DEMO: (torch.arange(n) % 2).float(),
    }


def test_bc_weight_follows_the_success_rate_of_streamed_episodes(tmp_path: Path) -> None:
    learner = make_learner(tmp_path, DECAY)
    agent = learner.agent
    assert agent.bc_weight_now() == 2.0  # no episode yet: the full weight
    outcomes: list[bool] = []
    weights = []
    # (success, intervened_at, info): a success the person helped with is not counted; the
    # info's "success" (a reward model's verdict) wins over the reward.
    plan = [
        (True, None, None), (False, None, None), (True, 1, None), (True, None, None),
        (True, None, None), (False, None, {keys.SUCCESS: True}), (True, None, None),
        (False, None, None), (False, None, None), (False, None, None), (False, None, None),
    ]  # fmt: skip
    for i, (success, intervened_at, info) in enumerate(plan):
        for step in episode(i, success=success, intervened_at=intervened_at, info=info):
            learner.handle(step, peer="actor-a")
        if intervened_at is None:
            outcomes.append(bool(info[keys.SUCCESS]) if info else success)
        window = outcomes[-4:]
        rate = sum(window) / len(window)
        assert agent.success_window.rate == pytest.approx(rate), i
        assert agent.bc_weight_now() == pytest.approx(max(2.0 * (1 - rate), 0.2)), i
        weights.append(agent.bc_weight_now())
    assert learner.episodes_ended == len(plan)
    # Four successes in a row held it at the floor; four failures since give it all back.
    assert min(weights) == 0.2 and weights[-1] == 2.0
    assert decayed_bc_weight(2.0, 0.5, 0.2) == 1.0

    values = agent.update(demo_batch())
    assert values["learner/bc_weight"] == pytest.approx(agent.bc_weight_now())
    assert values["learner/online_success_rate"] == pytest.approx(agent.success_window.rate)


def test_the_decayed_weight_is_the_one_the_actor_loss_uses(tmp_path: Path) -> None:
    """An agent whose weight decayed to w trains exactly as one with a fixed bc_weight w."""
    learner = make_learner(tmp_path, DECAY)
    for i, success in enumerate([True, True, True, False]):
        for step in episode(i, success=success):
            learner.handle(step, peer="a")
    decayed = learner.agent
    assert decayed.bc_weight_now() == pytest.approx(0.5)  # 2 * (1 - 3/4)
    fixed = SAC(SPEC, 2, replace(DECAY, bc_weight=0.5, bc_weight_decay=False, bc_weight_min=0.0),
                device="cpu", seed=0)  # fmt: skip
    a, b = decayed.update(demo_batch()), fixed.update(demo_batch())
    assert a["losses/actor"] == b["losses/actor"]
    for name, value in decayed.policy.state_dict().items():
        assert torch.equal(value, fixed.policy.state_dict()[name]), name


def test_off_nothing_changes(tmp_path: Path) -> None:
    config = replace(DECAY, bc_weight_decay=False)
    learner = make_learner(tmp_path, config)
    for i in range(3):
        for step in episode(i, success=True):
            learner.handle(step, peer="a")
    assert learner.agent.success_window is None
    assert learner.agent.bc_weight_now() == 2.0
    assert "learner/bc_weight" not in learner.agent.update(demo_batch())
    # Bit-identical to an agent built without the fields and never told of an episode.
    plain = SAC(SPEC, 2, SACConfig(hidden_dims=(16, 16), critic_ensemble_size=2, utd_ratio=1,
                                   batch_size=16, bc_weight=2.0), device="cpu", seed=0)  # fmt: skip
    plain.update(demo_batch())
    for part in ("policy", "critic", "critic_target"):
        ours, theirs = learner.agent.state_dict()[part], plain.state_dict()[part]
        for name, value in ours.items():
            assert torch.equal(value, theirs[name]), (part, name)


def test_checkpoint_keeps_the_success_window(tmp_path: Path) -> None:
    learner = make_learner(tmp_path, DECAY)
    for i, success in enumerate([True, False, True, True, True]):
        for step in episode(i, success=success):
            learner.handle(step, peer="a")
    learner.checkpoint()  # the learner's own checkpoint file
    state = load_checkpoint(list_checkpoints(tmp_path / "checkpoints")[-1])
    resumed = make_learner(tmp_path / "resumed", DECAY)
    resumed.restore(state)
    assert list(resumed.agent.success_window.outcomes) == [False, True, True, True]
    assert resumed.agent.success_window.episodes == 5
    assert resumed.agent.bc_weight_now() == learner.agent.bc_weight_now() == 0.5


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"bc_decay_window": 0}, "bc_decay_window"),
        ({"bc_weight_min": 3.0}, "bc_weight_min"),
        ({"bc_weight_min": -0.1}, "bc_weight_min"),
        ({"bc_weight": 0.0, "bc_weight_min": 0.0}, "bc_weight_decay"),
    ],
)
def test_bad_values_name_the_field(fields: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        replace(DECAY, **fields).validate()
    with pytest.raises(ValueError, match="bc_decay_window"):
        SuccessWindow(0)


def test_a_config_file_value_out_of_bounds_names_the_field() -> None:
    with pytest.raises(ConfigError, match="bc_decay_window"):
        from_dict(SACConfig, {"bc_weight": 1.0, "bc_weight_decay": True, "bc_decay_window": 0})
    with pytest.raises(ConfigError, match="bc_weight_decay"):
        from_dict(SACConfig, {"bc_weight_decay": True})  # bc_weight 0: nothing to decay


def test_a_running_learner_logs_both_options(tmp_path: Path) -> None:
    """Learner.run with bc_weight_decay and dormant_reset (a check every 2 updates, always
    perturbing): the metrics file has the decayed weight and the growing reset count."""
    config = replace(DECAY, dormant_reset=True, dormant_reset_every=2, dormant_reset_threshold=0.0)
    agent = SAC(SPEC, 2, config, device="cpu", seed=0)
    learner: Learner | None = None
    give_up = time.monotonic() + 60
    learner = Learner(
        agent, InProcessTransport.pair()[1], demo_buffer=ReplayBuffer(SPEC, 2, 50),
        online_buffer=ReplayBuffer(SPEC, 2, 500),
        # unpaced: the steps are handed in before run(), no actor paces the learner
        train=TrainConfig(learning_starts=4, log_every=3, updates_per_env_step=0),
        batch_size=16, demo_fraction=0.5, run_dir=tmp_path, config_hash="h",
        metrics=MetricsLogger(tmp_path / "metrics", "learner"),
        should_exit=lambda: (
            learner is not None and (learner.updates >= 6 or time.monotonic() > give_up)
        ),
    )  # fmt: skip
    for i, success in enumerate([True, False, True, True]):
        for step in episode(i, success=success):
            learner.handle(step, peer="a")
    learner.run()
    rows = {row["updates"]: row for row in read_jsonl(tmp_path / "metrics" / "learner.jsonl")}
    assert rows[3]["learner/bc_weight"] == pytest.approx(0.5)  # 2 * (1 - 3/4)
    assert rows[3]["learner/online_success_rate"] == pytest.approx(0.75)
    assert rows[3]["learner/dormant_resets"] == 1.0  # at update 2
    assert rows[6]["learner/dormant_resets"] == 3.0  # 2, 4, 6
    assert rows[6]["learner/dormant_reset_alpha"] <= 0.9
