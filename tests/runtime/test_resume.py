"""Resume and fault tolerance on the twin: a killed learner is restarted, a run is continued."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from robot_rl.app.launch import ResumeError, train
from robot_rl.config import from_dict, save_yaml
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.run_config import RunConfig
from robot_rl.runtime.checkpoint import list_checkpoints, save_checkpoint
from robot_rl.runtime.metrics import read_jsonl
from robot_rl.runtime.resume import check_resumable, latest_checkpoint
from tests.tiny_run import tiny_run
from tests.waiting import wait_for


def tiny_config(tmp_path: Path, **train: int) -> RunConfig:
    return from_dict(
        RunConfig,
        tiny_run(tmp_path, "r", train={"env_steps": 160, "checkpoint_every": 30, **train}),
    )


def test_config_difference_is_named_and_env_steps_may_change(tmp_path: Path) -> None:
    saved = tiny_config(tmp_path)
    check_resumable(saved, tiny_config(tmp_path, env_steps=999), where=tmp_path)
    other = tiny_config(tmp_path)
    other.sac.batch_size = 64
    with pytest.raises(ResumeError, match=r"sac\.batch_size: 16 -> 64"):
        check_resumable(saved, other, where=tmp_path)


def test_truncated_checkpoint_is_refused_and_the_previous_one_used(tmp_path: Path) -> None:
    ckpts = tmp_path / "checkpoints"
    for updates in (10, 20):
        save_checkpoint(ckpts, updates, {"agent": {"w": torch.ones(3)}, "updates": updates})
    newest = list_checkpoints(ckpts)[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    messages: list[str] = []
    found = latest_checkpoint(ckpts, log=messages.append)
    assert found is not None and found[1]["updates"] == 10
    assert messages and str(newest) in messages[0] and "truncated or corrupt" in messages[0]
    list_checkpoints(ckpts)[0].write_bytes(b"junk")
    with pytest.raises(ResumeError, match="no readable checkpoint"):
        latest_checkpoint(ckpts, log=messages.append)


def _kill_learner_after_first_checkpoint(run: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if list_checkpoints(run / "checkpoints") and (run / "learner.json").exists():
            pid = int(json.loads((run / "learner.json").read_text())["pid"])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)


def test_killed_learner_is_restarted_and_a_run_resumes_without_a_jump(tmp_path: Path) -> None:
    run = tmp_path / "run"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_learner_after_first_checkpoint, args=(run, killed))
    killer.start()
    first = train(tiny_config(tmp_path), run_dir=run, progress=False)
    killer.join()
    assert killed, "the learner was never killed"
    log = (run / "learner.log").read_text()
    assert "resume: restored" in log and "learner done" in log
    assert first["env_steps"] == 160 and first["learner_updates"] >= 30
    updates_before = json.loads((run / "result.json").read_text())["learner_updates"]

    # A different config is refused, naming the field; a longer budget resumes the run.
    changed = tiny_config(tmp_path, env_steps=240)
    changed.sac.discount = 0.5
    with pytest.raises(ResumeError, match=r"sac\.discount"):
        train(changed, run_dir=run, progress=False, resume=True)
    stored = EpisodeStore.open(run / "episodes")
    steps_stored = sum(stored.episode_attrs(i)["length"] for i in stored.episode_ids())
    second = train(tiny_config(tmp_path, env_steps=240), run_dir=run, progress=False, resume=True)
    assert second["env_steps"] == 240
    assert second["learner_updates"] >= updates_before
    rows = [r["step"] for r in read_jsonl(run / "metrics" / "actor.jsonl")]
    assert rows == sorted(rows) and rows[-1] <= 240
    resumed = [r for r in rows if r > steps_stored]
    assert resumed and resumed[0] - steps_stored <= 20  # counting went on from the store
    assert len(EpisodeStore.open(run / "demos")) == 2  # demos reused, not re-recorded


def test_run_resumes_after_the_actor_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the actor (the CLI process): the orphaned learner exits, --resume goes on.

    Regression: the resumed learner was ahead of its update allowance and silent, and its one
    progress message went out before the actor connected, so the actor paced on an update
    count of 0 and crawled at one step per stall timeout.
    """
    config = tiny_config(tmp_path, env_steps=100_000)
    config_path = tmp_path / "crash.yaml"
    save_yaml(config, config_path)
    run = tmp_path / "run"
    cli = subprocess.Popen(
        [sys.executable, "-m", "robot_rl.cli", "train", str(config_path), "--run-dir", str(run),
         "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: (
                (run / "learner.json").exists() and len(list_checkpoints(run / "checkpoints")) >= 2
            ),
            120,
            what="the run to come up (learner.json, 2 checkpoints)",
        )
        learner_pid = int(json.loads((run / "learner.json").read_text())["pid"])
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
    finally:
        if cli.poll() is None:
            cli.kill()
    # The orphaned learner notices that its parent is gone and exits on its own.
    wait_for(lambda: not Path(f"/proc/{learner_pid}").exists() or _zombie(learner_pid), 30,
             what="the orphaned learner to exit")  # fmt: skip
    stored = EpisodeStore.open(run / "episodes")
    steps_stored = sum(stored.episode_attrs(i)["length"] for i in stored.episode_ids())
    assert steps_stored > 0
    result = train(
        tiny_config(tmp_path, env_steps=steps_stored + 60), run_dir=run, progress=False,
        resume=True,
    )  # fmt: skip
    assert result["env_steps"] == steps_stored + 60
    assert result["pace_stalls"] == 0  # the actor heard the learner's progress at once
    resumed = EpisodeStore.open(run / "episodes")
    assert (
        sum(resumed.episode_attrs(i)["length"] for i in resumed.episode_ids()) >= steps_stored + 40
    )


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_ctrl_c_stops_between_steps_and_cleans_up(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process) asks the actor to stop after its step; clean-up runs,
    the open episode is stored truncated, and KeyboardInterrupt reaches the caller last."""
    config = tiny_config(tmp_path, env_steps=100_000)
    config.runtime.transport = "inprocess"
    config.runtime.partial_episode = "truncate"
    run = tmp_path / "run"

    def interrupt_when_training() -> None:
        try:
            wait_for(lambda: len(list_checkpoints(run / "checkpoints")) >= 1, 120)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, else Python's default
    threading.Thread(target=interrupt_when_training, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir=run, progress=False)
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is restored
    store = EpisodeStore.open(run / "episodes")
    last = store.read_episode(store.episode_ids()[-1])
    assert last.truncated[-1] and last.info.get("partial") is True  # the open episode, kept
    assert (run / "policy.safetensors").exists()  # the learner thread checkpointed and ended
