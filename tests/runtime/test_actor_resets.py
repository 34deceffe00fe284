"""``resets:`` in the actor loop: scripted (home through the safety layer) and human (the actor
waits for continue, with a deadline) reset controllers at every episode boundary."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from robot_rl_sim import make_env as make_twin

from robot_rl import keys
from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.app.launch import train
from robot_rl.app.wiring import scripted_reset
from robot_rl.config import ConfigError, from_dict
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.resets.human import HumanReset, HumanResetTimeout
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.safety.layer import SafetyLayer
from robot_rl.safety.wrapper import SafetyWrapper
from robot_rl.wire.protocol import Control
from tests.waiting import wait_for

EPISODE_STEPS = 6

pytestmark = pytest.mark.twin


def _config(**resets: Any) -> RunConfig:
    return from_dict(
        RunConfig,
        {
            "env": {"obs_mode": "state", "max_episode_steps": EPISODE_STEPS},
            "sac": {"hidden_dims": [16, 16]},
            "resets": resets,
        },
    )


def _actor(
    tmp_path: Path, config: RunConfig, env: gym.Env | None = None, **kwargs: Any
) -> tuple[Actor, EpisodeStore, Any]:
    env = env if env is not None else make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    store = EpisodeStore.create(tmp_path / "episodes", obs_spec=spec, action_dim=action_dim)
    actor_end, learner_end = InProcessTransport.pair()
    actor = Actor(
        env, make_policy(config, spec, action_dim), actor_end, config_hash="h", seed=0,
        store=store, human_message=config.resets.human_message, **kwargs,
    )  # fmt: skip
    return actor, store, learner_end


def test_human_reset_holds_the_next_episode_until_continue(tmp_path: Path) -> None:
    human = HumanReset(timeout_s=30.0)
    actor, store, _ = _actor(tmp_path, _config(mode="human"), human_reset=human)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(stats=actor.run(EPISODE_STEPS + 2)))
    thread.start()
    wait_for(lambda: human.status()["pending"])
    status = human.status()
    assert status["message"] == "put the scene back, then press continue"
    time.sleep(0.3)  # the actor must not step while the person resets
    assert actor.stats.env_steps == EPISODE_STEPS and thread.is_alive()
    assert store.episode_ids() == [0]  # the finished episode is written before the wait
    assert human.status()["waiting_s"] >= 0.3
    human.press_continue()
    thread.join(timeout=10)
    stats = result["stats"]
    assert stats.env_steps == EPISODE_STEPS + 2 and not human.status()["pending"]
    assert stats.resets["resets/human"] == 1 and stats.resets["resets/human_wait_s"] >= 0.3
    assert human.requests == 1 and human.timeouts == 0


def test_human_reset_timeout_ends_the_run_with_the_episodes_kept(tmp_path: Path) -> None:
    human = HumanReset(timeout_s=0.3)
    actor, store, _ = _actor(tmp_path, _config(mode="human"), human_reset=human)
    started = time.monotonic()
    with pytest.raises(HumanResetTimeout, match=r"resets\.human_timeout_s"):
        actor.run(10 * EPISODE_STEPS)
    assert 0.3 <= time.monotonic() - started < 5.0
    assert actor.stats.env_steps == EPISODE_STEPS and store.episode_ids() == [0]
    assert human.timeouts == 1 and not human.status()["pending"]


def test_stop_from_the_learner_while_waiting_for_a_person(tmp_path: Path) -> None:
    human = HumanReset(timeout_s=30.0)
    actor, store, learner_end = _actor(tmp_path, _config(mode="human"), human_reset=human)
    thread = threading.Thread(target=actor.run, args=(10 * EPISODE_STEPS,))
    thread.start()
    wait_for(lambda: human.status()["pending"])
    learner_end.send(Control(command="stop"))  # taken by the actor's polling while it waits
    thread.join(timeout=5)
    assert not thread.is_alive() and actor.stop_requested
    assert human.timeouts == 0 and not human.status()["pending"]
    assert actor.stats.env_steps == EPISODE_STEPS and store.episode_ids() == [0]


class ObsBeforeReset(
    gym.Wrapper[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]
):
    """Notes the TCP position of the twin's last observation before each reset."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.last_tcp: np.ndarray | None = None
        self.tcp_at_reset: list[np.ndarray] = []

    def step(self, action: np.ndarray) -> Any:
        out = self.env.step(action)
        self.last_tcp = np.asarray(out[0][keys.STATE][0:3]).copy()  # (3,) float32, m
        return out

    def reset(self, **kwargs: Any) -> Any:
        if self.last_tcp is not None:
            self.tcp_at_reset.append(self.last_tcp)
        return self.env.reset(**kwargs)


def test_scripted_reset_moves_the_tcp_home_through_the_layer(tmp_path: Path) -> None:
    config = _config(mode="scripted")
    twin = ObsBeforeReset(make_twin(config.env, seed=0))
    layer = SafetyLayer(config.safety)
    env = SafetyWrapper(twin, layer)  # the layer sees the reset controller's commands too
    controller = scripted_reset(config)
    assert controller is not None
    actor, store, _ = _actor(tmp_path, config, env=env, scripted_reset=controller)
    stats = actor.run(3 * EPISODE_STEPS)  # three episodes: two scripted resets between them
    home = np.asarray(config.env.tcp_start)
    assert stats.resets["resets/scripted"] == 2 and stats.resets["resets/scripted_missed_home"] == 0
    # env resets after episodes 1, 2 (scripted first) and 3 (the run's end: nobody moves home)
    first, second, at_end = twin.tcp_at_reset
    for tcp in (first, second):
        assert np.linalg.norm(tcp - home) < config.resets.home_tolerance
    assert np.linalg.norm(at_end - home) > config.resets.home_tolerance  # random actions
    move_steps = layer.stats["commands"] - stats.env_steps
    assert move_steps >= 2  # random actions left the TCP away from home both times
    assert len(store.episode_ids()) == 3 and controller.resets == 2


def test_resets_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"resets\.mode"):
        _config(mode="robot")
    with pytest.raises(ConfigError, match=r"resets\.human_timeout_s"):
        _config(human_timeout_s=0)
    with pytest.raises(ConfigError, match=r"resets\.home"):
        _config(home=[0.4, 0.0])
    with pytest.raises(ConfigError, match=r"resets\.nope"):
        _config(nope=1)
    config = _config(mode="human")
    with pytest.raises(ConfigError, match=r"resets\.mode=human.*--dashboard"):
        train(config, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was made
    assert scripted_reset(_config()) is None
    custom = scripted_reset(_config(mode="scripted", home=[0.4, 0.05, 0.2]))
    assert custom is not None and custom.config.home == (0.4, 0.05, 0.2)
