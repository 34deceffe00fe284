"""What the actor, dashboard, reset and reward nodes run, driven by a twin cell without ROS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from robot_rl_sim import TwinConfig, make_env

from robot_rl import keys
from robot_rl.config import load_yaml
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.envs.spec import spec_from_json
from robot_rl.rewards.base import RewardOutput
from robot_rl.rewards.config import RewardConfig
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.bridge_env import LatestValue
from robot_rl.ros_compat.cell_actor import CONTROLS, CellActor, cell_spec, write_run_files
from robot_rl.ros_compat.cell_reset import CellReset
from robot_rl.ros_compat.cell_reward import CellReward, check_reward_config
from robot_rl.ros_compat.config import CellConfig, safety_config_for_cell, with_cameras
from robot_rl.ros_compat.image import array_to_image
from robot_rl.ros_compat.messages import Float64, stamp_from_seconds
from robot_rl.ros_compat.remote_dashboard import MirroredFeed
from robot_rl.ros_compat.twin_messages import TwinCell, feed_assembler, twin_config_for_cell
from robot_rl.run_config import RunConfig
from robot_rl.runtime.transport import InProcessTransport
from tests.waiting import steady, wait_for

pytestmark = pytest.mark.twin
ROOT = Path(__file__).resolve().parents[2]
RUN_CONFIG = ROOT / "ros_ws" / "src" / "robot_rl" / "config" / "pick_cube_ros.yaml"
CELL = CellConfig(cameras=(), max_episode_steps=5, control_hz=50.0, max_age_s=0.5)


class TwinGraph:
    """The twin node's callbacks in-line: each command steps the twin and publishes state."""

    def __init__(self, cell: CellConfig, assembler: ObservationAssembler, reward: LatestValue):
        self.env = make_env(TwinConfig(obs_mode="state", max_episode_steps=10**6), seed=0)
        self.twin = TwinCell(self.env, cell, seed=3)
        self.assembler = assembler
        self.reward = reward
        self.lock = threading.Lock()
        self.commands = 0

    def _publish_state(self) -> None:
        now = time.monotonic()
        feed_assembler(self.assembler, self.twin.messages(stamp=stamp_from_seconds(now)), now)
        self.reward.set(self.twin.reward, now)

    def publish(self, command: object, gripper: Float64) -> None:
        with self.lock:
            self.twin.command(command, gripper.data)
            self.twin.tick()
            self.commands += 1
            self._publish_state()

    def reset(self) -> None:
        with self.lock:
            self.twin.reset()
            self._publish_state()

    def stream(self, period_s: float = 0.01) -> threading.Event:
        """Publish the state every period, as a cell's drivers do; set the event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period_s):
                with self.lock:
                    self._publish_state()

        threading.Thread(target=loop, daemon=True).start()
        return stop


def make_cell_actor(tmp_path: Path) -> tuple[CellActor, TwinGraph]:
    holder: dict[str, TwinGraph] = {}
    actor = CellActor(
        load_yaml(RunConfig, RUN_CONFIG), CELL, tmp_path / "run",
        publish=lambda c, g: holder["graph"].publish(c, g),
        request_reset=lambda: holder["graph"].reset(),
    )  # fmt: skip
    holder["graph"] = TwinGraph(CELL, actor.assembler, actor.reward)
    return actor, holder["graph"]


def test_run_files_match_the_actor_env_and_overrides_apply(tmp_path: Path) -> None:
    run_config = load_yaml(RunConfig, RUN_CONFIG)
    digest = write_run_files(tmp_path, run_config, CELL)
    spec, action_dim = spec_from_json(json.loads((tmp_path / "spec.json").read_text()))
    assert (spec, action_dim) == cell_spec(CELL) and len(digest) > 8
    cell = with_cameras(CellConfig(), "left,right,top", "1,2,3")
    assert cell.cameras == ("left", "right", "top") and cell.camera_serials == ("1", "2", "3")
    with pytest.raises(ValueError, match="camera_serials"):
        with_cameras(CellConfig(), "", "1")
    safety = safety_config_for_cell(cell)
    assert set(safety.stream_deadlines) == {"joints", "tcp_pose", "left", "right", "top"}
    twin = twin_config_for_cell(run_config.env, cell)
    assert twin.cameras == cell.cameras and twin.obs_mode == "both"
    assert twin_config_for_cell(run_config.env, CELL).obs_mode == "state"


def test_cell_actor_mixes_interventions_and_stores_episodes(tmp_path: Path) -> None:
    actor, graph = make_cell_actor(tmp_path)
    transport, learner_end = InProcessTransport.pair()
    human = np.array([0.0, 0.0, 1.0, -1.0], np.float32)
    actor.intervention.set(human, time.monotonic() + 3600.0)  # a person holds the stick
    stats = actor.run(transport, env_steps=7)
    assert stats.env_steps == 7 and stats.episodes >= 1 and graph.commands >= 7
    store = EpisodeStore.open(tmp_path / "run" / "episodes")
    episode = store.read_episode(store.episode_ids()[0])
    assert episode.intervened.all() and (episode.sources == keys.SOURCE_CODE["human"]).all()
    # Stored is what the safety layer let through: the person's push, the upward step
    # limited to the layer's maximum translation per step.
    first = episode.actions[0]
    np.testing.assert_array_equal(first[[0, 1, 3]], human[[0, 1, 3]])
    assert 0.0 < first[2] <= human[2]
    status = json.loads(json.dumps(actor.status()))  # what ~/status carries
    assert status["env_steps"] == 7 and status["mode"] == "human" and not status["estopped"]
    assert status["safety"]["commands"] >= 7 and status["history"]["success"]
    assert learner_end.recv(1.0) is not None  # steps went to the learner side


def test_estop_holds_the_cell_until_released(tmp_path: Path) -> None:
    actor, graph = make_cell_actor(tmp_path)
    transport, _learner_end = InProcessTransport.pair()
    worker = threading.Thread(target=actor.run, args=(transport, 10**6), daemon=True)
    worker.start()
    try:
        wait_for(lambda: actor.actor is not None and actor.actor.stats.env_steps >= 3)
        actor.control("estop", source="test")
        at_estop = actor.actor.stats.env_steps, graph.commands  # type: ignore[union-attr]
        assert actor.status()["estopped"] and actor.status()["estop_reason"] == "test"
        # a step already under way may finish; then nothing steps or commands the cell
        steps, commands = steady(
            lambda: (actor.actor.stats.env_steps, graph.commands),  # type: ignore[union-attr]
            for_s=0.3,
        )
        assert steps <= at_estop[0] + 1 and commands <= at_estop[1] + 1, (at_estop, steps)
        assert actor.status()["mode"] == "e-stopped"
        actor.control("release_estop", source="test")
        wait_for(lambda: actor.actor.stats.env_steps > steps + 2)  # type: ignore[union-attr]
        actor.control("label_current:1", source="test")
        with pytest.raises(ValueError, match="unknown 'fly'"):
            actor.control("fly", source="test")
    finally:
        actor.stop()
        worker.join(timeout=20.0)
    assert not worker.is_alive()


def test_dashboard_mirrors_the_actor_and_sends_controls_back(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from robot_rl.dashboard.app import CONTROLS as APP_CONTROLS
    from robot_rl.dashboard.app import create_app

    # every actor control is on the page; "continue" ends a human reset, which on the cell is
    # the reset node's ~/continue service, not an actor control (the mirrored page answers 409)
    assert set(APP_CONTROLS) == {*CONTROLS, "continue"}
    actor, _graph = make_cell_actor(tmp_path)
    transport, _learner_end = InProcessTransport.pair()
    actor.run(transport, env_steps=6)
    sent: list[str] = []
    feed = MirroredFeed(sent.append, frame_period_s=10.0)
    feed.apply_status(json.loads(json.dumps(actor.status())))
    frame = array_to_image(
        np.full((8, 8, 3), 200, np.uint8), "rgb8", stamp=stamp_from_seconds(1.0), frame_id="f"
    )
    assert feed.on_image("front", frame) and not feed.on_image("front", frame)  # throttled
    client = TestClient(create_app(feed, token="t"))
    status = client.get("/api/status?token=t").json()
    assert status["env_steps"] == 6 and status["cameras"] == ["front"]
    assert client.get("/api/history?token=t").json()["success"] == feed.history["success"]
    assert client.post("/api/control/estop?token=t").json()["mode"] == "e-stopped"
    client.post("/api/control/reset?token=t")
    client.post("/api/label?token=t", json={"episode": "current", "success": True})
    assert client.post("/api/control/continue?token=t").status_code == 409  # see above
    assert sent == ["estop", "reset", "label_current:1"]
    for name in sent:  # what the actor node does with each ~/control message
        actor.control(name, source="~/control")
    feed.apply_status(actor.status())
    assert feed.status()["mode"] == "e-stopped" and actor.layer.estopped == "~/control"


def test_reset_moves_home_through_the_safety_layer() -> None:
    assembler = ObservationAssembler(CELL)
    graph = TwinGraph(CELL, assembler, LatestValue())
    graph.reset()
    streaming = graph.stream()
    reset = CellReset(CELL, assembler, publish=graph.publish)
    try:
        result = reset.run()
        tcp = assembler.assemble(time.monotonic()).obs[keys.STATE][0:3]  # type: ignore[index]
        reset.estop("~/estop")  # lasting: a later topic e-stop does not shorten it
        reset.estop("/robot_rl/estop", until_next_reset=True)
        with pytest.raises(RuntimeError, match="e-stop is latched"):
            reset.run()  # the reset node answers the service with the error
        reset.release_estop()
        reset.estop("/robot_rl/estop", until_next_reset=True)  # the actor's e-stop topic
        again = reset.run()  # the actor asks for a reset only after its own release
        assert again.reached_home
    finally:
        streaming.set()
    assert result.reached_home and result.held_steps == 0 and result.steps > 1
    assert np.linalg.norm(tcp - np.array(CELL.home_position)) < 0.011


class LiftedModel:
    """A RewardModel (the protocol) deciding success from the TCP height in the state."""

    name = "lifted"
    required_keys: tuple[str, ...] = (keys.STATE,)

    def score(self, batch: Mapping[str, np.ndarray]) -> RewardOutput:
        success = batch[keys.STATE][:, 2] > 0.2
        prob = success.astype(np.float32)
        return RewardOutput(reward=prob, success_prob=prob, success=success)


def test_reward_holds_success_and_takes_human_labels() -> None:
    assembler = ObservationAssembler(CELL)
    graph = TwinGraph(CELL, assembler, LatestValue())
    graph.reset()
    reward = CellReward(LiftedModel(), CELL, consecutive_steps=2)
    assert reward.score(assembler.assemble(time.monotonic() + 10.0)) is None  # stale
    state = assembler.assemble(time.monotonic())
    high = state.obs[keys.STATE][2] > 0.2  # type: ignore[index]
    first = reward.score(state)
    second = reward.score(assembler.assemble(time.monotonic()))
    assert first == 0.0 and second == (CELL.success_reward if high else 0.0)
    assert reward.score(state, human_success=True) == CELL.success_reward
    with pytest.raises(ValueError, match="type: the reward node serves"):
        check_reward_config(RewardConfig(type="ground_truth"))


def test_cell_actor_records_each_policy_commands_latency_by_stage(tmp_path: Path) -> None:
    from robot_rl.app.build import make_policy
    from robot_rl.config import config_hash
    from robot_rl.ros_compat.latency import LATENCY_FILE, STAGES, stage_summary
    from robot_rl.runtime.checkpoint import save_policy
    from robot_rl.runtime.metrics import read_jsonl

    run_config = load_yaml(RunConfig, RUN_CONFIG)
    weights = tmp_path / "policy.safetensors"
    policy = make_policy(run_config, *cell_spec(CELL))
    save_policy(weights, policy.state_dict(), version=1, config_hash=config_hash(run_config))
    holder: dict[str, TwinGraph] = {}
    actor = CellActor(
        run_config, CELL, tmp_path / "run", policy_file=weights,
        publish=lambda c, g: holder["graph"].publish(c, g),
        request_reset=lambda: holder["graph"].reset(),
        stamp_clock=time.monotonic,  # the twin graph stamps with the receive clock
    )  # fmt: skip
    holder["graph"] = TwinGraph(CELL, actor.assembler, actor.reward)
    actor.run(InProcessTransport.pair()[0], env_steps=7)  # run() writes the file as it ends
    rows = read_jsonl(tmp_path / "run" / LATENCY_FILE)
    assert len(rows) == 7 == actor.status()["latency_commands"]  # one per policy command
    for row in rows:
        stages = [row[s] for s in STAGES]
        assert min(stages) >= 0.0 and row["policy"] > 0.0, row  # the forward ran, timed
        # the stages end at the publish, the command's stamp is taken just before it
        assert row["total"] - 0.5 <= sum(stages) <= row["total"] + row["publish"] + 0.5, row
        assert row["last"] in [*actor.assembler.streams, "reward"]
    summary = stage_summary(rows)
    assert summary["commands"] == 7 and summary["policy"]["p99"] >= summary["policy"]["p50"]
    assert sum(summary["last_stream"].values()) == 7
    assert actor.write_latency() == 0  # drained: nothing is written twice
