"""rosbag2 over real DDS: an actor node records what it acted on, a replay gives the same actions.

A live run (twin and actor node processes, the actor acting deterministically with a fixed
policy file) records its bag; ``robot_rl_ros.bag_play`` then stands in for the cell and plays
that bag into a fresh actor node process with the same policy file. Slow: two graphs start.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 wheels not installed (scripts/setup.sh)")
graph = pytest.importorskip("robot_rl_ros.graph")

pytestmark = [pytest.mark.twin, pytest.mark.slow]
CONFIG = Path(graph.SHARE) / "config"


@pytest.fixture
def domain(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    domain_id = random.Random(os.getpid() ^ time.time_ns()).randint(1, 100)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    yield domain_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_policy(path: Path) -> None:
    """A seeded, untrained SAC policy for the CI cell: deterministic, with varied actions."""
    import torch

    from robot_rl.app.build import make_policy
    from robot_rl.config import config_hash, load_yaml
    from robot_rl.ros_compat.cell_actor import cell_spec
    from robot_rl.ros_compat.config import CellConfig
    from robot_rl.run_config import RunConfig
    from robot_rl.runtime.checkpoint import save_policy

    run_config = load_yaml(RunConfig, CONFIG / "pick_cube_ros.yaml")
    spec, action_dim = cell_spec(load_yaml(CellConfig, CONFIG / "ci_cell.yaml"))
    torch.manual_seed(3)
    policy = make_policy(run_config, spec, action_dim)
    save_policy(path, policy.state_dict(), version=1, config_hash=config_hash(run_config))


def run_actor(arg: dict[str, str], tmp_path: Path, names: tuple[str, ...]) -> graph.Graph:
    g = graph.Graph(arg, log_dir=tmp_path)
    with g:
        for name in names:
            g.start(name)
        actor = g.processes["robot_rl_actor"]
        try:
            actor.wait(timeout=180.0)
        except subprocess.TimeoutExpired:
            pytest.fail("actor not done\n" + g.log("robot_rl_actor"))
        assert actor.returncode == 0, g.log("robot_rl_actor")
    return g


def test_a_recorded_run_replays_into_the_actor_node_with_the_same_actions(
    domain: int, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.safetensors"
    write_policy(policy)
    steps = 45  # two full CI episodes (20 steps) and part of a third: resets are replayed too
    common = {"sim": "true", "cell_config": str(CONFIG / "ci_cell.yaml"),
              "env_steps": str(steps), "start_learner": "false", "policy_file": str(policy),
              "learner_port": str(free_port())}  # fmt: skip
    bag = tmp_path / "acted"
    live = {**common, "run_dir": str(tmp_path / "live"), "bag": str(bag)}
    run_actor(live, tmp_path / "live_logs", ("robot_rl_twin", "robot_rl_actor"))
    assert (bag / "metadata.yaml").is_file()

    out = tmp_path / "actions.json"
    player = subprocess.Popen(
        [sys.executable, "-m", "robot_rl_ros.bag_play", str(bag), "--actions-out", str(out),
         "--timeout-s", "150", "--ros-args", "-p", f"cell_config:={CONFIG / 'ci_cell.yaml'}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        replay = {**common, "run_dir": str(tmp_path / "replay")}
        run_actor(replay, tmp_path / "replay_logs", ("robot_rl_actor",))
        log, _ = player.communicate(timeout=60)
    finally:
        if player.poll() is None:
            player.kill()
            player.wait()
    assert player.returncode == 0, log
    result = json.loads(out.read_text())
    recorded, replayed = np.array(result["recorded"]), np.array(result["replayed"])
    assert recorded.shape == (steps, 4) and replayed.shape == recorded.shape
    assert result["played"] == result["groups"] and not result["mismatched_kinds"]
    np.testing.assert_allclose(replayed, recorded, atol=1e-6)
    assert np.ptp(recorded, axis=0).min() > 0.01  # the policy did not send one constant action
