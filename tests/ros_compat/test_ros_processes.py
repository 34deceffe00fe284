"""The ros_ws nodes as separate OS processes over real ROS 2 (rclpy, Fast DDS).

Each test starts nodes from the graph table (``robot_rl_ros.graph``, the rows
``train.launch.py`` turns into launch_ros Nodes) as ``python -m robot_rl_ros.<node>`` and
talks to them from this process with real rclpy on a DDS domain of its own, discovery kept
on this host. Skipped where the ROS 2 wheels are not installed (``ROBOT_RL_ROS=0``).
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 wheels not installed (scripts/setup.sh)")
graph = pytest.importorskip("robot_rl_ros.graph")
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.qos import qos_profile_sensor_data as SENSOR_QOS  # noqa: E402
from robot_rl_ros.probe import Probe  # noqa: E402
from sensor_msgs.msg import Image, JointState, Joy  # noqa: E402
from std_msgs.msg import Bool, Float32MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

pytestmark = pytest.mark.twin
CONFIG = Path(graph.SHARE) / "config"
TOKEN = "ros-dashboard-token-01"  # dashboard tokens: >= 16 URL-safe characters


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def domain(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A DDS domain for this test alone (node processes inherit it), localhost discovery."""
    domain_id = random.Random(os.getpid() ^ time.time_ns()).randint(1, 100)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    yield domain_id


@pytest.fixture
def probe(domain: int) -> Iterator[Probe]:
    p = Probe(domain)
    yield p
    p.close()


def start(arg: dict[str, str], tmp_path: Path, *names: str) -> graph.Graph:
    g = graph.Graph(arg, log_dir=tmp_path / "logs")
    for name in names:
        g.start(name)
    return g


def test_twin_node_publishes_cameras_joints_and_pose_and_follows_commands(
    probe: Probe, tmp_path: Path
) -> None:
    images = {cam: probe.listen(Image, f"/camera/{cam}/color/image_raw", SENSOR_QOS)
              for cam in ("front", "wrist")}  # fmt: skip
    joints = probe.listen(JointState, "/joint_states", SENSOR_QOS)
    poses = probe.listen(PoseStamped, "/tcp_pose", SENSOR_QOS)
    command = probe.node.create_publisher(
        PoseStamped, "/cartesian_impedance_controller/target_pose", 10
    )
    with start({"sim": "true"}, tmp_path, "robot_rl_twin") as twin:
        probe.spin_until(lambda: all(images.values()) and joints and poses, 60.0,
                         "first twin messages\n" + twin.log("robot_rl_twin"))  # fmt: skip
        start_n = len(joints)
        probe.spin_for(3.0)
        hz = (len(joints) - start_n) / 3.0
        assert hz >= 5.0, f"joint states at {hz:.1f} Hz, the cell's rate is 10 Hz"
        for cam, log in images.items():
            msg = log[-1][1]
            assert (msg.height, msg.width, msg.encoding) == (128, 128, "rgb8"), cam
            assert len(msg.data) == 128 * 128 * 3
        assert list(joints[-1][1].name)[:7] == [f"joint{i}" for i in range(1, 8)]
        # a pose target 5 cm above the TCP: the twin's TCP rises towards it
        z0 = poses[-1][1].pose.position.z
        target = poses[-1][1]
        target.header.frame_id = "base"
        target.pose.position.z = z0 + 0.05
        for _ in range(10):
            command.publish(target)
            probe.spin_for(0.1)
        assert poses[-1][1].pose.position.z > z0 + 0.01


def test_teleop_node_turns_a_published_joy_into_interventions(probe: Probe, tmp_path: Path) -> None:
    joy = probe.node.create_publisher(Joy, "/joy", 10)
    interventions = probe.listen(Float32MultiArray, "/robot_rl/intervention")
    with start({"sim": "true", "teleop": "true"}, tmp_path, "robot_rl_teleop") as teleop:
        held = Joy(axes=[0.5, 0.0, 0.0], buttons=[1, 0, 1])

        def send_and_got(expect_empty: bool) -> bool:
            joy.publish(held)
            return bool(interventions) and (len(interventions[-1][1].data) == 0) == expect_empty

        probe.spin_until(lambda: send_and_got(False), 60.0,
                         "an intervention\n" + teleop.log("robot_rl_teleop"))  # fmt: skip
        assert list(interventions[-1][1].data) == [0.0, 0.5, 0.0, -1.0]
        held = Joy(axes=[0.5, 0.0, 0.0], buttons=[0, 0, 0])  # dead-man released
        probe.spin_until(lambda: send_and_got(True), 10.0, "hands off")


