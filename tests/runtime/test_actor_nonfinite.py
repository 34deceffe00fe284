"""Non-finite values at the actor and in evaluation, with the real SAC Policy on the twin: NaN
actions are held by the safety layer and counted (the run goes on), NaN weights are refused on
load and on push, and a NaN never reaches the mixer's state, the episode store or the steps
sent to the learner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.config import from_dict
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.envs.finite import NonFiniteActionError, NonFiniteWeightsError
from robot_rl.evaluate import evaluate
from robot_rl.hil import HilConfig, HumanInput, InterventionMixer
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.safety import SafetyLayer, SafetyWrapper, safety_config_for_twin
from robot_rl.safety.faults import FaultInjector
from robot_rl.safety.wrapper import safety_layer_of
from robot_rl.wire.protocol import Metrics, Step, Weights

HUMAN, POLICY = keys.SOURCE_CODE["human"], keys.SOURCE_CODE["policy"]


def twin_config(steps: int = 12) -> RunConfig:
    return from_dict(
        RunConfig,
        {"env": {"obs_mode": "state", "max_episode_steps": steps}, "sac": {"hidden_dims": [32]}},
    )


def poison(policy: torch.nn.Module) -> None:
    """NaN every parameter in place (a learner that diverged in shared memory, a bit flip):
    what ``load_state_dict`` can no longer be made to accept."""
    with torch.no_grad():
        for p in policy.parameters():
            p.fill_(float("nan"))


def drain(end: InProcessTransport) -> tuple[list[Step], dict[str, float]]:
    steps, metrics = [], {}
    while (msg := end.recv(0.0)) is not None:
        if isinstance(msg, Step):
            steps.append(msg)
        elif isinstance(msg, Metrics):
            metrics.update(msg.values)
    return steps, metrics


def test_policy_load_state_dict_refuses_nonfinite_weights() -> None:
    config = twin_config()
    spec, action_dim = env_spec(make_env(config, seed=0))
    policy = make_policy(config, spec, action_dim)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    bad = {k: v + 1.0 for k, v in before.items()}
    name = next(k for k, v in bad.items() if v.is_floating_point() and v.numel() > 1)
    bad[name][0] = float("inf")
    with pytest.raises(NonFiniteWeightsError, match=rf"1 of \d+ tensors hold NaN or inf \({name}"):
        policy.load_state_dict(bad)
    for k, v in policy.state_dict().items():  # nothing was copied, not even the finite tensors
        assert torch.equal(v, before[k])
    bad[name][0] = 0.0
    policy.load_state_dict(bad)  # the same weights, finite, load
    assert torch.equal(policy.state_dict()[name], bad[name])


def test_pushed_bad_weights_are_refused_and_the_last_good_ones_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = twin_config()
    env = make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    policy = make_policy(config, spec, action_dim)
    actor_end, learner_end = InProcessTransport.pair()
    actor = Actor(env, policy, actor_end, config_hash="h", seed=0)
    good = {k: v + 0.01 for k, v in policy.state_dict().items()}
    learner_end.send(Weights.from_state_dict(good, version=1, config_hash="h"))
    actor.run(2)
    nan = {k: torch.full_like(v, float("nan")) for k, v in good.items()}
    learner_end.send(Weights.from_state_dict(nan, version=2, config_hash="h"))
    wrong = dict(good)
    wrong[next(iter(wrong))] = torch.zeros(7)
    learner_end.send(Weights.from_state_dict(wrong, version=3, config_hash="h"))
    actor.run(14)  # run() starts a new episode: 12 more steps, to its end (metrics sent)
    assert actor.stats.weights_version == 1 and actor.stats.rejected_bad_weights == 2
    for k, v in policy.state_dict().items():
        assert torch.equal(v, good[k])
    err = capsys.readouterr().err
    assert err.count("actor: rejected weights") == 1  # said once, counted every time
    assert "rejected weights v2" in err and "NaN or inf" in err and "last good weights (v1)" in err
    steps, metrics = drain(learner_end)
    assert metrics["actor/rejected_bad_weights"] == 2.0
    assert len(steps) == 14 and all(np.all(np.isfinite(s.action)) for s in steps)
    assert actor.stats.nonfinite_actions == 0


def test_a_real_policy_with_nan_weights_is_held_by_the_safety_layer_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = twin_config(steps=10)
    env = make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    policy = make_policy(config, spec, action_dim)
    store = EpisodeStore.create(tmp_path / "episodes", obs_spec=spec, action_dim=action_dim)
    actor_end, learner_end = InProcessTransport.pair()
    actor = Actor(env, policy, actor_end, config_hash="h", seed=0, store=store)
    actor.adopt_weights(policy.state_dict(), version=1)
    poison(policy)
    obs = env.reset(seed=0)[0]
    with pytest.raises(NonFiniteActionError):  # what Policy.act does on its own
        policy.act(obs)
    stats = actor.run(10)  # the run goes on: every step held, none fatal
    assert stats.env_steps == 10 and stats.episodes == 1 and stats.nonfinite_actions == 10
    layer = safety_layer_of(env)
    assert layer is not None and layer.stats["event/reject:nan"] == 10
    episode = store.read_episode(store.episode_ids()[0])
    hold = np.tile([0.0, 0.0, 0.0, -1.0], (10, 1))  # zero motion, the gripper as it was (open)
    np.testing.assert_array_equal(episode.actions, hold)
    steps, metrics = drain(learner_end)
    np.testing.assert_array_equal(np.stack([s.action for s in steps]), hold)
    assert metrics["actor/nonfinite_actions"] == 10 and metrics["safety/event/reject_nan"] == 10
    assert capsys.readouterr().err.count("non-finite action") == 1


def test_without_a_safety_layer_a_nan_action_stops_before_the_env() -> None:
    from robot_rl_sim import TwinConfig
    from robot_rl_sim import make_env as make_twin

    class CountingEnv(gym.Wrapper):
        steps = 0

        def step(self, action: Any) -> Any:
            CountingEnv.steps += 1
            return self.env.step(action)

    env = CountingEnv(make_twin(TwinConfig(obs_mode="state"), seed=0))
    spec, action_dim = env_spec(env)
    policy = make_policy(twin_config(), spec, action_dim)
    actor = Actor(env, policy, InProcessTransport.pair()[0], config_hash="h", seed=0)
    actor.adopt_weights(policy.state_dict(), version=1)
    poison(policy)
    with pytest.raises(ValueError, match="non-finite"):
        actor.run(5)
    assert CountingEnv.steps == 0


class TakesOver:
    """A person who takes over at step ``start`` for ``steps`` steps, pushing +x."""

    def __init__(self, start: int, steps: int) -> None:
        self.t, self.start, self.end = 0, start, start + steps

    def poll(self, obs: dict[str, np.ndarray], policy_action: np.ndarray) -> HumanInput:
        self.t += 1
        if self.start < self.t <= self.end:
            return HumanInput(np.array([1.0, 0.0, 0.0, -1.0], np.float32), True)
        return HumanInput(None, False)

    def reset(self) -> None:
        self.t = 0


def test_nan_policy_before_a_takeover_the_person_still_moves_the_arm(tmp_path: Path) -> None:
    """Issue 17: the blend latched at NaN, the arm held for the rest of the episode and the
    held steps were stored as human interventions (HIL-SERL demos)."""
    config = twin_config(steps=16)
    env = make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    policy = make_policy(config, spec, action_dim)
    store = EpisodeStore.create(tmp_path / "episodes", obs_spec=spec, action_dim=action_dim)
    mixer = InterventionMixer(
        action_dim, config=HilConfig(max_action_delta=0.25), source=TakesOver(start=3, steps=10)
    )
    actor_end, _learner_end = InProcessTransport.pair()

    def break_after_step_1(_next_obs: Any, step: Step, _stats: Any) -> None:
        if step.t == 1:
            poison(policy)  # from step 2 on every policy action is NaN

    actor = Actor(
        env, policy, actor_end, config_hash="h", seed=0, store=store, mixer=mixer,
        on_step=break_after_step_1,
    )  # fmt: skip
    actor.adopt_weights(policy.state_dict(), version=1)
    actor.run(16)  # step 2: NaN policy; 3..12: the person; 13..15: NaN policy again
    episode = store.read_episode(store.episode_ids()[0])
    assert np.all(np.isfinite(episode.actions))
    assert list(episode.intervened) == [False] * 3 + [True] * 10 + [False] * 3
    assert np.all(episode.sources[episode.intervened] == HUMAN)
    assert np.all(episode.sources[~episode.intervened] == POLICY)
    human = episode.actions[episode.intervened]
    np.testing.assert_allclose(human[:4, 0], [0.25, 0.5, 0.75, 1.0])  # blended from the hold
    np.testing.assert_array_equal(human[4:], np.tile([1.0, 0.0, 0.0, -1.0], (6, 1)))
    assert np.all(episode.actions[[2, 13, 14, 15], :3] == 0.0)  # the NaN steps: held
    x = episode.observations["state"][:, 0]
    assert x[13] - x[3] > 0.1  # the person moved the arm: > 10 cm along +x in 10 steps
    assert actor.stats.nonfinite_actions == 4 and mixer.nonfinite_steps == 4


def test_evaluation_of_a_nan_policy_is_held_and_counted_not_fatal() -> None:
    from robot_rl_sim import TwinConfig
    from robot_rl_sim import make_env as make_twin

    config = twin_config(steps=6)
    env = make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    policy = make_policy(config, spec, action_dim)
    poison(policy)
    result = evaluate(env, policy, episodes=2, seed=0)
    assert result["nonfinite_actions"] == 12 and result["success_rate"] == 0.0
    assert result["mean_length"] == 6.0  # every episode ran to its end, held
    bare = make_twin(TwinConfig(obs_mode="state", max_episode_steps=6), seed=0)
    with pytest.raises(NonFiniteActionError):
        evaluate(bare, policy, episodes=1, seed=0)


def test_a_nan_observation_ends_its_episode_and_is_never_stored_or_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from robot_rl_sim import TwinConfig
    from robot_rl_sim import make_env as make_twin

    twin = make_twin(TwinConfig(obs_mode="state", max_episode_steps=8), seed=0)
    faults = FaultInjector(twin)
    env = SafetyWrapper(faults, SafetyLayer(safety_config_for_twin(twin.config)))
    spec, action_dim = env_spec(env)
    policy = make_policy(twin_config(), spec, action_dim)
    store = EpisodeStore.create(tmp_path / "episodes", obs_spec=spec, action_dim=action_dim)
    actor_end, learner_end = InProcessTransport.pair()

    def sensor_glitch(_next_obs: Any, step: Step, _stats: Any) -> None:
        if step.episode_id == 0 and step.t == 2:
            faults.set_pose_offset([np.nan, 0.0, 0.0])  # the reported TCP pose goes NaN

    def glitch_passes(stats: Any) -> None:  # after the env reset that follows the 2nd drop
        if stats.nonfinite_observations >= 2:
            faults.clear()

    actor = Actor(
        env, policy, actor_end, config_hash="h", seed=0, store=store, on_step=sensor_glitch
    )
    actor.adopt_weights(policy.state_dict(), version=1)
    stats = actor.run(3 + 3 + 8, progress=glitch_passes)
    # 3 steps stored, then the glitch: its step and the steps from two NaN resets dropped
    # (the policy's actions on NaN were held), then 8 clean steps
    assert stats.nonfinite_observations == 3 and stats.env_steps == 14
    assert stats.nonfinite_actions == 2  # acting on the NaN reset observations
    lengths = [int(store.episode_attrs(i)["length"]) for i in store.episode_ids()]
    assert lengths == [3, 8]
    first = store.read_episode(store.episode_ids()[0])
    assert bool(first.truncated[-1]) and first.info["ended_by"] == "nonfinite_observation"
    for i in store.episode_ids():
        assert np.isfinite(store.read_episode(i).observations["state"]).all()
    steps, metrics = drain(learner_end)
    assert len(steps) == 11 and metrics["actor/nonfinite_observations"] == 3
    for s in steps:
        assert np.isfinite(s.next_obs["state"]).all()
        assert s.first_obs is None or np.isfinite(s.first_obs["state"]).all()
    err = capsys.readouterr().err
    assert err.count("actor: dropped env step") == 1 and "non-finite state" in err


def test_a_nan_reward_drops_its_step_and_ends_the_episode(tmp_path: Path) -> None:
    class NanRewardAt(gym.Wrapper):
        """A reward model that breaks once: NaN at the ``at``-th env step."""

        def __init__(self, env: gym.Env, at: int) -> None:
            super().__init__(env)
            self.calls, self.at = 0, at

        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.calls += 1
            return obs, np.nan if self.calls == self.at else reward, terminated, truncated, info

    config = twin_config(steps=6)
    env = NanRewardAt(make_env(config, seed=0), at=5)
    spec, action_dim = env_spec(env)
    store = EpisodeStore.create(tmp_path / "episodes", obs_spec=spec, action_dim=action_dim)
    actor = Actor(
        env, make_policy(config, spec, action_dim), InProcessTransport.pair()[0],
        config_hash="h", seed=0, store=store,
    )  # fmt: skip
    stats = actor.run(11)  # 4 steps, the dropped one, then a whole episode of 6
    assert stats.nonfinite_observations == 1
    episodes = [store.read_episode(i) for i in store.episode_ids()]
    assert [len(e) for e in episodes] == [4, 6]
    assert all(np.isfinite(e.rewards).all() for e in episodes)
