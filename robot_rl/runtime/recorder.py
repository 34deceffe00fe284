"""One episode's arrays, accumulated step by step as the actor (or a recorder) runs.

``EpisodeRecorder`` turns a stream of ``Step`` messages into an ``Episode``;
``scalar_info`` keeps the scalar entries of an env info dict (what goes on the wire and to
disk).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.data.episode import Episode
from robot_rl.wire.protocol import Step


class EpisodeRecorder:
    """Accumulates one episode's arrays step by step (obs_0..obs_T without duplicates)."""

    def __init__(self, first_obs: dict[str, np.ndarray], timestamp: float) -> None:
        self.observations: dict[str, list[np.ndarray]] = {k: [v] for k, v in first_obs.items()}
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []
        self.intervened: list[bool] = []
        self.sources: list[int] = []
        self.timestamps: list[float] = [timestamp]
        self.finished = False

    def add(self, step: Step) -> None:
        """Append one step (its next_obs becomes the next observation row)."""
        for key, value in step.next_obs.items():
            self.observations[key].append(value)
        self.actions.append(step.action)
        self.rewards.append(step.reward)
        self.terminated.append(step.terminated)
        self.truncated.append(step.truncated)
        self.intervened.append(step.intervened)
        self.sources.append(step.source)
        self.timestamps.append(step.timestamp)

    def complete_steps(self) -> int:
        """Drop a step that an interrupt left half-appended; returns the steps kept."""
        per_step: list[list[Any]] = [self.actions, self.rewards, self.terminated,
                                     self.truncated, self.intervened, self.sources]  # fmt: skip
        per_obs: list[list[Any]] = [*self.observations.values(), self.timestamps]  # T+1 rows
        steps = min(*(len(v) for v in per_step), *(len(v) - 1 for v in per_obs))
        for seq in per_step:
            del seq[steps:]
        for rows in per_obs:
            del rows[steps + 1 :]
        return steps

    def finish(self, info: dict[str, Any]) -> Episode:
        """The recorded Episode."""
        self.finished = True
        action_dim = self.actions[0].shape[0] if self.actions else 0
        return Episode(
            observations={k: np.stack(v) for k, v in self.observations.items()},
            actions=np.asarray(self.actions, dtype=np.float32).reshape(-1, action_dim),
            rewards=np.asarray(self.rewards, dtype=np.float32),
            terminated=np.asarray(self.terminated, dtype=bool),
            truncated=np.asarray(self.truncated, dtype=bool),
            intervened=np.asarray(self.intervened, dtype=bool),
            sources=np.asarray(self.sources, dtype=np.uint8),
            timestamps=np.asarray(self.timestamps, dtype=np.float64),
            info=dict(info),
        )


def scalar_info(info: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The scalar entries of an env info dict (what goes on the wire and to disk)."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in info.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, (float, np.floating)):
            out[key] = float(value)
        elif isinstance(value, str):
            out[key] = value
    return out


__all__ = ["EpisodeRecorder", "scalar_info"]
