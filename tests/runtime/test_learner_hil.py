"""The learner routes intervention steps into the demo buffer (HIL-SERL) as they stream in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.agents.sac import SAC, SACConfig
from robot_rl.data.replay import ReplayBuffer
from robot_rl.run_config import TrainConfig
from robot_rl.runtime.hil import InterventionRouter
from robot_rl.runtime.learner import Learner
from robot_rl.runtime.protocol import Step
from robot_rl.runtime.transport import InProcessTransport

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
