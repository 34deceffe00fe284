"""Replay: frames stored once, next_obs right across episodes and ring wrap-around, mixing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.data.replay import MixedSampler, ReplayBuffer

SPEC = {
    "state": ((2,), np.dtype(np.float32)),
    "pixels_front": ((4, 4, 3), np.dtype(np.uint8)),
}


def frame(episode: int, t: int) -> dict[str, np.ndarray]:
    """Observation whose state says (episode, t) and whose image is unique per frame."""
    image = np.full((4, 4, 3), (episode * 17 + t) % 256, np.uint8)
    return {"state": np.array([episode, t], np.float32), "pixels_front": image}


def make_episode(episode: int, steps: int, *, source: int = 0) -> Episode:
    frames = [frame(episode, t) for t in range(steps + 1)]
    terminated = np.zeros(steps, bool)
    terminated[-1] = True
    return Episode(
        observations={k: np.stack([f[k] for f in frames]) for k in SPEC},
        actions=np.full((steps, 1), 0.1 * episode, np.float32),
        rewards=np.arange(steps, dtype=np.float32),
        terminated=terminated,
        truncated=np.zeros(steps, bool),
        intervened=np.zeros(steps, bool),
        sources=np.full(steps, source, np.uint8),
        timestamps=np.arange(steps + 1, dtype=np.float64),
    )


def stream(buffer: ReplayBuffer, episode: int, steps: int, *, truncate: bool = False) -> None:
    buffer.start_episode(frame(episode, 0))
    for t in range(steps):
        last = t == steps - 1
        buffer.add_step(
            np.array([0.1 * episode], np.float32),
            float(t),
            frame(episode, t + 1),
            last and not truncate,
            last and truncate,
        )


def check_all_valid(buffer: ReplayBuffer) -> None:
    """Every stored transition's next_obs is the following frame of the same episode."""
    idx = np.flatnonzero(buffer.valid)
    assert len(idx) == len(buffer)
    batch = buffer.gather(idx)
    obs, nxt = batch[keys.OBS]["state"], batch[keys.NEXT_OBS]["state"]
    np.testing.assert_array_equal(nxt[:, 0], obs[:, 0])  # same episode
    np.testing.assert_array_equal(nxt[:, 1], obs[:, 1] + 1)  # next step
    np.testing.assert_array_equal(batch[keys.REWARD], obs[:, 1])  # reward of step t
    np.testing.assert_allclose(batch[keys.ACTION][:, 0], 0.1 * obs[:, 0], rtol=1e-6)


def test_no_frame_stored_twice() -> None:
    buffer = ReplayBuffer(SPEC, 1, 100, seed=0)
    buffer.add_episode(make_episode(1, 10))
    stream(buffer, 2, 5)
    # 11 + 6 frames written for 15 transitions; each frame occupies exactly one slot.
    assert buffer._written == 17 and len(buffer) == 15
    ids = buffer.obs["state"][:17]
    assert len({tuple(r) for r in ids}) == 17
    assert buffer.obs["pixels_front"].shape[0] == buffer.slots  # one frame array, no next_obs copy


def test_next_obs_across_episode_boundaries_and_wraparound() -> None:
    buffer = ReplayBuffer(SPEC, 1, 10, seed=0, obs_slots=13)
    lengths = [3, 5, 1, 4, 7, 2, 6, 3, 12, 2, 5]
    for episode, steps in enumerate(lengths):
        if episode % 2:
            buffer.add_episode(make_episode(episode, steps))
        else:
            stream(buffer, episode, steps, truncate=episode % 4 == 0)
        check_all_valid(buffer)
        batch = buffer.sample(64)
        np.testing.assert_array_equal(
            batch[keys.NEXT_OBS]["state"][:, 1].numpy(), batch[keys.OBS]["state"][:, 1].numpy() + 1
        )
    # The last episodes fill the ring; everything older has been invalidated.
    assert set(buffer.obs["state"][buffer.valid][:, 0].tolist()) <= {8.0, 9.0, 10.0}


def test_episode_longer_than_ring_keeps_its_tail() -> None:
    buffer = ReplayBuffer(SPEC, 1, 4, seed=0, obs_slots=5)
    buffer.add_episode(make_episode(3, 20))
    assert len(buffer) == 4
    check_all_valid(buffer)
    stream(buffer, 4, 20)
    assert len(buffer) == 4
    check_all_valid(buffer)


