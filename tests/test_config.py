"""Run configs: every shipped config loads; bad keys and values are errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.config import ConfigError, config_hash, from_dict, load_yaml, save_yaml
from robot_rl.run_config import RunConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    config = load_yaml(RunConfig, path)
    assert config.train.env_steps > 0


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  env_stepz: 10\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: train\.env_stepz: unknown key"):
        load_yaml(RunConfig, path)


def test_ill_typed_value_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sac:\n  batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"sac\.batch_size: expected int, got 'lots'"):
        load_yaml(RunConfig, path)


def test_literal_choices_are_listed() -> None:
    with pytest.raises(
        ConfigError, match=r"runtime\.transport: expected one of \['zmq', 'inprocess'\]"
    ):
        from_dict(RunConfig, {"runtime": {"transport": "carrier-pigeon"}})


def test_validate_names_field() -> None:
    with pytest.raises(ConfigError, match=r"train\.env_steps: must be >= 1, got 0"):
        from_dict(RunConfig, {"train": {"env_steps": 0}})


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_yaml(RunConfig, bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_yaml(RunConfig, tmp_path / "absent.yaml")


def test_overrides_and_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "c.yaml"
    save_yaml(RunConfig(), src)
    config = load_yaml(RunConfig, src, overrides=["train.env_steps=123", "seed=7"])
    assert config.train.env_steps == 123 and config.seed == 7
    save_yaml(config, tmp_path / "copy.yaml")
    again = load_yaml(RunConfig, tmp_path / "copy.yaml")
    assert again == config
    assert config_hash(again) == config_hash(config) != config_hash(RunConfig())
    with pytest.raises(ConfigError, match=r"train\.nope: unknown key"):
        load_yaml(RunConfig, src, overrides=["train.nope=1"])


def test_task_supplies_env_demo_and_safety_defaults(tmp_path: Path) -> None:
    from robot_rl_sim.tasks import get_task

    hard = get_task("pick_cube_hard")
    config = from_dict(RunConfig, {"task": "pick_cube_hard", "env": {"max_episode_steps": 60}})
    assert config.env.max_episode_steps == 60  # the file's value wins
    assert config.env.use_rotation and config.env.distractors == hard.env.distractors
    assert config.env.cube_half_size == hard.env.cube_half_size
    assert config.demos.num_episodes == hard.demo_episodes
    assert config.safety.action_dim == 7 == config.env.action_dim
    # the default task keeps the default twin and the default safety block
    plain = from_dict(RunConfig, {})
    assert plain.env == get_task("pick_cube").env and plain.safety == RunConfig().safety
    # round trip through the run directory's copy: the same config and hash
    save_yaml(config, tmp_path / "hard.yaml")
    again = load_yaml(RunConfig, tmp_path / "hard.yaml")
    assert again == config and config_hash(again) == config_hash(config)
    # a task set by an override takes the task's defaults too
    src = tmp_path / "min.yaml"
    src.write_text("name: x\n")
    over = load_yaml(RunConfig, src, overrides=["task=pick_cube_hard"])
    assert over.env == hard.env


def test_unknown_task_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("task: pick_cube_impossible\n")
    with pytest.raises(
        ConfigError, match=r"bad\.yaml: task: unknown task 'pick_cube_impossible' \(known: .*"
    ) as err:
        load_yaml(RunConfig, path)
    assert "pick_cube_hard" in str(err.value)
    with pytest.raises(ConfigError, match=r"task: expected a string"):
        from_dict(RunConfig, {"task": 3})
    with pytest.raises(ValueError, match="task: unknown task 'nope'"):
        RunConfig(task="nope").validate()
