"""End to end: the twin learns pick-cube from state with actor and learner processes.

The one short learning test of the default run (≈1-2 min on 2 cores); longer learning
runs are benchmarks (scripts/bench/learn.py) or marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.app.launch import train
from robot_rl.config import load_yaml
from robot_rl.evaluate import evaluate
from robot_rl.run_config import RunConfig

ROOT = Path(__file__).resolve().parents[2]
EVAL_EPISODES = 20


@pytest.mark.learning
def test_pick_cube_state_learns(tmp_path: Path, learn_seed: int, record_figure) -> None:  # type: ignore[no-untyped-def]
    config = load_yaml(
        RunConfig,
        ROOT / "configs" / "pick_cube_state.yaml",
        overrides=[
            f"seed={learn_seed}",
            f"runs_dir={tmp_path}",
            "train.env_steps=2500",
            "train.eval_every=0",
            f"train.final_eval_episodes={EVAL_EPISODES}",
            "train.video=false",
            "sac.utd_ratio=1",
        ],
    )
    env = make_env(config, seed=123)
    spec, action_dim = env_spec(env)
    untrained = evaluate(
        env, make_policy(config, spec, action_dim), episodes=EVAL_EPISODES, seed=config.seed
    )
    result = train(config, run_dir=tmp_path / "run", progress=False)
    assert result["learner_updates"] >= 2000
    gain = result["final_success_rate"] - untrained["success_rate"]
    record_figure("success_gain_over_untrained", gain, bound=0.5)
    assert gain >= 0.5, (untrained, result)


@pytest.mark.slow
def test_pick_cube_state_reaches_90_percent(tmp_path: Path) -> None:
    config = load_yaml(
        RunConfig,
        ROOT / "configs" / "pick_cube_state.yaml",
        overrides=[f"runs_dir={tmp_path}", "train.video=false", "train.final_eval_episodes=50"],
    )
    result = train(config, run_dir=tmp_path / "run", progress=False)
    assert result["final_success_rate"] >= 0.9, result
