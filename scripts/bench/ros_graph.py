"""The ROS 2 training graph (twin, actor, learner nodes as processes over Fast DDS), measured.

Starts the graph table's ``sim:=true`` rows like ``python -m robot_rl_ros.graph`` (two 128²
cameras at 10 Hz from the twin cell), listens from this process with rclpy and reports:

- ``training_success_rate``: the actor's rolling training success rate (``success_rate`` of
  its last ``~/status``: the last 20 episodes, stochastic policy), null before any episode;
- ``final_success_rate`` (``--task state``): the CLI's final evaluation
  (``train.final_eval_episodes`` deterministic episodes on the twin, in this process, as
  ``robot-rl train`` ends) of the policy the graph learned; with ``--task pixels`` the
  training rate (no evaluation);
- ``obs_to_command_p99_ms`` (and p50): per command, its header stamp minus the stamp of the
  newest front-camera image (state cell: TCP pose) received before it (ROS time, one clock);
- ``image_topic_hz``: messages per second on each camera topic over the run;
- ``dropped_steps``: control periods without a command (a gap of k periods between two
  commands counts k - 1), plus the env steps the actor ended as stale.

    .venv/bin/python scripts/bench/ros_graph.py --env-steps 600 [--fault-tries 2]
    .venv/bin/python scripts/bench/ros_graph.py --task state --env-steps 6000

``--task state`` is state pick-cube at the CLI's settings: the run config
``configs/pick_cube_state.yaml`` (its demos recorded here first, given to the learner node),
the cell ``twin_state_cell.yaml`` (no cameras; the cube pose on ``/object_pose``).

With ``--fault-tries N``, a second graph (camera-less CI cell) then takes N kill -9s of the
learner node and N of the twin node, and ``fault_recovery_rate`` (recovered / tried) and
``fault_outcomes`` are added (each twin drill waits out Fast DDS's 20 s lease).

Needs the ROS 2 wheels (scripts/setup.sh). Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def _stamp_s(msg: object) -> float:
    stamp = msg.header.stamp  # type: ignore[attr-defined]
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(statuses: list) -> dict:
    return json.loads(statuses[-1][1].data) if statuses else {}


def _fault_drills(probe: object, graph: object, statuses: list, tries: int) -> dict:
    """Kill -9 the learner, then the twin, ``tries`` times each; count the recoveries.

    Recovered: after a killed learner the actor kept stepping and got newer weights from
    the restarted one; after a killed twin the actor held (stopped stepping) and stepped
    again once the twin was back. The actor process stays the same throughout.
    """
    import signal

    from std_srvs.srv import Trigger

    p: Any = probe
    g: Any = graph
    reset = p.node.create_client(Trigger, "/robot_rl/reset")
    outcomes: dict[str, list[bool]] = {"kill_learner": [], "kill_twin": []}
    p.spin_until(lambda: _status(statuses).get("weights_version", 0) >= 1, 120.0, "weights")
    for _ in range(tries):
        for fault, node in (("kill_learner", "robot_rl_learner"), ("kill_twin", "robot_rl_twin")):
            try:
                before = _status(statuses)
                g.processes[node].send_signal(signal.SIGKILL)
                g.processes[node].wait()
                p.spin_for(3.0)
                during = _status(statuses)
                if fault == "kill_learner":
                    ok = during["env_steps"] > before["env_steps"]
                    g.start(node)
                    version = during["weights_version"]
                    p.spin_until(lambda v=version: _status(statuses)["weights_version"] > v,
                                 90.0, "new weights")  # fmt: skip
                else:
                    ok = bool(during.get("stale"))
                    p.spin_until(lambda: not reset.service_is_ready(), 40.0, "lease")
                    g.start(node)
                    held = _status(statuses)["env_steps"]
                    p.spin_until(lambda h=held: _status(statuses)["env_steps"] > h + 5, 90.0,
                                 "steps again")  # fmt: skip
                ok = ok and g.processes["robot_rl_actor"].poll() is None
            except TimeoutError:
                ok = False
            outcomes[fault].append(ok)
    tried = sum(len(v) for v in outcomes.values())
    recovered = sum(sum(v) for v in outcomes.values())
    return {"fault_recovery_rate": recovered / tried, "fault_outcomes": outcomes}


def _record_demos(run_config: str, path: Path) -> Path:
    """The run config's scripted demos (``demos.num_episodes``), as ``robot-rl demos`` does."""
    from robot_rl.app.demos import record_demos
    from robot_rl.config import load_yaml
    from robot_rl.run_config import RunConfig

    record_demos(load_yaml(RunConfig, Path(run_config)), path)
    return path


