"""CURVE on the learner socket: keys in the run dir, no keyless bind off loopback, and a client
without the key gets nothing through (real zmq sockets)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import zmq
import zmq.auth

from robot_rl.runtime.curve_keys import (
    ActorKeys,
    CurveKeyError,
    actor_keys,
    create_keys,
    is_loopback_address,
    learner_keys,
)
from robot_rl.runtime.transport_zmq import InsecureBindError, ZmqActorEndpoint, ZmqLearnerEndpoint
from robot_rl.wire.protocol import Hello, Metrics, Weights

HB = {"heartbeat_interval_s": 0.05, "heartbeat_timeout_s": 2.0}
pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://127.3.2.1:0", True),
        ("tcp://localhost:5555", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/learner.sock", True),
        ("inproc://learner", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://192.168.1.20:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://workstation.lan:5555", False),
        ("udp://127.0.0.1:5555", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback


@pytest.mark.parametrize("address", ["tcp://0.0.0.0:0", "tcp://*:0"])
def test_no_keyless_bind_off_loopback(address: str) -> None:
    with pytest.raises(InsecureBindError) as info:
        ZmqLearnerEndpoint(address, **HB)
    text = str(info.value)
    assert repr(address) in text and "CURVE" in text and "--make-keys" in text
    assert "\n" not in text  # one line


def recv_within(ep: ZmqActorEndpoint | ZmqLearnerEndpoint, seconds: float, *, pump: list) -> object:
    """The first message ``ep`` receives within ``seconds`` (others in ``pump`` keep beating)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        msg = ep.recv(0.02)
        if msg is not None:
            return msg
        for other in pump:
            other.recv(0.0)
            other.maybe_heartbeat()
    return None


def test_curve_actor_and_learner_talk_and_keyless_or_unknown_clients_get_nothing(
    tmp_path: Path,
) -> None:
    keys_dir = create_keys(tmp_path)
    assert (keys_dir / "learner.key_secret").stat().st_mode & 0o077 == 0  # secrets: owner only
    server, client = learner_keys(tmp_path), actor_keys(tmp_path)
    assert server is not None and client is not None
    # With keys the learner may bind every interface.
    learner = ZmqLearnerEndpoint("tcp://0.0.0.0:*", curve=server, **HB)
    port = learner.address.rsplit(":", 1)[1]
    address = f"tcp://127.0.0.1:{port}"
    actor = ZmqActorEndpoint(address, curve=client, **HB)
    keyless = ZmqActorEndpoint(address, **HB)
    stranger_public, stranger_secret = zmq.curve_keypair()  # knows the server key, not authorized
    stranger = ZmqActorEndpoint(
        address, curve=ActorKeys(stranger_public, stranger_secret, server.public_key), **HB
    )
    try:
        for ep in (keyless, stranger, actor):
            ep.send(Hello("actor", "run", "h"))
        assert recv_within(learner, 5.0, pump=[actor]) == Hello("actor", "run", "h")
        assert learner.last_sender == actor.src.encode()
        assert learner.send(Weights.from_state_dict({}, version=1, config_hash="h"))
        assert isinstance(recv_within(actor, 3.0, pump=[learner]), Weights)
        # The other two never got through: nothing received from them, nothing sent to them.
        for ep in (keyless, stranger):
            ep.send(Metrics({"actor/env_steps": 1.0}))
        assert recv_within(learner, 1.0, pump=[]) is None
        assert learner.actors == [actor.src.encode()]
        assert learner.stats["received"] == 1 and learner.stats["malformed"] == 0
        for ep in (keyless, stranger):
            assert ep.recv(0.2) is None and ep.stats["received"] == 0
    finally:
        for ep in (actor, keyless, stranger, learner):
            ep.close()


def test_damaged_key_files_are_named(tmp_path: Path) -> None:
    keys_dir = create_keys(tmp_path)
    (keys_dir / "learner.key_secret").write_text("not a key\n")
    with pytest.raises(CurveKeyError, match=r"learner\.key_secret"):
        learner_keys(tmp_path)
    (keys_dir / "learner.key").unlink()
    with pytest.raises(CurveKeyError, match=r"learner\.key\b"):
        actor_keys(tmp_path)
    assert actor_keys(tmp_path / "no-such-run") is None
    assert learner_keys(tmp_path / "no-such-run") is None
