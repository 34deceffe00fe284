"""Every command ends with one clear line and a non-zero code when it did not do what was
asked: damaged policy and spec files, learners that do not start or die, too few demos,
damaged episode stores. Real files, the real CLI (``main`` in-process, or a subprocess where
a traceback or an exit code of the process is the point)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from robot_rl.cli import main
from robot_rl.config import from_dict, save_yaml
from robot_rl.run_config import RunConfig
from robot_rl.runtime.checkpoint import list_checkpoints
from tests.tiny_run import tiny_run

ROOT = Path(__file__).resolve().parents[1]


def tiny(tmp: Path, **sections: dict[str, object]) -> dict[str, object]:
    """A run config mapping that trains in a few seconds."""
    return tiny_run(tmp, "exits", **sections)


def write_config(tmp: Path, **sections: dict[str, object]) -> Path:
    path = tmp / "tiny.yaml"
    save_yaml(from_dict(RunConfig, tiny(tmp, **sections)), path)
    return path


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robot_rl.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def one_line(stderr: str) -> str:
    """The one error line of a refusal (progress bars left out); fails on a traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "\r" not in ln and "%|" not in ln]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run (config.yaml, spec.json, policy.safetensors, demos/, checkpoints/)."""
    tmp = tmp_path_factory.mktemp("trained")
    out = cli("train", str(write_config(tmp)), "--run-dir", str(tmp / "run"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "run finished" in out.stdout
    return tmp / "run"


def _copy(run: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.yaml", "spec.json", "policy.safetensors"):
        shutil.copy2(run / name, dst / name)
    return dst


def _resave(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = dict(handle.metadata() or {})
    tensors = load_file(str(path))
    edit(tensors, meta)
    save_file(tensors, str(path), metadata=meta)


def _first_bigger(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    key = sorted(tensors)[0]
    tensors[key] = torch.zeros(*[s + 1 for s in tensors[key].shape])


def _nan_first(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    key = next(k for k in sorted(tensors) if tensors[k].is_floating_point())
    tensors[key] = torch.full_like(tensors[key], float("nan"))


POLICY_DAMAGE = {
    "zero-length": (lambda r: (r / "policy.safetensors").write_bytes(b""), "policy.safetensors"),
    "truncated": (lambda r: (r / "policy.safetensors").write_bytes(
        (r / "policy.safetensors").read_bytes()[:100]), "policy.safetensors"),
    "pickled": (lambda r: (r / "policy.safetensors").write_bytes(pickle.dumps({"w": 1})),
                "policy.safetensors"),
    "size-mismatch": (lambda r: _resave(r / "policy.safetensors", _first_bigger),
                      "do not fit the run's policy"),
    "nan-weights": (lambda r: _resave(r / "policy.safetensors", _nan_first), "NaN or inf"),
    "config-hash": (lambda r: _resave(r / "policy.safetensors",
                                      lambda t, m: m.update(config_hash="0" * 16)), "config hash"),
    "spec-missing": (lambda r: (r / "spec.json").unlink(), "spec.json: not found"),
    "spec-garbage": (lambda r: (r / "spec.json").write_bytes(b"\x00{{"), "spec.json"),
    "spec-action-dim": (lambda r: (r / "spec.json").write_text(json.dumps(
        {"action_dim": 0, "observations": {"state": {"shape": [28], "dtype": "float32"}}})),
        "spec.json"),
}  # fmt: skip


@pytest.mark.parametrize("damage", sorted(POLICY_DAMAGE))
def test_eval_on_a_damaged_run_is_one_line_naming_the_file(
    trained: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(trained, tmp_path / "run")
    edit, expected = POLICY_DAMAGE[damage]
    edit(run)
    rc = main(["eval", str(run), "--episodes", "1", "--no-video"])
    line = one_line(capsys.readouterr().err)
    assert rc != 0 and expected in line, line
    assert str(run) in line


def test_config_hash_mismatch_may_be_overridden_and_a_sound_run_evaluates(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(trained, tmp_path / "run")
    assert main(["eval", str(run), "--episodes", "1", "--no-video"]) == 0
    _resave(run / "policy.safetensors", lambda t, m: m.update(config_hash="0" * 16))
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--no-video", "--allow-config-mismatch"]) == 0
    assert "warning:" in capsys.readouterr().err


def test_eval_subprocess_prints_no_traceback(trained: Path, tmp_path: Path) -> None:
    run = _copy(trained, tmp_path / "run")
    (run / "policy.safetensors").write_bytes(b"")
    out = cli("eval", str(run), "--no-video")
    assert out.returncode == 1 and "policy.safetensors" in one_line(out.stderr)


def test_learner_on_a_port_in_use_is_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(trained, tmp_path / "run")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        rc = main(["learner", str(run), "--bind", f"tcp://127.0.0.1:{port}"])
    line = one_line(capsys.readouterr().err)
    assert rc == 1 and "in use" in line and str(port) in line
    (run / "spec.json").write_text("[]")
    rc = main(["learner", str(run), "--bind", "tcp://127.0.0.1:0"])
    assert rc != 0 and "spec.json" in one_line(capsys.readouterr().err)


def test_demos_with_too_few_successes_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, demos={"num_episodes": 3, "max_attempts": 1, "noise": 3.0})
    rc = main(["demos", str(config), "--out", str(tmp_path / "demos")])
    line = one_line(capsys.readouterr().err)
    assert rc == 1 and "successful demos" in line and "demos.max_attempts" in line


def test_train_with_a_bad_bind_address_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, runtime={"learner_address": "tcp://999.1.1.1:0"})
    out = cli("train", str(config), "--run-dir", str(tmp_path / "run"), "--quiet")
    line = one_line(out.stderr)
    assert out.returncode == 1 and "learner" in line and "learner.log" in line
    assert "run finished" not in out.stdout


def test_inprocess_learner_thread_failure_fails_the_run(tmp_path: Path) -> None:
    """A checkpoints path that is a file: the learner thread's first checkpoint raises."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").write_text("")
    config = write_config(tmp_path, runtime={"transport": "inprocess"})
    out = cli("train", str(config), "--run-dir", str(run), "--quiet")
    line = one_line(out.stderr)
    assert out.returncode == 1 and "learner thread failed: FileExistsError" in line
    assert "run finished" not in out.stdout
    assert "Traceback" in (run / "learner.log").read_text()  # the details are kept