def test_actor_learner_and_twin_processes_train_over_dds(probe: Probe, tmp_path: Path) -> None:
    """The launch test's check: transitions reach the learner, weights reach the actor."""
    statuses = probe.listen(String, "/robot_rl_actor/status")
    estops = probe.listen(Bool, "/robot_rl/estop")
    run_dir = tmp_path / "run"
    arg = {"sim": "true", "cell_config": str(CONFIG / "ci_cell.yaml"), "env_steps": "150",
           "run_dir": str(run_dir), "learner_port": str(free_port())}  # fmt: skip
    g = graph.Graph(arg, log_dir=tmp_path / "logs")
    assert [r.name for r in g.rows] == ["robot_rl_actor", "robot_rl_learner", "robot_rl_twin"]
    with g:
        g.start()
        actor = g.processes["robot_rl_actor"]
        deadline = time.monotonic() + 180.0
        while actor.poll() is None:
            assert time.monotonic() < deadline, "actor not done\n" + g.log("robot_rl_actor")
            probe.spin_for(0.2)
        assert actor.returncode == 0, g.log("robot_rl_actor")
        learner = g.processes["robot_rl_learner"]
        learner.wait(timeout=60.0)
        assert learner.returncode == 0, g.log("robot_rl_learner")
    seen = [json.loads(msg.data) for _t, msg in statuses]
    assert seen, "no status on /robot_rl_actor/status"
    assert max(s["learner_updates"] for s in seen) > 0
    assert max(s["weights_version"] for s in seen) >= 1
    assert "learner done after" in g.log("robot_rl_learner")
    assert (run_dir / "policy.safetensors").is_file() and (run_dir / "episodes").is_dir()
    assert (run_dir / "config.yaml").is_file() and (run_dir / "spec.json").is_file()
    assert not estops


def test_actor_estop_service_latches_and_is_published_over_dds(
    probe: Probe, tmp_path: Path
) -> None:
    estops = probe.listen(Bool, "/robot_rl/estop")
    statuses = probe.listen(String, "/robot_rl_actor/status")
    arg = {"sim": "true", "cell_config": str(CONFIG / "ci_cell.yaml"), "env_steps": "100000",
           "run_dir": str(tmp_path / "run"), "learner_port": str(free_port())}  # fmt: skip
    with start(arg, tmp_path, "robot_rl_twin", "robot_rl_learner", "robot_rl_actor") as g:
        client = probe.node.create_client(Trigger, "/robot_rl_actor/estop")
        probe.spin_until(lambda: client.service_is_ready(), 60.0,
                         "~/estop service\n" + g.log("robot_rl_actor"))  # fmt: skip
        future = client.call_async(Trigger.Request())
        probe.spin_until(future.done, 30.0, "estop answer")
        assert future.result().success
        probe.spin_until(lambda: bool(estops), 10.0, "estop topic")
        assert estops[-1][1].data is True
        n = len(statuses)
        probe.spin_until(lambda: len(statuses) > n + 1, 10.0, "status after estop")
        status = json.loads(statuses[-1][1].data)
        assert status["estopped"] and status["mode"] != "policy"
        steps = status["env_steps"]
        probe.spin_for(2.5)
        assert json.loads(statuses[-1][1].data)["env_steps"] == steps  # stepping halted
        control = probe.node.create_publisher(String, "/robot_rl_actor/control", 10)
        probe.spin_until(lambda: control.get_subscription_count() > 0, 10.0, "~/control")
        control.publish(String(data="no_such_control"))  # logged by the actor, not fatal
        control.publish(String(data="release_estop"))
        probe.spin_until(lambda: not json.loads(statuses[-1][1].data)["estopped"], 10.0, "release")
        probe.spin_until(
            lambda: json.loads(statuses[-1][1].data)["env_steps"] > steps, 20.0, "steps again"
        )
        assert g.processes["robot_rl_actor"].poll() is None
        assert "no_such_control" in g.log("robot_rl_actor")


def test_graph_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="name:=value"):
        graph.parse_arguments(["sim=true"])
    with pytest.raises(ValueError, match="no_such"):
        graph.parse_arguments(["no_such:=1"])
    rows = graph.node_rows({"sim": "false", "cameras_running": "false"}, graph.SHARE)
    camera = next(r for r in rows if r.package == "realsense2_camera")
    with pytest.raises(ValueError, match="cameras_running"):
        graph.node_command(camera, "params.yaml")


