"""What the learner takes from the socket: checked steps, per-peer episodes, one controlling
actor, bounded metrics, refused peers (issue 17, "The learner socket")."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.agents.sac import SAC, SACConfig
from robot_rl.data.replay import ReplayBuffer
from robot_rl.run_config import TrainConfig
from robot_rl.runtime.learner import MAX_REPORTED_LEAD, Learner
from robot_rl.runtime.metrics import MetricsLogger, read_jsonl
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.runtime.transport_zmq import ZmqActorEndpoint, ZmqLearnerEndpoint
from robot_rl.wire.protocol import Control, Hello, Metrics, Step, Weights

SPEC = {keys.STATE: ((4,), np.dtype(np.float32))}
HASH = "cfg-hash"
HB = {"heartbeat_interval_s": 0.05, "heartbeat_timeout_s": 2.0}


def obs(value: float) -> dict[str, np.ndarray]:
    return {keys.STATE: np.full(4, value, np.float32)}


def make_step(t: int, *, value: float | None = None, last: bool = False, **kw: Any) -> Step:
    """Step t of an episode whose observation t is ``value`` (default t): obs_{t+1} = value + 1."""
    v = float(t) if value is None else value
    fields: dict[str, Any] = {
        "episode_id": 0, "t": t, "first_obs": obs(v) if t == 0 else None,
        "action": np.full(2, 0.1, np.float32), "reward": 0.0, "next_obs": obs(v + 1.0),
        "terminated": last, "truncated": False, "intervened": False, "source": 0,
        "timestamp": float(t),
    }  # fmt: skip
    fields.update(kw)
    return Step(**fields)


def make_learner(
    tmp_path: Path,
    transport: Any = None,
    *,
    token: str | None = None,
    online: ReplayBuffer | None = None,
    **train: Any,
) -> Learner:
    if transport is None:
        transport = InProcessTransport.pair()[1]
    agent = SAC(SPEC, 2, SACConfig(hidden_dims=(16, 16), critic_ensemble_size=2), device="cpu")
    return Learner(
        agent, transport, demo_buffer=ReplayBuffer(SPEC, 2, 50),
        online_buffer=online if online is not None else ReplayBuffer(SPEC, 2, 400), train=TrainConfig(learning_starts=10, **train),
        batch_size=8, demo_fraction=0.5, run_dir=tmp_path, config_hash=HASH,
        metrics=MetricsLogger(tmp_path / "metrics", "learner"), launch_token=token,
    )  # fmt: skip


# -- steps ------------------------------------------------------------------------------------
def test_bad_steps_are_dropped_counted_and_never_reach_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learner = make_learner(tmp_path)
    for t in range(20):
        learner.handle(make_step(t, last=t == 19))
    bad = [
        make_step(0, first_obs={keys.STATE: np.zeros(5, np.float32)}),  # wrong shape
        make_step(0, first_obs={"pixels_front": np.zeros((2, 2, 3), np.uint8)}),  # missing key
        make_step(0, action=np.zeros(3, np.float32)),  # wrong action length
    ]
    bad += [make_step(t, value=float("nan")) for t in range(150)]  # NaN observations
    for step in bad:
        learner.handle(step)
    assert len(learner.online) == 20
    assert learner.steps_received == 20
    assert learner.steps_rejected == {
        "obs_shape": 1,
        "obs_keys": 1,
        "action_shape": 1,
        "obs_nonfinite": 150,
    }
    # The buffer holds finite data only: updates run (a NaN batch ended in FloatingPointError).
    for _ in range(3):
        values = learner.update_once()
    assert all(np.isfinite(float(v)) for v in values.values())
    progress = learner._progress_values()
    assert progress["learner/steps_rejected"] == 153
    assert progress["learner/steps_rejected_obs_nonfinite"] == 150
    # One warning line per reason, not one per step.
    err = capsys.readouterr().err
    assert err.count("obs_nonfinite") == 1 and learner.warn.lines == 4


def test_a_second_senders_t0_does_not_disturb_the_first_actors_episode(tmp_path: Path) -> None:
    learner = make_learner(tmp_path)
    for t in range(50):
        learner.handle(make_step(t, last=t == 49), b"actor-a")
        if t == 10:  # another sender starts an episode in the middle of actor a's
            learner.handle(make_step(0, value=100.0), b"actor-b")
    assert learner.dropped_steps == 0  # was 40 of 50 with one episode state for all peers
    assert learner.steps_received == 51
    online = learner.online
    batch = online.gather(np.flatnonzero(online.valid))
    state, nxt = batch[keys.OBS][keys.STATE][:, 0], batch[keys.NEXT_OBS][keys.STATE][:, 0]
    np.testing.assert_array_equal(nxt, state + 1)  # every transition chains within its episode
    assert sorted(state.tolist()) == [*range(50), 100.0]
    # b goes on with its episode; a gap in b's drops only b's episode.
    learner.handle(make_step(1, value=101.0), b"actor-b")
    learner.handle(make_step(5, value=105.0), b"actor-b")
    learner.handle(make_step(0, value=200.0), b"actor-a")
    learner.handle(make_step(1, value=201.0), b"actor-a")
    assert learner.dropped_steps == 1 and learner.steps_received == 54


def test_a_silent_peer_whose_open_frame_the_ring_overwrote_loses_only_its_episode(
    tmp_path: Path,
) -> None:
    learner = make_learner(tmp_path, online=ReplayBuffer(SPEC, 2, 16, obs_slots=12))
    learner.handle(make_step(0, value=100.0), b"silent")
    for t in range(15):  # the busy actor wraps the 12-slot ring over the silent one's frames
        learner.handle(make_step(t), b"busy")
    learner.handle(make_step(1, value=101.0), b"silent")  # must not raise inside the buffer
    assert learner.dropped_steps == 1 and learner.steps_received == 16
    batch = learner.online.gather(np.flatnonzero(learner.online.valid))
    np.testing.assert_array_equal(
        batch[keys.NEXT_OBS][keys.STATE][:, 0], batch[keys.OBS][keys.STATE][:, 0] + 1
    )


# -- control and pacing -----------------------------------------------------------------------
def test_with_a_launch_token_only_its_actor_stops_or_paces(tmp_path: Path) -> None:
    learner = make_learner(tmp_path, token="s3cret", updates_per_env_step=1.0)
    learner.handle(Hello("actor", "run", HASH, launch_token="s3cret"), b"launcher")
    learner.handle(Hello("actor", "run", HASH), b"neighbour")  # right hash, no token
    learner.handle(Hello("actor", "run", HASH, launch_token="guess"), b"guesser")
    for t in range(30):
        learner.handle(make_step(t), b"launcher")
    for peer in (b"neighbour", b"guesser", b"never-said-hello"):
        learner.handle(Metrics({"actor/env_steps": 1e18}), peer)
        learner.handle(Control("stop"), peer)
    assert not learner.stop_requested
    assert learner.actor_env_steps == 0
    assert learner.controls_refused == 6
    # The launcher's own bogus count is clamped: pacing stays on.
    learner.handle(Metrics({"actor/env_steps": 1e18}), b"launcher")
    assert learner.actor_env_steps == 30 + MAX_REPORTED_LEAD
    learner.updates = 30 + MAX_REPORTED_LEAD  # caught up with the clamped count: wait for data
    assert not learner.may_update()
    learner.handle(Metrics({"actor/env_steps": float("-inf")}), b"launcher")
    assert learner.actor_env_steps == 30 + MAX_REPORTED_LEAD  # never goes back
    learner.handle(Control("stop"), b"launcher")
    assert learner.stop_requested


def pump(learner: Learner, until: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Drive the learner's endpoint (as Learner.run does) until ``until()``."""
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "condition not met in time"
        msg = learner.transport.recv(0.02)
        if msg is not None:
            learner.handle(msg, learner.transport.last_sender)
        learner.transport.maybe_heartbeat()


