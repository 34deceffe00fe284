"""The actor of a ROS cell, without ROS: env, safety layer, intervention mixer, core Actor.

The actor node (ros_ws) subscribes, publishes and serves; everything else happens here so
it is tested on the twin without ROS:

- :class:`BridgeEnv` turns actions into commands through the core ``SafetyLayer``;
- the core ``InterventionMixer`` (robot_rl.hil) chooses policy or person each step,
  the person being the latest message of the intervention topic (:class:`TopicHumanSource`);
- ``RunControls`` (pause, e-stop latch, reset request, takeover) are driven by the node's
  services and topics through :meth:`CellActor.control`, the names the dashboard uses;
- a ``DashboardFeed`` follows every step; :meth:`CellActor.status` is the JSON the node
  publishes and the dashboard node mirrors (robot_rl.ros_compat.remote_dashboard);
- episodes go to ``<run_dir>/episodes`` as in ``robot-rl train``, through a labelling sink;
  ``resume`` continues a run there as ``robot-rl train --resume`` does (counters from the
  stored episodes, the run's last policy file, reset seeds going on), so a restarted actor
  loses no finished episode;
- ``policy_file`` acts with fixed weights, deterministically (evaluation, bag replay);
- ``bag`` records what the actor acted on (robot_rl.ros_compat.bag.ObservedBagWriter);
- every policy command's latency by stage goes to ``<run_dir>/latency.jsonl``
  (robot_rl.ros_compat.latency), written by :meth:`CellActor.write_latency`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import config_hash, save_yaml
from robot_rl.dashboard.state import DashboardFeed, LabellingSink
from robot_rl.envs.spec import ObsSpec, obs_spec_from_space, spec_to_json
from robot_rl.hil import HumanInput, InterventionMixer, RunControls
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.bridge_env import BridgeEnv, LatestValue
from robot_rl.ros_compat.config import CellConfig, safety_config_for_cell
from robot_rl.ros_compat.latency import LATENCY_FILE, CommandLatency
from robot_rl.ros_compat.messages import Float64
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor, ActorStats
from robot_rl.safety.config import SafetyConfig
from robot_rl.safety.layer import SafetyLayer

CONTROLS = ("pause", "resume", "estop", "release_estop", "reset", "takeover", "handback")
"""Control names of the actor's ``~/control`` topic; the dashboard app's ``CONTROLS``."""
LABELS = ("label_current", "label_last")
"""Label controls: ``label_current:1`` marks the running episode a success, ``:0`` a failure."""


class TopicHumanSource:
    """The intervention topic as an InterventionMixer HumanSource.

    A message younger than ``intervention_timeout_s`` with A values is the person's action;
    an empty array (dead-man released) or no recent message means hands off.
    """

    def __init__(
        self, latest: LatestValue, config: CellConfig, *, clock: Callable[[], float]
    ) -> None:
        self.latest = latest
        self.config = config
        self._clock = clock

    def poll(self, obs: dict[str, np.ndarray], policy_action: np.ndarray) -> HumanInput:
        """The person's action (A,) float32 in [-1, 1], or hands off."""
        item = self.latest.get()
        if item is None or self._clock() - item[1] > self.config.intervention_timeout_s:
            return HumanInput(None, False)
        human = np.asarray(item[0], dtype=np.float32)
        if human.size == 0:
            return HumanInput(None, False)
        if human.shape != (self.config.action_dim,) or not np.all(np.isfinite(human)):
            raise ValueError(
                f"{self.config.intervention_topic}: expected {self.config.action_dim} finite "
                f"values, got {human.tolist()}"
            )
        return HumanInput(np.clip(human, -1.0, 1.0), True)

    def reset(self) -> None:
        """The topic keeps no per-episode state."""


def cell_spec(cell: CellConfig) -> tuple[ObsSpec, int]:
    """Observation spec and action dimension of the cell's observations."""
    return obs_spec_from_space(ObservationAssembler(cell).observation_space()), cell.action_dim


def write_run_files(run_dir: Path, run_config: RunConfig, cell: CellConfig) -> str:
    """Write ``config.yaml`` and ``spec.json`` (what learner_main reads); returns the config hash.

    Actor and learner nodes both call this with the same configs, so a learner on another
    machine needs no files from the actor.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    # Atomic replace: both nodes write the same files while learner_main may be reading them.
    tmp = run_dir / f".config.yaml.{os.getpid()}.tmp"
    save_yaml(run_config, tmp)
    os.replace(tmp, run_dir / "config.yaml")
    spec, action_dim = cell_spec(cell)
    tmp = run_dir / f".spec.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(spec_to_json(spec, action_dim)))
    os.replace(tmp, run_dir / "spec.json")
    return config_hash(run_config)


class DeterministicPolicy:
    """A policy that always acts deterministically (the mean action: tanh of the mean for SAC)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = True) -> np.ndarray:
        """The policy's deterministic action (A,) float32, whatever ``deterministic`` says."""
        return np.asarray(self.policy.act(obs, deterministic=True), dtype=np.float32)

    def load_state_dict(self, state: Any) -> None:
        """Load weights into the wrapped policy."""
        self.policy.load_state_dict(state)


