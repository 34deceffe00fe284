"""Self-imitation: successful online episodes join the demonstration buffer as they finish.

With a BC term on demo rows and half of every batch drawn from demos (RLPD), the demo buffer
is what the actor is held to. Recorded demos start from the states a scripted reset or a
person chose; adding the policy's own successes makes the demo half, and the BC term, cover the
states online practice actually meets and keeps what the policy has learned to do
(docs/learner.md has the ablation; the reset-free trainer does the same per task).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

from robot_rl.data.replay import ReplayBuffer


class SelfImitation:
    """Collects the open episode's steps; on a successful end, copies it into ``demo_buffer``.

    Call ``route(step, stream=...)`` for every accepted Step of one actor (``stream``), in
    order (``step.t == 0`` with ``first_obs`` opens an episode); actors may interleave. An
    episode counts as successful when it ends terminated with a positive reward (the twin's
    and the reward models' success convention).
    """

    MAX_STREAMS = 64  # actors tracked at once; the longest silent one is forgotten beyond

    def __init__(self, demo_buffer: ReplayBuffer, *, enabled: bool = True) -> None:
        self.demo = demo_buffer
        self.enabled = enabled
        # stream -> (first observation, steps so far) of its open episode
        self._open: OrderedDict[Hashable, tuple[dict[str, np.ndarray], list[Any]]] = OrderedDict()
        self.episodes = 0  # successful episodes copied
        self.steps = 0  # transitions copied

    def route(self, step: Any, *, stream: Hashable = None) -> bool:
        """Take one step; True when it ended a successful episode that was copied."""
        if not self.enabled:
            return False
        if step.t == 0:
            self._open[stream] = (step.first_obs, [])
            while len(self._open) > self.MAX_STREAMS:
                self._open.popitem(last=False)
        if stream not in self._open:
            return False
        first_obs, steps = self._open[stream]
        steps.append(step)
        if not (step.terminated or step.truncated):
            return False
        del self._open[stream]
        success = bool(step.terminated) and float(step.reward) > 0
        if success:
            # Written whole, on a stream of its own: an intervention episode the router has
            # open in the same buffer is not disturbed.
            self.demo.start_episode(first_obs, stream="self_imitation")
            for s in steps:
                self.demo.add_step(
                    s.action,
                    s.reward,
                    s.next_obs,
                    s.terminated,
                    s.truncated,
                    intervened=s.intervened,
                    source=s.source,
                    stream="self_imitation",
                )
            self.episodes += 1
            self.steps += len(steps)
        return success


__all__ = ["SelfImitation"]
