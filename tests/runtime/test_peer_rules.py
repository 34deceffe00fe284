"""PeerRules: who may stop and pace the learner, with and without a launch token."""

from __future__ import annotations

from robot_rl.runtime.peer_rules import PeerRules
from robot_rl.wire.protocol import Hello


def hello(token: str = "", digest: str = "run-hash") -> Hello:
    return Hello(role="actor", run_id="r", config_hash=digest, launch_token=token)


def test_every_holder_of_the_launch_token_controls_and_no_one_else() -> None:
    rules = PeerRules("run-hash", launch_token="secret-token")
    for peer in ("actor-0", "actor-1", "driver"):  # the Ray engine's actors and driver
        assert rules.hello(peer, hello("secret-token"))
    assert rules.hello("stranger", hello("guess"))  # right hash, wrong token: served, no say
    assert all(rules.controls(p) for p in ("actor-0", "actor-1", "driver"))
    assert not rules.controls("stranger")
    assert not rules.hello("actor-1", hello("secret-token", digest="other"))  # another run now
    assert not rules.controls("actor-1") and rules.refused("actor-1")
    assert rules.hello("actor-0", hello("wrong"))  # a later Hello without the token
    assert not rules.controls("actor-0")


def test_without_a_token_the_first_actor_with_the_hash_controls() -> None:
    alive = {"a": True}
    rules = PeerRules("run-hash", alive=lambda p: alive.get(p, False))
    assert not rules.hello("x", hello(digest="other"))
    assert rules.hello("a", hello()) and rules.hello("b", hello())
    assert rules.controls("a") and not rules.controls("b")
    alive["a"] = False  # silent for the heartbeat timeout: the next Hello takes over
    assert rules.hello("b", hello())
    assert rules.controls("b") and not rules.controls("a")
