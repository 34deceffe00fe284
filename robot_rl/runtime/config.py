"""The runtime's own configs: the actor/learner training loop and its processes.

They are sections of the run config (``train`` and ``runtime``, robot_rl/run_config.py) and
live here, below it, so that the loops read them without importing the whole run config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainConfig:
    """The actor/learner training loop."""

    env_steps: int = 20_000
    """Online env steps to collect (excluding demos and evaluation)."""
    learning_starts: int = 100
    """Online transitions in replay before the first update."""
    replay_capacity: int = 200_000
    """Online replay capacity in transitions."""
    intervention_capacity: int = 20_000
    """Room in the demo buffer for human interventions (HIL-SERL), in transitions."""
    self_imitation: bool = False
    """Copy every successful online episode into the demo buffer (robot_rl/data/self_imitation.py)."""
    self_imitation_capacity: int = 20_000
    """Room in the demo buffer for successful online episodes, in transitions; once it is full
    the oldest rows (the recorded demos first) are overwritten."""
    updates_per_env_step: float = 1.0
    """Twin pacing: the actor waits when it is this ratio ahead of the learner (no effect on a real robot, where time paces)."""
    max_steps_ahead: int = 200
    """Twin pacing slack: env steps the actor may run ahead of the learner before it waits."""
    weights_push_every: int = 50
    """Learner updates between weight pushes to the actor."""
    checkpoint_every: int = 2_000
    """Learner updates between checkpoints."""
    keep_checkpoints: int = 3
    """Checkpoints kept on disk (older ones are deleted)."""
    eval_every: int = 5_000
    """Env steps between evaluations (0: only at the end)."""
    eval_episodes: int = 20
    """Episodes per evaluation (deterministic policy)."""
    final_eval_episodes: int = 50
    """Episodes of the final evaluation."""
    log_every: int = 250
    """Learner updates between metric log lines."""
    max_wall_s: float = 0.0
    """Stop acting after this many seconds of online training, whatever ``env_steps`` says (0: no limit); the open episode is ended per ``runtime.partial_episode``."""
    video: bool = True
    """Write an mp4 of final evaluation episodes into the run directory."""

    def validate(self) -> None:
        for name in (
            "env_steps",
            "replay_capacity",
            "weights_push_every",
            "checkpoint_every",
            "self_imitation_capacity",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.max_wall_s < 0:
            raise ValueError("max_wall_s must be >= 0")
        if self.updates_per_env_step < 0:
            raise ValueError("updates_per_env_step must be >= 0")


@dataclass
class RuntimeConfig:
    """Processes, transport and threads."""

    transport: Literal["zmq", "inprocess"] = "zmq"
    """zmq: actor and learner are two processes over a socket; inprocess: one process (tests)."""
    learner_address: str = "tcp://127.0.0.1:0"
    """Where the learner binds (port 0 picks a free port) and the actor connects."""
    heartbeat_interval_s: float = 0.5
    """Seconds between heartbeats."""
    heartbeat_timeout_s: float = 5.0
    """A peer silent for this long is considered gone."""
    torch_threads: int = 1
    """Torch intra-op threads per process (actor and learner share the CPU)."""
    learner_nice: int = 5
    """Nice levels the learner's update loop runs below the actors (0-19; Linux/macOS). The
    actors run the control loop and keep its period; the learner's updates can wait. With
    pacing on (``train.updates_per_env_step``) the actors wait for the learner anyway, so the
    ratio holds; with more busy processes than cores (twin actors on a laptop, another job
    on the workstation) the actors get the CPU first. 0: same priority."""
    learner_sched_idle: bool = False
    """Linux: the learner's update loop also runs in SCHED_IDLE, below every nice level: a
    waking actor, twin or ROS node thread preempts it at once instead of sharing the core
    by weight (docs/ros2.md, latency). The learner then trains only on what the rest leaves."""
    device: str = "auto"
    """Learner device: auto (CUDA when present), cpu or cuda[:N]."""
    startup_timeout_s: float = 120.0
    """Deadline for the learner to come up and say hello, in seconds; while the learner
    pre-trains on the demos it reports progress and the deadline counts from its last report
    (a learner silent this long is given up on)."""
    on_learner_loss: Literal["continue", "pause"] = "continue"
    """When the learner is silent: continue acting with the last weights, or pause between steps until it is back."""
    max_learner_restarts: int = 10
    """A dead learner process is restarted from its last checkpoint at most this many times."""
    partial_episode: Literal["discard", "truncate"] = "discard"
    """The episode running when the actor stops (budget reached, stop, Ctrl-C): discard drops it; truncate stores it with its last step marked truncated (atomically, like any episode)."""
    engine: Literal["zmq", "ray"] = "zmq"
    """zmq: one actor (this process) and one learner (``transport``); ray: ``num_actors`` twin actors and one learner as Ray actors (docs/scale_out.md)."""
    num_actors: int = 1
    """engine ray: twin actors, each with its own seed (``seed + 1000 * k``), domain randomisation and episode store."""
    ray_address: str = ""
    """engine ray: the cluster to join (``auto``, ``ray://host:10001``); empty starts a local Ray when none is running."""
    max_actor_restarts: int = 3
    """engine ray: a dead actor process is restarted by Ray at most this many times (its open episode is discarded)."""
    ray_actor_cpus: float = 1.0
    """engine ray: CPUs each twin actor reserves (fractions pack several actors on a core)."""
    learner_gpus: float = -1.0
    """engine ray: GPUs the learner actor asks for; -1 takes one when the cluster has a GPU, else none."""

    def validate(self) -> None:
        if self.num_actors < 1:
            raise ValueError(f"num_actors must be >= 1, got {self.num_actors}")
        if self.max_actor_restarts < 0:
            raise ValueError(f"max_actor_restarts must be >= 0, got {self.max_actor_restarts}")
        if self.ray_actor_cpus <= 0:
            raise ValueError(f"ray_actor_cpus must be > 0, got {self.ray_actor_cpus}")
        if self.num_actors > 1 and self.engine != "ray":
            raise ValueError("num_actors > 1 needs engine: ray (the zmq runtime runs one actor)")


__all__ = ["RuntimeConfig", "TrainConfig"]
