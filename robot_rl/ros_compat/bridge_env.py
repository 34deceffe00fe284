"""A gymnasium env over message streams: the real cell (or the twin node) seen through ROS.

The ROS actor node owns the subscriptions and publishers and hands this env three
callables; the env owns the timing and the safety rules, so they are tested without ROS:

- ``step`` sends one command, then waits until a control period has passed *and* every
  stream (cameras, joints, TCP, reward) has a message received after the command, at most
  ``step_timeout_s``. Stale or missing data never reaches the policy as if it were current:
  the env publishes a hold command and truncates the episode (``info["stale"]`` names the
  streams).
- A human intervention (latest message younger than ``intervention_timeout_s``) replaces
  the policy's action; ``info["intervened"]`` and ``info["executed_action"]`` say so.
- A latched e-stop makes every step publish hold and truncate.

All times come from one injected clock (s); callbacks must stamp receive times with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl.ros_compat.assembler import ObservationAssembler, Snapshot
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.geometry import CommandMapper
from robot_rl.ros_compat.messages import Float64, stamp_from_seconds

REWARD = "reward"


class LatestValue:
    """The last value of a scalar/array stream and its receive time (s); thread-safe enough.

    One tuple assignment is atomic in CPython, so a reader never sees a value paired with
    another message's time.
    """

    def __init__(self) -> None:
        self._item: tuple[Any, float] | None = None

    def set(self, value: Any, received_s: float) -> None:
        """Store ``value`` received at ``received_s`` (s)."""
        self._item = (value, received_s)

    def get(self) -> tuple[Any, float] | None:
        """(value, received_s) or None."""
        return self._item


class BridgeEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Delta-TCP actions in [-1, 1] -> commands; observations from an ObservationAssembler."""

    def __init__(
        self,
        config: CellConfig,
        assembler: ObservationAssembler,
        *,
        publish: Callable[[object, Float64], None],
        request_reset: Callable[[], None],
        reward: LatestValue,
        intervention: LatestValue | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        config.validate()
        self.config = config
        self.assembler = assembler
        self.mapper = CommandMapper(config)
        self._publish = publish
        self._request_reset = request_reset
        self._reward = reward
        self._intervention = intervention
        self._clock = clock
        self._sleep = sleep
        self._steps = 0
        self._next_tick = 0.0
        self.estopped = False
        self.last_snapshot: Snapshot | None = None
        self.observation_space = assembler.observation_space()  # type: ignore[assignment]
        self.action_space = gym.spaces.Box(-1.0, 1.0, (config.action_dim,), np.float32)

    def estop(self) -> None:
        """Latch the e-stop: hold now and on every later step."""
        self.estopped = True
        self._hold()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Ask the cell to reset (blocking), then wait for fresh data (``seed`` is unused)."""
        super().reset(seed=seed)
        if self.estopped:
            raise RuntimeError("e-stop is latched: the cell is not reset while it holds")
        started = self._clock()  # before the request: a cell may publish while answering
        self._request_reset()
        snapshot = self._wait_fresh(started, started, need_reward=False)
        late = sorted(set(snapshot.stale) | set(self.assembler.not_fresh_since(started)))
        if snapshot.obs is None or late:
            raise TimeoutError(
                f"no fresh data after reset within {self.config.step_timeout_s} s; "
                f"stale streams: {late}"
            )
        pose = self.assembler.tcp_pose()
        assert pose is not None  # the snapshot above had every stream
        self.mapper.reset(*pose)
        self._steps = 0
        self._next_tick = self._clock()
        return snapshot.obs, {"success": False}

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Send one action's command, wait one control period, observe."""
        c = self.config
        executed = np.asarray(action, dtype=np.float32)
        intervened = False
        if self._intervention is not None:
            latest = self._intervention.get()
            if latest is not None and self._clock() - latest[1] <= c.intervention_timeout_s:
                human = np.asarray(latest[0], dtype=np.float32)
                if human.size:  # an empty array means "hands off"
                    if human.shape != (c.action_dim,) or not np.all(np.isfinite(human)):
                        raise ValueError(
                            f"{c.intervention_topic}: expected {c.action_dim} finite values, "
                            f"got {human.tolist()}"
                        )
                    executed, intervened = np.clip(human, -1.0, 1.0), True
        sent = self._clock()
        if self.estopped:
            self._hold()
        else:
            pose = self.assembler.tcp_pose()
            if pose is None:
                raise RuntimeError("step before any TCP pose arrived; call reset() first")
            command, gripper = self.mapper.command(
                executed, pose[0], stamp=stamp_from_seconds(sent)
            )
            self._publish(command, gripper)
        self._next_tick = max(self._next_tick + 1.0 / c.control_hz, sent)
        snapshot = self._wait_fresh(sent, self._next_tick, need_reward=True)
        self._steps += 1
        if snapshot.obs is None:
            raise RuntimeError(f"lost streams {snapshot.stale} entirely; cannot observe")
        # a stream that sent nothing since the command is late even if younger than max_age_s
        stale = sorted(set(snapshot.stale) | set(self.assembler.not_fresh_since(sent)))
        reward_item = self._reward.get()
        reward = 0.0
        if reward_item is None or reward_item[1] < sent:
            stale.append(REWARD)
        else:
            reward = float(reward_item[0])
        if stale and not self.estopped:
            self._hold()  # never keep moving on data the policy did not see
        success = reward >= c.success_reward and not stale
        truncated = (
            self._steps >= c.max_episode_steps or bool(stale) or self.estopped
        ) and not success
        info: dict[str, Any] = {
            "success": success,
            "intervened": intervened,
            "executed_action": executed,
            "skew_s": snapshot.skew_s,
        }
        if stale:
            info["stale"] = ",".join(stale)
        if self.estopped:
            info["estop"] = True
        return snapshot.obs, reward, success, truncated, info

    # -- internals ----------------------------------------------------------------------------
    def _hold(self) -> None:
        pose = self.assembler.tcp_pose()
        if pose is None:
            return  # nothing ever moved: nothing to hold
        now = stamp_from_seconds(self._clock())
        self._publish(self.mapper.hold(pose[0], stamp=now), self._last_gripper())

    def _last_gripper(self) -> Float64:
        snap = self.last_snapshot
        if snap is None or snap.obs is None:
            return Float64(data=0.0)
        return Float64(data=float(1.0 - snap.obs["state"][10]))  # keep the measured closure

    def _wait_fresh(self, since_s: float, tick_s: float, *, need_reward: bool) -> Snapshot:
        deadline = since_s + self.config.step_timeout_s
        while True:
            now = self._clock()
            reward = self._reward.get()
            reward_fresh = not need_reward or (reward is not None and reward[1] >= since_s)
            if (
                now >= tick_s and self.assembler.fresh_since(since_s) and reward_fresh
            ) or now >= deadline:
                break
            self._sleep(min(0.002, max(0.0, deadline - now)))
        snapshot = self.assembler.assemble(self._clock())
        self.last_snapshot = snapshot
        return snapshot
