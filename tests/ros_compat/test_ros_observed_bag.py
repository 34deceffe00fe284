"""The actor's own bag (what it acted on), the watchdog and step timing, on a twin cell in a thread."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from robot_rl_sim import TwinConfig, make_env

from robot_rl import keys
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.bag import deserialize, jazzy_typestore
from robot_rl.ros_compat.bridge_env import BridgeEnv, LatestValue
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.messages import Float64, stamp_from_seconds
from robot_rl.ros_compat.observed_bag import ObservedBagWriter, observed_groups
from robot_rl.ros_compat.twin_messages import TwinCell, feed_assembler

pytestmark = pytest.mark.twin
CELL = CellConfig(
    cameras=(), object_pose_topic="/object_pose", control_hz=50.0, max_age_s=0.5,
    max_episode_steps=4, step_timeout_s=0.5,
)  # fmt: skip


class ThreadCell:
    """A twin 'node' answering the env's commands and resets (as the twin node's timer would)."""

    def __init__(self, cell: CellConfig, asm: ObservationAssembler) -> None:
        self.twin = TwinCell(make_env(TwinConfig(obs_mode="state"), seed=0), cell, seed=2)
        self.asm = asm
        self.reward = LatestValue()
        self.lock = threading.Lock()
        self.silent: set[str] = set()  # streams not published (a stopped topic)
        self.last_object_pose_s = 0.0

    def publish(self) -> None:
        now = time.monotonic()
        messages = self.twin.messages(stamp=stamp_from_seconds(now))
        if "object_pose" in self.silent:
            messages.object_pose = None
        else:
            self.last_object_pose_s = now
        feed_assembler(self.asm, messages, now)
        self.reward.set(self.twin.reward, now)

    def on_command(self, command: object, gripper: Float64) -> None:
        with self.lock:
            self.twin.command(command, gripper.data)
            self.twin.tick()
            self.publish()

    def on_reset(self) -> None:
        with self.lock:
            self.twin.reset()
            self.publish()


# the bag test: no stale step however loaded the machine (timing is the watchdog test's)
LENIENT = dataclasses.replace(CELL, max_age_s=5.0, step_timeout_s=5.0)


def test_the_actor_bag_replays_the_observations_it_acted_on(tmp_path: Path) -> None:
    asm = ObservationAssembler(LENIENT)
    cell = ThreadCell(LENIENT, asm)
    bag = ObservedBagWriter(tmp_path / "acted", LENIENT)
    observed: list[dict[str, np.ndarray]] = []
    actions: list[np.ndarray] = []

    def on_observed(snapshot: object, kind: str) -> None:
        observed.append(snapshot.obs)  # type: ignore[attr-defined]
        bag.on_observed(snapshot, kind, cell.reward.get() if kind == "step" else None)

    def on_action(action: np.ndarray, sent_s: float) -> None:
        actions.append(action.copy())
        bag.on_action(action, sent_s)

    env = BridgeEnv(
        LENIENT, asm, publish=cell.on_command, request_reset=cell.on_reset, reward=cell.reward,
        on_observed=on_observed, on_action=on_action,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for _episode in range(2):
        env.reset()
        done = False
        while not done:
            _o, _r, terminated, truncated, _i = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            done = terminated or truncated
    bag.close()

    played = observed_groups(tmp_path / "acted")
    assert [g.kind for g in played.groups] == (["reset"] + ["step"] * 4) * 2
    assert len(played.actions) == len(actions) == 8
    for got, want in zip(played.actions, actions, strict=True):
        np.testing.assert_array_equal(got, want)
    # each group's messages, fed to a fresh assembler, rebuild the observation acted on
    typestore = jazzy_typestore()
    replay = ObservationAssembler(CELL)
    handlers = {
        CELL.joint_states_topic: replay.on_joint_state, CELL.tcp_pose_topic: replay.on_tcp_pose,
        CELL.tcp_twist_topic: replay.on_tcp_twist, CELL.object_pose_topic: replay.on_object_pose,
    }  # fmt: skip
    for k, group in enumerate(played.groups):
        topics = [topic for topic, _m, _raw in group.messages]
        assert CELL.tcp_pose_topic in topics and CELL.object_pose_topic in topics
        assert (CELL.reward_topic in topics) == (group.kind == "step")
        for topic, msgtype, raw in group.messages:
            if topic in handlers:
                handlers[topic](deserialize(raw, msgtype, typestore), float(k))
        snap = replay.assemble(float(k))
        assert snap.obs is not None
        np.testing.assert_array_equal(snap.obs[keys.STATE], observed[k][keys.STATE])
    with pytest.raises(ValueError, match="markers"):
        empty = ObservedBagWriter(tmp_path / "empty", CELL)
        empty.close()
        observed_groups(tmp_path / "empty")


def test_the_watchdog_holds_one_period_after_a_stream_stops(tmp_path: Path) -> None:
    """A stopped topic: hold within one control period of the missing message's due time
    (one period after the last one), then end the episode stale."""
    asm = ObservationAssembler(CELL)
    cell = ThreadCell(CELL, asm)
    sent: list[tuple[float, object]] = []

    def publish(command: object, gripper: Float64) -> None:
        sent.append((time.monotonic(), command))
        if not sent_hold_only:
            cell.on_command(command, gripper)

    sent_hold_only = False
    env = BridgeEnv(CELL, asm, publish=publish, request_reset=cell.on_reset, reward=cell.reward)
    env.reset()
    env.step(np.zeros(4, np.float32))
    assert env.watchdog_holds == 0
    cell.silent.add("object_pose")
    _o, _r, terminated, truncated, info = env.step(np.array([0.5, 0, 0, 0], np.float32))
    assert truncated and not terminated and "object_pose" in info["stale"]
    assert env.watchdog_holds == 1
    period = 1.0 / CELL.control_hz
    command_t = sent[-3][0]  # the step's command, then the watchdog's hold, then the stale hold
    hold_t = sent[-2][0]
    assert env.watchdog_hold_s == pytest.approx(hold_t, abs=0.01)
    due = cell.last_object_pose_s + period  # when the next object pose would have come
    assert due < hold_t <= due + period + 0.01
    assert sent[-1][0] - command_t >= CELL.step_timeout_s  # the stale hold at the timeout
    # a reset whose data stays stale raises after reset_retry_s; back in time, it recovers
    retrying = BridgeEnv(
        CELL, asm, publish=publish, request_reset=cell.on_reset, reward=cell.reward,
        reset_retry_s=3.0,
    )  # fmt: skip
    threading.Timer(1.2, cell.silent.clear).start()
    obs, _ = retrying.reset()
    assert obs[keys.STATE].shape == (28,)
    cell.silent.add("object_pose")
    with pytest.raises(TimeoutError, match="object_pose"):
        env.reset()


def test_data_at_the_control_rate_is_acted_on_as_it_arrives() -> None:
    """A cell publishing at 10 Hz, 0.7 periods before the env's first tick: after one step
    the ticks move onto the data, so commands follow each observation at once."""
    cell_config = dataclasses.replace(LENIENT, control_hz=10.0, max_episode_steps=100)
    period = 1.0 / cell_config.control_hz
    asm = ObservationAssembler(cell_config)
    cell = ThreadCell(cell_config, asm)
    commands: list[float] = []
    stop = threading.Event()

    def on_command(command: object, gripper: Float64) -> None:
        commands.append(time.monotonic())
        with cell.lock:
            cell.twin.command(command, gripper.data)

    def timer(first: float) -> None:  # the twin node's timer: tick and publish at 10 Hz
        k = 0
        while not stop.is_set():
            time.sleep(max(0.0, first + k * period - time.monotonic()))
            with cell.lock:
                cell.twin.tick()
                cell.publish()
                arrivals.append(time.monotonic())
            k += 1

    arrivals: list[float] = []
    env = BridgeEnv(
        cell_config, asm, publish=on_command, request_reset=cell.on_reset, reward=cell.reward
    )
    env.reset()
    thread = threading.Thread(target=timer, args=(time.monotonic() + 0.3 * period,))
    thread.start()
    try:
        for _ in range(15):
            env.step(np.zeros(4, np.float32))
    finally:
        stop.set()
        thread.join()
    # per command from the third on: time since the newest observation before it
    ages = [c - max(a for a in arrivals if a < c) for c in commands[2:]]
    assert float(np.median(ages)) < 0.25 * period, ages  # before: about 0.7 periods each
    intervals = np.diff(commands[2:])
    assert 0.9 * period < float(np.mean(intervals)) < 1.15 * period  # still 10 Hz