def test_abandoned_open_episode_leaves_no_transition_across() -> None:
    buffer = ReplayBuffer(SPEC, 1, 50, seed=0)
    buffer.start_episode(frame(1, 0))
    buffer.add_step(np.array([0.1], np.float32), 0.0, frame(1, 1), False, False)
    stream(buffer, 2, 3)  # new start_episode while episode 1 is open (dropped step)
    check_all_valid(buffer)
    assert len(buffer) == 4


def test_sample_dtypes_shapes_and_errors() -> None:
    buffer = ReplayBuffer(SPEC, 1, 50, seed=0)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4)
    with pytest.raises(RuntimeError, match="start_episode"):
        buffer.add_step(np.zeros(1, np.float32), 0.0, frame(0, 1), False, False)
    stream(buffer, 1, 5)
    batch = buffer.sample(8, device="cpu")
    assert batch[keys.OBS]["pixels_front"].dtype == torch.uint8
    assert batch[keys.OBS]["pixels_front"].shape == (8, 4, 4, 3)
    assert batch[keys.ACTION].shape == (8, 1) and batch[keys.ACTION].dtype == torch.float32
    assert batch[keys.TERMINATED].dtype == torch.float32
    assert set(batch[keys.TERMINATED].tolist()) <= {0.0, 1.0}
    with pytest.raises(KeyError, match="state"):
        buffer.start_episode({"pixels_front": frame(0, 0)["pixels_front"]})


def test_mixed_sampler_fractions_and_spread() -> None:
    demo = ReplayBuffer(SPEC, 1, 100, seed=1)
    online = ReplayBuffer(SPEC, 1, 100, seed=2)
    demo.add_episode(make_episode(100, 30))  # episode id 100 marks demo rows
    sampler = MixedSampler(demo, online, demo_fraction=0.5)
    only_demo = sampler.sample(16)
    assert (only_demo[keys.OBS]["state"][:, 0] == 100).all()  # online empty: all demo
    online.add_episode(make_episode(1, 30))
    batch = sampler.sample(1024)
    is_demo = (batch[keys.OBS]["state"][:, 0] == 100).numpy()
    assert is_demo.sum() == 512
    for chunk in np.array_split(is_demo, 4):  # each utd minibatch is mixed 50/50
        assert chunk.sum() == 128
    quarter = MixedSampler(demo, online, demo_fraction=0.25).sample(400)
    assert int((quarter[keys.OBS]["state"][:, 0] == 100).sum()) == 100
    none = MixedSampler(ReplayBuffer(SPEC, 1, 10), online, demo_fraction=0.5).sample(32)
    assert (none[keys.OBS]["state"][:, 0] == 1).all()
    check = batch[keys.NEXT_OBS]["state"][:, 1] - batch[keys.OBS]["state"][:, 1]
    assert (check == 1).all()


def test_bytes_per_transition_counts_each_frame_once() -> None:
    spec = {
        "state": ((20,), np.dtype(np.float32)),
        "pixels_front": ((128, 128, 3), np.dtype(np.uint8)),
        "pixels_wrist": ((128, 128, 3), np.dtype(np.uint8)),
    }
    buffer = ReplayBuffer(spec, 4, 5_000)
    frame_bytes = 2 * 128 * 128 * 3
    assert frame_bytes < buffer.bytes_per_transition() < 1.03 * frame_bytes + 200


def test_n_step_rows_sum_rewards_within_their_episode() -> None:
    """Rewards are t (0, 1, 2, ...): an n-step row from t sums gamma^j (t + j), stops after the
    episode's last step, and at the open episode's newest observation; ring wrap included."""
    gamma, n = 0.5, 3
    buffer = ReplayBuffer(SPEC, 1, 40, obs_slots=23)
    stream(buffer, 0, 6)  # terminated at t = 5
    stream(buffer, 1, 5, truncate=True)  # truncated at t = 4
    stream(buffer, 2, 7)  # 7 + 6 + 8 = 21 of 23 slots
    # the open episode wraps the ring and overwrites episode 0's first transitions
    buffer.start_episode(frame(3, 0))  # an open episode with two steps so far
    for t in range(2):
        buffer.add_step(np.array([0.3], np.float32), float(t), frame(3, t + 1), False, False)
    idx = np.flatnonzero(buffer.valid)
    batch = buffer.gather(idx, n_step=n, discount=gamma)
    state = batch[keys.OBS]["state"]
    nxt = batch[keys.NEXT_OBS]["state"]
    for row, (episode, t) in enumerate(state.astype(int)):
        end = {0: 6, 1: 5, 2: 7, 3: 2}[episode]  # steps stored (3: so far)
        m = min(n, end - t)
        expected = sum(gamma**j * (t + j) for j in range(m))
        assert batch[keys.REWARD][row] == pytest.approx(expected), (episode, t)
        assert batch[keys.DISCOUNT][row] == pytest.approx(gamma**m)
        np.testing.assert_array_equal(nxt[row], [episode, t + m])
        ends_here = t + m == end and episode in (0, 2)  # terminated episodes only
        assert batch[keys.TERMINATED][row] == float(ends_here), (episode, t)
    one = buffer.gather(idx)
    assert keys.DISCOUNT not in one
    np.testing.assert_array_equal(one[keys.REWARD], buffer.rewards[idx])