class TimedPolicy:
    """A policy whose every forward is timed into a CommandLatency (the ``policy`` stage)."""

    def __init__(self, policy: Any, latency: CommandLatency, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._latency = latency
        self._clock = clock

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray:
        """The wrapped policy's action (A,) float32; its start and end times recorded."""
        start = self._clock()
        action = self.policy.act(obs, deterministic=deterministic)
        self._latency.policy_ran(start, self._clock())
        return action  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:  # load_state_dict, state_dict, ...
        if name == "policy":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.policy, name)


class CellActor:
    """Everything the actor node runs besides rclpy (see the module docstring)."""

    def __init__(
        self,
        run_config: RunConfig,
        cell: CellConfig,
        run_dir: Path,
        *,
        publish: Callable[[object, Float64], None],
        request_reset: Callable[[], None],
        safety: SafetyConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: Callable[[], float] = time.time,
        resume: bool = False,
        policy_file: Path | None = None,
        bag: Any = None,
        publish_action: Callable[[np.ndarray], None] | None = None,
        reset_retry_s: float = 0.0,
    ) -> None:
        """``publish(command, gripper)`` sends a PoseStamped/TwistStamped and a Float64;
        ``request_reset()`` blocks until the cell's reset service answered (raises on failure);
        ``safety``: the layer's limits (default ``safety_config_for_cell(cell)``); ``clock``:
        the receive clock of the callbacks (s); ``stamp_clock``: command header time (s);
        ``resume``: continue the run in ``run_dir``; ``policy_file``: act with its weights,
        deterministically; ``bag``: an ObservedBagWriter fed every observation and action
        (closed by :meth:`run`); ``publish_action(action)``: sends each executed action;
        ``reset_retry_s``: how long a reset without fresh data is retried (BridgeEnv)."""
        self.run_config = run_config
        self.cell = cell
        self.run_dir = Path(run_dir)
        self.clock = clock
        self.assembler = ObservationAssembler(cell)
        self.reward = LatestValue()
        self.intervention = LatestValue()
        self.layer = SafetyLayer(safety or safety_config_for_cell(cell))
        self.resume = resume
        self.policy_file = policy_file
        self.bag = bag
        self._publish_action = publish_action
        self.latency = CommandLatency()
        self.env = BridgeEnv(
            cell, self.assembler, publish=publish, request_reset=request_reset,
            reward=self.reward, safety=self.layer, clock=clock, stamp_clock=stamp_clock,
            wait_while_estopped=True, reset_retry_s=reset_retry_s,
            on_observed=self._on_observed, on_action=self._on_action, latency=self.latency,
        )  # fmt: skip
        self.controls = RunControls()
        self.mixer = InterventionMixer(
            cell.action_dim,
            config=run_config.hil,
            source=TopicHumanSource(self.intervention, cell, clock=clock),
            controls=self.controls,
        )
        self.feed = DashboardFeed(self.controls)
        self.actor: Actor | None = None

    def _on_observed(self, snapshot: Any, kind: str) -> None:
        if self.bag is not None:
            self.bag.on_observed(snapshot, kind, self.reward.get() if kind == "step" else None)

    def _on_action(self, action: np.ndarray, sent_s: float) -> None:
        if self._publish_action is not None:
            self._publish_action(action)
        if self.bag is not None:
            self.bag.on_action(action, sent_s)

    def run(self, transport: Any, env_steps: int) -> ActorStats:
        """Write the run files, then act until the run has ``env_steps`` steps (blocks)."""
        try:
            return self._run(transport, env_steps)
        finally:
            self.write_latency()
            if self.bag is not None:
                self.bag.close()

    def write_latency(self) -> int:
        """Append the commands' stage times since the last call to ``<run_dir>/latency.jsonl``
        (robot_rl.ros_compat.latency); call it off the control thread. How many rows."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.latency.write(self.run_dir / LATENCY_FILE)

    def _run(self, transport: Any, env_steps: int) -> ActorStats:
        from robot_rl.app.build import make_policy
        from robot_rl.data.async_writer import BackgroundEpisodeWriter
        from robot_rl.data.episode_store import EpisodeStore
        from robot_rl.runtime.checkpoint import load_policy
        from robot_rl.runtime.resume import stored_progress
        from robot_rl.wire.protocol import Control, Hello

        config = self.run_config
        digest = write_run_files(self.run_dir, config, self.cell)
        spec, action_dim = cell_spec(self.cell)
        episodes = self.run_dir / "episodes"
        episodes_done, steps_done = stored_progress(episodes) if self.resume else (0, 0)
        store = EpisodeStore.create(
            episodes, obs_spec=spec, action_dim=action_dim,
            attrs={"task": config.task, "config_hash": digest, "source": "ros"},
            exist_ok=self.resume,
        )  # fmt: skip
        if self.resume:  # the killed actor's unfinished write: nobody is writing it now
            store.cleanup_incomplete(min_age_s=0.0)
        sink = LabellingSink(BackgroundEpisodeWriter(store), store)
        self.feed.labeller = sink
        hello = Hello(role="actor", run_id=self.run_dir.name, config_hash=digest)
        transport.send(hello)
        policy: Any = make_policy(config, spec, action_dim)
        if self.policy_file is not None:
            policy = DeterministicPolicy(policy)
        policy = TimedPolicy(policy, self.latency, self.clock)
        self.actor = Actor(
            self.env,
            policy,
            transport,
            config_hash=digest,
            seed=config.seed + episodes_done,  # a resumed run's episodes keep their seeds
            store=sink,
            updates_per_env_step=0.0,  # a cell runs in real time: never wait for the learner
            learning_starts=config.train.learning_starts,
            hello=hello,
            mixer=self.mixer,
            controls=self.controls,
            on_step=self.feed.on_step,
            on_episode=self.feed.on_episode,
            partial_episode=config.runtime.partial_episode,
        )
        self.actor.stats.env_steps, self.actor.stats.episodes = steps_done, episodes_done
        weights = self.policy_file
        if weights is None and self.resume and (self.run_dir / "policy.safetensors").is_file():
            weights = self.run_dir / "policy.safetensors"
        if weights is not None:
            tensors, meta = load_policy(weights)
            self.actor.adopt_weights(tensors, int(meta.get("weights_version", 0)))
        try:
            return self.actor.run(env_steps)
        finally:
            sink.close()
            transport.send(Control(command="stop"))

    def stop(self) -> None:
        """Ask the actor loop to end after the current step (also while halted)."""
        if self.actor is not None:
            self.actor.stop_requested = True
        self.env.cancel()

    def control(self, name: str, *, source: str) -> str:
        """Apply a control (``CONTROLS`` or ``label_*:0|1``) from ``source``; returns a message.

        Raises ValueError naming the control when it is unknown.
        """
        c = self.controls
        if name == "estop":
            self.env.estop(source)  # latches the safety layer and publishes hold now
            c.estop()
        elif name == "release_estop":
            self.env.release_estop()
            c.release_estop()
        elif name == "pause":
            c.pause(f"paused by {source}")
        elif name == "resume":
            c.resume()
        elif name == "reset":
            c.request_reset()
        elif name in ("takeover", "handback"):
            c.set_takeover(name == "takeover")
        elif name.partition(":")[0] in LABELS and name.partition(":")[2] in ("0", "1"):
            which, _, flag = name.partition(":")
            return json.dumps(self.feed.label(which.removeprefix("label_"), flag == "1"))
        else:
            raise ValueError(f"control: unknown {name!r}; one of {CONTROLS} or label_*:0|1")
        return f"{name} ({source}): mode {self.feed.mode()}"

    def status(self) -> dict[str, Any]:
        """JSON-ready state: the dashboard feed's status plus counters, history and safety."""
        if self.actor is not None:  # the loop may be waiting in a reset: count commits now
            self.actor.count_stored()
        stats = self.actor.stats if self.actor is not None else ActorStats()
        ages = self.assembler.ages(self.clock())
        out = self.feed.status()
        out.update(
            env_steps=stats.env_steps,
            episodes=stats.episodes,
            episodes_writing=stats.episodes_writing,
            weights_version=stats.weights_version,
            learner_updates=stats.learner_updates,
            episode_steps=self.feed.episode_steps,
            episode_interventions=self.feed.episode_interventions,
            last_intervened=self.feed.last_intervened,
            takeover=self.controls.takeover,
            paused=self.controls.paused,
            estop_reason=self.layer.estopped,
            stale=[s for s, age in ages.items() if not age <= self.cell.max_age_s],
            watchdog_holds=self.env.watchdog_holds,
            watchdog_hold_s=self.env.watchdog_hold_s,
            resumed=self.resume,
            latency_commands=self.latency.commands,
            safety=self.layer.stats,
            history=self.feed.history_json(),
        )
        return out


__all__ = [
    "CONTROLS",
    "LABELS",
    "CellActor",
    "DeterministicPolicy",
    "TimedPolicy",
    "TopicHumanSource",
    "cell_spec",
    "write_run_files",
]
