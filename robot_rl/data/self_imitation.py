"""Self-imitation: successful online episodes join the demonstration buffer as they finish.

With a BC term on demo rows and half of every batch drawn from demos (RLPD), the demo buffer
is what the actor is held to. Recorded demos start from the states a scripted reset or a
person chose; adding the policy's own successes makes the demo half, and the BC term, cover the
states online practice actually meets and keeps what the policy has learned to do
(docs/learner.md has the ablation; the reset-free trainer does the same per task).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.data.replay import ReplayBuffer


class SelfImitation:
    """Collects the open episode's steps; on a successful end, copies it into ``demo_buffer``.

    Call ``route(step)`` for every accepted Step of one actor, in order (``step.t == 0`` with
    ``first_obs`` opens an episode). An episode counts as successful when it ends terminated
    with a positive reward (the twin's and the reward models' success convention).
    """

    def __init__(self, demo_buffer: ReplayBuffer, *, enabled: bool = True) -> None:
        self.demo = demo_buffer
        self.enabled = enabled
        self._first_obs: dict[str, np.ndarray] | None = None
        self._steps: list[Any] = []
        self.episodes = 0  # successful episodes copied
        self.steps = 0  # transitions copied

    def route(self, step: Any) -> bool:
        """Take one step; True when it ended a successful episode that was copied."""
        if not self.enabled:
            return False
        if step.t == 0:
            self._first_obs, self._steps = step.first_obs, []
        if self._first_obs is None:
            return False
        self._steps.append(step)
        if not (step.terminated or step.truncated):
            return False
        success = bool(step.terminated) and float(step.reward) > 0
        if success:
            self.demo.start_episode(self._first_obs)
            for s in self._steps:
                self.demo.add_step(
                    s.action,
                    s.reward,
                    s.next_obs,
                    s.terminated,
                    s.truncated,
                    intervened=s.intervened,
                    source=s.source,
                )
            self.episodes += 1
            self.steps += len(self._steps)
        self._first_obs, self._steps = None, []
        return success


__all__ = ["SelfImitation"]