def _final_eval(run_dir: Path) -> float:
    """``robot-rl train``'s final evaluation (launch.final_evaluation) of the run's policy."""
    from robot_rl.app.build import make_policy
    from robot_rl.app.launch import final_evaluation
    from robot_rl.config import load_yaml
    from robot_rl.envs.spec import spec_from_json
    from robot_rl.run_config import RunConfig
    from robot_rl.runtime.checkpoint import load_policy

    config = load_yaml(RunConfig, run_dir / "config.yaml", overrides=["train.video=false"])
    spec, action_dim = spec_from_json(json.loads((run_dir / "spec.json").read_text()))
    policy = make_policy(config, spec, action_dim)
    tensors, _meta = load_policy(run_dir / "policy.safetensors")
    policy.load_state_dict(tensors)
    return float(final_evaluation(config, policy, run_dir, progress=False)["final_success_rate"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-steps", type=int, default=600, help="actor env steps")
    parser.add_argument(
        "--task",
        choices=("pixels", "state"),
        default="pixels",
        help="pixels: two 128² cameras, the package's run config; state: the CLI's state "
        "pick-cube (configs/pick_cube_state.yaml, demos, cube pose topic)",
    )
    parser.add_argument("--run-config", default="", help="run config (default: the package's)")
    parser.add_argument("--cell-config", default="", help="cell config (default: twin cell)")
    parser.add_argument("--timeout-s", type=float, default=0.0, help="0: 3x the steps' time")
    parser.add_argument(
        "--fault-tries",
        type=int,
        default=0,
        help="after the run: kill -9 learner and twin this many times each",
    )
    args = parser.parse_args(argv)

    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import qos_profile_sensor_data
    from robot_rl_ros.graph import SHARE, Graph
    from robot_rl_ros.probe import Probe
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    domain_id = random.Random(os.getpid() ^ time.time_ns()).randint(1, 100)
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    default_cell = "twin_state_cell.yaml" if args.task == "state" else "twin_cell.yaml"
    cell_config = args.cell_config or str(Path(SHARE) / "config" / default_cell)
    run_config = args.run_config
    if args.task == "state" and not run_config:
        run_config = str(Path(__file__).resolve().parents[2] / "configs" / "pick_cube_state.yaml")
    import yaml

    cell = yaml.safe_load(Path(cell_config).read_text()) or {}
    cameras = list(cell.get("cameras", ["front", "wrist"]))
    control_hz = float(cell.get("control_hz", 10.0))
    command_topic = cell.get("command_topic", "/cartesian_impedance_controller/target_pose")
    obs_topic = cell.get("tcp_pose_topic", "/tcp_pose")
    work = Path(tempfile.mkdtemp(prefix="ros_graph_bench_"))
    graph_args = {"sim": "true", "cell_config": cell_config, "env_steps": str(args.env_steps),
                  "run_dir": str(work / "run"), "learner_port": str(_free_port())}  # fmt: skip
    if run_config:
        graph_args["run_config"] = run_config
    if args.task == "state":
        graph_args["demos"] = str(_record_demos(run_config, work / "demos"))
    probe = Probe(domain_id, name="robot_rl_bench")
    images = {c: probe.listen(Image, f"/camera/{c}/color/image_raw", qos_profile_sensor_data)
              for c in cameras}  # fmt: skip
    tcp_poses = probe.listen(PoseStamped, obs_topic, qos_profile_sensor_data)
    commands = probe.listen(PoseStamped, command_topic)
    statuses = probe.listen(String, "/robot_rl_actor/status")
    timeout_s = args.timeout_s or 60.0 + 3.0 * args.env_steps / control_hz
    graph = Graph(graph_args, log_dir=work / "logs")
    try:
        with graph:
            graph.start()
            actor = graph.processes["robot_rl_actor"]
            deadline = time.monotonic() + timeout_s
            while actor.poll() is None:
                if time.monotonic() > deadline:
                    print(graph.log("robot_rl_actor")[-3000:], file=sys.stderr)
                    raise TimeoutError(f"actor not done in {timeout_s:.0f} s")
                probe.spin_for(0.2)
            if actor.returncode != 0:
                print(graph.log("robot_rl_actor")[-3000:], file=sys.stderr)
                raise RuntimeError(f"actor exited with {actor.returncode}")
            # the learner writes its last checkpoint and policy once the actor said stop
            graph.processes["robot_rl_learner"].wait(timeout=120)
        # the run's messages, before any drill adds to them
        commands = list(commands)
        images = {cam: list(log) for cam, log in images.items()}
        observed = images[cameras[0]] if cameras else list(tcp_poses)
        last = _status(statuses)
        faults: dict[str, Any] = {}
        if args.fault_tries > 0:  # on a fresh graph that runs until the drills end
            graph_args["env_steps"] = "1000000"
            graph_args["run_dir"] = str(work / "faults")
            graph_args["learner_port"] = str(_free_port())
            graph_args["cell_config"] = str(Path(SHARE) / "config" / "ci_cell.yaml")
            statuses.clear()  # only the drill graph's actor from here on
            with Graph(graph_args, log_dir=work / "fault_logs") as drill:
                drill.start()
                faults = _fault_drills(probe, drill, statuses, args.fault_tries)
    finally:
        probe.close()

    # (observation stamp, command stamp) pairs: the newest image received before each command
    received = np.array([t for t, _ in observed])
    stamps = np.array([_stamp_s(m) for _, m in observed])
    latencies = []
    for t_cmd, cmd in commands:
        i = int(np.searchsorted(received, t_cmd)) - 1
        if i >= 0:
            latencies.append(1e3 * (_stamp_s(cmd) - stamps[i]))
    cmd_times = np.array([_stamp_s(m) for _, m in commands])
    gaps = np.diff(cmd_times) * control_hz
    dropped = int(np.sum(np.maximum(0, np.round(gaps) - 1))) if len(gaps) else 0
    hz = {}
    for cam, log in images.items():
        span = log[-1][0] - log[0][0] if len(log) > 1 else 0.0
        hz[cam] = round((len(log) - 1) / span, 2) if span > 0 else 0.0
    result = {
        "bench": "ros_graph",
        "env_steps": args.env_steps,
        "task": args.task,
        "training_success_rate": last.get("success_rate"),
        "final_success_rate": _final_eval(work / "run") if args.task == "state"
        else last.get("success_rate"),
        "episodes": last.get("episodes"),
        "obs_to_command_p50_ms": round(float(np.percentile(latencies, 50)), 2)
        if latencies else None,
        "obs_to_command_p99_ms": round(float(np.percentile(latencies, 99)), 2)
        if latencies else None,
        "image_topic_hz": hz,
        "dropped_steps": dropped,
        "commands": len(commands),
        "weights_version": last.get("weights_version"),
        "learner_updates": last.get("learner_updates"),
        "run_dir": str(work / "run"),
        **faults,
    }  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
