"""The learner routes intervention steps into the demo buffer (HIL-SERL) as they stream in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.agents.sac import SAC, SACConfig
from robot_rl.data.replay import ReplayBuffer
from robot_rl.hil import InterventionRouter
from robot_rl.run_config import TrainConfig
from robot_rl.runtime.learner import Learner
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.wire.protocol import Step

SPEC = {keys.STATE: ((4,), np.dtype(np.float32))}


def obs(value: float) -> dict[str, np.ndarray]:
    return {keys.STATE: np.full(4, value, np.float32)}


def episode_steps(intervened: list[bool]) -> list[Step]:
    steps = []
    for t, flag in enumerate(intervened):
        last = t == len(intervened) - 1
        steps.append(
            Step(
                episode_id=0, t=t, first_obs=obs(0.0) if t == 0 else None,
                action=np.full(2, 0.5 if flag else -0.5, np.float32), reward=1.0 if last else 0.0,
                next_obs=obs(t + 1.0), terminated=last, truncated=False, intervened=flag,
                source=keys.SOURCE_CODE["human" if flag else "policy"], timestamp=float(t),
            )
        )  # fmt: skip
    return steps


@pytest.mark.parametrize("hil_serl", [True, False])
def test_interventions_also_become_demonstrations(tmp_path: Path, hil_serl: bool) -> None:
    demo = ReplayBuffer(SPEC, 2, 50)
    online = ReplayBuffer(SPEC, 2, 100)
    _actor_end, learner_end = InProcessTransport.pair()
    agent = SAC(SPEC, 2, SACConfig(hidden_dims=(16, 16), critic_ensemble_size=2), device="cpu")
    learner = Learner(
        agent, learner_end, demo_buffer=demo, online_buffer=online, train=TrainConfig(),
        batch_size=8, demo_fraction=0.5, run_dir=tmp_path, config_hash="h",
        router=InterventionRouter(demo, enabled=hil_serl),
    )  # fmt: skip
    flags = [False, False, True, True, False, True]
    for step in episode_steps(flags):
        learner.handle(step)
    assert len(online) == len(flags)
    assert len(demo) == (sum(flags) if hil_serl else 0)
    if hil_serl:
        batch = demo.gather(demo.sample_indices(200))
        # Two intervention segments: steps 2-3 start from obs 2 and 3, step 5 from obs 5.
        assert set(batch[keys.OBS][keys.STATE][:, 0].tolist()) == {2.0, 3.0, 5.0}
        assert set(batch[keys.NEXT_OBS][keys.STATE][:, 0].tolist()) == {3.0, 4.0, 6.0}
        np.testing.assert_allclose(batch[keys.ACTION], 0.5)


def test_resume_routes_stored_interventions_back_into_the_demo_buffer(tmp_path: Path) -> None:
    """A resumed learner's demo buffer holds the same interventions as before the restart."""
    import json

    from robot_rl.app.learner_main import build_learner
    from robot_rl.config import from_dict, save_yaml
    from robot_rl.data.episode import Episode
    from robot_rl.data.episode_store import EpisodeStore
    from robot_rl.envs.spec import spec_to_json
    from robot_rl.run_config import RunConfig

    config = from_dict(RunConfig, {"sac": {"hidden_dims": [16, 16], "critic_ensemble_size": 2}})
    save_yaml(config, tmp_path / "config.yaml")
    (tmp_path / "spec.json").write_text(json.dumps(spec_to_json(SPEC, 2)))

    def as_episode(steps: list[Step]) -> Episode:
        first = steps[0].first_obs
        assert first is not None
        return Episode(
            observations={
                keys.STATE: np.stack([first[keys.STATE]] + [s.next_obs[keys.STATE] for s in steps])
            },
            actions=np.stack([s.action for s in steps]),
            rewards=np.array([s.reward for s in steps], np.float32),
            terminated=np.array([s.terminated for s in steps]),
            truncated=np.array([s.truncated for s in steps]),
            intervened=np.array([s.intervened for s in steps]),
            sources=np.array([s.source for s in steps], np.uint8),
            timestamps=np.arange(len(steps) + 1, dtype=np.float64),
            info={},
        )

    flags = [[False, True, True, False], [False] * 3, [True, False, True]]
    for name, episodes in (("demos", [[True] * 2]), ("episodes", flags)):
        store = EpisodeStore.create(tmp_path / name, obs_spec=SPEC, action_dim=2)
        for ep_flags in episodes:
            store.write_episode(as_episode(episode_steps(ep_flags)))
    _actor_end, learner_end = InProcessTransport.pair()
    learner = build_learner(tmp_path, learner_end, demos_path=tmp_path / "demos", resume=True)
    demo = learner.sampler.demo  # type: ignore[attr-defined]
    assert len(learner.online) == 10  # type: ignore[attr-defined]
    assert len(demo) == 2 + 4  # the demo, then each stored intervention step once

    # The same buffer as when those steps streamed in (HIL-SERL routing while training).
    streamed = ReplayBuffer(SPEC, 2, 50)
    streamed.add_episode(as_episode(episode_steps([True] * 2)))
    router = InterventionRouter(streamed)
    for ep_flags in flags:
        for step in episode_steps(ep_flags):
            router.route(step)
    n = len(demo)
    for name in ("actions", "rewards", "terminated", "intervened", "sources", "valid"):
        np.testing.assert_array_equal(
            getattr(demo, name)[: n + 4], getattr(streamed, name)[: n + 4], err_msg=name
        )
    np.testing.assert_array_equal(demo.obs[keys.STATE][: n + 4], streamed.obs[keys.STATE][: n + 4])
