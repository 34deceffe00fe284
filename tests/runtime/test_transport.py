"""Transports: never block, survive bad payloads, notice dead peers, and work across processes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import torch
import zmq

from robot_rl import keys
from robot_rl.runtime.transport import InProcessTransport, Transport
from robot_rl.runtime.transport_zmq import ZmqActorEndpoint, ZmqLearnerEndpoint
from robot_rl.wire.protocol import (
    Control,
    Heartbeat,
    Hello,
    Message,
    Metrics,
    Step,
    Weights,
    encode,
)

ROOT = Path(__file__).resolve().parents[2]
HB: dict[str, Any] = {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 1.0}

# A learner in its own process: echoes what it got and sends weights on request.
LEARNER_SCRIPT = """
import sys, time
from robot_rl.wire.protocol import Control, Metrics, Step, Weights
from robot_rl.runtime.transport_zmq import ZmqLearnerEndpoint

ep = ZmqLearnerEndpoint(sys.argv[1], heartbeat_interval_s=0.1, heartbeat_timeout_s=1.0)
print(ep.address, flush=True)
steps, pixel_sum = 0, 0
deadline = time.monotonic() + 60.0  # a forgotten child still exits
try:
    while time.monotonic() < deadline:
        msg = ep.recv(0.05)
        ep.maybe_heartbeat()
        if isinstance(msg, Step):
            steps += 1
            pixel_sum += int(msg.next_obs["pixels_front"].sum())
        elif isinstance(msg, Control) and msg.command == "stop":
            break
        elif isinstance(msg, Control) and msg.command == "weights":
            import torch
            state = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "n": torch.tensor([5, 6])}
            ep.send(Weights.from_state_dict(state, version=7, config_hash="cfg"), ep.last_sender)
            ep.send(Metrics({"steps": steps, "pixel_sum": pixel_sum, "malformed": ep.stats["malformed"]}))
finally:
    ep.close()
"""


def start_learner(bind: str) -> tuple[subprocess.Popen[str], str]:
    """A learner process bound to ``bind``; returns it and its actual address."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", LEARNER_SCRIPT, bind],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30.0)
    if not ready:
        proc.kill()
        raise AssertionError("learner process did not report its address within 30 s")
    return proc, proc.stdout.readline().strip()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def make_step(t: int, *, seed: int = 0) -> Step:
    rng = np.random.default_rng(seed)
    obs: dict[str, np.ndarray] = {
        keys.STATE: rng.standard_normal(7).astype(np.float32),  # (D,) float32
        keys.pixels_key("front"): rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),
        keys.pixels_key("wrist"): rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),
    }
    return Step(
        episode_id=0, t=t, first_obs=obs if t == 0 else None, action=np.zeros(4, np.float32), reward=0.0,
        next_obs=obs, terminated=False, truncated=False, intervened=False, source=0, timestamp=float(t),
    )  # fmt: skip


def pump_until(
    ep: Transport,
    until: Callable[[], bool],
    *,
    timeout_s: float,
    on_msg: Callable[[Message], None] | None = None,
) -> float:
    """Pump ``ep`` (recv + heartbeats) until ``until()``; returns the seconds it took."""
    start = time.monotonic()
    while not until():
        assert time.monotonic() - start < timeout_s, f"condition not met within {timeout_s} s"
        msg = ep.recv(0.02)
        ep.maybe_heartbeat()
        if msg is not None and on_msg is not None:
            on_msg(msg)
    return time.monotonic() - start


# -- in-process pair --------------------------------------------------------------------------
def test_in_process_round_trip_and_heartbeats() -> None:
    actor, learner = InProcessTransport.pair(**HB)
    assert actor.send(Hello(role="actor", run_id="r", config_hash="h"))
    assert actor.send(make_step(0))
    assert learner.recv(1.0) == Hello(role="actor", run_id="r", config_hash="h")
    step = learner.recv(1.0)
    assert isinstance(step, Step) and step.first_obs is not None
    np.testing.assert_array_equal(
        step.next_obs["pixels_front"], make_step(0).next_obs["pixels_front"]
    )
    assert learner.peer_alive() and not actor.peer_alive()
    weights = Weights.from_state_dict({"w": torch.ones(2, 3)}, version=1, config_hash="h")
    assert learner.send(weights)
    got = actor.recv(1.0)
    assert isinstance(got, Weights) and torch.equal(got.state_dict()["w"], torch.ones(2, 3))
    time.sleep(0.12)
    assert learner.maybe_heartbeat() and not learner.maybe_heartbeat()  # once per interval
    assert actor.recv(0.05) is None  # heartbeats are consumed, not returned
    assert actor.stats["heartbeats_received"] == 1 and actor.peer_alive()
    actor.close()
    learner.close()


