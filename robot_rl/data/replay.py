"""Replay buffers that store every camera frame once, as uint8, in preallocated numpy arrays.

Observations are written into a ring of observation slots in arrival order. A transition
lives at the slot of its obs; ``next_slot`` names the slot of its next_obs. One episode fed
alone (or a whole episode) takes consecutive slots; several actors streaming at once
(``stream=`` of start_episode/add_step, one open episode per stream) interleave theirs.
Overwriting a slot invalidates the transition that starts there; the transition that ends
there starts at a slot written before it, overwritten earlier, so no valid transition ever
points at an overwritten frame (a stream whose open observation is about to be overwritten
loses its open episode).
Each episode's final observation takes a slot without a transition, so the ring has a few
slots more than ``capacity`` (``obs_slots``).

Written by hand: no maintained library stores frame-once, episode-structured replay in numpy
(LeRobot's buffer stores next_obs separately, as float32).

Batch format (what ``sample`` returns and ``SAC.update`` takes)::

    {"obs": {key: (N, ...)}, "next_obs": {key: (N, ...)},   # images uint8 (N, H, W, 3)
     "action": (N, A) float32, "reward": (N,) float32, "terminated": (N,) float32 0/1,
     "prev_action": (N, A) float32,   # the episode's action before "action" (at its first
                                      # step: "action" itself)
     "mc_return": (N,) float32}       # discounted return-to-go of the row's episode from its
                                      # step (NaN unless added whole with return_discount)

With ``n_step`` > 1 a row is an n-step transition: ``reward`` is the discounted sum of up to n
rewards of the same episode, ``next_obs`` the observation after them, ``terminated`` whether the
episode terminated within them, and the extra field ``"discount"`` (N,) float32 is gamma ** m
for the m <= n steps summed (fewer at the episode's end or at the newest stored step).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import torch

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.envs.spec import ObsSpec

NumpyBatch = dict[str, Any]  # same layout as the torch batch, numpy arrays


def to_torch(batch: NumpyBatch, device: torch.device | str) -> dict[str, Any]:
    """Numpy batch -> torch tensors on ``device`` (pinned host memory + non_blocking for CUDA)."""
    device = torch.device(device)
    pin = device.type == "cuda"

    def convert(arr: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(arr)
        if pin:
            t = t.pin_memory()
        return t.to(device, non_blocking=pin)

    return {
        k: {kk: convert(vv) for kk, vv in v.items()} if isinstance(v, dict) else convert(v)
        for k, v in batch.items()
    }


def returns_to_go(rewards: np.ndarray, discount: float) -> np.ndarray:
    """(T,) float32: G_t = sum_(k >= 0) discount^k r_(t+k) over one episode's rewards (T,), to
    its last step. An episode cut short (truncated) gets the plain sum of what it collected:
    with rewards >= 0, a lower bound on the return from there."""
    out = np.empty(len(rewards), np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + discount * running
        out[t] = running
    return out.astype(np.float32)


class ReplayBuffer:
    """Frame-once ring buffer of transitions, fed by whole episodes or step by step."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        action_dim: int,
        capacity: int,
        *,
        seed: int = 0,
        obs_slots: int | None = None,
        return_discount: float | None = None,
    ) -> None:
        """``capacity``: transitions to hold (sizes the storage); ``obs_slots``: ring size.
        ``return_discount``: episodes added whole (``add_episode``) store each transition's
        Monte-Carlo return-to-go under this discount (``keys.MC_RETURN``, what Cal-QL
        calibrates with); None, and for steps added one by one: NaN (unknown).

        The default ring, capacity + max(64, capacity // 50) slots, holds at least
        ``capacity`` transitions when there are at most 64 episodes or they average at least
        50 steps; with longer episodes it holds a few more, with shorter ones fewer.
        """
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        slots = obs_slots if obs_slots is not None else capacity + max(64, capacity // 50)
        if slots < 2:
            raise ValueError(f"obs_slots must be >= 2, got {slots}")
        if return_discount is not None and not 0.0 <= return_discount <= 1.0:
            raise ValueError(f"return_discount must be in [0, 1], got {return_discount}")
        self.obs_spec = dict(obs_spec)
        self.action_dim = action_dim
        self.capacity = capacity
        self.slots = slots
        self.rng = np.random.default_rng(seed)
        self.return_discount = return_discount
        self.obs = {k: np.zeros((slots, *shape), dtype) for k, (shape, dtype) in obs_spec.items()}
        # Transition data, indexed by the slot of its observation.
        self.actions = np.zeros((slots, action_dim), np.float32)
        # The episode's action before the transition at a slot (at an episode's first step, its
        # own action: no change): what SAC's gripper head compares the gripper command with.
        self.prev_actions = np.zeros((slots, action_dim), np.float32)
        self.rewards = np.zeros(slots, np.float32)
        self.mc_returns = np.full(slots, np.nan, np.float32)  # return-to-go; NaN: unknown
        self.terminated = np.zeros(slots, np.float32)
        self.truncated = np.zeros(slots, bool)
        self.intervened = np.zeros(slots, bool)
        self.sources = np.zeros(slots, np.uint8)
        self.valid = np.zeros(slots, bool)  # slot starts a stored transition
        self.next_slot = np.zeros(slots, np.int64)  # slot of the next_obs of that transition
        self._count = 0  # valid transitions
        self._written = 0  # slots ever written (filled = min(written, slots))
        self._next_slot = 0
        self._open: dict[Hashable, int] = {}  # stream -> slot of its open episode's latest obs
        self._first: dict[Hashable, int] = {}  # stream -> slot of its open episode's first obs

    def __len__(self) -> int:
        return self._count

    def bytes_per_transition(self) -> float:
        """Bytes of all preallocated storage divided by capacity (transitions)."""
        arrays = [*self.obs.values(), self.actions, self.prev_actions, self.rewards]
        arrays += [self.mc_returns, self.terminated]
        arrays += [self.truncated, self.intervened, self.sources, self.valid, self.next_slot]
        return sum(a.nbytes for a in arrays) / self.capacity

    # ------------------------------------------------------------------------------ writes
    def _claim(self, n: int) -> np.ndarray:
        """Next n slots of the ring; transitions starting there are invalidated."""
        idx = (self._next_slot + np.arange(n)) % self.slots
        dropped = self.valid[idx]
        self._count -= int(dropped.sum())
        self.valid[idx] = False
        if self._open:  # an open episode whose latest obs is overwritten cannot go on
            claimed = set(idx.tolist()) if n > 1 else {int(idx[0])}
            for stream in [k for k, slot in self._open.items() if slot in claimed]:
                del self._open[stream]
        self._next_slot = int((self._next_slot + n) % self.slots)
        self._written += n
        return idx

    def _write_obs(self, slots: np.ndarray | int, obs: dict[str, np.ndarray]) -> None:
        for key, store in self.obs.items():
            if key not in obs:
                raise KeyError(
                    f"observation is missing key {key!r} (replay spec has {sorted(self.obs)})"
                )
            store[slots] = obs[key]

    def start_episode(self, first_obs: dict[str, np.ndarray], *, stream: Hashable = None) -> None:
        """Begin an episode of ``stream`` with its first observation (that stream's open
        episode, if any, is abandoned; other streams' are not touched)."""
        self._open.pop(stream, None)
        slot = int(self._claim(1)[0])
        self._write_obs(slot, first_obs)
        self._open[stream] = slot
        self._first[stream] = slot  # its prev action is its own (set by the first add_step)

    def has_open_episode(self, stream: Hashable = None) -> bool:
        """Whether ``stream`` has an open episode that add_step continues."""
        return stream in self._open

    def abandon_episode(self, stream: Hashable = None) -> None:
        """Forget ``stream``'s open episode (its stored transitions stay)."""
        self._open.pop(stream, None)
        self._first.pop(stream, None)

    def add_step(
        self,
        action: np.ndarray,
        reward: float,
        next_obs: dict[str, np.ndarray],
        terminated: bool,
        truncated: bool,
        *,
        intervened: bool = False,
        source: int = 0,
        stream: Hashable = None,
    ) -> bool:
        """Append one step of ``stream``'s open episode; terminated or truncated closes it.

        False (nothing stored, the episode closed) when the ring just overwrote the episode's
        latest observation: only when other streams wrote a whole ring meanwhile.
        """
        if stream not in self._open:
            raise RuntimeError(
                "add_step without an open episode: call start_episode(first_obs) first"
            )
        action = np.asarray(action, np.float32)
        if action.shape != (self.action_dim,):
            raise ValueError(f"action has shape {action.shape}, expected ({self.action_dim},)")
        cur = self._open[stream]
        slot = int(self._claim(1)[0])  # abandons streams whose open slot it takes
        if self._open.pop(stream, None) is None:
            return False
        self._write_obs(slot, next_obs)
        if self._first.pop(stream, None) == cur:
            self.prev_actions[cur] = action
        self.prev_actions[slot] = action  # of the transition that starts at slot, if any
        self.actions[cur] = action
        self.rewards[cur] = reward
        self.mc_returns[cur] = np.nan  # the episode's later rewards are not known yet
        self.terminated[cur] = float(terminated)
        self.truncated[cur] = truncated
        self.intervened[cur] = intervened
        self.sources[cur] = source
        self.valid[cur] = True
        self.next_slot[cur] = slot
        self._count += 1
        if not (terminated or truncated):
            self._open[stream] = slot
        return True

    def add_episode(self, ep: Episode) -> None:
        """Store a whole episode (vectorised); keeps its last obs_slots - 1 steps if longer."""
        ep.validate()
        steps = len(ep)
        first = max(0, steps + 1 - self.slots)  # first kept observation row
        kept = steps - first
        if ep.actions.shape[1] != self.action_dim:
            raise ValueError(
                f"episode actions are {ep.actions.shape}, expected (T, {self.action_dim})"
            )
        slots = self._claim(kept + 1)
        self._write_obs(slots, {k: v[first:] for k, v in ep.observations.items()})
        t = slots[:-1]
        self.actions[t] = ep.actions[first:]
        self.prev_actions[slots[0]] = ep.actions[first - 1] if first else ep.actions[0]
        self.prev_actions[slots[1:]] = ep.actions[first:]
        self.rewards[t] = ep.rewards[first:]
        self.mc_returns[t] = (
            np.nan
            if self.return_discount is None
            else returns_to_go(ep.rewards, self.return_discount)[first:]
        )
        self.terminated[t] = ep.terminated[first:]
        self.truncated[t] = ep.truncated[first:]
        self.intervened[t] = ep.intervened[first:]
        self.sources[t] = ep.sources[first:]
        self.valid[t] = True
        self.next_slot[t] = slots[1:]
        self._count += kept

    # ------------------------------------------------------------------------------- reads
    def state_rows(self, state_keys: list[str]) -> np.ndarray:
        """(N, D) float32: the observations of all stored transitions, ``state_keys`` flattened
        and concatenated in that order (what a state normalizer is fitted on)."""
        rows = np.flatnonzero(self.valid)
        if not state_keys:
            return np.zeros((len(rows), 0), np.float32)
        return np.concatenate(
            [
                self.obs[k][rows].reshape(len(rows), int(np.prod(self.obs[k].shape[1:])))
                for k in state_keys
            ],
            -1,
        ).astype(np.float32)

    def sample_indices(self, batch_size: int) -> np.ndarray:
        """Slots of ``batch_size`` transitions drawn uniformly with replacement."""
        if self._count == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        filled = min(self._written, self.slots)
        out = np.empty(0, np.int64)
        while len(out) < batch_size:  # rejection: ~1 in (T+1) slots has no transition
            need = batch_size - len(out)
            draw = self.rng.integers(0, filled, size=int(need * filled / self._count * 1.1) + 8)
            out = np.concatenate([out, draw[self.valid[draw]][:need]])
        return out

    def gather(self, idx: np.ndarray, *, n_step: int = 1, discount: float = 1.0) -> NumpyBatch:
        """Numpy batch of the transitions at slots ``idx`` (n-step rows when ``n_step`` > 1)."""
        if n_step == 1:
            nxt = self.next_slot[idx]
            reward, terminated, extra = self.rewards[idx], self.terminated[idx], {}
        else:
            nxt, reward, terminated, gamma_m = self._n_step(idx, n_step, discount)
            extra = {keys.DISCOUNT: gamma_m}
        return {
            keys.OBS: {k: v[idx] for k, v in self.obs.items()},
            keys.NEXT_OBS: {k: v[nxt] for k, v in self.obs.items()},
            keys.ACTION: self.actions[idx],
            keys.PREV_ACTION: self.prev_actions[idx],
            keys.REWARD: reward,
            keys.TERMINATED: terminated,
            keys.MC_RETURN: self.mc_returns[idx],
            **extra,
        }

    def _n_step(
        self, idx: np.ndarray, n_step: int, discount: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(next slot, reward sum, terminated, gamma ** m) of n-step rows starting at ``idx``.

        A row sums the rewards of the transitions at idx, next_slot[idx], ... (one episode): it
        stops after a terminated or truncated step, and before a slot that starts no stored
        transition (the open episode's newest observation).
        """
        reward = np.zeros(len(idx), np.float32)
        terminated = np.zeros(len(idx), np.float32)
        steps = np.zeros(len(idx), np.int64)
        alive = np.ones(len(idx), bool)
        cur = np.asarray(idx, np.int64)
        for j in range(n_step):
            if j:
                cur = np.where(alive, self.next_slot[cur], cur)
            reward += np.where(alive, discount**j * self.rewards[cur], 0.0).astype(np.float32)
            terminated = np.where(alive, self.terminated[cur], terminated)
            steps += alive
            ended = (self.terminated[cur] > 0) | self.truncated[cur]
            alive &= ~ended & self.valid[self.next_slot[cur]]
        # cur is the last summed transition of each row; its next_obs ends the row.
        return self.next_slot[cur], reward, terminated, (discount**steps).astype(np.float32)

    def sample(self, batch_size: int, *, device: torch.device | str = "cpu") -> dict[str, Any]:
        """Torch batch of ``batch_size`` uniformly sampled transitions on ``device``."""
        return to_torch(self.gather(self.sample_indices(batch_size)), device)


class MixedSampler:
    """RLPD symmetric sampling: a fixed fraction of every batch from demos, the rest online.

    Demo rows are spread evenly through the batch (not in one block), so every contiguous
    minibatch that SAC splits off for its utd_ratio critic updates has the same mix.
    If one buffer is empty, the whole batch comes from the other.
    """

    def __init__(
        self,
        demo: ReplayBuffer,
        online: ReplayBuffer,
        demo_fraction: float = 0.5,
        *,
        n_step: int = 1,
        discount: float = 1.0,
    ) -> None:
        """``n_step`` > 1: rows are n-step transitions discounted by ``discount`` (gather)."""
        if not 0.0 <= demo_fraction <= 1.0:
            raise ValueError(f"demo_fraction must be in [0, 1], got {demo_fraction}")
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        self.demo = demo
        self.online = online
        self.demo_fraction = demo_fraction
        self.n_step = n_step
        self.discount = discount

    def _gather(self, buffer: ReplayBuffer, count: int) -> NumpyBatch:
        return buffer.gather(
            buffer.sample_indices(count), n_step=self.n_step, discount=self.discount
        )

    def __len__(self) -> int:
        return len(self.demo) + len(self.online)

    def sample_demos(
        self, batch_size: int, *, device: torch.device | str = "cpu"
    ) -> dict[str, Any]:
        """Torch batch of ``batch_size`` demo transitions alone (n-step rows as ``sample``'s,
        ``keys.IS_DEMO`` 1.0 on every row): what pre-training on the demos learns from."""
        batch = self._gather(self.demo, batch_size)
        batch[keys.IS_DEMO] = np.ones(batch_size, np.float32)
        return to_torch(batch, device)

    def sample(self, batch_size: int, *, device: torch.device | str = "cpu") -> dict[str, Any]:
        """Torch batch of ``batch_size`` transitions on ``device`` (format of ReplayBuffer.sample)."""
        fraction = self.demo_fraction
        if len(self.demo) == 0:
            fraction = 0.0
        elif len(self.online) == 0:
            fraction = 1.0
        if fraction in (0.0, 1.0):
            source = self.demo if fraction == 1.0 else self.online
            batch = self._gather(source, batch_size)
            batch[keys.IS_DEMO] = np.full(batch_size, fraction, np.float32)
            return to_torch(batch, device)
        # Row i is a demo row when floor((i + 1) f) > floor(i f): evenly spread, exact total.
        rows = np.arange(batch_size)
        is_demo = np.floor((rows + 1) * fraction) > np.floor(rows * fraction)
        demo_part = self._gather(self.demo, int(is_demo.sum()))
        online_part = self._gather(self.online, int((~is_demo).sum()))
        batch = _interleave(demo_part, online_part, is_demo)
        batch[keys.IS_DEMO] = is_demo.astype(np.float32)  # (B,) 1.0 = demonstration row
        return to_torch(batch, device)


def _interleave(a: NumpyBatch, b: NumpyBatch, take_a: np.ndarray) -> NumpyBatch:
    """Rows of ``a`` where take_a, rows of ``b`` elsewhere, for every array of the batch."""
    out: NumpyBatch = {}
    for name, value in a.items():
        if isinstance(value, dict):
            out[name] = _interleave(value, b[name], take_a)
        else:
            merged = np.empty((len(take_a), *value.shape[1:]), value.dtype)
            merged[take_a] = value
            merged[~take_a] = b[name]
            out[name] = merged
    return out
