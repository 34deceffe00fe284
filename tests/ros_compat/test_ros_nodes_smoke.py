"""The ROS nodes' own code over a minimal in-process stand-in for rclpy, where real DDS can't.

The nodes run over real rclpy and Fast DDS as separate processes in test_ros_processes.py;
what stays here needs a stand-in: ``launch``/``launch_ros`` are not installable from the
Python registry, so the launch file runs over stand-ins for them (and is checked to start
exactly the rows of robot_rl_ros.graph_table); the hardware-side test reads the reset
node's latch after an e-stop on the topic, which is state inside the node that no topic or
service shows unless a reset is in progress (the reset and reward nodes' services, rewards
and service e-stop run as processes in test_ros_processes.py).
Topics are delivered synchronously in-process, QoS is ignored and the message classes are
the plain mirrors of ``robot_rl.ros_compat.messages``.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.ros_compat import messages as plain

pytestmark = pytest.mark.twin
ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "ros_ws" / "src" / "robot_rl"
CONFIG = PKG / "config"


@dataclass
class Bool:
    data: bool = False


@dataclass
class String:
    data: str = ""


@dataclass
class Joy:
    header: plain.Header = field(default_factory=plain.Header)
    axes: list[float] = field(default_factory=list)
    buttons: list[int] = field(default_factory=list)


@dataclass
class TriggerRequest:
    pass


@dataclass
class TriggerResponse:
    success: bool = False
    message: str = ""


class Trigger:
    Request = TriggerRequest
    Response = TriggerResponse


class Bus:
    """Topics and services of one process: publish delivers to every subscription."""

    def __init__(self) -> None:
        self.subs: dict[str, list[Any]] = defaultdict(list)
        self.services: dict[str, Any] = {}
        self.log: dict[str, list[Any]] = defaultdict(list)
        self.params: dict[str, dict[str, Any]] = {}

    def publish(self, topic: str, msg: Any) -> None:
        check_field_types(msg, topic)
        self.log[topic].append(msg)
        for callback in list(self.subs[topic]):
            callback(msg)


BUS = Bus()


def check_field_types(msg: Any, where: str) -> None:
    """What rosidl's setters insist on: Python scalars and array.array, never numpy values."""
    import array
    import dataclasses

    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        name = f"{where}.{f.name}"
        if dataclasses.is_dataclass(value):
            check_field_types(value, name)
        elif isinstance(value, list):
            assert all(type(v) in (str, int, float) for v in value), name
        else:
            assert isinstance(value, (bool, int, float, str, array.array)), (name, type(value))
            assert not isinstance(value, np.generic), (name, type(value))


class Future:
    def __init__(self, result: Any) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        return self._result


