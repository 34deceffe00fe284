"""Record scripted-expert demonstrations in the twin into an episode store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys
from robot_rl.app.build import env_spec, make_env
from robot_rl.config import config_hash
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.run_config import RunConfig
from robot_rl.runtime.recorder import EpisodeRecorder, scalar_info
from robot_rl.wire.protocol import Step


class DemoRecordingError(RuntimeError):
    """The scripted expert did not give the demonstrations asked for."""


def record_expert_episode(
    env: gym.Env, expert: Any, *, seed: int, source: int, control_hz: float
) -> Episode:
    """One episode of a scripted expert (``reset()``/``act()``) from ``env.reset(seed=seed)``.

    Timestamps are simulated time (s) at ``control_hz``; every step carries ``source``.
    """
    obs, _ = env.reset(seed=seed)
    expert.reset()
    recorder = EpisodeRecorder(obs, 0.0)
    t, done = 0, False
    info: dict[str, Any] = {}
    while not done:
        action = np.asarray(expert.act(), dtype=np.float32)
        next_obs, reward, terminated, truncated, info = env.step(action)
        recorder.add(
            Step(
                episode_id=seed, t=t, first_obs=None, action=action, reward=float(reward),
                next_obs=next_obs, terminated=bool(terminated), truncated=bool(truncated),
                intervened=False, source=source, timestamp=(t + 1) / control_hz,
            )
        )  # fmt: skip
        t += 1
        done = bool(terminated or truncated)
    return recorder.finish(scalar_info(info))


def make_expert(config: RunConfig, env: gym.Env) -> Any:
    """The scripted expert of the run: ``demos.expert_entry_point``'s for an entry-point env,
    else the twin task's. Raises ValueError naming the field when an entry-point env has none."""
    demos = config.demos
    if config.env.entry_point:
        if not demos.expert_entry_point:
            raise ValueError(
                "demos.expert_entry_point: empty, and env.entry_point's env has no twin expert; "
                "name a scripted expert, pass an existing store (--demos STORE) or set "
                "demos.num_episodes: 0"
            )
        from robot_rl.envs.external import EnvContractError, load_entry_point

        factory = load_entry_point(demos.expert_entry_point, field="demos.expert_entry_point")
        expert = factory(env.unwrapped, noise_std=demos.noise, seed=demos.seed)
        for method in ("reset", "act"):
            if not callable(getattr(expert, method, None)):
                raise EnvContractError(
                    f"demos.expert_entry_point: {demos.expert_entry_point!r} made "
                    f"{type(expert).__name__}, which has no {method}() method"
                )
        return expert
    from robot_rl_sim.tasks import get_task

    return get_task(config.task).make_expert(env.unwrapped, noise_std=demos.noise, seed=demos.seed)


def record_demos(
    config: RunConfig,
    store_path: Path,
    *,
    on_episode: Callable[[int, int], None] | None = None,
) -> EpisodeStore:
    """Record ``config.demos.num_episodes`` successful episodes of the task's scripted expert;
    returns the store.

    Failed expert attempts are not stored (they are not demonstrations). Raises DemoRecordingError
    when ``max_attempts`` attempts do not give enough successes.
    """
    demos = config.demos
    env = make_env(config, seed=demos.seed)
    spec, action_dim = env_spec(env)
    store = EpisodeStore.create(
        store_path,
        obs_spec=spec,
        action_dim=action_dim,
        attrs={
            "task": config.env.entry_point or config.task,
            "source": "scripted_expert",
            "config_hash": config_hash(config.env),
        },
    )
    expert = make_expert(config, env)
    recorded = attempts = 0
    demo_code = keys.SOURCE_CODE["demo"]
    while recorded < demos.num_episodes:
        if attempts >= demos.max_attempts:
            raise DemoRecordingError(
                f"scripted expert gave {recorded}/{demos.num_episodes} successful demos "
                f"in {attempts} attempts (demos.max_attempts); the {recorded} recorded are in "
                f"{store_path}; raise demos.max_attempts or lower demos.noise"
            )
        episode = record_expert_episode(
            env,
            expert,
            seed=demos.seed + attempts,
            source=demo_code,
            control_hz=config.env.control_hz,
        )
        attempts += 1
        if episode.success:
            store.write_episode(episode)
            recorded += 1
            if on_episode is not None:
                on_episode(recorded, attempts)
    env.close()
    return store
