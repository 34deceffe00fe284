"""What the learner accepts from whom: the peers it serves, the one actor that controls it,
bounded metrics, and warnings that a flood cannot turn into a flood of log lines.

The socket may hear more than the actor that launched the run: a second actor, an actor of
another run, or a careless neighbour. The rules (docs/wire_format.md, "Who may do what"):

- A peer whose Hello carries another config hash is refused: nothing it sends is used and no
  weights go to it. A later Hello with the right hash lifts the refusal.
- Who controls the learner (``control: stop``, the ``actor/env_steps`` pacing count): with a
  launch token (``robot-rl train`` makes one per run and hands it to both processes; the Ray
  engine hands its one to the learner, every actor and its driver), every peer whose Hello
  has the run's hash and that token. Without one (a learner
  started alone), it is the first peer whose Hello has the run's hash; another such peer takes
  over only once the controller was silent for the heartbeat timeout.
- Metrics messages are bounded (key count, key length and characters); an oversized one is
  dropped whole, non-finite values are left out.
"""

from __future__ import annotations

import hmac
import math
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from robot_rl.wire.protocol import Hello

MAX_METRIC_KEYS = 64  # an episode's metrics are about 20 names
MAX_METRIC_KEY_LEN = 96
_METRIC_KEY = re.compile(r"[A-Za-z0-9_./-]+")
MAX_REFUSED_PEERS = 1024  # remembered refusals; the oldest is forgotten beyond


class WarnOnce:
    """Print a warning the first time each ``reason`` occurs, then at most every ``every_s``
    seconds with the count since the last line (so a flood of bad messages stays readable)."""

    def __init__(
        self, prefix: str, *, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.prefix = prefix
        self.every_s = every_s
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # reason -> (time of last line, unsaid)
        self.lines = 0  # lines printed (tests)

    def __call__(self, reason: str, text: str) -> None:
        now = self.clock()
        last = self._last.get(reason)
        if last is not None and now - last[0] < self.every_s:
            self._last[reason] = (last[0], last[1] + 1)
            return
        more = f" (+{last[1]} more since the last line)" if last is not None and last[1] else ""
        print(f"{self.prefix}: {text[:500]}{more}", file=sys.stderr, flush=True)
        self._last[reason] = (now, 0)
        self.lines += 1


def check_metrics(values: dict[str, float]) -> tuple[dict[str, float] | None, str]:
    """(the finite values to log, "") or (None, why the message is refused as a whole)."""
    if len(values) > MAX_METRIC_KEYS:
        return None, f"{len(values)} keys (at most {MAX_METRIC_KEYS})"
    clean: dict[str, float] = {}
    for key, value in values.items():
        if len(key) > MAX_METRIC_KEY_LEN or not _METRIC_KEY.fullmatch(key):
            return (
                None,
                f"key {key[:MAX_METRIC_KEY_LEN]!r} (names: [A-Za-z0-9_./-], <= {MAX_METRIC_KEY_LEN})",
            )
        if math.isfinite(value):
            clean[key] = value
    return clean, ""


class PeerRules:
    """Which peers are refused and which one controls the learner (module docstring)."""

    def __init__(
        self,
        config_hash: str,
        *,
        launch_token: str | None = None,
        alive: Callable[[Hashable], bool] = lambda _peer: False,
    ) -> None:
        """``alive(peer)``: whether that peer was heard within the heartbeat timeout."""
        self.config_hash = config_hash
        self.launch_token = launch_token or None
        self.alive = alive
        self.controller: Hashable | None = None
        self.has_controller = False  # the controller may be the peer None (direct calls)
        self._token_holders: set[Hashable] = set()  # peers that showed the launch token
        self._refused: OrderedDict[Hashable, str] = OrderedDict()  # peer -> its config hash

    def hello(self, peer: Hashable, msg: Hello) -> bool:
        """Take an actor's Hello; False when the peer is refused (another config hash)."""
        if msg.config_hash != self.config_hash:
            self._refused[peer] = msg.config_hash
            self._refused.move_to_end(peer)
            while len(self._refused) > MAX_REFUSED_PEERS:
                self._refused.popitem(last=False)
            if self.has_controller and self.controller == peer:
                self.has_controller, self.controller = False, None
            self._token_holders.discard(peer)
            return False
        self._refused.pop(peer, None)
        if self.launch_token is not None:
            if hmac.compare_digest(msg.launch_token.encode(), self.launch_token.encode()):
                self._token_holders.add(peer)
                self.controller, self.has_controller = peer, True
            else:
                self._token_holders.discard(peer)
        elif not self.has_controller or (
            self.controller != peer and not self.alive(self.controller)
        ):
            self.controller, self.has_controller = peer, True
        return True

    def refused(self, peer: Hashable) -> bool:
        """Whether ``peer``'s last Hello had another config hash."""
        return peer in self._refused

    def refused_hash(self, peer: Hashable) -> str:
        """The config hash a refused peer said it has."""
        return self._refused.get(peer, "")

    def controls(self, peer: Hashable) -> bool:
        """Whether ``peer`` may stop the learner and set its pacing count."""
        if self.launch_token is not None:
            return peer in self._token_holders
        return self.has_controller and self.controller == peer


__all__ = ["MAX_METRIC_KEYS", "MAX_METRIC_KEY_LEN", "PeerRules", "WarnOnce", "check_metrics"]
