"""The twin's streams as cell messages: assembler, rosbag2 MCAP record + replay, bridge env."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from robot_rl_sim import TwinConfig, make_env

from robot_rl import keys
from robot_rl.ros_compat.assembler import ObservationAssembler, camera_stream
from robot_rl.ros_compat.bag import read_bag, record_twin_run, replay_bag
from robot_rl.ros_compat.bridge_env import BridgeEnv, LatestValue
from robot_rl.ros_compat.config import PROPRIO_DIM, CellConfig
from robot_rl.ros_compat.messages import Float64, stamp_from_seconds
from robot_rl.ros_compat.twin_messages import TwinCell, feed_assembler, twin_messages

pytestmark = pytest.mark.twin
SIZE = 32  # px: small frames keep the test fast; the path is the same at 128


@pytest.fixture(scope="module")
def twin() -> object:
    env = make_env(TwinConfig(obs_mode="both", image_size=SIZE, max_episode_steps=20), seed=0)
    yield env
    env.close()


CELL = CellConfig(image_size=SIZE, max_episode_steps=20)


def expected(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v[:PROPRIO_DIM] if k == keys.STATE else v for k, v in obs.items()}


def assert_same_obs(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        if keys.is_image_key(key):
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        else:  # the gripper joint passes through a float64 position and back
            np.testing.assert_allclose(got[key], want[key], atol=1e-6, err_msg=key)


def test_assembler_rebuilds_the_twin_observation(twin: object) -> None:
    obs, _ = twin.reset(seed=3)  # type: ignore[attr-defined]
    asm = ObservationAssembler(CELL)
    first = asm.assemble(0.0)
    assert first.obs is None and set(first.stale) == set(asm.streams)
    feed_assembler(asm, twin_messages(obs, CELL, stamp=stamp_from_seconds(5.0)), received_s=10.0)
    snap = asm.assemble(10.05)
    assert snap.ok and snap.skew_s == 0.0
    assert snap.obs is not None
    assert_same_obs(snap.obs, expected(obs))
    late = asm.assemble(10.0 + CELL.max_age_s + 0.01)
    assert late.obs is not None and set(late.stale) == set(asm.streams)
    assert asm.ages(10.2)[camera_stream("wrist")] == pytest.approx(0.2)


def test_finite_difference_velocity_without_a_twist_topic() -> None:
    cell = CellConfig(cameras=(), tcp_twist_topic="")
    asm = ObservationAssembler(cell)
    state = np.zeros(30, np.float32)
    state[3:7] = (0, 1, 0, 0)
    for t, x in ((1.0, 0.40), (1.1, 0.41)):
        state[0] = x
        msgs = twin_messages({keys.STATE: state}, cell, stamp=stamp_from_seconds(t))
        asm.on_joint_state(msgs.joint_state, t)
        asm.on_tcp_pose(msgs.tcp_pose, t)
    obs = asm.assemble(1.1).obs
    assert obs is not None
    np.testing.assert_allclose(obs[keys.STATE][7:10], [0.1, 0, 0], rtol=1e-4)


def test_assembler_wakes_a_waiting_loop_on_each_arrival(twin: object) -> None:
    obs, _ = twin.reset(seed=3)  # type: ignore[attr-defined]
    asm = ObservationAssembler(CELL)
    messages = twin_messages(obs, CELL, stamp=stamp_from_seconds(5.0))
    seen = asm.arrivals()
    assert not asm.wait_for_arrival(seen, 0.05)  # nothing came: it times out
    assert asm.overdue_at(10.0, 0.15) == -np.inf  # never received: overdue already
    asm.on_tcp_pose(messages.tcp_pose, 10.0)  # arrived between the look and the wait
    assert asm.wait_for_arrival(seen, 30.0)  # not missed: returns at once
    feed_assembler(asm, messages, received_s=10.0)
    assert asm.overdue_at(10.0, 0.15) is None  # all fresh since 10 s
    asm.on_tcp_pose(messages.tcp_pose, 10.1)
    # fresh since 10.05 s: the TCP pose only; the first other stream is due at 10.0 + 0.15
    assert asm.overdue_at(10.05, 0.15) == pytest.approx(10.15)
    seen = asm.arrivals()
    woken: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        assert asm.wait_for_arrival(seen, 30.0)
        woken.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.05)
    asm.on_joint_state(messages.joint_state, 10.2)  # from another thread, as a ROS callback
    waiter.join(timeout=30.0)
    assert woken and woken[0] < 20.0  # woken by the message, not by its 30 s timeout
    reward = LatestValue()
    seen = asm.arrivals()
    reward.add_listener(asm.notify_arrival)  # how a BridgeEnv hears its reward
    reward.set(1.0, 10.3)
    assert asm.wait_for_arrival(seen, 30.0) and reward.get() == (1.0, 10.3)


def test_bag_records_and_replays_the_same_observations(twin: object, tmp_path: Path) -> None:
    bag = tmp_path / "run"
    observed = record_twin_run(twin, CELL, bag, steps=6, seed=4)
    assert (bag / "metadata.yaml").exists() and list(bag.glob("*.mcap"))
    topics = {topic for topic, _t, _m in read_bag(bag)}
    assert "/camera/front/color/image_raw" in topics and "/robot_rl/action" in topics
    replay = replay_bag(bag, CELL)
    assert len(replay.observations) == len(observed) == len(replay.actions) + 1 == 7
    assert len(replay.rewards) == 6
    for got, want in zip(replay.observations, observed):
        assert_same_obs(got, expected(want))


def test_bridge_env_over_a_twin_cell_in_another_thread(twin: object) -> None:
    """The ROS graph without ROS: a twin 'node' thread serves the env's commands."""
    cell = CellConfig(image_size=SIZE, max_episode_steps=5, control_hz=50.0, max_age_s=0.5)
    asm = ObservationAssembler(cell)
    reward = LatestValue()
    twin_cell = TwinCell(twin, cell, seed=7)
    lock = threading.Lock()
    published: list[float] = []

    def publish_state() -> None:
        now = time.monotonic()
        feed_assembler(asm, twin_cell.messages(stamp=stamp_from_seconds(now)), now)
        reward.set(twin_cell.reward, now)

    def on_command(command: object, gripper: Float64) -> None:
        with lock:  # what the twin node's command callback + timer do
            twin_cell.command(command, gripper.data)
            twin_cell.tick()
            published.append(gripper.data)
            publish_state()

    def on_reset() -> None:
        with lock:
            twin_cell.reset()
            publish_state()

    env = BridgeEnv(cell, asm, publish=on_command, request_reset=on_reset, reward=reward)
    obs, _ = env.reset()
    assert obs[keys.STATE].shape == (PROPRIO_DIM,) and obs["pixels_front"].shape == (SIZE, SIZE, 3)
    start_z = obs[keys.STATE][2]
    for _t in range(5):
        obs, _r, terminated, truncated, info = env.step(np.array([0, 0, 1.0, 1.0], np.float32))
        assert "stale" not in info and not info["safety_held"]
    assert truncated and not terminated
    assert obs[keys.STATE][2] > start_z + 0.03  # the TCP went up through the commands
    assert published[-1] == 1.0

    # every action passes the safety layer: a NaN is never sent, the arm holds instead
    n = len(published)
    _o, _r, _te, _tr, info = env.step(np.array([np.nan, 0, 0, 1.0], np.float32))
    assert info["safety_held"] and "reject:nan" in info["safety_events"]
    assert len(published) == n + 1 and published[-1] == 1.0  # hold keeps the gripper command

    def silent(command: object, gripper: Float64) -> None:
        published.append(-1.0)  # a cell that takes commands but publishes nothing

    stale_cell = CellConfig(**{**cell.__dict__, "step_timeout_s": 0.1})
    env3 = BridgeEnv(stale_cell, asm, publish=silent, request_reset=on_reset, reward=reward)
    env3.reset()
    _o, _r, terminated, truncated, info = env3.step(np.zeros(4, np.float32))
    assert (
        truncated
        and not terminated
        and "camera/front" in info["stale"]
        and "reward" in info["stale"]
    )
    env3.estop("test")
    _o, _r, _te, truncated, info = env3.step(np.ones(4, np.float32))
    assert truncated and info["estop"] and "estop" in info["safety_events"]
    with pytest.raises(RuntimeError, match="e-stop is latched"):
        env3.reset()
    env3.release_estop()
    env3.reset()


