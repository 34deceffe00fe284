"""The smallest run config that still trains (state pick-cube, 2 critics of 32 units, 2 demos),
shared by the tests that start whole runs: each changes only the sections it is about."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_run(tmp: Path, name: str = "tiny", **sections: dict[str, Any]) -> dict[str, Any]:
    """A run config mapping that trains in a few seconds; ``sections`` update its sections
    key by key (``train={"env_steps": 240}`` keeps the other train fields)."""
    data: dict[str, Any] = {
        "name": name,
        "runs_dir": str(tmp),
        "env": {"obs_mode": "state", "max_episode_steps": 20},
        "sac": {"critic_ensemble_size": 2, "utd_ratio": 1, "batch_size": 16,
                "hidden_dims": [32, 32]},
        "demos": {"num_episodes": 2},
        "train": {"env_steps": 60, "learning_starts": 20, "weights_push_every": 10,
                  "checkpoint_every": 20, "eval_every": 0, "final_eval_episodes": 1,
                  "max_steps_ahead": 20, "video": False},
        "runtime": {"transport": "zmq", "heartbeat_timeout_s": 3.0},
    }  # fmt: skip
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return data
