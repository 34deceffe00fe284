"""One recorded episode: T steps and T+1 observations (no frame stored twice)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl import keys

InfoValue = str | int | float | bool


@dataclass
class Episode:
    """A finished episode. Step t goes from observations[*][t] to observations[*][t + 1]."""

    observations: dict[str, np.ndarray]  # key -> (T+1, ...) float32 state / uint8 (H, W, 3) images
    actions: np.ndarray  # (T, A) float32 in [-1, 1]
    rewards: np.ndarray  # (T,) float32
    terminated: np.ndarray  # (T,) bool
    truncated: np.ndarray  # (T,) bool
    intervened: np.ndarray  # (T,) bool
    sources: np.ndarray  # (T,) uint8, codes of keys.SOURCES
    timestamps: np.ndarray  # (T+1,) float64 seconds
    info: dict[str, InfoValue] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def validate(self) -> None:
        """Raise ValueError naming the field whose length or dtype does not fit."""
        steps = len(self)
        for name, arr in self.observations.items():
            if arr.shape[0] != steps + 1:
                raise ValueError(
                    f"observations[{name!r}] has {arr.shape[0]} rows, expected {steps + 1}"
                )
            if keys.is_image_key(name) and (
                arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3
            ):
                raise ValueError(
                    f"observations[{name!r}] must be uint8 (T+1, H, W, 3), got {arr.dtype} {arr.shape}"
                )
        for name in ("rewards", "terminated", "truncated", "intervened", "sources"):
            arr = getattr(self, name)
            if arr.shape != (steps,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({steps},)")
        if self.timestamps.shape != (steps + 1,):
            raise ValueError(
                f"timestamps has shape {self.timestamps.shape}, expected ({steps + 1},)"
            )
        if self.actions.ndim != 2:
            raise ValueError(f"actions must be (T, A), got {self.actions.shape}")

    @property
    def success(self) -> bool:
        """Whether the episode ended in task success (from info, else a positive final reward)."""
        if keys.SUCCESS in self.info:
            return bool(self.info[keys.SUCCESS])
        return bool(len(self) and self.terminated[-1] and self.rewards[-1] > 0)