def test_without_a_token_the_first_actor_controls_over_real_sockets(tmp_path: Path) -> None:
    endpoint = ZmqLearnerEndpoint("tcp://127.0.0.1:*", **HB)
    first, second = (ZmqActorEndpoint(endpoint.address, **HB) for _ in range(2))
    learner = make_learner(tmp_path, endpoint)
    try:
        first.send(Hello("actor", "run", HASH))
        pump(learner, lambda: learner.rules.has_controller)
        second.send(Hello("actor", "run", HASH))
        second.send(Control("stop"))
        pump(learner, lambda: learner.controls_refused == 1)
        assert not learner.stop_requested
        assert learner.rules.controls(first.src.encode())
        first.send(Control("stop"))
        pump(learner, lambda: learner.stop_requested)
    finally:
        for ep in (first, second, endpoint):
            ep.close()


# -- metrics ----------------------------------------------------------------------------------
def test_oversized_or_badly_named_metrics_are_dropped_not_written(tmp_path: Path) -> None:
    learner = make_learner(tmp_path)
    started = time.monotonic()
    learner.handle(Metrics({f"k{i}": 1.0 for i in range(100_000)}))
    learner.handle(Metrics({"x" * 500: 1.0}))
    learner.handle(Metrics({"bad\nname": 1.0}))
    assert time.monotonic() - started < 1.0  # was a 6 s stall past the heartbeat timeout
    assert learner.metrics_rejected == 3
    learner.handle(Metrics({"actor/episode_return": 2.5, "actor/odd": float("nan")}))
    learner.metrics.close()  # type: ignore[union-attr]
    rows = read_jsonl(tmp_path / "metrics" / "learner.jsonl")
    assert len(rows) == 1
    assert rows[0]["actor/episode_return"] == 2.5 and "actor/odd" not in rows[0]
    assert (tmp_path / "metrics" / "learner.jsonl").stat().st_size < 200


# -- refused peers ----------------------------------------------------------------------------
def test_a_peer_with_another_config_hash_gets_no_weights_and_is_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = ZmqLearnerEndpoint("tcp://127.0.0.1:*", **HB)
    good, other = (ZmqActorEndpoint(endpoint.address, **HB) for _ in range(2))
    learner = make_learner(tmp_path, endpoint)
    try:
        good.send(Hello("actor", "run", HASH))
        other.send(Hello("actor", "run", "another-hash"))
        other.send(make_step(0))
        other.send(Control("stop"))
        # Two sockets: the good Hello may arrive after the other's messages, and weights
        # pushed before it would not reach it (seen under load): wait for both.
        pump(learner, lambda: learner.refused_messages == 2 and learner.rules.has_controller)
        assert len(learner.online) == 0 and not learner.stop_requested
        learner.push_weights()

        def weights_within(actor: ZmqActorEndpoint, seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if isinstance(actor.recv(0.05), Weights):
                    return True
                endpoint.maybe_heartbeat()
            return False

        assert weights_within(good, 3.0)
        assert not weights_within(other, 0.5)
        err = capsys.readouterr().err
        assert "refused actor" in err and "another-hash" in err and HASH in err
    finally:
        for ep in (good, other, endpoint):
            ep.close()
