"""The actor loop: env + policy, streaming steps to the learner, taking weights when they come.

The actor never blocks on the learner: it sends without waiting, polls for weights without
waiting, and keeps acting with its last weights when the learner is silent. In the twin it
may pause between steps so that it does not run too far ahead of the learner (pacing), which
makes a simulated run reproduce the data-to-update ratio of a real robot at 10 Hz.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.envs.finite import NonFiniteActionError, nonfinite_keys, weights_problem
from robot_rl.hil import InterventionMixer, RunControls
from robot_rl.resets.human import HumanReset, HumanResetTimeout
from robot_rl.resets.scripted import ScriptedReset
from robot_rl.runtime.recorder import EpisodeRecorder, scalar_info
from robot_rl.safety.wrapper import safety_layer_of, safety_metrics
from robot_rl.wire.protocol import Control, Hello, Metrics, Step, Weights

PACE_STALL_S = 5.0  # s without learner progress after which pacing stops waiting


class ActingPolicy(Protocol):
    """What the actor needs of a policy."""

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray: ...

    def load_state_dict(self, state: Any, strict: bool = True) -> Any: ...


class EpisodeSink(Protocol):
    """Where finished episodes go (an EpisodeStore, or a BackgroundEpisodeWriter in front of one)."""

    def write_episode(self, ep: Episode) -> int: ...

    def raise_if_failed(self) -> None:
        """Raise a failed background write (a full disk) before the next command is sent."""
        ...

    @property
    def written(self) -> int:
        """Episodes committed to disk so far (a background writer counts them once durable)."""
        ...

    def flush(self) -> None:
        """Wait until every written episode is on disk."""
        ...


@dataclass
class ActorStats:
    """Counters the actor keeps and reports."""

    env_steps: int = 0
    episodes: int = 0
    """Finished episodes that are in the store (all finished ones when there is none): an
    episode counts once committed, so a kill -9 loses no counted episode and ``--resume``,
    which counts the store, goes on from this number."""
    episodes_writing: int = 0
    """Finished episodes handed to the store but not yet committed (not in ``episodes``)."""
    successes: deque[bool] = field(default_factory=lambda: deque(maxlen=20))
    returns: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    weights_version: int = 0
    learner_updates: int = 0
    rejected_weights: int = 0
    """Weights pushes refused for another config hash."""
    rejected_bad_weights: int = 0
    """Weights pushes refused for a NaN/inf entry or keys/shapes that do not fit the policy."""
    nonfinite_actions: int = 0
    """Steps whose chosen action (policy or person) had a NaN/inf: the safety layer held."""
    nonfinite_observations: int = 0
    """Env steps dropped because an observation or the reward had a NaN/inf (each ended its
    episode)."""
    paced_s: float = 0.0
    pace_stalls: int = 0
    resets: dict[str, float] = field(default_factory=dict)
    """Reset controller counters, as metric names: ``resets/scripted``, ``resets/human``,
    ``resets/scripted_missed_home``, ``resets/human_wait_s`` (totals so far)."""

    @property
    def success_rate(self) -> float:
        """Success rate over the last 20 episodes."""
        return float(np.mean(self.successes)) if self.successes else 0.0


@dataclass
class OpenEpisode:
    """The episode the actor is running: what each step and the episode boundary need."""

    episode_id: int
    obs: dict[str, np.ndarray]
    """The observation the next action is chosen from."""
    recorder: EpisodeRecorder
    t: int = 0
    """Steps taken so far in this episode."""
    ret: float = 0.0
    """Sum of this episode's rewards so far."""


