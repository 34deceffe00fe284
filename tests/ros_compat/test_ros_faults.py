"""Fault drills on the node processes over real DDS: kill -9 the learner, kill -9 the twin,
a camera topic that stops (the twin's ``~/mute``), kill -9 and resume the actor.

The graph is the table's sim:=true rows on the camera-less CI cell (as in
test_ros_processes.py); the faults are real: SIGKILL to a node process, so its DDS
participant and zmq socket vanish without a goodbye.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 wheels not installed (scripts/setup.sh)")
graph = pytest.importorskip("robot_rl_ros.graph")
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from robot_rl_ros.probe import Probe  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

pytestmark = [pytest.mark.twin, pytest.mark.slow]
CONFIG = Path(graph.SHARE) / "config"


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    domain_id = random.Random(os.getpid() ^ time.time_ns()).randint(1, 100)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    p = Probe(domain_id)
    yield p
    p.close()


def running_graph(
    probe: Probe, tmp_path: Path, cell_config: Path = CONFIG / "ci_cell.yaml"
) -> tuple[graph.Graph, list[Any]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    arg = {"sim": "true", "cell_config": str(cell_config), "env_steps": "100000",
           "run_dir": str(tmp_path / "run"), "learner_port": str(port),
           "reset_timeout_s": "60.0"}  # fmt: skip
    statuses = probe.listen(String, "/robot_rl_actor/status")
    g = graph.Graph(arg, log_dir=tmp_path / "logs")
    g.start()
    return g, statuses


def last(statuses: list[Any]) -> dict[str, Any]:
    return json.loads(statuses[-1][1].data) if statuses else {}


def test_actor_keeps_acting_through_a_killed_learner_and_catches_up(
    probe: Probe, tmp_path: Path
) -> None:
    g, statuses = running_graph(probe, tmp_path)
    with g:
        probe.spin_until(lambda: last(statuses).get("weights_version", 0) >= 1, 90.0,
                         "first weights\n" + g.log("robot_rl_actor"))  # fmt: skip
        g.processes["robot_rl_learner"].send_signal(signal.SIGKILL)
        g.processes["robot_rl_learner"].wait()
        steps = last(statuses)["env_steps"]
        probe.spin_for(4.0)
        assert last(statuses)["env_steps"] > steps + 10, "the actor stopped with the learner"
        assert g.processes["robot_rl_actor"].poll() is None
        version = last(statuses)["weights_version"]
        g.start("robot_rl_learner")  # the same row: same run_dir, same port
        probe.spin_until(lambda: last(statuses)["weights_version"] > version, 90.0,
                         "weights from the restarted learner\n"
                         + g.log("robot_rl_learner"))  # fmt: skip
        assert g.processes["robot_rl_actor"].poll() is None


def test_killed_twin_is_held_and_stale_then_the_actor_goes_on(probe: Probe, tmp_path: Path) -> None:
    poses = probe.listen(PoseStamped, "/tcp_pose", qos_profile_sensor_data)
    commands = probe.listen(PoseStamped, "/cartesian_impedance_controller/target_pose")
    g, statuses = running_graph(probe, tmp_path)
    with g:
        probe.spin_until(lambda: last(statuses).get("env_steps", 0) > 20, 90.0,
                         "the actor stepping\n" + g.log("robot_rl_actor"))  # fmt: skip
        g.processes["robot_rl_twin"].send_signal(signal.SIGKILL)
        g.processes["robot_rl_twin"].wait()
        killed = time.monotonic()
        last_pose = poses[-1][1].pose.position
        probe.spin_until(lambda: "tcp_pose" in " ".join(last(statuses).get("stale", [])), 10.0,
                         "tcp_pose reported stale")  # fmt: skip
        probe.spin_for(3.0)
        after = [(t, m.pose.position) for t, m in commands if t > killed]

        def at_last_pose(p: Any) -> bool:
            return all(abs(getattr(p, a) - getattr(last_pose, a)) < 1e-3 for a in "xyz")

        # one policy step may still use data from before the kill; then the watchdog holds
        # the arm where it was last seen, within the step timeout, and keeps holding
        holds = [i for i, (_t, p) in enumerate(after) if at_last_pose(p)]
        assert holds, f"no hold at {last_pose} after the twin died: {after}"
        assert holds[0] <= 1 and after[holds[0]][0] - killed < 2.0 + 0.4  # step_timeout_s
        assert all(at_last_pose(p) for _t, p in after[holds[0] :])
        held_steps = last(statuses)["env_steps"]
        probe.spin_for(2.0)
        assert last(statuses)["env_steps"] <= held_steps + 1, "stepping without a twin"
        # DDS drops the dead twin's reset server when its lease (20 s) runs out; the actor's
        # reset request then waits for the next server, which the restarted twin brings.
        client = probe.node.create_client(Trigger, "/robot_rl/reset")
        probe.spin_until(lambda: not client.service_is_ready(), 40.0, "reset server dropped")
        g.start("robot_rl_twin")
        probe.spin_until(lambda: last(statuses)["env_steps"] > held_steps + 10, 90.0,
                         "stepping again\n" + g.log("robot_rl_actor"))  # fmt: skip
        assert g.processes["robot_rl_actor"].poll() is None


def test_a_stopped_camera_is_held_within_a_period_and_the_episode_ends_stale(
    probe: Probe, tmp_path: Path
) -> None:
    import yaml
    from sensor_msgs.msg import Image

    cell = yaml.safe_load((CONFIG / "ci_cell.yaml").read_text())
    cell_file = tmp_path / "camera_cell.yaml"
    cell_file.write_text(yaml.safe_dump({**cell, "cameras": ["front"], "image_size": 32}))
    frames = probe.listen(Image, "/camera/front/color/image_raw", qos_profile_sensor_data)
    mute = probe.node.create_publisher(String, "/robot_rl_twin/mute", 10)
    g, statuses = running_graph(probe, tmp_path, cell_file)
    with g:
        probe.spin_until(lambda: last(statuses).get("env_steps", 0) > 20, 120.0,
                         "the actor stepping\n" + g.log("robot_rl_actor"))  # fmt: skip
        probe.spin_until(lambda: mute.get_subscription_count() > 0, 30.0,
                         "the twin's ~/mute subscription")  # fmt: skip
        before = last(statuses)
        mute.publish(String(data="front"))
        probe.spin_until(lambda: last(statuses)["episodes"] > before["episodes"], 15.0,
                         "the stale episode's end\n" + g.log("robot_rl_actor"))  # fmt: skip
        during = last(statuses)
        assert during["watchdog_holds"] > before["watchdog_holds"]
        assert "camera/front" in during["stale"]
        period = 1.0 / cell["control_hz"]
        late = during["watchdog_hold_s"] - max(t for t, _m in frames)  # same host clock
        assert late <= 2 * period + 0.02, f"held {late:.3f} s after the last frame"
        probe.spin_for(2.0)
        held = last(statuses)["env_steps"]
        assert held <= during["env_steps"] + 1, "stepping without the camera"
        mute.publish(String(data=""))
        probe.spin_until(lambda: last(statuses)["env_steps"] > held + 10, 60.0,
                         "stepping again\n" + g.log("robot_rl_actor"))  # fmt: skip
        assert g.processes["robot_rl_actor"].poll() is None


def test_a_killed_actor_restarted_with_resume_loses_no_episode(
    probe: Probe, tmp_path: Path
) -> None:
    from robot_rl.data.episode_store import EpisodeStore

    g, statuses = running_graph(probe, tmp_path)
    with g:
        probe.spin_until(lambda: last(statuses).get("episodes", 0) >= 3, 120.0,
                         "three episodes\n" + g.log("robot_rl_actor"))  # fmt: skip
        g.processes["robot_rl_actor"].send_signal(signal.SIGKILL)
        g.processes["robot_rl_actor"].wait()
        reported = last(statuses)["episodes"]
        stored = len(EpisodeStore.open(tmp_path / "run" / "episodes").episode_ids())
        assert stored >= reported, f"{reported} episodes reported finished, {stored} stored"
        statuses.clear()
        g.start("robot_rl_actor", parameters={"resume": True})
        probe.spin_until(lambda: last(statuses).get("env_steps", 0) > 0, 90.0,
                         "the resumed actor\n" + g.log("robot_rl_actor"))  # fmt: skip
        resumed = last(statuses)
        assert resumed["resumed"] and resumed["episodes"] >= stored
        probe.spin_until(lambda: last(statuses)["episodes"] > resumed["episodes"], 90.0,
                         "an episode after the restart")  # fmt: skip
        store = EpisodeStore.open(tmp_path / "run" / "episodes")
        assert len(store.episode_ids()) > stored  # the resumed actor appends to the run
        assert g.processes["robot_rl_actor"].poll() is None
