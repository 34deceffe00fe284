"""Offline training on demonstrations only: the behaviour-cloning baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm import tqdm

from robot_rl.agents.bc import BC
from robot_rl.app.build import fit_state_normalizer, make_replay
from robot_rl.config import config_hash
from robot_rl.data.episode_store import EpisodeStore, EpisodeStoreError
from robot_rl.envs.spec import ObsSpec
from robot_rl.run_config import RunConfig
from robot_rl.runtime.checkpoint import save_policy
from robot_rl.runtime.metrics import MetricsLogger


def train_bc(
    config: RunConfig,
    spec: ObsSpec,
    action_dim: int,
    demos: Path | None,
    run_dir: Path,
    *,
    progress: bool,
) -> Any:
    """Fit BC to the demo store for ``bc.num_updates`` steps; writes policy.safetensors."""
    if demos is None:
        raise ValueError(
            "agent 'bc' needs demonstrations: set demos.num_episodes > 0 or pass --demos"
        )
    # A damaged demo is skipped, named on stderr; the rest still teach.
    episodes = [ep for _id, ep in EpisodeStore.open(demos).readable_episodes()]
    if not episodes:
        raise EpisodeStoreError(f"{demos}: the demo store holds no readable episode")
    buffer = make_replay(spec, action_dim, sum(len(e) for e in episodes), seed=config.seed)
    for episode in episodes:
        buffer.add_episode(episode)
    agent = BC(spec, action_dim, config.bc, device=config.runtime.device, seed=config.seed)
    fit_state_normalizer(agent, buffer)
    metrics = MetricsLogger(run_dir / "metrics", "learner", tensorboard_dir=run_dir / "tb")
    bc = config.bc
    for update in tqdm(range(1, bc.num_updates + 1), desc="bc", disable=not progress):
        values = agent.update(buffer.sample(bc.batch_size, device=agent.device))
        if update % config.train.log_every == 0:
            metrics.log(update, values, step_name="updates")
    metrics.close()
    save_policy(
        run_dir / "policy.safetensors",
        agent.policy_state_dict(),
        version=1,
        config_hash=config_hash(config),
    )
    return agent