class Actor:
    """Runs episodes with the latest weights, streams steps, records episodes."""

    def __init__(
        self,
        env: gym.Env,
        policy: ActingPolicy,
        transport: Any,
        *,
        config_hash: str,
        seed: int,
        store: EpisodeSink | None = None,
        updates_per_env_step: float = 0.0,
        learning_starts: int = 0,
        max_steps_ahead: int = 200,
        clock: Callable[[], float] = time.monotonic,
        on_episode: Callable[[Episode, ActorStats], None] | None = None,
        hello: Hello | None = None,
        mixer: InterventionMixer | None = None,
        controls: RunControls | None = None,
        on_step: Callable[[dict[str, np.ndarray], Step, ActorStats], None] | None = None,
        partial_episode: Literal["discard", "truncate"] = "discard",
        scripted_reset: ScriptedReset | None = None,
        human_reset: HumanReset | None = None,
        human_message: str = "put the scene back, then press continue",
    ) -> None:
        """``mixer``: an InterventionMixer (robot_rl.hil) choosing policy or human per
        step; ``controls``: RunControls (pause, latched e-stop, reset) checked before every
        env step; ``on_step(next_obs, step, stats)``: called after each step (dashboard);
        ``partial_episode``: what becomes of the episode running when ``run`` stops (stop
        request, step budget, KeyboardInterrupt): dropped, or finished with its last step
        marked truncated and written like any other episode.

        At every episode boundary after the first the scene is put back before ``env.reset``:
        ``scripted_reset`` drives the TCP home through ``env`` (so through its safety layer);
        ``human_reset`` asks a person (``human_message``) and waits for continue, still taking
        messages and stop requests; nobody by its deadline raises HumanResetTimeout (the
        finished episodes are written already)."""
        self.env = env
        self.policy = policy
        self.transport = transport
        self.config_hash = config_hash
        self.store = store
        self.updates_per_env_step = updates_per_env_step
        self.learning_starts = learning_starts
        self.max_steps_ahead = max_steps_ahead
        self.clock = clock
        self.on_episode = on_episode
        self.stats = ActorStats()
        self.stop_requested = False
        self._rng = np.random.default_rng(seed)
        self._open: OpenEpisode | None = None  # the episode being run
        self._written_seen = 0 if store is None else store.written  # the sink's count, last look
        self._count_lock = threading.Lock()  # count_stored runs on the actor and status threads
        self._seed = seed
        self._has_weights = False
        self._peer_alive = False
        self._learner_src: str | None = None  # the learner instance last heard from
        self.hello = hello
        self.mixer = mixer
        self.controls = controls
        self.on_step = on_step
        if partial_episode not in ("discard", "truncate"):
            raise ValueError(
                f"partial_episode must be discard or truncate, got {partial_episode!r}"
            )
        self.partial_episode = partial_episode
        self.safety = safety_layer_of(env)  # None: nothing filters the commands
        if scripted_reset is not None and human_reset is not None:
            raise ValueError("give scripted_reset or human_reset, not both")
        self.scripted_reset = scripted_reset
        self.human_reset = human_reset
        self.human_message = human_message

    # -- messages -------------------------------------------------------------------------
    def poll_messages(self, timeout_s: float = 0.0) -> None:
        """Take every waiting message: weights, learner progress, stop requests."""
        msg = self.transport.recv(timeout_s)
        while msg is not None:
            self._handle(msg)
            msg = self.transport.recv(0.0)
        self.count_stored()
        self.transport.maybe_heartbeat()
        alive = self.transport.peer_alive()
        learner = getattr(self.transport, "last_src", None)
        # A (re)started learner learns who we are; one restarted within the heartbeat timeout
        # never looked dead, but it is a new sender instance (src).
        if alive and (not self._peer_alive or learner != self._learner_src) and self.hello:
            self.transport.send(self.hello)
        self._peer_alive = alive
        self._learner_src = learner

    def _handle(self, msg: Any) -> None:
        if isinstance(msg, Weights):
            if msg.config_hash != self.config_hash:
                self.stats.rejected_weights += 1
                if self.stats.rejected_weights == 1:  # once: the actor keeps acting as it was
                    print(
                        f"actor: rejected weights v{msg.version}: their config hash "
                        f"{msg.config_hash} is not this run's {self.config_hash} (a learner "
                        "started from another config or another version of robot_rl?)",
                        file=sys.stderr,
                        flush=True,
                    )
                return
            if msg.version <= self.stats.weights_version and self._has_weights:
                return  # a duplicate or late push: keep the newer weights
            state = msg.state_dict()
            own = getattr(self.policy, "state_dict", None)
            problem = weights_problem(state, None if own is None else own())
            if problem is not None:
                self.stats.rejected_bad_weights += 1
                if self.stats.rejected_bad_weights == 1:  # once: it keeps its last good weights
                    kept = f"v{self.stats.weights_version}" if self._has_weights else "none yet"
                    print(
                        f"actor: rejected weights v{msg.version}: {problem}; acting on with the "
                        f"last good weights ({kept}); counted as actor/rejected_bad_weights",
                        file=sys.stderr,
                        flush=True,
                    )
                return
            self.policy.load_state_dict(state)
            self.stats.weights_version = msg.version
            self._has_weights = True
        elif isinstance(msg, Metrics):
            updates = msg.values.get("learner/updates")
            if updates is not None:
                self.stats.learner_updates = max(self.stats.learner_updates, int(updates))
        elif isinstance(msg, Control) and msg.command == "stop":
            self.stop_requested = True

    def adopt_weights(self, state: Any, version: int) -> None:
        """Act with these weights now (resume: the run's last policy file, before any push)."""
        self.policy.load_state_dict(state)
        self.stats.weights_version = version
        self._has_weights = True

    def _pace(self) -> None:
        """Twin only: wait while too far ahead of the learner (never when it is silent)."""
        if self.updates_per_env_step <= 0:
            return
        started = self.clock()
        last_updates, last_progress = self.stats.learner_updates, started
        while not self.stop_requested:
            trained_steps = self.stats.env_steps - self.learning_starts
            covered = self.stats.learner_updates / self.updates_per_env_step
            if trained_steps - covered <= self.max_steps_ahead or not self.transport.peer_alive():
                break
            if self.stats.learner_updates != last_updates:
                last_updates, last_progress = self.stats.learner_updates, self.clock()
            elif self.clock() - last_progress > PACE_STALL_S:
                # The learner is alive but not training (e.g. it lost steps and waits for
                # data): waiting longer would deadlock both, so act and let it catch up.
                self.stats.pace_stalls += 1
                break
            self.poll_messages(timeout_s=0.005)
        self.stats.paced_s += self.clock() - started

    def _hold_while_halted(self) -> None:
        """Paused or e-stopped: do not step; keep taking messages and heartbeats."""
        while self.controls is not None and self.controls.halted and not self.stop_requested:
            self.poll_messages(timeout_s=0.02)

    # -- acting ---------------------------------------------------------------------------
    def choose_action(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Policy action once weights arrived, uniform random before (as SERL does)."""
        if not self._has_weights:
            space = self.env.action_space
            assert isinstance(space, gym.spaces.Box)
            return self._rng.uniform(space.low, space.high).astype(np.float32)
        try:
            action = np.asarray(self.policy.act(obs), dtype=np.float32)
        except NonFiniteActionError as err:
            if self.safety is None:
                raise
            action = np.asarray(err.action, dtype=np.float32)  # the layer rejects and holds
        return action

    def _check_finite(self, action: np.ndarray) -> None:
        """A non-finite executed-to-be action: the safety layer holds (counted, said once);
        without a layer nothing would hold the arm, so the run stops here."""
        if np.all(np.isfinite(action)):
            return
        if self.safety is None:
            raise ValueError(f"non-finite action {action}; not sent to the env (no safety layer)")
        self.stats.nonfinite_actions += 1
        if self.stats.nonfinite_actions == 1:
            print(
                f"actor: non-finite action {action} at env step {self.stats.env_steps}; the "
                "safety layer holds the arm (counted as actor/nonfinite_actions)",
                file=sys.stderr,
                flush=True,
            )

    def run(
        self, env_steps: int, *, progress: Callable[[ActorStats], None] | None = None
    ) -> ActorStats:
        """Act for ``env_steps`` steps (or until stopped); returns the counters."""
        obs, _ = self.env.reset(seed=self._seed)
        self._open = OpenEpisode(episode_id=0, obs=obs, recorder=EpisodeRecorder(obs, self.clock()))
        try:
            self._run_loop(env_steps, progress, self._open)
        except KeyboardInterrupt:
            self._end_partial()
            raise
        self._end_partial()
        self._flush_store()  # the run is over: nothing waits on the disk now
        return self.stats

    def count_stored(self) -> None:
        """Count the episodes the store committed since the last look: an episode counts as
        finished once it is on disk, not when it is queued to the background writer, so what
        the actor reports never exceeds the store. The loop calls it at every poll; a status
        reader calls it too (thread-safe), since the loop can wait in a reset for long."""
        if self.store is None:
            return
        with self._count_lock:
            written = self.store.written
            committed, self._written_seen = written - self._written_seen, written
            self.stats.episodes += committed
            self.stats.episodes_writing -= committed

    def _flush_store(self) -> None:
        """Wait for the store to commit every finished episode, then count them."""
        if self.store is not None:
            self.store.flush()
            self.count_stored()

    def _run_loop(
        self,
        env_steps: int,
        progress: Callable[[ActorStats], None] | None,
        ep: OpenEpisode,
    ) -> None:
        while self.stats.env_steps < env_steps and not self.stop_requested:
            if self.store is not None:
                self.store.raise_if_failed()  # disk full: no further command, the arm holds
            self.poll_messages()
            self._pace()
            if self.controls is not None:
                self._hold_while_halted()
                if self.stop_requested:
                    break
                if self.controls.take_reset() and ep.t > 0:
                    ep.recorder.truncated[-1] = True  # ended by a person: stored as truncated
                    self._finish_episode(ep.recorder.finish({"reset_by": "operator"}), ep.ret)
                    next_ep = self._start_next_episode(ep)
                    if next_ep is None:
                        break  # stopped while a person was resetting
                    ep = next_ep
            step = self._step(ep)
            if step is None:  # a non-finite observation: the episode ends before it
                if ep.t > 0:
                    ep.recorder.truncated[-1] = True
                    self._finish_episode(
                        ep.recorder.finish({"ended_by": "nonfinite_observation"}), ep.ret
                    )
                last = self.stats.env_steps >= env_steps or self.stop_requested
                next_ep = self._start_next_episode(ep, put_back=not last)
                if next_ep is None:
                    break
                ep = next_ep
                if progress is not None:
                    progress(self.stats)
                continue
            if self.on_step is not None:
                self.on_step(step.next_obs, step, self.stats)
            if step.terminated or step.truncated:
                self._finish_episode(ep.recorder.finish(step.info), ep.ret)
                # the run's last episode: nothing follows it, so no one puts the scene back
                last = self.stats.env_steps >= env_steps or self.stop_requested
                next_ep = self._start_next_episode(ep, put_back=not last)
                if next_ep is None:
                    break  # stopped while a person was resetting
                ep = next_ep
            if progress is not None:
                progress(self.stats)

    def _step(self, ep: OpenEpisode) -> Step | None:
        """One env step of the open episode (policy or person acting), sent and recorded;
        None when an observation (this step's first or its next) or the reward has a NaN/inf:
        that step is neither sent nor stored, and the caller ends the episode."""
        obs = ep.obs
        action = self.choose_action(obs)
        intervened, source = False, keys.SOURCE_CODE["policy"]
        if self.mixer is not None:
            action, intervened, source = self.mixer.mix(obs, action)
        self._check_finite(action)
        if not np.all(np.isfinite(action)):
            intervened, source = False, keys.SOURCE_CODE["policy"]  # the hold is nobody's
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        action = np.asarray(info.get("executed_action", action), np.float32)  # as filtered
        if self.mixer is not None:
            reward = self.mixer.reward(float(reward), intervened, source)
        bad = nonfinite_keys(next_obs) or (nonfinite_keys(obs) if ep.t == 0 else [])
        if not math.isfinite(float(reward)):
            bad.append("reward")
        if bad:
            self.stats.env_steps += 1  # the env did step: it counts toward the budget
            self.stats.nonfinite_observations += 1
            if self.stats.nonfinite_observations == 1:
                print(
                    f"actor: dropped env step {self.stats.env_steps}, non-finite "
                    f"{', '.join(bad)}; its episode ends there (counted as "
                    "actor/nonfinite_observations)",
                    file=sys.stderr,
                    flush=True,
                )
            return None
        step = Step(
            episode_id=ep.episode_id,
            t=ep.t,
            first_obs=obs if ep.t == 0 else None,
            action=action,
            reward=float(reward),
            next_obs=next_obs,
            terminated=bool(terminated),
            truncated=bool(truncated),
            intervened=intervened,
            source=source,
            timestamp=self.clock(),
            info=scalar_info(info) if (terminated or truncated) else {},
        )
        self.transport.send(step)
        ep.recorder.add(step)
        self.stats.env_steps += 1
        ep.ret += float(reward)
        ep.t += 1
        ep.obs = next_obs
        return step

    def _start_next_episode(
        self, ended: OpenEpisode, *, put_back: bool = True
    ) -> OpenEpisode | None:
        """After ``ended`` was finished: put the scene back (when ``put_back``), reset the env
        and open the next episode; None when the run was stopped while a person was resetting."""
        episode_id = ended.episode_id + 1
        obs = self._next_scene(ended.obs, self._seed + episode_id, put_back=put_back)
        if obs is None:
            return None
        self._open = OpenEpisode(episode_id, obs, EpisodeRecorder(obs, self.clock()))
        if self.mixer is not None:
            self.mixer.reset()
        return self._open

    def _next_scene(
        self, obs: dict[str, np.ndarray], seed: int, *, put_back: bool = True
    ) -> dict[str, np.ndarray] | None:
        """Put the scene back with the configured controller (when ``put_back``), then reset
        the env; returns the first observation, or None when the run was stopped while waiting
        for a person."""
        if put_back and self.scripted_reset is not None:
            _obs, reached, _steps, _held = self.scripted_reset.move_home(self.env, obs)
            self.scripted_reset.resets += 1
            self._count("resets/scripted")
            self._count("resets/scripted_missed_home", float(not reached))
        elif put_back and self.human_reset is not None:
            human = self.human_reset
            human.request(self.human_message)
            started = self.clock()

            def keep_going() -> bool:
                self.poll_messages()  # weights, heartbeats, a stop from the learner
                return not self.stop_requested

            pressed = human.wait_for_continue(keep_going=keep_going)
            self._count("resets/human_wait_s", self.clock() - started)
            if not pressed:
                if self.stop_requested:
                    return None
                self._flush_store()  # the message below counts them all
                raise HumanResetTimeout(
                    f"resets.human_timeout_s: nobody pressed continue within "
                    f"{human.timeout_s:g} s; the run stops here (finished episodes, all "
                    f"written: {self.stats.episodes}; --resume goes on)"
                )
            self._count("resets/human")
        return self.env.reset(seed=seed)[0]

    def _count(self, name: str, amount: float = 1.0) -> None:
        self.stats.resets[name] = self.stats.resets.get(name, 0.0) + amount

    def _end_partial(self) -> None:
        """The episode open when ``run`` stopped: written truncated, or dropped (discard)."""
        ep, self._open = self._open, None
        if self.partial_episode == "discard" or ep is None or ep.recorder.finished:
            return
        recorder = ep.recorder
        if recorder.complete_steps() == 0:
            return
        if not recorder.terminated[-1]:
            recorder.truncated[-1] = True  # ended by the stop, not by the task
        self._finish_episode(recorder.finish({"partial": True}), ep.ret)

    def _finish_episode(self, episode: Episode, ep_return: float) -> None:
        self.stats.successes.append(episode.success)
        self.stats.returns.append(ep_return)
        if self.store is None:
            self.stats.episodes += 1
        else:
            # Counted in stats.episodes by count_stored once committed (at once for a
            # synchronous store); a background writer keeps the disk off the control loop.
            with self._count_lock:
                self.stats.episodes_writing += 1
            self.store.write_episode(episode)
            self.count_stored()
        self.transport.send(
            Metrics(
                {
                    "actor/episode_return": ep_return,
                    "actor/episode_length": float(len(episode)),
                    "actor/success": float(episode.success),
                    "actor/env_steps": float(self.stats.env_steps),
                    "actor/nonfinite_actions": float(self.stats.nonfinite_actions),
                    "actor/rejected_bad_weights": float(self.stats.rejected_bad_weights),
                    "actor/nonfinite_observations": float(self.stats.nonfinite_observations),
                    **(safety_metrics(self.safety) if self.safety is not None else {}),
                    **self.stats.resets,
                }
            )
        )
        if self.on_episode is not None:
            self.on_episode(episode, self.stats)
