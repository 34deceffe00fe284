"""Every config field is checked on load: ranges, finite numbers, duplicate keys, empty files."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from robot_rl.config import ConfigError, config_hash, load_yaml, save_yaml
from robot_rl.config_bounds import BOUNDS, parse_bound
from robot_rl.run_config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def _config_classes() -> dict[str, type]:
    """Every config dataclass reachable from the configs the CLI loads, by class name."""
    from robot_rl.resets.reset_free import ResetFreeConfig
    from robot_rl.rewards.config import RewardConfig
    from robot_rl.ros_compat.config import CellConfig

    found: dict[str, type] = {}

    def walk(cls: type) -> None:
        name = cls.__name__
        if name in found:
            assert found[name] is cls, f"two config classes named {name}"
            return
        found[name] = cls
        for tp in typing.get_type_hints(cls).values():
            for sub in (tp, *typing.get_args(tp)):
                for leaf in (sub, *typing.get_args(sub)):
                    if dataclasses.is_dataclass(leaf) and isinstance(leaf, type):
                        walk(leaf)

    for root in (RunConfig, RewardConfig, ResetFreeConfig, CellConfig):
        walk(root)
    return found


def _is_int(tp: object) -> bool:
    args = [a for a in typing.get_args(tp) if a is not type(None) and a is not Ellipsis]
    return tp is int or (bool(args) and all(_is_int(a) for a in args))


def test_every_table_entry_names_a_real_field_and_parses() -> None:
    classes = _config_classes()
    for class_name, rules in BOUNDS.items():
        assert class_name in classes, f"BOUNDS[{class_name!r}]: no such config class"
        fields = {f.name for f in dataclasses.fields(classes[class_name])}
        for field_name, rule in rules.items():
            assert field_name in fields, f"BOUNDS[{class_name!r}][{field_name!r}]: no such field"
            parse_bound(rule)


def test_every_int_field_of_a_run_config_has_a_rule() -> None:
    from robot_rl.resets.reset_free import ResetFreeConfig
    from robot_rl.ros_compat.config import CellConfig

    classes = _config_classes()
    missing = []
    for name, cls in classes.items():
        if cls in (CellConfig, ResetFreeConfig):  # checked through their own tables anyway
            continue
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            if _is_int(hint) and f.name not in BOUNDS.get(name, {}):
                missing.append(f"{name}.{f.name}")
    assert not missing, f"int fields without a bound in config_bounds.BOUNDS: {missing}"


BAD_VALUES = [
    ("train.updates_per_env_step", ".nan", "must be finite"),
    ("train.updates_per_env_step", "-1", "must be >= 0"),
    ("train.eval_every", "-1", "must be >= 0"),
    ("train.final_eval_episodes", "-1", "must be >= 1"),
    ("train.final_eval_episodes", "0", "must be >= 1"),
    ("train.keep_checkpoints", "0", "must be >= 1"),
    ("train.learning_starts", "-5", "must be >= 0"),
    ("sac.actor_lr", ".inf", "must be finite"),
    ("sac.critic_lr", "0", "must be > 0"),
    ("bc.lr", "-.inf", "must be finite"),
    ("runtime.heartbeat_interval_s", "0", "must be > 0"),
    ("runtime.heartbeat_timeout_s", "-1", "must be > 0"),
    ("runtime.max_learner_restarts", "-1", "must be >= 0"),
    ("seed", "-3", "must be >= 0"),
    ("demos.max_attempts", "0", "must be >= 1"),
    ("dashboard.port", "70000", r"must be in \[0, 65535\]"),
    ("sac.q_target_bounds", "[0, .nan]", "must be finite"),
    ("env.workspace_low", "[0.25, -.inf, 0.01]", "must be finite"),
]


@pytest.mark.parametrize(("field", "raw", "message"), BAD_VALUES)
def test_out_of_range_value_names_file_and_field(field: str, raw: str, message: str) -> None:
    path = ROOT / "configs" / "pick_cube_state.yaml"
    with pytest.raises(ConfigError) as err:
        load_yaml(RunConfig, path, overrides=[f"{field}={raw}"])
    text = str(err.value)
    assert text.startswith(f"{path}: ") and field.split(".")[-1] in text
    assert re.search(message, text), text
    assert "\n" not in text


def test_the_same_values_in_a_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  eval_every: -1\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: train\.eval_every: must be >= 0, got -1"):
        load_yaml(RunConfig, path)
    path.write_text("reward:\n  type: ground_truth\n  threshold: 1.5\n")
    with pytest.raises(ConfigError, match=r"reward"):
        load_yaml(RunConfig, path)


def test_in_range_values_load_and_keep_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    save_yaml(RunConfig(), path)
    config = load_yaml(RunConfig, path, overrides=["train.eval_every=0", "sac.action_std=0.1"])
    assert config.train.eval_every == 0 and config.sac.action_std == 0.1
    assert config_hash(load_yaml(RunConfig, path)) == config_hash(RunConfig())


def test_state_check_bounds_may_be_infinite() -> None:
    from robot_rl.config import from_dict
    from robot_rl.rewards.classifier import ClassifierConfig

    config = from_dict(ClassifierConfig, {"state_checks": [{"index": 10, "high": float("inf")}]})
    assert config.state_checks[0].high == float("inf")
    with pytest.raises(ConfigError, match=r"state_checks\[0\]\.low: must be finite, got nan"):
        from_dict(ClassifierConfig, {"state_checks": [{"index": 10, "low": float("nan")}]})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"null\n", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"train:\n  env_steps: 10\n  env_steps: 20\n", "line 3.*duplicate key 'env_steps'"),
        (b"seed: 1\nseed: 2\n", "duplicate key 'seed' \\(first on line 1\\)"),
        (b"name: caf\xe9\n", "not UTF-8 text"),
        (b"\xff\xfe\x00\x00", "not UTF-8 text"),
        (b"train: [unclosed\n", "not valid YAML: line 2"),
        (b"- a\n- b\n", "top level must be a mapping"),
    ],
)
def test_malformed_files_are_one_line_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as err:
        load_yaml(RunConfig, path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_cli_prints_one_line_for_a_bad_file(tmp_path: Path) -> None:
    """Through the real CLI: exit 2, one line on stderr, no traceback."""
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    dup = tmp_path / "dup.yaml"
    dup.write_text("train:\n  eval_every: 3\n  eval_every: 4\n")
    for path, extra in ((bad, []), (dup, []), (ROOT / "configs/pick_cube_state.yaml",
                        ["--set", "train.updates_per_env_step=.nan"])):  # fmt: skip
        out = subprocess.run(
            [sys.executable, "-m", "robot_rl.cli", "train", str(path), *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and str(path) in lines[0], out.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.env_steps=1" + "0" * 30, "train.env_steps: must fit in 64 bits"),
        ("name=" + "x" * 300, "name: expected 1..100 characters"),
        ("name=a/b", "name: expected 1..100 characters without '/'"),
        ("name=''", "name: expected 1..100 characters"),
    ],
)
def test_huge_ints_and_run_names_that_are_not_one_path_component(
    override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_yaml(RunConfig, ROOT / "configs" / "pick_cube_state.yaml", overrides=[override])


def test_every_default_value_keeps_its_own_rule() -> None:
    """A rule that refuses its field's default is a wrong rule (e.g. a documented "0: off")."""
    from robot_rl.config_bounds import bound_for

    classes = _config_classes()
    broken = []
    for class_name in BOUNDS:
        for f in dataclasses.fields(classes[class_name]):
            if f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                continue
            values = value.values() if isinstance(value, dict) else (
                value if isinstance(value, (list, tuple)) else [value])  # fmt: skip
            for item in values:
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    problem = bound_for(class_name, f.name).error(item)
                    if problem:
                        broken.append(f"{class_name}.{f.name}: {problem}")
    assert not broken, broken


def test_shipped_configs_of_every_command_load() -> None:
    from robot_rl.resets.reset_free import ResetFreeConfig
    from robot_rl.rewards.config import RewardConfig

    for pattern, cls in (("rewards/*.yaml", RewardConfig), ("resets/*.yaml", ResetFreeConfig)):
        paths = sorted((ROOT / "configs").glob(pattern))
        assert paths
        for path in paths:
            load_yaml(cls, path)
