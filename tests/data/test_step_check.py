"""The run-spec check of streamed steps: one case per way a well-formed step can be wrong."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.data.step_check import REASONS, StepChecker
from robot_rl.wire.protocol import Step

FRONT = keys.pixels_key("front")
SPEC = {keys.STATE: ((5,), np.dtype(np.float32)), FRONT: ((8, 8, 3), np.dtype(np.uint8))}


def obs(value: float = 0.0) -> dict[str, np.ndarray]:
    return {keys.STATE: np.full(5, value, np.float32), FRONT: np.zeros((8, 8, 3), np.uint8)}


def step(at: int = 1, **changes: Any) -> Step:
    """A step of the run at index ``at``, then ``changes`` (which may break it)."""
    t = at
    base = Step(
        episode_id=0, t=t, first_obs=obs() if t == 0 else None,
        action=np.zeros(3, np.float32), reward=0.0, next_obs=obs(1.0), terminated=False,
        truncated=False, intervened=False, source=0, timestamp=0.0,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def with_state(value: np.ndarray) -> dict[str, np.ndarray]:
    return {**obs(), keys.STATE: value}


CHECKER = StepChecker(SPEC, 3)


@pytest.mark.parametrize("t", [0, 1, 7])
def test_a_step_of_the_run_passes(t: int) -> None:
    assert CHECKER.check(step(t)) is None
    assert CHECKER.check(step(t, action=np.array([1, -1, 0.5], np.float32))) is None


NAN_STATE = np.array([0, 0, np.nan, 0, 0], np.float32)
CASES = {
    "missing key": (step(next_obs={keys.STATE: obs()[keys.STATE]}), "obs_keys"),
    "extra key": (step(next_obs={**obs(), "pixels_wrist": obs()[FRONT]}), "obs_keys"),
    "first_obs missing key": (step(0, first_obs={FRONT: obs()[FRONT]}), "obs_keys"),
    "state shape": (step(next_obs=with_state(np.zeros(6, np.float32))), "obs_shape"),
    "image shape": (step(next_obs={**obs(), FRONT: np.zeros((9, 8, 3), np.uint8)}), "obs_shape"),
    "state dtype": (step(next_obs=with_state(np.zeros(5, np.float64))), "obs_dtype"),
    "nan state": (step(next_obs=with_state(NAN_STATE)), "obs_nonfinite"),
    "inf first_obs": (
        step(0, first_obs=with_state(np.full(5, np.inf, np.float32))),
        "obs_nonfinite",
    ),
    "action length": (step(action=np.zeros(4, np.float32)), "action_shape"),
    "action dtype": (step(action=np.zeros(3, np.float64)), "action_shape"),
    "action rank": (step(action=np.zeros((1, 3), np.float32)), "action_shape"),
    "nan action": (step(action=np.array([0, np.nan, 0], np.float32)), "action_nonfinite"),
    "huge action": (step(action=np.full(3, 1e30, np.float32)), "action_range"),
    "action past 1": (step(action=np.array([0, -1.01, 0], np.float32)), "action_range"),
    "huge state": (step(next_obs=with_state(np.full(5, 1e30, np.float32))), "obs_range"),
    "huge reward": (step(reward=1e30), "reward"),
    "nan reward": (step(reward=float("nan")), "reward"),
    "str reward": (step(reward="1"), "reward"),
    "int done": (step(terminated=1), "flags"),
    "none truncated": (step(truncated=None), "flags"),
    "bad source": (step(source=9), "source"),
    "negative t": (step(t=-1), "t"),
    "t 0 without first_obs": (step(1, t=0), "t"),
    "first_obs after t 0": (step(3, first_obs=obs()), "t"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_kind_of_bad_step_is_named(case: str) -> None:
    bad, reason = CASES[case]
    rejection = CHECKER.check(bad)
    assert rejection is not None, case
    assert rejection.reason == reason
    assert reason in REASONS
    assert rejection.detail  # readable: names what is wrong


def test_every_reason_has_a_case() -> None:
    assert {reason for _bad, reason in CASES.values()} == set(REASONS)