def test_mixed_sampler_passes_n_step_to_both_buffers() -> None:
    demo, online = ReplayBuffer(SPEC, 1, 50), ReplayBuffer(SPEC, 1, 50)
    demo.add_episode(make_episode(0, 10))
    sampler = MixedSampler(demo, online, 0.5, n_step=4, discount=0.9)
    only_demo = sampler.sample(16)  # online empty: all demo rows
    assert {round(float(d), 4) for d in only_demo[keys.DISCOUNT]} <= {
        round(0.9**m, 4) for m in range(1, 5)
    }
    stream(online, 1, 10)
    mixed = sampler.sample(32)
    assert mixed[keys.DISCOUNT].shape == (32,) and mixed[keys.IS_DEMO].sum() == 16
    with pytest.raises(ValueError, match="n_step"):
        MixedSampler(demo, online, 0.5, n_step=0)


def test_state_rows_of_an_empty_and_a_filled_buffer() -> None:
    """An empty demo buffer gives (0, D) rows (the normaliser then stays identity)."""
    buffer = ReplayBuffer(SPEC, 1, 64, seed=0)
    assert buffer.state_rows(["state"]).shape == (0, 2)
    buffer.add_episode(make_episode(3, 5))
    rows = buffer.state_rows(["state"])
    assert rows.shape == (5, 2) and rows.dtype == np.float32
    assert set(rows[:, 0]) == {3.0} and sorted(rows[:, 1]) == [0, 1, 2, 3, 4]


def test_interleaved_streams_keep_each_episode_whole_through_ring_wrap() -> None:
    """Two actors' steps arrive interleaved: each stream's transitions chain to its own next
    frame (one-step and n-step), across several wraps of a small ring."""
    gamma, n = 0.5, 3
    buffer = ReplayBuffer(SPEC, 1, 30, obs_slots=31)
    ends = {1: 9, 2: 12, 3: 7, 4: 10}  # episode -> steps
    plan = [("a", 1), ("b", 2), ("a", 3), ("b", 4)]  # stream a: episodes 1, 3; b: 2, 4
    t_of = {1: 0, 2: 0, 3: 0, 4: 0}
    open_of: dict[str, int] = {}
    pending = list(plan)
    while pending or open_of:
        for name in ("a", "b"):  # one step of each stream in turn
            if name not in open_of:
                nxt = next((p for p in pending if p[0] == name), None)
                if nxt is None:
                    continue
                pending.remove(nxt)
                open_of[name] = nxt[1]
                buffer.start_episode(frame(nxt[1], 0), stream=name)
            ep = open_of[name]
            t = t_of[ep]
            last = t == ends[ep] - 1
            stored = buffer.add_step(
                np.array([0.1 * ep], np.float32), float(t), frame(ep, t + 1), last, False,
                stream=name,
            )  # fmt: skip
            assert stored
            t_of[ep] += 1
            if last:
                del open_of[name]
    check_all_valid(buffer)
    assert len(buffer) >= 25  # the ring (31 slots) holds the newest transitions of both
    idx = np.flatnonzero(buffer.valid)
    batch = buffer.gather(idx, n_step=n, discount=gamma)
    for row, (ep, t) in enumerate(batch[keys.OBS]["state"].astype(int)):
        m = min(n, ends[ep] - t)
        assert batch[keys.REWARD][row] == pytest.approx(sum(gamma**j * (t + j) for j in range(m)))
        np.testing.assert_array_equal(batch[keys.NEXT_OBS]["state"][row], [ep, t + m])


def test_a_stream_whose_open_frame_is_overwritten_loses_only_its_episode() -> None:
    buffer = ReplayBuffer(SPEC, 1, 8, obs_slots=6)
    buffer.start_episode(frame(1, 0), stream="slow")  # never continued while "fast" fills
    stream(buffer, 2, 5)  # 6 slots: the ring wraps over "slow"'s first frame
    assert not buffer.has_open_episode("slow")
    with pytest.raises(RuntimeError, match="without an open episode"):
        buffer.add_step(np.zeros(1, np.float32), 0.0, frame(1, 1), False, False, stream="slow")
    check_all_valid(buffer)
