"""A gymnasium env over message streams: the real cell (or the twin node) seen through ROS.

The ROS actor node owns the subscriptions and publishers and hands this env two callables;
the env owns the timing and the safety rules, so they are tested without ROS:

- Every action goes through the core ``SafetyLayer`` (robot_rl.safety) before it becomes a
  command: the layer clips it to the workspace box and step limits, or holds the arm on an
  e-stop, stale streams, a bad state or a bad action. A held step publishes a hold command
  (target = measured TCP, or a zero twist) and the last gripper command.
- ``step`` sends one command, then waits until a control period has passed *and* every
  stream (cameras, joints, TCP, reward) has a message received after the command, at most
  ``step_timeout_s``. Stale or missing data never reaches the policy as if it were current:
  the env publishes a hold command and truncates the episode (``info["stale"]`` names the
  streams). The watchdog does not wait that long to hold: once a stream's newest message is
  ``watchdog_periods`` (1.5) control periods old (its next one, due a period after it, is
  half a period late), a hold goes out at once (``watchdog_holds``), so the arm holds within
  one period of the missing message's due time; the wait goes on until the timeout. The wait
  sleeps until a message arrives (the assembler's arrivals, the reward's listener), the
  watchdog's due time or the tick, rather than polling: a message is acted on as it comes.
- Who acts (policy or person) is decided before the env, by the core ``InterventionMixer``
  (robot_rl.hil) in the actor; this env only executes.
- ``estop`` latches the layer's e-stop: every step publishes hold (``info["estop"]``), and
  ``reset`` (which would move the arm) raises, or with ``wait_while_estopped`` waits for
  ``release_estop`` (or ``cancel``).

All times come from one injected clock (s); callbacks must stamp receive times with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl import keys
from robot_rl.ros_compat.assembler import TCP_POSE, ObservationAssembler, Snapshot
from robot_rl.ros_compat.config import CellConfig, safety_config_for_cell
from robot_rl.ros_compat.geometry import CommandMapper
from robot_rl.ros_compat.latency import CommandLatency
from robot_rl.ros_compat.messages import Float64, seconds_of, stamp_from_seconds
from robot_rl.safety.layer import RobotState, SafetyLayer

REWARD = "reward"
WAIT_CAP_S = 0.05
"""Longest wait (s) between two looks at the streams when nothing arrives (a safety net:
arrivals, the watchdog's due time and the tick end a wait earlier)."""


class LatestValue:
    """The last value of a scalar/array stream and its receive time (s); thread-safe enough.

    One tuple assignment is atomic in CPython, so a reader never sees a value paired with
    another message's time.
    """

    def __init__(self) -> None:
        self._item: tuple[Any, float] | None = None
        self._listeners: list[Callable[[], None]] = []

    def set(self, value: Any, received_s: float) -> None:
        """Store ``value`` received at ``received_s`` (s), then call the listeners."""
        self._item = (value, received_s)
        for listener in self._listeners:
            listener()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every :meth:`set` (it wakes a waiting control loop)."""
        self._listeners.append(listener)

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
        reward: LatestValue | None,
        safety: SafetyLayer | None = None,
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_while_estopped: bool = False,
        reset_retry_s: float = 0.0,
        on_observed: Callable[[Snapshot, str], None] | None = None,
        on_action: Callable[[np.ndarray, float], None] | None = None,
        latency: CommandLatency | None = None,
    ) -> None:
        """``clock``: the receive clock (s) of the stream callbacks; ``stamp_clock``: the time
        (s) written into command headers (the ROS clock in a node, wall time by default);
        ``reward``: the reward stream (None: no reward is waited for, every reward is 0, as
        in the reset node); ``safety``: the layer every action passes (default: one built
        from the cell by ``safety_config_for_cell``); ``reset_retry_s``: how long a reset
        whose data stays stale (a camera that stopped) is asked for again before it raises
        (0: raise at once); ``on_observed(snapshot, "reset" | "step")``: every assembled
        observation with the messages it was built from; ``on_action(action, sent_s)``: every
        step's executed action (A,) float32 after its command was published (bag recording);
        ``latency``: records each policy command's stages (robot_rl.ros_compat.latency)."""
        config.validate()
        self.config = config
        self.assembler = assembler
        self.mapper = CommandMapper(config)
        self._publish = publish
        self._request_reset = request_reset
        self._reward = reward
        if reward is not None:  # a reward wakes the wait for fresh data, as messages do
            reward.add_listener(assembler.notify_arrival)
        self.safety = safety or SafetyLayer(safety_config_for_cell(config))
        if self.safety.config.action_dim != config.action_dim:
            raise ValueError(
                f"action_dim: the safety config has {self.safety.config.action_dim}, "
                f"the cell {config.action_dim} (use_rotation)"
            )
        self._clock = clock
        self._stamp_clock = stamp_clock
        self._sleep = sleep
        self._wait_while_estopped = wait_while_estopped
        self._reset_retry_s = reset_retry_s
        self._on_observed = on_observed
        self._on_action = on_action
        self.latency = latency
        # the reference stream of a command's latency: the first camera, else the TCP pose
        self._reference = assembler.streams[0] if config.cameras else TCP_POSE
        self.watchdog_holds = 0
        """Holds the watchdog sent because data was a control period late."""
        self.watchdog_hold_s: float | None = None
        """Clock time (s) of the watchdog's last hold."""
        self._cancelled = False
        self._command_lock = threading.Lock()
        self._steps = 0
        self._next_tick = 0.0
        self._fresh_at: float | None = None  # when the last wait had every stream fresh (s)
        self._gripper: Float64 | None = None  # the last gripper command sent
        self.last_snapshot: Snapshot | None = None
        self.observation_space = assembler.observation_space()  # type: ignore[assignment]
        self.action_space = gym.spaces.Box(-1.0, 1.0, (config.action_dim,), np.float32)

    @property
    def estopped(self) -> bool:
        """True while the safety layer's e-stop is latched."""
        return self.safety.estopped is not None

    def estop(self, reason: str = "e-stop") -> None:
        """Latch the e-stop (any thread): hold now and on every later step.

        A command the control thread computed before the latch is not sent after this
        returns: publishing and the latch check share one lock.
        """
        self.safety.estop(reason)
        with self._command_lock:
            self._hold()

    def release_estop(self) -> None:
        """Release the latched e-stop; the next reset or step may move the arm again."""
        self.safety.release()

    def cancel(self) -> None:
        """End a reset that waits for an e-stop release (shutdown): it raises instead."""
        self._cancelled = True

    def stream_times(self) -> dict[str, float]:
        """Receive time (s) of the latest message per safety-layer stream (see config)."""
        return self.assembler.safety_stream_times()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Ask the cell to reset (blocking), then wait for fresh data (``seed`` is unused)."""
        super().reset(seed=seed)
        while self.estopped and self._wait_while_estopped and not self._cancelled:
            self._sleep(0.02)
        if self.estopped:
            raise RuntimeError("e-stop is latched: the cell is not reset while it holds")
        first = self._clock()
        while True:
            started = self._clock()  # before the request: a cell may publish while answering
            self._request_reset()
            snapshot = self._wait_fresh(started, started, need_reward=False)
            late = sorted(set(snapshot.stale) | set(self.assembler.not_fresh_since(started)))
            if snapshot.obs is not None and not late:
                break
            if self._cancelled or self._clock() - first >= self._reset_retry_s:
                raise TimeoutError(
                    f"no fresh data after reset within {self.config.step_timeout_s} s; "
                    f"stale streams: {late}"
                )
            with self._command_lock:
                self._hold()  # and ask again: a stream that stopped may come back
        if self._on_observed is not None:
            self._on_observed(snapshot, "reset")
        pose = self.assembler.tcp_pose()
        assert pose is not None  # the snapshot above had every stream
        self.mapper.reset(*pose)
        self.safety.reset()
        self._gripper = Float64(data=0.0)  # the layer starts from an open gripper
        self._steps = 0
        self._next_tick = self._clock()
        return snapshot.obs, {"success": False}

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Send one action's command, wait one control period, observe."""
        c = self.config
        if self.last_snapshot is None or self.last_snapshot.obs is None:
            raise RuntimeError("step before the first observation; call reset() first")
        sent = self._clock()
        robot = RobotState.from_twin_state(
            self.last_snapshot.obs[keys.STATE], self.assembler.safety_stream_times()
        )
        safe = self.safety.filter(np.asarray(action), robot, sent)
        executed = safe.action  # (A,) float32: what the cell is told to do
        with self._command_lock:  # an e-stop from another thread lands before or after
            if safe.held or self.estopped:
                self._hold()
            else:
                pose = self.assembler.tcp_pose()
                if pose is None:
                    raise RuntimeError("step before any TCP pose arrived; call reset() first")
                stamp_s = self._stamp_clock()
                command, gripper = self.mapper.command(
                    executed, pose[0], stamp=stamp_from_seconds(stamp_s)
                )
                self._gripper = gripper
                self._publish(command, gripper)
                if self.latency is not None:
                    self.latency.published(sent, stamp_s, self._clock())
        if self._on_action is not None:
            self._on_action(executed, sent)
        period = 1.0 / c.control_hz
        self._next_tick = max(self._next_tick + period, sent)
        # Observe from half a period before the tick: data that comes at the control rate
        # (the twin, a 10 Hz camera) is used as it arrives rather than up to a period late;
        # when it had been waiting, the ticks move onto it (next period it is on time).
        earliest = self._next_tick - 0.5 * period
        snapshot = self._wait_fresh(sent, earliest, need_reward=True)
        if self._fresh_at is not None and self._fresh_at < earliest:
            self._next_tick -= earliest - self._fresh_at
        if self._on_observed is not None:
            self._on_observed(snapshot, "step")
        self._steps += 1
        if snapshot.obs is None:
            raise RuntimeError(f"lost streams {snapshot.stale} entirely; cannot observe")
        # a stream that sent nothing since the command is late even if younger than max_age_s
        stale = sorted(set(snapshot.stale) | set(self.assembler.not_fresh_since(sent)))
        reward = 0.0
        if self._reward is not None:
            reward_item = self._reward.get()
            if reward_item is None or reward_item[1] < sent:
                stale.append(REWARD)
            else:
                reward = float(reward_item[0])
        if stale and not self.estopped:
            with self._command_lock:
                self._hold()  # never keep moving on data the policy did not see
        success = reward >= c.success_reward and not stale
        # An e-stop holds without ending the episode: the actor's RunControls halt it before
        # the next step, and a reset (which would move the arm) waits for the release.
        truncated = (
            self._steps >= c.max_episode_steps or bool(stale) or safe.end_episode
        ) and not success
        info: dict[str, Any] = {
            "success": success,
            "executed_action": executed,
            "skew_s": snapshot.skew_s,
            "safety_held": safe.held,
            "safety_events": ",".join(safe.events),
            "safety_end": safe.end_episode,
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
        now = stamp_from_seconds(self._stamp_clock())
        self._publish(
            self.mapper.hold(pose[0], stamp=now), self._gripper or self._measured_gripper()
        )

    def _measured_gripper(self) -> Float64:
        snap = self.last_snapshot
        if snap is None or snap.obs is None:
            return Float64(data=0.0)
        return Float64(data=float(1.0 - snap.obs[keys.STATE][10]))  # keep the measured closure

    def _wait_fresh(self, since_s: float, tick_s: float, *, need_reward: bool) -> Snapshot:
        """Wait until every stream (and the reward) has a message after ``since_s`` and the
        clock is past ``tick_s``, at most ``step_timeout_s``; hold at once when a stream is
        overdue. Woken by each arriving message (the assembler's arrivals; the reward's
        LatestValue must notify it too), not by polling."""
        deadline = since_s + self.config.step_timeout_s
        overdue_age = self.config.watchdog_periods / self.config.control_hz
        held = not need_reward  # a reset has nothing in flight to hold
        self._fresh_at = None
        reward = None
        while True:
            seen = self.assembler.arrivals()  # before looking: no arrival is missed
            now = self._clock()
            reward = self._reward.get() if self._reward is not None else None
            reward_fresh = (
                not need_reward
                or self._reward is None
                or (reward is not None and reward[1] >= since_s)
            )
            if reward_fresh and self._fresh_at is None and self.assembler.fresh_since(since_s):
                self._fresh_at = now
            if (self._fresh_at is not None and now >= tick_s) or now >= deadline:
                break
            wake = deadline
            if self._fresh_at is not None:
                wake = min(wake, tick_s)  # all here: only the tick is waited for
            elif not held:
                overdue = self.assembler.overdue_at(since_s, overdue_age)
                if overdue is not None and overdue <= now:
                    held = True
                    self.watchdog_holds += 1
                    self.watchdog_hold_s = now
                    with self._command_lock:
                        if not self.estopped:  # an e-stop has held already
                            self._hold()
                    continue
                if overdue is not None:
                    wake = min(wake, overdue)
            # the reward's arrival wakes this too (its listener, see __init__)
            self.assembler.wait_for_arrival(seen, min(wake - now, WAIT_CAP_S))
        snapshot = self.assembler.assemble(self._clock())
        self.last_snapshot = snapshot
        if self.latency is not None and snapshot.obs is not None:
            self._observed(snapshot, reward if need_reward else None)
        return snapshot

    def _observed(self, snapshot: Snapshot, reward: tuple[Any, float] | None) -> None:
        """Hand the latency recorder this observation's reference stamp and receipts."""
        assert self.latency is not None
        assembled = self._clock()
        offset = self._stamp_clock() - assembled
        streams = self.assembler.streams
        receipts = {s: item[1] for s, item in snapshot.messages.items() if s in streams}
        if reward is not None:
            receipts[REWARD] = reward[1]
        reference = snapshot.messages[self._reference][0]
        stamp = seconds_of(reference.header.stamp)  # type: ignore[attr-defined]
        self.latency.observed(stamp, receipts, assembled, offset)