class Node:
    """The rclpy.node.Node calls the package uses."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._params: dict[str, Any] = {}
        self.timers: list[Any] = []

    def _resolve(self, topic: str) -> str:
        return f"/{self.name}/{topic[2:]}" if topic.startswith("~/") else topic

    def declare_parameter(self, name: str, default: Any) -> None:
        self._params[name] = BUS.params.get(self.name, {}).get(name, default)

    def get_parameter(self, name: str) -> Any:
        return types.SimpleNamespace(value=self._params[name])

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        resolved = self._resolve(topic)
        return types.SimpleNamespace(publish=lambda msg: BUS.publish(resolved, msg))

    def create_subscription(self, msg_type: Any, topic: str, callback: Any, qos: Any, **kw: Any):
        BUS.subs[self._resolve(topic)].append(callback)

    def create_service(self, srv_type: Any, name: str, callback: Any, **kw: Any) -> None:
        BUS.services[self._resolve(name)] = callback

    def create_client(self, srv_type: Any, name: str, **kw: Any) -> Any:
        resolved = self._resolve(name)

        def call_async(request: Any) -> Future:
            return Future(BUS.services[resolved](request, TriggerResponse()))

        return types.SimpleNamespace(
            wait_for_service=lambda timeout_sec=None: resolved in BUS.services,
            call_async=call_async,
        )

    def create_timer(self, period: float, callback: Any, **kw: Any) -> None:
        self.timers.append(callback)

    def get_logger(self) -> Any:
        return types.SimpleNamespace(info=print, error=print, warning=print)

    def get_clock(self) -> Any:
        now = types.SimpleNamespace(nanoseconds=time.time_ns())
        return types.SimpleNamespace(now=lambda: now)


def no_cdr(msg: object) -> bytes:
    raise NotImplementedError("the stand-in has no CDR; the actor's bag runs over real rclpy")


def fake_ros_modules() -> dict[str, types.ModuleType]:
    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    enum = types.SimpleNamespace(BEST_EFFORT=1, RELIABLE=2, KEEP_LAST=1, VOLATILE=2)
    return {
        "rclpy": module("rclpy", init=lambda args=None: None, ok=lambda: True,
                        try_shutdown=lambda: None, spin=None, spin_once=None),
        "rclpy.node": module("rclpy.node", Node=Node),
        "rclpy.serialization": module("rclpy.serialization", serialize_message=no_cdr),
        "rclpy.qos": module("rclpy.qos", QoSProfile=lambda **kw: kw, ReliabilityPolicy=enum,
                            HistoryPolicy=enum, DurabilityPolicy=enum),
        "rclpy.executors": module("rclpy.executors", ExternalShutdownException=RuntimeError,
                                  MultiThreadedExecutor=object),
        "rclpy.callback_groups": module("rclpy.callback_groups",
                                        ReentrantCallbackGroup=lambda: None),
        "geometry_msgs": module("geometry_msgs"),
        "geometry_msgs.msg": module("geometry_msgs.msg", PoseStamped=plain.PoseStamped,
                                    TwistStamped=plain.TwistStamped),
        "sensor_msgs": module("sensor_msgs"),
        "sensor_msgs.msg": module("sensor_msgs.msg", Image=plain.Image,
                                  JointState=plain.JointState, Joy=Joy),
        "std_msgs": module("std_msgs"),
        "std_msgs.msg": module("std_msgs.msg", Bool=Bool, Float32MultiArray=plain.Float32MultiArray,
                               Float64=plain.Float64, String=String),
        "std_srvs": module("std_srvs"),
        "std_srvs.srv": module("std_srvs.srv", Trigger=Trigger),
    }  # fmt: skip


@pytest.fixture()
def nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The robot_rl_ros modules imported over the stand-in, and a fresh bus."""
    for name, mod in fake_ros_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.syspath_prepend(str(PKG))
    for name in [m for m in sys.modules if m.startswith("robot_rl_ros")]:
        monkeypatch.delitem(sys.modules, name)
    BUS.__init__()  # type: ignore[misc]
    cell = {"cell_config": str(CONFIG / "ci_cell.yaml")}
    run = {"run_config": str(CONFIG / "pick_cube_ros.yaml")}
    BUS.params = {
        "robot_rl_twin": {**cell, **run},
        "robot_rl_actor": {**cell, **run, "run_dir": str(tmp_path / "run"),
                           "learner_address": "tcp://127.0.0.1:5",  # never reached here
                           "reset_timeout_s": 5.0},
        "robot_rl_learner": {**cell, **run, "run_dir": str(tmp_path / "learner")},
        "robot_rl_reset": {**cell},
        "robot_rl_reward": {**cell, "success_button": 2},
        "robot_rl_teleop": {**cell},
        "robot_rl_dashboard": {**cell, "port": 0},
    }  # fmt: skip
    import robot_rl_ros  # noqa: F401

    yield types.SimpleNamespace(**{
        name: __import__(f"robot_rl_ros.{name}", fromlist=["x"])
        for name in ("twin_node", "actor_node", "learner_node", "reset_node", "reward_node",
                     "teleop_node", "dashboard_node")
    })  # fmt: skip
    # modules imported over the stand-in must not outlive it (real rclpy tests follow)
    for name in [m for m in sys.modules if m.startswith("robot_rl_ros")]:
        del sys.modules[name]


def ticking(twin: Any, period_s: float = 0.02) -> threading.Event:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(period_s):
            twin._tick()

    threading.Thread(target=loop, daemon=True).start()
    return stop


def test_hardware_side_nodes_over_the_twin_topics(nodes: Any) -> None:
    twin = nodes.twin_node.TwinNode()
    reset = nodes.reset_node.ResetNode()
    reward = nodes.reward_node.RewardNode()
    teleop = nodes.teleop_node.TeleopNode()
    stop = ticking(twin)
    try:
        answer = reset._on_reset(TriggerRequest(), TriggerResponse())
        assert answer.success, answer.message
        BUS.publish("/joy", Joy(axes=[0.5, 0.0, 0.0], buttons=[1, 0, 1]))
        reward._tick()
        assert BUS.log["/robot_rl/reward"][-1].data == 1.0  # the success button is held
        intervention = BUS.log["/robot_rl/intervention"][-1].data
        assert list(intervention) == [0.0, 0.5, 0.0, -1.0] and teleop.cell.action_dim == 4
        BUS.publish("/robot_rl/estop", Bool(True))
        assert reset.core.env.estopped
    finally:
        stop.set()


