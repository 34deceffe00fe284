"""Evaluate a policy on the twin: success rate over seeded episodes, optional mp4."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

EVAL_SEED_OFFSET = 1_000_000  # evaluation seeds never overlap training or demo seeds


def _frame(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray):
        raise TypeError(
            f"env.render() must return an RGB array for videos, got {type(frame).__name__}"
        )
    return frame


def evaluate(
    env: gym.Env,
    policy: Any,
    *,
    episodes: int,
    seed: int,
    video_path: Path | None = None,
    video_episodes: int = 3,
    fps: int = 10,
    on_episode: Callable[[int, bool], None] | None = None,
    deterministic: bool = True,
) -> dict[str, float]:
    """Run ``episodes`` seeded episodes; returns success rate, mean return and length.

    ``deterministic``: act with the policy's mean action (False: sample as the actor does
    online; a policy that is always deterministic, BC with an MSE loss, acts the same).
    """
    successes, returns, lengths = [], [], []
    frames: list[np.ndarray] = []
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED_OFFSET + seed + i)
        record = video_path is not None and i < video_episodes
        if record:
            frames.append(_frame(env))
        done, ep_return, length = False, 0.0, 0
        info: dict[str, Any] = {}
        while not done:
            action = np.asarray(policy.act(obs, deterministic=deterministic), dtype=np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            ep_return += float(reward)
            length += 1
            done = bool(terminated or truncated)
            if record:
                frames.append(_frame(env))
        # Under a learned reward the twin keeps its own verdict in gt_success: evaluation
        # reports the truth, not what the reward model believes (a real cell has only the model).
        success = bool(info.get("gt_success", info.get("success", False)))
        successes.append(success)
        returns.append(ep_return)
        lengths.append(length)
        if on_episode is not None:
            on_episode(i, success)
    if video_path is not None and frames:
        from robot_rl.data.video import write_mp4

        video_path.parent.mkdir(parents=True, exist_ok=True)
        write_mp4(np.stack(frames), video_path, fps=fps)
    return {
        "success_rate": float(np.mean(successes)) if successes else 0.0,
        "mean_return": float(np.mean(returns)) if returns else 0.0,
        "mean_length": float(np.mean(lengths)) if lengths else 0.0,
        "episodes": float(episodes),
    }
