"""Actor and learner as two processes over a real zmq socket, on the twin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.app.launch import train
from robot_rl.config import from_dict
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.checkpoint import list_checkpoints, load_checkpoint, load_policy
from robot_rl.runtime.metrics import read_jsonl
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.wire.protocol import Weights


def small_config(tmp_path: Path, **train: int | float | bool) -> RunConfig:
    return from_dict(
        RunConfig,
        {
            "name": "t",
            "runs_dir": str(tmp_path),
            "env": {"obs_mode": "state", "max_episode_steps": 30},
            "sac": {
                "critic_ensemble_size": 2,
                "utd_ratio": 1,
                "batch_size": 32,
                "hidden_dims": [64, 64],
            },
            "demos": {"num_episodes": 3},
            "train": {
                "env_steps": 240,
                "learning_starts": 40,
                "weights_push_every": 20,
                "checkpoint_every": 50,
                "eval_every": 120,
                "eval_episodes": 2,
                "final_eval_episodes": 2,
                "max_steps_ahead": 40,
                **train,
            },
            "runtime": {"transport": "zmq", "heartbeat_timeout_s": 10.0},
        },
    )


def test_two_processes_exchange_steps_and_weights(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    result = train(config, run_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result["env_steps"] == 240
    # Weights came back over the socket and the learner trained on streamed steps.
    assert result["weights_version"] >= 3
    assert result["learner_updates"] >= 100
    learner_rows = [
        r for r in read_jsonl(run / "metrics" / "learner.jsonl") if "charts/env_steps" in r
    ]
    assert learner_rows and learner_rows[-1]["charts/env_steps"] > 150
    assert learner_rows[-1]["charts/dropped_steps"] == 0
    # Every online episode is on disk, demos too.
    online = EpisodeStore.open(run / "episodes")
    assert sum(len(online.read_episode(i)) for i in online.episode_ids()) == 240 - _open_steps(
        online, 240
    )
    assert len(EpisodeStore.open(run / "demos")) == 3
    # Checkpoints and the acting policy carry a version and the config hash.
    ckpts = list_checkpoints(run / "checkpoints")
    assert ckpts and load_checkpoint(ckpts[-1])["updates"] >= 50
    _tensors, meta = load_policy(run / "policy.safetensors")
    assert int(meta["weights_version"]) >= result["weights_version"]
    assert (run / "eval" / "video.mp4").stat().st_size > 1000
    assert (
        json.loads((run / "result.json").read_text())["final_success_rate"]
        == result["final_success_rate"]
    )
    assert "learner done" in (run / "learner.log").read_text()


def test_a_residual_learner_pretrains_its_base_before_the_actor_acts(tmp_path: Path) -> None:
    config = small_config(tmp_path, env_steps=120, eval_every=0)
    config.sac.base_policy = "bc"
    config.sac.base_pretrain_updates = 200
    config.sac.action_std = 0.07
    result = train(config, run_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result["env_steps"] == 120
    learner_rows = read_jsonl(run / "metrics" / "learner.jsonl")
    pretrain = [r for r in learner_rows if r.get("updates") == 0 and "losses/base_bc" in r]
    assert pretrain and np.isfinite(pretrain[0]["losses/base_bc"])
    # The actor's very first episode acted with the pre-trained weights, not random actions.
    episodes = [r for r in read_jsonl(run / "metrics" / "actor.jsonl") if "charts/success" in r]
    assert episodes and episodes[0]["charts/weights_version"] >= 1
    online = [r for r in learner_rows if "losses/base_bc" in r and r.get("updates", 0) > 0]
    assert online, "the base kept training during online updates"


def _open_steps(store: EpisodeStore, total: int) -> int:
    """Steps of the last episode that was still running when training stopped."""
    return total - sum(store.episode_attrs(i)["length"] for i in store.episode_ids())


def test_weights_with_another_config_hash_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    config = from_dict(RunConfig, {"env": {"obs_mode": "state"}, "sac": {"hidden_dims": [32, 32]}})
    env = make_env(config, seed=0)
    spec, action_dim = env_spec(env)
    policy = make_policy(config, spec, action_dim)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    actor_end, learner_end = InProcessTransport.pair()
    actor = Actor(env, policy, actor_end, config_hash="mine", seed=0)
    changed = {k: v + 1.0 for k, v in before.items()}
    learner_end.send(Weights.from_state_dict(changed, version=5, config_hash="theirs"))
    actor.run(3)
    assert actor.stats.rejected_weights == 1 and actor.stats.weights_version == 0
    for k, v in policy.state_dict().items():
        assert torch.equal(v, before[k])
    err = capsys.readouterr().err
    assert "rejected weights v5" in err and "theirs" in err and "mine" in err
    obs = env.reset(seed=1)[0]
    assert np.all(np.isfinite(actor.choose_action(obs)))