def test_in_process_liveness_follows_the_clock() -> None:
    now = [100.0]
    actor, learner = InProcessTransport.pair(**HB, clock=lambda: now[0])
    actor.send(Heartbeat())
    assert learner.recv(0.0) is None and learner.peer_alive()
    now[0] += 0.99
    assert learner.peer_alive()
    now[0] += 0.02
    assert not learner.peer_alive()
    assert learner.recv(0.05) is None  # a frozen fake clock never turns a timeout into a hang


def test_in_process_bad_payloads_are_counted_and_dropped() -> None:
    actor, learner = InProcessTransport.pair(**HB)
    actor.send_raw(b"\x00\x01 not msgpack")
    bad_version = msgpack.unpackb(encode(Control("stop"), seq=1), raw=False)
    bad_version["v"] = 999
    actor.send_raw(msgpack.packb(bad_version))
    actor.send(Control(command="stop"))
    assert learner.recv(0.5) == Control(command="stop")
    assert learner.stats["malformed"] == 2 and learner.stats["received"] == 1
    assert learner.last_error is not None and "999" in learner.last_error


def test_in_process_duplicates_and_reordering_are_counted_and_tolerated() -> None:
    actor, learner = InProcessTransport.pair(**HB)
    for seq in (5, 5, 3, 6):
        actor.send_raw(encode(Metrics({"seq": seq}), seq=seq, src="actor-1"))
    got = [learner.recv(0.5) for _ in range(4)]
    assert [m.values["seq"] for m in got if isinstance(m, Metrics)] == [5, 5, 3, 6]
    assert learner.stats["duplicates"] == 1 and learner.stats["out_of_order"] == 1


def test_in_process_send_never_blocks_when_full_or_closed() -> None:
    actor, learner = InProcessTransport.pair(**HB, max_queue=10)
    start = time.monotonic()
    results = [actor.send(Control(command="stop")) for _ in range(100)]
    assert time.monotonic() - start < 1.0
    assert sum(results) == 10 and actor.stats["send_dropped"] == 90
    learner.close()
    assert not actor.send(Control(command="stop"))
    start = time.monotonic()
    assert actor.recv(0.2) is None
    assert 0.15 < time.monotonic() - start < 1.0  # the timeout holds


# -- zmq in one process -----------------------------------------------------------------------
def test_zmq_learner_serves_several_actors() -> None:
    learner = ZmqLearnerEndpoint("tcp://127.0.0.1:*", **HB)
    actors = [ZmqActorEndpoint(learner.address, **HB) for _ in range(2)]
    try:
        assert learner.address.startswith("tcp://127.0.0.1:") and not learner.address.endswith(":*")
        assert not learner.send(Control(command="stop"))  # nobody known yet: dropped, not queued
        assert not learner.maybe_heartbeat()  # no actor known: nothing sent, no drop counted
        assert learner.stats["send_dropped"] == 1
        for actor in actors:
            actor.send(Hello(role="actor", run_id="r", config_hash="h"))
        pump_until(learner, lambda: len(learner.actors) == 2, timeout_s=5.0)
        assert learner.send(Control(command="stop"))  # broadcast
        for actor in actors:
            assert actor.recv(2.0) == Control(command="stop")
        assert learner.send(Control(command="only-first"), actors[0].src.encode())
        assert actors[0].recv(2.0) == Control(command="only-first")
        assert actors[1].recv(0.1) is None
        assert not learner.send(Control(command="x"), b"no-such-actor")  # unroutable: counted drop
        gone = actors.pop()
        gone.close()
        deadline = time.monotonic() + 5.0
        while gone.src.encode() in learner.actors:  # zmq notices the closed connection
            assert time.monotonic() < deadline, "closed actor still routed to"
            learner.send(Control(command="ping"))
            time.sleep(0.01)
        assert learner.actors == [actors[0].src.encode()]
    finally:
        for actor in actors:
            actor.close()
        learner.close()


def test_zmq_bind_clash_is_a_clear_error() -> None:
    learner = ZmqLearnerEndpoint("tcp://127.0.0.1:0", **HB)
    try:
        with pytest.raises(OSError, match="cannot bind"):
            ZmqLearnerEndpoint(learner.address, **HB)
    finally:
        learner.close()