def load_launch_file(monkeypatch: pytest.MonkeyPatch, share: Path) -> Any:
    """train.launch.py over stand-ins for launch and launch_ros: Node records its kwargs."""
    import importlib.util

    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    class LaunchConfiguration:
        def __init__(self, name: str) -> None:
            self.name = name

        def perform(self, context: dict[str, str]) -> str:
            return context[self.name]

    fakes = {
        "ament_index_python": module("ament_index_python"),
        "ament_index_python.packages": module(
            "ament_index_python.packages", get_package_share_directory=lambda pkg: str(share)
        ),
        "launch": module("launch", LaunchDescription=list),
        "launch.actions": module(
            "launch.actions", DeclareLaunchArgument=lambda *a, **kw: kw, OpaqueFunction=dict
        ),
        "launch.substitutions": module(
            "launch.substitutions", LaunchConfiguration=LaunchConfiguration
        ),
        "launch_ros": module("launch_ros"),
        "launch_ros.actions": module("launch_ros.actions", Node=lambda **kw: kw),
        "launch_ros.parameter_descriptions": module(
            "launch_ros.parameter_descriptions",
            ParameterValue=lambda value, value_type: value_type(value),
        ),
    }
    for name, mod in fakes.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location(
        "train_launch", PKG / "launch" / "train.launch.py"
    )
    assert spec is not None and spec.loader is not None
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    return launch_file


def test_launch_file_selects_nodes_and_cameras(monkeypatch: pytest.MonkeyPatch) -> None:
    launch_file = load_launch_file(monkeypatch, PKG)  # share/config == the source config
    defaults = {name: default for name, (default, _doc) in launch_file.ARGUMENTS.items()}
    described = launch_file.generate_launch_description()
    assert len(described) == len(defaults) + 1

    def executables(**args: str) -> list[tuple[str, str]]:
        nodes = launch_file._nodes({**defaults, **args})
        return [(n["executable"], n.get("name", "")) for n in nodes]

    assert executables(sim="true") == [
        ("actor_node", "robot_rl_actor"), ("learner_node", "robot_rl_learner"),
        ("twin_node", "robot_rl_twin"),
    ]  # fmt: skip
    hardware = launch_file._nodes({**defaults, "sim": "false", "dashboard": "true",
                                   "camera_serials": "111,222"})  # fmt: skip
    cameras = [n for n in hardware if n["package"] == "realsense2_camera"]
    assert [(c["namespace"], c["name"]) for c in cameras] == [
        ("camera", "front"),
        ("camera", "wrist"),
    ]
    assert [c["parameters"][0]["serial_no"] for c in cameras] == ["111", "222"]
    assert {n["executable"] for n in hardware} >= {"reset_node", "reward_node", "dashboard_node"}
    actor = hardware[0]["parameters"][0]
    assert actor["cell_config"].endswith("panda_cell.yaml") and actor["run_dir"]
    assert not [n for n in launch_file._nodes({**defaults, "sim": "false",
                                              "cameras_running": "true"})
                if n["package"] == "realsense2_camera"]  # fmt: skip
    with pytest.raises(ValueError, match="camera_serials"):
        launch_file._nodes({**defaults, "sim": "false", "camera_serials": "111"})


def test_launch_file_starts_the_graph_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The nodes train.launch.py starts are the rows robot_rl_ros.graph (and its tests) run."""
    launch_file = load_launch_file(monkeypatch, PKG)
    from robot_rl_ros.graph_table import defaults, node_rows

    for args in ({"sim": "true"}, {"sim": "true", "teleop": "true", "dashboard": "true"},
                 {"sim": "false", "camera_serials": "111,222"}):  # fmt: skip
        args = {**defaults(), **args, "run_dir": "/tmp/run"}
        launched = [(n["executable"], n["name"], n["parameters"][0])
                    for n in launch_file._nodes(args)]  # fmt: skip
        rows = [(r.executable, r.name, r.parameters) for r in node_rows(args, str(PKG))]
        assert launched == rows
