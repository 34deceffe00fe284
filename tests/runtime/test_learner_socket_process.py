"""A real learner process (``robot_rl.app.learner_main``) under hostile traffic on its socket:
it survives, stores only the launching actor's good steps, and stops only when that actor says
so. The CURVE-keyed learner binds every interface; a keyless one refuses with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest

from robot_rl.config import config_hash, from_dict, save_yaml
from robot_rl.run_config import RunConfig
from robot_rl.runtime.curve_keys import actor_keys
from robot_rl.runtime.metrics import read_jsonl
from robot_rl.runtime.transport_zmq import ZmqActorEndpoint
from robot_rl.wire.protocol import Control, Hello, Metrics, encode
from tests.runtime.test_learner_trust import make_step

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "launch-token-for-the-test"
HB = {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 5.0}


def make_run(tmp_path: Path, **runtime: object) -> tuple[Path, str]:
    """A run directory with config.yaml and spec.json (state (4,), 2-D actions); its hash.
    ``runtime``: more ``runtime.*`` fields."""
    config = from_dict(
        RunConfig,
        {
            "name": "t",
            "runs_dir": str(tmp_path),
            "env": {"obs_mode": "state"},
            "sac": {"critic_ensemble_size": 2, "batch_size": 8, "hidden_dims": [16, 16]},
            "runtime": {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 5.0, **runtime},
        },
    )
    run = tmp_path / "run"
    run.mkdir()
    save_yaml(config, run / "config.yaml")
    spec = {"action_dim": 2, "observations": {"state": {"shape": [4], "dtype": "float32"}}}
    (run / "spec.json").write_text(json.dumps(spec))
    return run, config_hash(config)


@pytest.fixture
def learner_proc() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def spawn(run: Path, *args: str, token: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ROBOT_RL_LAUNCH_TOKEN", None)
    if token:
        env["ROBOT_RL_LAUNCH_TOKEN"] = token
    log = (run / "learner.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "robot_rl.app.learner_main", str(run), *args],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
    )  # fmt: skip


def wait_bound(run: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while not (run / "learner.json").exists():
        assert proc.poll() is None, (run / "learner.log").read_text()
        assert time.monotonic() < deadline, "learner did not bind in time"
        time.sleep(0.05)
    return str(json.loads((run / "learner.json").read_text())["address"])


def absurd_header_payload() -> bytes:
    raw = msgpack.unpackb(encode(make_step(1), seq=1, src="hostile"), raw=False)
    raw["body"]["action"] = {"dtype": "float32", "shape": [0, 2**62], "data": b""}
    return msgpack.packb(raw, use_bin_type=True)


@pytest.mark.slow
def test_learner_process_survives_hostile_traffic_and_obeys_only_its_actor(
    tmp_path: Path, learner_proc: list[subprocess.Popen[bytes]]
) -> None:
    run, digest = make_run(tmp_path)
    proc = spawn(run, token=TOKEN)
    learner_proc.append(proc)
    address = wait_bound(run, proc)
    actor = ZmqActorEndpoint(address, **HB)
    hostile = ZmqActorEndpoint(address, **HB)
    try:
        actor.send(Hello("actor", "run", digest, launch_token=TOKEN))
        hostile.send(Hello("actor", "run", digest))  # the right hash, but not the launcher
        for t in range(50):
            actor.send(make_step(t, last=t == 49))
            if t == 10:
                hostile.send(make_step(0, value=100.0))  # a t=0 amid the actor's episode
                hostile.send_raw(absurd_header_payload())
                hostile.send(make_step(0, first_obs={"state": np.zeros(5, np.float32)}))
                hostile.send(make_step(1, action=np.zeros(3, np.float32)))
                for k in range(150):
                    hostile.send(make_step(k, value=float("nan")))
                hostile.send(Metrics({"actor/env_steps": 1e18}))
                hostile.send(Metrics({f"k{i}": 1.0 for i in range(100_000)}))
                hostile.send(Control("stop"))
            if t % 10 == 0:
                actor.recv(0.05)
        deadline = time.monotonic() + 30.0
        while "ignored 'stop'" not in (run / "learner.log").read_text():  # the hostile's last
            assert proc.poll() is None, (run / "learner.log").read_text()
            assert time.monotonic() < deadline, "the hostile peer's messages were not taken"
            actor.recv(0.05)
            hostile.recv(0.0)
        actor.recv(0.5)
        assert proc.poll() is None, (run / "learner.log").read_text()  # survived all of it
        actor.send(Control("stop"))
        deadline = time.monotonic() + 30.0
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the launching actor's stop was not obeyed"
            actor.recv(0.05)
        assert proc.returncode == 0
    finally:
        actor.close()
        hostile.close()
    log = (run / "learner.log").read_text()
    assert "Traceback" not in log
    assert "obs_nonfinite" in log and log.count("obs_nonfinite") == 1  # rate limited
    assert "ignored 'stop'" in log and "dropped a metrics message" in log
    rows = [r for r in read_jsonl(run / "metrics" / "learner.jsonl") if "charts/env_steps" in r]
    last = rows[-1]
    assert last["charts/env_steps"] == 51  # the actor's 50 and the hostile t=0
    assert last["charts/dropped_steps"] == 0
    assert last["learner/steps_rejected"] == 152
    assert last["learner/metrics_rejected"] == 1
    assert last["learner/controls_refused"] == 2  # its stop and its pacing count
    assert (run / "metrics" / "learner.jsonl").stat().st_size < 20_000


@pytest.mark.slow
def test_learner_process_binds_every_interface_only_with_keys(
    tmp_path: Path, learner_proc: list[subprocess.Popen[bytes]]
) -> None:
    run, digest = make_run(tmp_path)
    refused = subprocess.run(
        [sys.executable, "-m", "robot_rl.app.learner_main", str(run), "--bind", "tcp://0.0.0.0:0"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "tcp://0.0.0.0:0" in refused.stderr and "CURVE" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (run / "learner.json").exists()
    proc = spawn(run, "--make-keys", "--bind", "tcp://0.0.0.0:0")
    learner_proc.append(proc)
    address = wait_bound(run, proc)
    port = address.rsplit(":", 1)[1]
    keys = actor_keys(run)
    assert keys is not None
    actor = ZmqActorEndpoint(f"tcp://127.0.0.1:{port}", curve=keys, **HB)
    try:
        actor.send(Hello("actor", "run", digest))  # no token: the first such actor controls
        deadline = time.monotonic() + 10.0
        while not actor.peer_alive():  # the learner answers (progress, heartbeats)
            assert time.monotonic() < deadline, "no answer over CURVE"
            actor.recv(0.05)
        actor.send(Control("stop"))
        deadline = time.monotonic() + 30.0
        while proc.poll() is None:
            assert time.monotonic() < deadline
            actor.recv(0.05)
        assert proc.returncode == 0
    finally:
        actor.close()
    assert "(CURVE)" in (run / "learner.log").read_text()
