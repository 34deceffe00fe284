"""``env.entry_point``: a Gymnasium env of one's own through train / eval / demos (point_env.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_rl.config import ConfigError, from_dict
from robot_rl.envs.external import EnvContractError, make_external_env
from robot_rl.run_config import RunConfig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENV = "point_env:PointReachEnv"
EXPERT = "point_env:PointExpert"


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


@pytest.mark.parametrize("layout", ["nested", "slash"])
def test_observation_is_flattened_to_the_contract(layout: str) -> None:
    env = make_external_env(ENV, {"pixels": layout}, max_episode_steps=7, seed=0)
    assert set(env.observation_space.spaces) == {"agent_pos", "goal", "pixels_top"}
    obs, _ = env.reset(seed=3)
    assert obs["pixels_top"].dtype == np.uint8 and obs["pixels_top"].shape == (48, 48, 3)
    assert obs["agent_pos"].dtype == np.float32 and obs["goal"].dtype == np.float32
    assert env.observation_space.contains(obs)
    steps, truncated = 0, False
    while not truncated:  # no progress: the time limit truncates at max_episode_steps
        _obs, _r, terminated, truncated, _info = env.step(np.zeros(2, np.float32))
        assert not terminated
        steps += 1
    assert steps == 7


def test_contract_errors_name_the_field() -> None:
    with pytest.raises(
        EnvContractError, match=r"env.entry_point: cannot import module 'no_such_mod'"
    ):
        make_external_env("no_such_mod:Env", {}, max_episode_steps=5)
    with pytest.raises(
        EnvContractError, match=r"env.entry_point: module 'point_env' has no attribute 'Nope'"
    ):
        make_external_env("point_env:Nope", {}, max_episode_steps=5)
    with pytest.raises(
        EnvContractError, match=r"env.entry_point: expected 'package.module:callable'"
    ):
        make_external_env("point_env.PointReachEnv", {}, max_episode_steps=5)
    with pytest.raises(EnvContractError, match=r"bounded by \[-1, 1\]"):
        make_external_env(ENV, {"action_high": 2.0}, max_episode_steps=5)
    with pytest.raises(EnvContractError, match=r"must be a gymnasium.spaces.Dict"):
        make_external_env("point_env:make_box_obs_env", {}, max_episode_steps=5)
    with pytest.raises(
        EnvContractError, match=r"calling 'point_env:PointReachEnv' with env.kwargs"
    ):
        make_external_env(ENV, {"colour": "red"}, max_episode_steps=5)


def test_config_fields_are_checked_on_load() -> None:
    with pytest.raises(ConfigError, match=r"env: entry_point: expected 'package.module:callable'"):
        from_dict(RunConfig, {"env": {"entry_point": "point_env"}})
    with pytest.raises(ConfigError, match=r"demos.expert_entry_point: set without env.entry_point"):
        from_dict(RunConfig, {"demos": {"expert_entry_point": EXPERT}})
    with pytest.raises(ConfigError, match=r"env: kwargs: given without entry_point"):
        from_dict(RunConfig, {"env": {"kwargs": {"pixels": "nested"}}})


def test_entry_point_env_without_an_expert_says_what_to_do(tmp_path: Path) -> None:
    from robot_rl.app.demos import record_demos

    config = from_dict(RunConfig, {"env": {"entry_point": ENV}, "demos": {"num_episodes": 2}})
    with pytest.raises(ValueError, match=r"demos.expert_entry_point: empty.*--demos STORE"):
        record_demos(config, tmp_path / "demos")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-m", "robot_rl.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _write_config(path: Path, agent: str, runs_dir: Path, *, pixels: str) -> None:
    path.write_text(
        f"name: point_{agent}\nruns_dir: {runs_dir}\nagent: {agent}\n"
        f"env:\n  entry_point: '{ENV}'\n  kwargs: {{pixels: '{pixels}'}}\n  max_episode_steps: 20\n"
        f"demos:\n  num_episodes: 20\n  noise: 0.2\n  expert_entry_point: '{EXPERT}'\n"
        "bc:\n  num_updates: 600\n  batch_size: 64\n  hidden_dims: [64, 64]\n"
        "sac:\n  batch_size: 64\n"
        "train:\n  env_steps: 300\n  learning_starts: 50\n  eval_every: 0\n"
        "  weights_push_every: 20\n  max_steps_ahead: 100\n"
        "  eval_episodes: 5\n  final_eval_episodes: 10\n  checkpoint_every: 100\n"
    )


@pytest.mark.timeout(900)
def test_demos_train_and_eval_run_an_entry_point_env(tmp_path: Path) -> None:
    """Real runs through the CLI: expert demos, BC (with images), eval with a video, short SAC."""
    runs = tmp_path / "runs"
    bc_yaml, sac_yaml = tmp_path / "bc.yaml", tmp_path / "sac.yaml"
    _write_config(bc_yaml, "bc", runs, pixels="nested")  # images through BC, eval and video
    _write_config(sac_yaml, "sac", runs, pixels="")  # state only: the CPU-cheap online run

    out = _cli("demos", str(bc_yaml), "--out", str(tmp_path / "demos"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["episodes"] == info["successes"] == 20

    bc_dir = runs / "bc"
    out = _cli("train", str(bc_yaml), "--demos", str(tmp_path / "demos"), "--run-dir",
               str(bc_dir), "--quiet", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads((bc_dir / "result.json").read_text())
    # The expert reaches the goal in ~5 steps; a policy that learnt nothing almost never does.
    assert result["final_success_rate"] >= 0.6, result
    spec = json.loads((bc_dir / "spec.json").read_text())
    assert spec["action_dim"] == 2 and spec["observations"]["pixels_top"]["dtype"] == "uint8"

    out = _cli("eval", str(bc_dir), "--episodes", "5", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    evaluated = json.loads(out.stdout)
    assert evaluated["success_rate"] >= 0.4 and Path(evaluated["video"]).stat().st_size > 0

    sac_dir = runs / "sac"
    out = _cli("train", str(sac_yaml), "--run-dir", str(sac_dir), "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads((sac_dir / "result.json").read_text())
    # the learner process trained and its weights reached the actor
    assert result["env_steps"] == 300 and result["weights_version"] > 0, result
    assert (sac_dir / "demos" / "zarr.json").is_file()  # recorded by the named expert
    actor_log = (sac_dir / "metrics" / "actor.jsonl").read_text().splitlines()
    assert len(actor_log) >= 300 // 20


def test_evaluate_samples_only_when_asked() -> None:
    import gymnasium as gym

    from robot_rl.agents import Policy, SACConfig
    from robot_rl.envs.spec import obs_spec_from_space
    from robot_rl.evaluate import evaluate

    class ActionLog(gym.Wrapper):  # type: ignore[type-arg]
        def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
            super().__init__(env)
            self.actions: list[np.ndarray] = []

        def step(self, action):  # type: ignore[no-untyped-def]
            self.actions.append(np.array(action))
            return self.env.step(action)

    env = ActionLog(make_external_env(ENV, {}, max_episode_steps=6, seed=0))
    spec = obs_spec_from_space(env.observation_space)
    policy = Policy(spec, 2, SACConfig(hidden_dims=(16,), action_std=1.0), seed=0)

    def actions(deterministic: bool) -> np.ndarray:
        env.actions.clear()
        evaluate(env, policy, episodes=2, seed=0, deterministic=deterministic)
        return np.stack(env.actions)

    mean = actions(True)
    np.testing.assert_array_equal(actions(True), mean)  # same seeds, the mean action
    assert np.abs(actions(False) - mean).mean() > 0.1  # std 1 noise on the mean