def test_zmq_send_never_blocks_without_a_learner() -> None:
    probe = ZmqLearnerEndpoint("tcp://127.0.0.1:0", **HB)
    address = probe.address
    probe.close()  # nobody listens here now
    actor = ZmqActorEndpoint(address, **HB, send_hwm=100)
    try:
        step = make_step(1)
        start = time.monotonic()
        results = [actor.send(step) for _ in range(2000)]
        elapsed = time.monotonic() - start
        assert elapsed < 2.0, f"2000 sends took {elapsed:.2f} s"
        assert (
            actor.stats["send_dropped"] >= 1500 and sum(results) <= 500
        )  # bounded queue, then drops
        assert not actor.peer_alive()
        start = time.monotonic()
        assert actor.recv(0.2) is None and time.monotonic() - start < 1.0
    finally:
        actor.close()


# -- two processes over TCP -------------------------------------------------------------------
def test_two_processes_steps_out_weights_back_bad_payloads_dropped(
    procs: list[subprocess.Popen[str]],
) -> None:
    proc, address = start_learner("tcp://127.0.0.1:0")
    procs.append(proc)
    actor = ZmqActorEndpoint(address, **HB)
    raw = zmq.Context()
    rogue = raw.socket(zmq.DEALER)
    rogue.setsockopt(zmq.LINGER, 0)
    rogue.connect(address)
    try:
        actor.send(Hello(role="actor", run_id="r", config_hash="cfg"))
        pump_until(actor, actor.peer_alive, timeout_s=10.0)  # the learner answers with heartbeats
        # Bad payloads on the actor's own connection and from a raw socket.
        actor.send_raw(b"\x93garbage")
        bad_version = msgpack.unpackb(encode(Heartbeat(), seq=1), raw=False)
        bad_version["v"] = 999
        actor.send_raw(msgpack.packb(bad_version))
        rogue.send_multipart([b"two", b"frames"])
        rogue.send(b"\xc1")
        steps = [make_step(t, seed=t) for t in range(20)]
        for step in steps:
            assert actor.send(step)
        actor.send(Control(command="weights"))
        got: list[Message] = []
        pump_until(actor, lambda: len(got) >= 2, timeout_s=10.0, on_msg=got.append)
        weights, metrics = got
        assert isinstance(weights, Weights) and isinstance(metrics, Metrics)
        assert weights.version == 7 and weights.config_hash == "cfg"
        state = weights.state_dict()
        assert torch.equal(state["w"], torch.arange(12, dtype=torch.float32).reshape(3, 4))
        assert torch.equal(state["n"], torch.tensor([5, 6]))
        assert metrics.values["steps"] == 20
        assert metrics.values["pixel_sum"] == sum(
            int(s.next_obs["pixels_front"].sum()) for s in steps
        )
        assert metrics.values["malformed"] == 4
        actor.send(Control(command="stop"))
        assert proc.wait(timeout=10) == 0
    finally:
        rogue.close()
        raw.term()
        actor.close()


def test_peer_death_is_noticed_and_a_restarted_learner_reaches_the_old_actor(
    procs: list[subprocess.Popen[str]],
) -> None:
    proc, address = start_learner("tcp://127.0.0.1:0")
    procs.append(proc)
    actor = ZmqActorEndpoint(address, **HB)
    try:
        actor.send(Hello(role="actor", run_id="r", config_hash="cfg"))
        pump_until(actor, actor.peer_alive, timeout_s=10.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        took = pump_until(actor, lambda: not actor.peer_alive(), timeout_s=3.0)
        assert took <= HB["heartbeat_timeout_s"] + 0.5, f"death noticed after {took:.2f} s"
        for t in range(5):  # acting goes on without the learner; sends never block
            actor.send(make_step(t))

        proc2, address2 = start_learner(address)  # same port: the actor's DEALER reconnects
        procs.append(proc2)
        assert address2 == address
        pump_until(
            actor, actor.peer_alive, timeout_s=10.0
        )  # learner learned us from our heartbeats
        actor.send(Control(command="weights"))
        got: list[Message] = []
        pump_until(
            actor,
            lambda: any(isinstance(m, Weights) for m in got),
            timeout_s=10.0,
            on_msg=got.append,
        )
        actor.send(Control(command="stop"))
        assert proc2.wait(timeout=10) == 0
    finally:
        actor.close()
