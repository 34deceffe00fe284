"""A BC weight that decays as the online success rate rises.

Early on the critic's values are guesses and the BC term on demo rows keeps the actor near
what the demos do; once the policy succeeds by itself, the same pull holds it to the demos'
behaviour where RL could improve on it (speed, states the demos never met). The weight
follows the policy's own recent success:

    bc_weight_now = max(bc_weight * (1 - success_rate), bc_weight_min),

with ``success_rate`` the fraction of successes over the last ``bc_decay_window`` online
episodes that ended without a human intervention (fed by the learner, runtime/learner.py).
Before any episode the rate is 0, so the weight starts at ``bc_weight``.
"""

from __future__ import annotations

from collections import deque
from typing import Any


class SuccessWindow:
    """Outcomes of the last ``size`` online episodes and their success rate."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"bc_decay_window must be >= 1, got {size}")
        self.outcomes: deque[bool] = deque(maxlen=size)
        self.episodes = 0  # every outcome recorded, also those fallen out of the window

    def record(self, success: bool) -> None:
        """Add one finished episode's outcome."""
        self.outcomes.append(bool(success))
        self.episodes += 1

    @property
    def rate(self) -> float:
        """Successes / episodes in the window (0 with no episode yet)."""
        return sum(self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def state_dict(self) -> dict[str, Any]:
        """The outcomes in the window (oldest first) and the total count, for checkpoints."""
        return {"outcomes": [bool(o) for o in self.outcomes], "episodes": self.episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (a longer saved window keeps its newest outcomes)."""
        self.outcomes.clear()
        self.outcomes.extend(bool(o) for o in state["outcomes"])
        self.episodes = int(state["episodes"])


def decayed_bc_weight(bc_weight: float, success_rate: float, floor: float) -> float:
    """bc_weight * (1 - success_rate), but never below ``floor`` (nor above ``bc_weight``)."""
    return min(max(bc_weight * (1.0 - success_rate), floor), bc_weight)


__all__ = ["SuccessWindow", "decayed_bc_weight"]
