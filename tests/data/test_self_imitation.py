"""Self-imitation: successful online episodes are copied whole into the demo buffer."""

from __future__ import annotations

import numpy as np

from robot_rl import keys
from robot_rl.data.replay import ReplayBuffer
from robot_rl.data.self_imitation import SelfImitation
from robot_rl.wire.protocol import Step

SPEC = {"state": ((2,), np.dtype(np.float32))}


def episode(episode_id: int, steps: int, *, success: bool) -> list[Step]:
    """Steps whose state is (episode, t); the last one terminates with reward 1 on success."""
    out = []
    for t in range(steps):
        last = t == steps - 1
        out.append(
            Step(
                episode_id=episode_id,
                t=t,
                first_obs={"state": np.array([episode_id, 0], np.float32)} if t == 0 else None,
                action=np.array([0.1 * t], np.float32),
                reward=1.0 if (last and success) else 0.0,
                next_obs={"state": np.array([episode_id, t + 1], np.float32)},
                terminated=last and success,
                truncated=last and not success,
                intervened=False,
                source=keys.SOURCE_CODE["policy"],
                timestamp=float(t),
            )
        )
    return out


def test_only_successful_episodes_are_copied_whole() -> None:
    demo = ReplayBuffer(SPEC, 1, 100)
    imitation = SelfImitation(demo)
    copied = [imitation.route(s) for s in episode(0, 4, success=False)]
    assert not any(copied) and len(demo) == 0
    copied = [imitation.route(s) for s in episode(1, 5, success=True)]
    assert copied == [False] * 4 + [True] and len(demo) == 5
    rows = np.flatnonzero(demo.valid)
    batch = demo.gather(rows)
    np.testing.assert_array_equal(batch[keys.OBS]["state"][:, 0], 1.0)
    np.testing.assert_array_equal(
        batch[keys.NEXT_OBS]["state"][:, 1] - batch[keys.OBS]["state"][:, 1], 1.0
    )
    assert batch[keys.REWARD].sum() == 1.0 and batch[keys.TERMINATED].sum() == 1.0
    assert imitation.episodes == 1 and imitation.steps == 5


def test_an_episode_joined_midway_or_disabled_is_not_copied() -> None:
    demo = ReplayBuffer(SPEC, 1, 100)
    imitation = SelfImitation(demo)
    for s in episode(2, 6, success=True)[2:]:  # no t == 0: its first observation is unknown
        assert not imitation.route(s)
    off = SelfImitation(demo, enabled=False)
    assert not any(off.route(s) for s in episode(3, 3, success=True))
    assert len(demo) == 0
