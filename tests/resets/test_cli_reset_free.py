"""``robot-rl reset-free``: a short real run writes its config, curve, policies and figures."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robot_rl.cli import main
from robot_rl.config import load_yaml
from robot_rl.resets.reset_free import ResetFreeConfig
from robot_rl.runtime.checkpoint import load_policy

SETS = {
    "env_steps": "80",
    "time_budget_s": "0",
    "demos_per_task": "1",
    "pretrain_updates": "2",
    "sac.hidden_dims": "[16,16]",
    "sac.batch_size": "16",
    "window": "5",
}


@pytest.mark.twin
def test_reset_free_command_writes_config_progress_policies_and_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rf"
    args = [arg for key, value in SETS.items() for arg in ("--set", f"{key}={value}")]
    code = main(["reset-free", "configs/resets/reset_free_place_state.yaml", "--quiet",
                 "--out", str(out), *args])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["env_steps"] >= 80 and result["out"] == str(out)
    assert json.loads((out / "result.json").read_text())["episodes"] == result["episodes"]
    saved = load_yaml(ResetFreeConfig, out / "config.yaml")  # reloads as the run's config
    assert saved.env_steps == 80 and saved.sac.hidden_dims == (16, 16)
    rows = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == result["env_steps"]
    assert all(row["episodes"] % 20 == 0 for row in rows[:-1])
    for task in ("forward", "backward"):
        tensors, meta = load_policy(out / f"{task}.safetensors")
        assert tensors and int(meta["weights_version"]) >= 2  # pretraining updates at least

    # a second run into the same directory is refused: nothing is overwritten
    assert main(["reset-free", "configs/resets/reset_free_place_state.yaml", "--quiet",
                 "--out", str(out), *args]) == 2  # fmt: skip


def test_reset_free_command_names_a_bad_field(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reset-free", "configs/resets/reset_free_place_state.yaml",
                 "--set", "max_failures=0"])  # fmt: skip
    assert code == 2
    assert "max_failures" in capsys.readouterr().err


@pytest.mark.twin
@pytest.mark.parametrize("answers", ["\n" * 50, ""])
def test_human_resets_are_answered_in_the_terminal(
    tmp_path: Path,
    answers: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Untrained policies (no demos) fail at once: a reset is needed every other episode and
    # the person is asked for it; Enter continues, no answer (EOF) ends the run at the deadline.
    monkeypatch.setattr("sys.stdin", io.StringIO(answers))
    sets = {**SETS, "demos_per_task": "0", "max_failures": "1", "reset_mode": "human",
            "env.max_episode_steps": "10", "env_steps": "60"}  # fmt: skip
    args = [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    code = main(["reset-free", "configs/resets/reset_free_place_state.yaml", "--quiet",
                 "--human-timeout", "2", "--out", str(tmp_path / "rf"), *args])  # fmt: skip
    err = capsys.readouterr().err
    assert "press Enter to continue" in err
    if answers:
        assert code == 0
        result = json.loads((tmp_path / "rf" / "result.json").read_text())
        assert result["resets"] >= 2 and result["env_steps"] >= 60
    else:
        assert code == 1 and "nobody pressed continue" in err
        assert (tmp_path / "rf" / "forward.safetensors").is_file()


@pytest.mark.twin
def test_a_killed_run_keeps_its_curve_and_policies(tmp_path: Path) -> None:
    out = tmp_path / "rf"
    sets = {**SETS, "demos_per_task": "0", "env.max_episode_steps": "5", "env_steps": "100000"}
    args = [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "robot_rl.cli", "reset-free",
         "configs/resets/reset_free_place_state.yaml", "--quiet", "--out", str(out), *args],
        cwd=Path(__file__).resolve().parents[2], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    progress = out / "progress.jsonl"
    deadline = time.monotonic() + 120
    while not (progress.is_file() and len(progress.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "no progress rows within 120 s"
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no finally, no atexit
    proc.wait()
    rows = [json.loads(line) for line in progress.read_text().splitlines()]
    assert len(rows) >= 2 and rows[1]["episodes"] > rows[0]["episodes"]
    # untrained forward attempts leave the cube in the start region: backward has nothing to
    # practise (its goal holds), so only forward has updates; both files are whole
    policies = {task: load_policy(out / f"{task}.safetensors") for task in ("forward", "backward")}
    assert int(policies["forward"][1]["weights_version"]) > 0
    forward, backward = policies["forward"][0], policies["backward"][0]
    assert forward.keys() == backward.keys()  # both whole: every tensor of the policy, ...
    for name, tensor in forward.items():  # ... each of its full shape
        assert backward[name].shape == tensor.shape, name
    assert not list(out.glob("*.tmp*"))  # no half-written file is left as the policy