@pytest.mark.slow
def test_a_learner_that_keeps_dying_fails_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").write_text("")
    config = write_config(tmp_path, runtime={"max_learner_restarts": 1})
    out = cli("train", str(config), "--run-dir", str(run), "--quiet")
    assert out.returncode == 1 and "run finished" not in out.stdout
    assert "FileExistsError" in out.stderr.splitlines()[-1]
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_a_run_whose_learner_was_killed_is_incomplete(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = write_config(tmp_path, train={"env_steps": 200})
    killed: list[int] = []

    def kill_once() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if list_checkpoints(run / "checkpoints") and (run / "learner.json").exists():
                pid = int(json.loads((run / "learner.json").read_text())["pid"])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_once)
    killer.start()
    out = cli("train", str(config), "--run-dir", str(run), "--quiet")
    killer.join()
    assert killed
    assert out.returncode == 1 and "run incomplete: the learner died 1 time" in out.stdout
    assert json.loads((run / "result.json").read_text())["learner_restarts"] == 1


# ---------------------------------------------------------------------------- damaged stores
def _damaged_store(trained: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(trained / "demos", store)
    (store / "episodes" / "ep_000000" / "zarr.json").write_bytes(b"{garbage")
    return store


def test_dataset_info_names_a_damaged_episode_and_counts_the_rest(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _damaged_store(trained, tmp_path)
    good = json.loads((store / "episodes" / "ep_000001" / "zarr.json").read_text())
    length = good["attributes"]["length"]
    assert main(["dataset", "info", str(store)]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["transitions"] == length and info["damaged"][0]["episode"] == 0
    assert "DAMAGED episode 0" in captured.err and "ep_000000" in captured.err
    # a length attribute that lies is not believed
    good["attributes"]["length"] = 10_000
    (store / "episodes" / "ep_000001" / "zarr.json").write_text(json.dumps(good))
    assert main(["dataset", "info", str(store)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["transitions"] == 0 and [d["episode"] for d in info["damaged"]] == [0, 1]
    assert "10000" in info["damaged"][1]["error"]


def test_export_lerobot_skips_a_damaged_episode_by_name(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _damaged_store(trained, tmp_path)
    assert main(["dataset", "export-lerobot", str(store), "--out", str(tmp_path / "lr")]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["total_episodes"] == 1
    assert "skipping damaged episode 0" in captured.err
    info = json.loads((tmp_path / "lr" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1


def test_bc_training_skips_a_damaged_demo_by_name(trained: Path, tmp_path: Path) -> None:
    store = _damaged_store(trained, tmp_path)
    config = write_config(tmp_path, bc={"num_updates": 20})
    out = cli("train", str(config), "--set", "agent=bc", "--demos", str(store), "--run-dir",
              str(tmp_path / "bc"), "--quiet")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "skipping damaged episode 0" in out.stderr and "run finished" in out.stdout


@pytest.mark.slow
def test_sac_and_resume_skips_are_shown_on_the_console(trained: Path, tmp_path: Path) -> None:
    store = _damaged_store(trained, tmp_path)
    run = tmp_path / "sac"
    out = cli("train", str(write_config(tmp_path)), "--demos", str(store), "--run-dir", str(run),
              "--quiet")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "learner: replay: skipping" in out.stderr and "ep_000000" in out.stderr
    newest = list_checkpoints(run / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    out = cli("train", "--resume", str(run), "--set", "train.env_steps=80", "--quiet")
    assert out.returncode == 0, out.stderr
    assert f"learner: resume: skipping checkpoint {newest}" in out.stderr
    assert "learner: resume: restored" in out.stderr
