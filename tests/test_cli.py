"""The robot-rl command line, run as a user would (a subprocess)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robot_rl.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_lists_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("demos", "train", "eval", "learner"):
        assert command in out.stdout
    assert "examples:" in out.stdout


def test_bad_config_key_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  env_step: 10\n")
    out = run_cli("train", str(bad))
    assert out.returncode == 2
    assert "train.env_step: unknown key" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_override_is_named() -> None:
    out = run_cli("train", "configs/pick_cube_state.yaml", "--set", "sac.batch_size=lots")
    assert out.returncode == 2 and "sac.batch_size: expected int, got 'lots'" in out.stderr


def test_every_command_that_reads_a_config_takes_set() -> None:
    from robot_rl.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from leaves(sub, (*path, name))
                return
        yield " ".join(path), parser

    readers = set()
    for name, parser in leaves(build_parser(), ()):
        dests = {a.dest for a in parser._actions}
        if dests & {"config", "run_dir"}:  # a config file, or the run's config.yaml
            readers.add(name)
            assert "set" in dests, f"robot-rl {name} reads a config but takes no --set"
    assert readers == {
        "demos", "train", "eval", "learner", "reward train", "reward eval", "dashboard",
        "record", "reset-free", "sweep",
    }  # fmt: skip


def test_learner_overrides_runtime_only_and_keeps_the_runs_hash(tmp_path: Path) -> None:
    from robot_rl.app.learner_main import learner_config
    from robot_rl.config import config_hash, load_yaml
    from robot_rl.run_config import RunConfig

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(ROOT / "configs" / "pick_cube_state.yaml", run / "config.yaml")
    out = run_cli("learner", str(run), "--set", "sac.batch_size=64")
    assert (
        out.returncode == 2 and "--set sac.batch_size: a learner may change runtime.*" in out.stderr
    )
    out = run_cli("learner", str(run), "--set", "runtime.torch_thread=2")
    assert out.returncode == 2 and "runtime.torch_thread: unknown key" in out.stderr
    config, digest = learner_config(run, ["runtime.torch_threads=2"])
    saved = load_yaml(RunConfig, run / "config.yaml")
    assert config.runtime.torch_threads == 2 != saved.runtime.torch_threads
    assert digest == config_hash(saved)  # the actor takes its weights


def test_eval_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    out = run_cli("eval", str(tmp_path))
    assert out.returncode == 2 and "is not a run directory" in out.stderr


def test_demos_then_bc_train_then_eval(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    out = run_cli(
        "demos", "configs/pick_cube_bc.yaml", "--out", str(demos), "--set", "demos.num_episodes=4"
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout[out.stdout.index("{") :])
    assert info["episodes"] == 4 and info["successes"] == 4
    run = tmp_path / "run"
    out = run_cli(
        "train",
        "configs/pick_cube_bc.yaml",
        "--demos",
        str(demos),
        "--run-dir",
        str(run),
        "--quiet",
        "--set",
        "bc.num_updates=200",
        "--set",
        "train.final_eval_episodes=2",
        "--set",
        "train.video=false",
    )
    assert out.returncode == 0, out.stderr
    assert "final_success_rate" in out.stdout
    out = run_cli("eval", str(run), "--episodes", "2", "--video", str(tmp_path / "e.mp4"))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert 0.0 <= result["success_rate"] <= 1.0 and result["weights_version"] == 1
    assert (tmp_path / "e.mp4").stat().st_size > 1000