STATE_CELL = CellConfig(cameras=(), object_pose_topic="/object_pose", max_episode_steps=20)


def test_a_tracked_object_gives_the_cli_state_observation(tmp_path: Path) -> None:
    """With object_pose_topic the cell's state is the twin's obs_mode "state" vector (28,)."""
    env = make_env(TwinConfig(obs_mode="state", max_episode_steps=20), seed=0)
    asm = ObservationAssembler(STATE_CELL)
    assert asm.observation_space()[keys.STATE].shape == env.observation_space[keys.STATE].shape
    assert "object_pose" in asm.streams
    twin_cell = TwinCell(env, STATE_CELL, seed=5)
    twin_cell.reset()
    for t in range(4):
        now = 1.0 + 0.1 * t
        feed_assembler(asm, twin_cell.messages(stamp=stamp_from_seconds(now)), now)
        snap = asm.assemble(now)
        assert snap.ok and snap.obs is not None
        np.testing.assert_allclose(snap.obs[keys.STATE], twin_cell.obs[keys.STATE], atol=1e-6)
        twin_cell.command(gripper=1.0)
        twin_cell.tick()
    # the object pose is a watched stream: without it the observation is stale
    late = asm.assemble(1.3 + STATE_CELL.max_age_s + 0.01)
    assert "object_pose" in late.stale
    with pytest.raises(ValueError, match="object_pose_topic"):
        twin_messages(twin_cell.obs, STATE_CELL, stamp=stamp_from_seconds(2.0))
    with pytest.raises(KeyError, match="object_pose_topic"):
        ObservationAssembler(CellConfig(cameras=())).on_object_pose(None, 0.0)
    # and it is recorded to and replayed from a bag like the other sensor topics
    bag = tmp_path / "state_run"
    observed = record_twin_run(env, STATE_CELL, bag, steps=3, seed=6)
    replay = replay_bag(bag, STATE_CELL)
    for got, want in zip(replay.observations, observed, strict=True):
        np.testing.assert_allclose(got[keys.STATE], want[keys.STATE], atol=1e-6)
    env.close()
