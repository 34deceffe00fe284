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
  ``policy_command_p99_ms`` leaves out the ``hold_commands`` (a target at a measured TCP
  position: the watchdog's and stale holds, which by definition follow no fresh frame);
- ``image_topic_hz``: messages per second on each camera topic over the run;
- ``dropped_steps``: control periods without a command (a gap of k periods between two
  commands counts k - 1), plus the env steps the actor ended as stale;
- ``stages_ms``: the actor's own breakdown of its policy commands' latency (its run dir's
  ``latency.jsonl``, robot_rl.ros_compat.latency): p50/p99/mean of ``receive`` (stamp ->
  last message needed received), ``assemble`` (-> observation built), ``loop`` (-> policy
  forward starts), ``policy`` (the forward), ``publish`` (-> command published) and
  ``total``; ``tail_mean`` (each stage's mean over the slowest 5 %) and ``last_stream``.

    .venv/bin/python scripts/bench/ros_graph.py --env-steps 600 [--fault-tries 2]
    .venv/bin/python scripts/bench/ros_graph.py --task state --env-steps 6000

``--task state`` is state pick-cube at the CLI's settings: the run config
``configs/pick_cube_state.yaml`` (its demos recorded here first, given to the learner node),
the cell ``twin_state_cell.yaml`` (no cameras; the cube pose on ``/object_pose``).

With ``--fault-tries N``, a second graph (the CI cell with one 32² camera) then takes each
fault N times (kill -9 learner, kill -9 twin, stop the camera topic, kill -9 and resume the
actor; see ``_fault_drills``), and ``fault_recovery_rate`` (recovered / tried),
``fault_outcomes``, ``episodes_lost`` and ``hold_after_last_frame_ms`` are added.

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


def _xyz(pose: Any) -> tuple[float, float, float]:
    return (pose.position.x, pose.position.y, pose.position.z)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(statuses: list) -> dict:
    return json.loads(statuses[-1][1].data) if statuses else {}


def _stored_episodes(run_dir: Path) -> int:
    from robot_rl.data.episode_store import EpisodeStore

    return len(EpisodeStore.open(run_dir / "episodes").episode_ids())


def _fault_drills(
    probe: object, graph: object, statuses: list, tries: int, run_dir: Path, period_s: float
) -> dict:
    """Each fault ``tries`` times on one running graph; count recoveries and lost episodes.

    - kill_learner (kill -9): the actor keeps stepping, then gets newer weights from the
      restarted learner;
    - kill_twin (kill -9): the actor holds (stale, stops stepping), steps again once the
      restarted twin is there (each waits out Fast DDS's 20 s lease of the dead one);
    - stop_camera (the twin's ``~/mute``): the watchdog holds within one control period of
      the missing frame's due time, the episode ends stale, stepping resumes once the frames
      are back;
    - restart_actor (kill -9, restarted with ``resume: True``): the new actor starts from
      the stored episodes and steps on; ``episodes_lost`` counts episodes the killed actor
      reported finished that are not in the store.
    """
    import signal

    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    p: Any = probe
    g: Any = graph
    reset = p.node.create_client(Trigger, "/robot_rl/reset")
    mute = p.node.create_publisher(String, "/robot_rl_twin/mute", 10)
    faults = ("kill_learner", "kill_twin", "stop_camera", "restart_actor")
    outcomes: dict[str, list[bool]] = {fault: [] for fault in faults}
    details: dict[str, list[float]] = {"hold_after_last_frame_ms": []}
    episodes_lost = 0
    p.spin_until(lambda: _status(statuses).get("weights_version", 0) >= 1, 120.0, "weights")

    def steps_again(more: int = 5, timeout_s: float = 90.0) -> None:
        held = _status(statuses)["env_steps"]
        p.spin_until(lambda: _status(statuses)["env_steps"] > held + more, timeout_s, "steps")

    for _ in range(tries):
        for fault in faults:
            try:
                before = _status(statuses)
                if fault == "kill_learner":
                    g.processes["robot_rl_learner"].send_signal(signal.SIGKILL)
                    g.processes["robot_rl_learner"].wait()
                    p.spin_for(3.0)
                    during = _status(statuses)
                    ok = during["env_steps"] > before["env_steps"]
                    g.start("robot_rl_learner")
                    version = during["weights_version"]
                    p.spin_until(lambda v=version: _status(statuses)["weights_version"] > v,
                                 90.0, "new weights")  # fmt: skip
                elif fault == "kill_twin":
                    g.processes["robot_rl_twin"].send_signal(signal.SIGKILL)
                    g.processes["robot_rl_twin"].wait()
                    p.spin_for(3.0)
                    ok = bool(_status(statuses).get("stale"))
                    p.spin_until(lambda: not reset.service_is_ready(), 40.0, "lease")
                    g.start("robot_rl_twin")
                    steps_again()
                elif fault == "stop_camera":
                    frames = p.received["/camera/front/color/image_raw"]
                    # a restarted twin (kill_twin) may not have matched this publisher yet: a
                    # message published before that is lost (volatile durability)
                    p.spin_until(lambda: mute.get_subscription_count() > 0, 30.0,
                                 "the twin's ~/mute subscription")  # fmt: skip
                    # counts from a status sent after the last fault's holds and stale end
                    # (the 1 Hz status that `before` holds may predate them): the second new one
                    seen = len(statuses)
                    p.spin_until(lambda k=seen: len(statuses) >= k + 2, 10.0,
                                 "a fresh status")  # fmt: skip
                    before = _status(statuses)
                    holds = before.get("watchdog_holds", 0)
                    episodes = before["episodes"]
                    mute.publish(String(data="front"))
                    p.spin_until(lambda h=holds: _status(statuses).get("watchdog_holds", 0) > h,
                                 10.0, "a watchdog hold")  # fmt: skip
                    p.spin_until(lambda e=episodes: _status(statuses)["episodes"] > e, 10.0,
                                 "the stale episode's end")  # fmt: skip
                    during = _status(statuses)
                    last_frame = max(t for t, _m in frames)
                    hold_ms = 1e3 * (during["watchdog_hold_s"] - last_frame)
                    details["hold_after_last_frame_ms"].append(round(hold_ms, 1))
                    # due one period after the last frame; held within one period of that
                    # 20 ms: this process and the actor receive the frame at slightly other times
                    ok = "camera/front" in during["stale"] and hold_ms <= 2e3 * period_s + 20.0
                    mute.publish(String(data=""))
                    steps_again()
                else:  # restart_actor
                    g.processes["robot_rl_actor"].send_signal(signal.SIGKILL)
                    g.processes["robot_rl_actor"].wait()
                    reported = _status(statuses)["episodes"]
                    stored = _stored_episodes(run_dir)
                    episodes_lost += max(0, reported - stored)
                    statuses.clear()
                    g.start("robot_rl_actor", parameters={"resume": True})
                    p.spin_until(lambda: _status(statuses).get("env_steps", 0) > 0, 90.0,
                                 "the resumed actor")  # fmt: skip
                    resumed = _status(statuses)
                    ok = bool(resumed.get("resumed")) and resumed["episodes"] >= stored
                    steps_again()
                ok = ok and g.processes["robot_rl_actor"].poll() is None
            except TimeoutError as err:
                print(f"{fault}: {err}", file=sys.stderr)
                ok = False
            outcomes[fault].append(ok)
    tried = sum(len(v) for v in outcomes.values())
    recovered = sum(sum(v) for v in outcomes.values())
    return {"fault_recovery_rate": recovered / tried, "fault_outcomes": outcomes,
            "episodes_lost": episodes_lost, **details}  # fmt: skip


def _drill_cell(path: Path) -> Path:
    """The CI cell with one small camera (the stop_camera drill needs a camera)."""
    import yaml
    from robot_rl_ros.graph import SHARE

    cell = yaml.safe_load((Path(SHARE) / "config" / "ci_cell.yaml").read_text()) or {}
    cell.update(cameras=["front"], image_size=32)
    path.write_text(yaml.safe_dump(cell))
    return path


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

    from robot_rl.ros_compat.latency import LATENCY_FILE, stage_summary
    from robot_rl.runtime.metrics import read_jsonl

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
        tcp_poses = list(tcp_poses)
        images = {cam: list(log) for cam, log in images.items()}
        observed = images[cameras[0]] if cameras else list(tcp_poses)
        last = _status(statuses)
        faults: dict[str, Any] = {}
        if args.fault_tries > 0:  # on a fresh graph that runs until the drills end
            graph_args["env_steps"] = "1000000"
            graph_args["run_dir"] = str(work / "faults")
            graph_args["learner_port"] = str(_free_port())
            graph_args["cell_config"] = str(_drill_cell(work / "fault_cell.yaml"))
            graph_args.pop("demos", None)
            if args.task == "state":
                graph_args.pop("run_config", None)  # the package's (camera) run config
            statuses.clear()  # only the drill graph's actor from here on
            probe.listen(Image, "/camera/front/color/image_raw", qos_profile_sensor_data)
            with Graph(graph_args, log_dir=work / "fault_logs") as drill:
                drill.start()
                faults = _fault_drills(probe, drill, statuses, args.fault_tries,
                                       work / "faults", 1.0 / control_hz)  # fmt: skip
    finally:
        probe.close()

    # (observation stamp, command stamp) pairs: the newest image received before each command
    received = np.array([t for t, _ in observed])
    stamps = np.array([_stamp_s(m) for _, m in observed])
    # a hold targets the measured TCP: the position of one of the last TCP poses received
    pose_times = np.array([t for t, _ in tcp_poses])
    pose_xyz = [_xyz(m.pose) for _, m in tcp_poses]
    latencies, policy_latencies = [], []
    for t_cmd, cmd in commands:
        i = int(np.searchsorted(received, t_cmd)) - 1
        if i < 0:
            continue
        latency = 1e3 * (_stamp_s(cmd) - stamps[i])
        latencies.append(latency)
        j = int(np.searchsorted(pose_times, t_cmd))
        if _xyz(cmd.pose) not in pose_xyz[max(0, j - 3) : j]:
            policy_latencies.append(latency)
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
        "policy_command_p99_ms": round(float(np.percentile(policy_latencies, 99)), 2)
        if policy_latencies else None,
        "hold_commands": len(latencies) - len(policy_latencies),
        "image_topic_hz": hz,
        "dropped_steps": dropped,
        "commands": len(commands),
        "weights_version": last.get("weights_version"),
        "watchdog_holds": last.get("watchdog_holds"),
        "learner_updates": last.get("learner_updates"),
        "run_dir": str(work / "run"),
        **faults,
    }  # fmt: skip
    latency_file = work / "run" / LATENCY_FILE
    result["stages_ms"] = (
        stage_summary(read_jsonl(latency_file)) if latency_file.is_file() else None
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