def test_bag_record_node_writes_a_live_run_to_mcap(probe: Probe, tmp_path: Path) -> None:
    """The twin and actor over DDS, recorded by a third process; the bag reads back."""
    import subprocess
    import sys

    from robot_rl.ros_compat.bag import read_bag

    arg = {"sim": "true", "env_steps": "100000", "run_dir": str(tmp_path / "run"),
           "learner_port": str(free_port())}  # fmt: skip
    bag = tmp_path / "bag"
    statuses = probe.listen(String, "/robot_rl_actor/status")
    with start(arg, tmp_path, "robot_rl_twin", "robot_rl_learner", "robot_rl_actor") as g:
        probe.spin_until(
            lambda: bool(statuses) and json.loads(statuses[-1][1].data)["env_steps"] > 0,
            60.0,
            "the actor stepping\n" + g.log("robot_rl_actor"),
        )
        record = subprocess.run(
            [sys.executable, "-m", "robot_rl_ros.bag_record", str(bag), "--duration-s", "8",
             "--ros-args", "-p", f"cell_config:={CONFIG / 'twin_cell.yaml'}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert record.returncode == 0, record.stderr + g.log("robot_rl_actor")
    messages = list(read_bag(bag))
    topics = {t for t, _ns, _m in messages}
    assert {"/camera/front/color/image_raw", "/joint_states", "/tcp_pose",
            "/cartesian_impedance_controller/target_pose"} <= topics  # fmt: skip
    times = [ns for _t, ns, _m in messages]
    assert times == sorted(times)
    front = [m for t, _ns, m in messages if t == "/camera/front/color/image_raw"]
    assert len(front) >= 20 and (front[-1].height, front[-1].width) == (128, 128)
    commands = [m for t, _ns, m in messages if t.endswith("target_pose")]
    assert commands and commands[-1].header.frame_id == "base"


def test_dashboard_node_serves_the_actor_status_and_sends_its_buttons(
    probe: Probe, tmp_path: Path
) -> None:
    import httpx

    port = free_port()
    arg = {"sim": "true", "cell_config": str(CONFIG / "ci_cell.yaml"), "env_steps": "100000",
           "run_dir": str(tmp_path / "run"), "learner_port": str(free_port()),
           "dashboard": "true", "dashboard_port": str(port), "dashboard_token": TOKEN}  # fmt: skip
    statuses = probe.listen(String, "/robot_rl_actor/status")
    base = f"http://127.0.0.1:{port}"
    names = ("robot_rl_twin", "robot_rl_learner", "robot_rl_actor", "robot_rl_dashboard")
    with start(arg, tmp_path, *names) as g:

        def api_steps() -> int:
            try:
                r = httpx.get(f"{base}/api/status", params={"token": TOKEN}, timeout=2.0)
            except httpx.HTTPError:
                return -1
            return int(r.json().get("env_steps", -1)) if r.status_code == 200 else -1

        probe.spin_until(lambda: api_steps() > 0, 90.0,
                         "env steps on /api/status\n" + g.log("robot_rl_dashboard"))  # fmt: skip
        assert httpx.get(f"{base}/api/status", timeout=2.0).status_code in (401, 403)
        r = httpx.post(f"{base}/api/control/estop", params={"token": TOKEN}, timeout=5.0)
        assert r.status_code == 200, r.text
        probe.spin_until(lambda: bool(statuses) and json.loads(statuses[-1][1].data)["estopped"],
                         10.0, "the actor e-stopped by the dashboard button")  # fmt: skip


def test_reset_and_reward_nodes_over_a_twin_cell(probe: Probe, tmp_path: Path) -> None:
    """The hardware graph's reset and reward nodes, the twin standing in for the robot."""
    import yaml
    from std_msgs.msg import Float64

    # the twin keeps its own reset service out of the way of the reset node's
    twin_cell = tmp_path / "twin_cell.yaml"
    cell = yaml.safe_load((CONFIG / "ci_cell.yaml").read_text())
    twin_cell.write_text(yaml.safe_dump({**cell, "reset_service": "/twin/reset"}))
    twin = start({"sim": "true", "cell_config": str(twin_cell)}, tmp_path / "t", "robot_rl_twin")
    hardware = {"sim": "false", "cameras_running": "true", "success_button": "2",
                "cell_config": str(CONFIG / "ci_cell.yaml")}  # fmt: skip
    rewards = probe.listen(Float64, "/robot_rl/reward")
    joy = probe.node.create_publisher(Joy, "/joy", 10)

    def call(name: str, timeout_s: float) -> Any:
        client = probe.node.create_client(Trigger, name)
        probe.spin_until(client.service_is_ready, 60.0, f"{name}\n" + nodes.log("robot_rl_reset"))
        future = client.call_async(Trigger.Request())
        probe.spin_until(future.done, timeout_s, f"{name} answer")
        return future.result()

    with twin, start(hardware, tmp_path / "h", "robot_rl_reset", "robot_rl_reward") as nodes:
        joints = probe.listen(JointState, "/joint_states", SENSOR_QOS)
        probe.spin_until(lambda: bool(joints), 60.0, "twin data\n" + twin.log("robot_rl_twin"))
        answer = call("/robot_rl/reset", 60.0)
        assert answer.success, answer.message + nodes.log("robot_rl_reset")
        probe.spin_until(lambda: bool(rewards), 30.0, "a reward\n" + nodes.log("robot_rl_reward"))
        assert rewards[-1][1].data == 0.0

        def labelled() -> bool:
            joy.publish(Joy(axes=[0.0, 0.0, 0.0], buttons=[0, 0, 1]))
            return rewards[-1][1].data == 1.0

        probe.spin_until(labelled, 10.0, "the held success button's reward")
        assert call("/robot_rl_reset/estop", 10.0).success
        refused = call("/robot_rl/reset", 30.0)
        assert not refused.success and "stop" in refused.message.lower(), refused.message
        assert call("/robot_rl_reset/release_estop", 10.0).success
        assert call("/robot_rl/reset", 60.0).success
