"""runtime.partial_episode: the episode open when the actor stops is dropped or stored truncated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.config import from_dict
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.transport import InProcessTransport


def _actor(tmp_path: Path, mode: str, env: gym.Env | None = None) -> tuple[Actor, EpisodeStore]:
    config = from_dict(
        RunConfig,
        {
            "env": {"obs_mode": "state", "max_episode_steps": 10},
            "sac": {"hidden_dims": [16, 16]},
            "runtime": {"partial_episode": mode},
        },
    )
    env = env if env is not None else make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    store = EpisodeStore.create(tmp_path / mode, obs_spec=spec, action_dim=action_dim)
    actor_end, _learner_end = InProcessTransport.pair()
    actor = Actor(
        env,
        make_policy(config, spec, action_dim),
        actor_end,
        config_hash="h",
        seed=0,
        store=store,
        partial_episode=config.runtime.partial_episode,
    )
    return actor, store


def _lengths(store: EpisodeStore) -> list[int]:
    return [int(store.episode_attrs(i)["length"]) for i in store.episode_ids()]


def test_discard_drops_the_open_episode(tmp_path: Path) -> None:
    actor, store = _actor(tmp_path, "discard")
    actor.run(25)  # 10 + 10 + 5 (random actions: no success within 10 steps)
    assert sum(_lengths(store)) == 25 - 5
    assert all(length == 10 for length in _lengths(store))


def test_truncate_stores_the_open_episode_marked_truncated(tmp_path: Path) -> None:
    actor, store = _actor(tmp_path, "truncate")
    stats = actor.run(25)
    lengths = _lengths(store)
    assert sum(lengths) == 25 and stats.episodes == len(lengths)
    last = store.read_episode(store.episode_ids()[-1])
    last.validate()
    assert len(last) == lengths[-1] < 10
    assert last.truncated[-1] and not last.truncated[:-1].any()
    assert last.info["partial"] is True
    assert not [p for p in (tmp_path / "truncate" / "episodes").iterdir() if p.name[0] == "."]


def test_truncate_on_keyboard_interrupt_and_stop(tmp_path: Path) -> None:
    class Interrupting(gym.Wrapper):
        calls = 0

        def step(self, action: Any) -> Any:
            Interrupting.calls += 1
            if Interrupting.calls == 4:
                raise KeyboardInterrupt
            return self.env.step(action)

    config = from_dict(RunConfig, {"env": {"obs_mode": "state", "max_episode_steps": 10}})
    actor, store = _actor(tmp_path, "truncate", Interrupting(make_env(config, seed=0)))
    with pytest.raises(KeyboardInterrupt):
        actor.run(100)
    assert _lengths(store) == [3]
    ep = store.read_episode(store.episode_ids()[0])
    assert ep.truncated.tolist() == [False, False, True]
    assert np.isfinite(ep.observations["state"]).all()

    # A stop request ends the run after the current step; the open episode is stored too.
    actor2, store2 = _actor(tmp_path / "b", "truncate")
    actor2.on_step = lambda *_: setattr(actor2, "stop_requested", actor2.stats.env_steps == 7)
    actor2.run(100)
    assert _lengths(store2) == [7]


def test_invalid_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="partial_episode"):
        _actor(tmp_path, "keep")
