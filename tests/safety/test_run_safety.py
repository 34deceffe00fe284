"""The safety layer in training runs: make_env wraps every run env in it, the actor stores the
executed (filtered) action and reports the layer's interventions in its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.app.build import make_env
from robot_rl.app.launch import train
from robot_rl.config import from_dict
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.metrics import read_jsonl
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.safety.wrapper import safety_layer_of
from robot_rl.wire.protocol import Metrics

SCALE = 0.03  # m per step at |action| = 1, the twin's default action_scale_xyz
BOX_LOW, BOX_HIGH = (0.40, -0.05, 0.15), (0.50, 0.05, 0.28)  # tight box around the TCP start


class FaultyPolicy:
    """A broken policy: drives down into the table, and every third action is NaN."""

    def __init__(self) -> None:
        self.calls = 0

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray:
        self.calls += 1
        if self.calls % 3 == 0:
            return np.full(4, np.nan, np.float32)
        return np.array([0.0, 0.0, -1.0, 1.0], np.float32)

    def load_state_dict(self, state: Any, strict: bool = True) -> None:
        return None


@pytest.mark.twin
def test_run_env_is_wrapped_and_its_frame_must_match_the_env() -> None:
    config = from_dict(RunConfig, {"env": {"obs_mode": "state"}})
    env = make_env(config, seed=0)
    layer = safety_layer_of(env)
    assert layer is not None and layer.config == config.safety
    env.reset()
    _, _, _, _, info = env.step(np.array([np.nan, 0.0, 0.0, 0.0], np.float32))
    assert info["safety_held"] and "reject:nan" in info["safety_events"]
    np.testing.assert_array_equal(info["executed_action"], [0.0, 0.0, 0.0, -1.0])
    # a full step along one axis is inside every default limit: it goes through unchanged
    _, _, _, _, info = env.step(np.array([0.0, 1.0, 0.0, 0.0], np.float32))
    assert info["safety_events"] == ""
    np.testing.assert_array_equal(info["executed_action"], [0.0, 1.0, 0.0, 0.0])

    rotating = from_dict(RunConfig, {"env": {"use_rotation": True}})
    with pytest.raises(ValueError, match=r"safety\.action_dim"):
        make_env(rotating, seed=0)


@pytest.mark.twin
def test_actor_stores_the_executed_action_and_counts_interventions() -> None:
    config = from_dict(RunConfig, {"env": {"obs_mode": "state", "max_episode_steps": 30}})
    env = make_env(config, seed=0)
    actor_end, learner_end = InProcessTransport.pair()
    episodes: list[Episode] = []
    actor = Actor(
        env, FaultyPolicy(), actor_end, config_hash="h", seed=0,
        on_episode=lambda ep, _stats: episodes.append(ep),
    )  # fmt: skip
    actor.adopt_weights({}, version=1)  # act with the policy from the first step
    actor.run(30)
    assert len(episodes) == 1
    ep = episodes[0]
    assert np.all(np.isfinite(ep.actions))  # NaN never reached the replay or the episode
    held = ep.actions[2::3]  # the NaN steps: held, zero motion, gripper as before (closed)
    np.testing.assert_array_equal(held, np.tile([0.0, 0.0, 0.0, 1.0], (len(held), 1)))
    # pushing into the table: the stored z action is what the box let through, not -1
    tcp = ep.observations["state"][:-1, 0:3]
    low_z = config.safety.workspace_low[2]
    assert np.all(tcp[:, 2] + ep.actions[:, 2] * SCALE >= low_z - 1e-6)
    assert np.any(ep.actions[:, 2] > -1.0) and np.any(ep.actions[0::3, 2] == -1.0)
    assert np.all(tcp[:, 2] >= low_z - 0.005)  # the TCP stayed in the box
    values: dict[str, float] = {}
    while (msg := learner_end.recv(0.0)) is not None:
        if isinstance(msg, Metrics):
            values.update(msg.values)
    assert values["safety/held"] == len(held) == values["safety/event/reject_nan"]
    assert values["safety/event/clip_box"] > 0 and values["safety/commands"] == 30


def tiny_run(tmp_path: Path) -> RunConfig:
    return from_dict(
        RunConfig,
        {
            "name": "safe",
            "runs_dir": str(tmp_path),
            "env": {"obs_mode": "state", "max_episode_steps": 20},
            "sac": {"critic_ensemble_size": 2, "utd_ratio": 1, "batch_size": 16,
                    "hidden_dims": [32, 32]},
            "demos": {"num_episodes": 0},  # the expert cannot reach the cube in this box
            "safety": {"workspace_low": list(BOX_LOW), "workspace_high": list(BOX_HIGH)},
            "train": {"env_steps": 80, "learning_starts": 20, "weights_push_every": 10,
                      "eval_every": 0, "final_eval_episodes": 1, "video": False},
            "runtime": {"transport": "inprocess"},
        },
    )  # fmt: skip


@pytest.mark.twin
def test_train_run_keeps_the_policy_in_the_workspace_and_stores_what_was_sent(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    result = train(tiny_run(tmp_path), run_dir=run, progress=False)
    assert result["env_steps"] == 80
    store = EpisodeStore.open(run / "episodes")
    low, high = np.asarray(BOX_LOW), np.asarray(BOX_HIGH)
    for i in store.episode_ids():
        ep = store.read_episode(i)
        tcp = ep.observations["state"][:, 0:3]
        # The twin's controller integrates deltas onto its own target, which runs ahead of
        # the measured TCP the layer clips against: the TCP overshoots by that lag (~1 cm).
        assert np.all(tcp >= low - 0.02) and np.all(tcp <= high + 0.02)
        # every stored action, applied to the measured TCP, stays in the box: it is the
        # executed command (random and policy actions leave this box within a few steps)
        commanded = tcp[:-1] + ep.actions[:, :3] * SCALE
        assert np.all(commanded >= low - 1e-5) and np.all(commanded <= high + 1e-5)
    # the actor's metrics messages (actor/*, safety/*) are logged by the learner
    rows = [r for r in read_jsonl(run / "metrics" / "learner.jsonl") if "safety/commands" in r]
    assert rows and max(r.get("safety/event/clip_box", 0.0) for r in rows) > 0
