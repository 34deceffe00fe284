"""``runtime.engine: ray``: N twin actors and one learner as Ray actors (docs/scale_out.md).

The loops are the zmq runtime's own (robot_rl.runtime.actor.Actor, .learner.Learner, built
as launch.py and learner_main.py build them); only the transport (transport_ray.py) and the
process keeping differ. Ray provides what the zmq runtime's supervisor does by hand:

- placement: each actor takes ``runtime.ray_actor_cpus`` CPUs, the learner one CPU and a GPU
  when the cluster has one (``runtime.learner_gpus``);
- restarts: a dead actor process is restarted (``max_restarts``) and its ``run`` call
  resubmitted; it continues from its own store's committed episodes, its open episode lost.
  A dead learner is restarted too and, as ``robot-rl train --resume`` does, restores the
  newest checkpoint and rebuilds replay from every actor's store.

Episode stores: one per actor, ``episodes/actor-NN/``. An EpisodeStore has one writer by
design (episodes are committed by renaming a temporary group; ids are taken from the
directory), so N writers in one store would race for ids; per-actor stores need no lock,
cost nothing to read together (learner_main.online_stores) and a restarted actor cleans
only its own half-written group. On a cluster the run directory must be on a filesystem
every node mounts.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from robot_rl.run_config import RunConfig

ACTOR_SEED_STRIDE = 1000  # actor k's episodes are seeded seed + 1000 k + episode index


def actor_name(index: int) -> str:
    """The Ray actor name (and transport key) of actor ``index``."""
    return f"actor-{index:02d}"


def split_steps(total: int, n: int) -> list[int]:
    """``total`` env steps over ``n`` actors (the first ones take the remainder)."""
    return [total // n + (1 if k < total % n else 0) for k in range(n)]


def _node_id() -> str:
    """The Ray node this process runs on."""
    import ray

    return str(ray.get_runtime_context().get_node_id())


class ActorWorker:
    """One twin actor: env (own seed, own randomisation), policy, own episode store."""

    def __init__(
        self, run_dir: str, index: int, num_actors: int, learner: Any, launch_token: str = ""
    ) -> None:
        import ray

        from robot_rl.app.build import configure_threads, env_spec, make_env, make_policy
        from robot_rl.app.wiring import scripted_reset
        from robot_rl.config import config_hash, load_yaml
        from robot_rl.data.async_writer import BackgroundEpisodeWriter
        from robot_rl.data.episode_store import EpisodeStore
        from robot_rl.runtime.actor import Actor
        from robot_rl.runtime.checkpoint import load_policy
        from robot_rl.runtime.metrics import MetricsLogger
        from robot_rl.runtime.resume import stored_progress
        from robot_rl.runtime.transport_ray import RayActorEndpoint
        from robot_rl.wire.protocol import Hello

        self.run_dir = Path(run_dir)
        config = load_yaml(RunConfig, self.run_dir / "config.yaml")
        rt, tr = config.runtime, config.train
        configure_threads(rt.torch_threads)
        self.index = index
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        seed = config.seed + ACTOR_SEED_STRIDE * index
        env = make_env(config, seed=seed)
        spec, action_dim = env_spec(env)
        digest = config_hash(config)
        store_path = self.run_dir / "episodes" / actor_name(index)
        episodes_done, steps_done = stored_progress(store_path)
        store = EpisodeStore.create(
            store_path, obs_spec=spec, action_dim=action_dim, exist_ok=True,
            attrs={"task": config.task, "config_hash": digest, "actor": index},
        )  # fmt: skip
        # Any .tmp group is the half-written episode of this actor's dead predecessor.
        self.discarded = store.cleanup_incomplete(min_age_s=0.0)
        # Written off the control loop, as in the zmq runtime (a 50-step episode took 200 ms
        # to commit on a loaded machine: 4 ms per step if written inline).
        self.store = BackgroundEpisodeWriter(store)
        self.transport = RayActorEndpoint(
            learner, actor_name(index),
            heartbeat_interval_s=rt.heartbeat_interval_s, heartbeat_timeout_s=rt.heartbeat_timeout_s,
        )  # fmt: skip
        self.metrics = MetricsLogger(
            self.run_dir / "metrics", actor_name(index), tensorboard_dir=self.run_dir / "tb"
        )
        hello = Hello(
            role="actor", run_id=self.run_dir.name, config_hash=digest, launch_token=launch_token
        )

        def on_episode(ep: Any, st: Any) -> None:
            self.metrics.log(
                st.env_steps,
                {
                    "charts/episode_return": float(ep.rewards.sum()),
                    "charts/success": ep.success,
                    "charts/episode_length": len(ep),
                    "charts/weights_version": st.weights_version,
                },
            )

        self.transport.send(hello)
        # Pacing: the learner trains on all actors' steps, so each actor's share of the
        # data-to-update ratio is N times the run's, its slack 1/N of it.
        self.actor = Actor(
            env, make_policy(config, spec, action_dim), self.transport,
            config_hash=digest, seed=seed + episodes_done, store=self.store,
            updates_per_env_step=tr.updates_per_env_step * num_actors,
            learning_starts=math.ceil(tr.learning_starts / num_actors),
            max_steps_ahead=max(1, tr.max_steps_ahead // num_actors), hello=hello,
            partial_episode=rt.partial_episode, on_episode=on_episode,
            scripted_reset=scripted_reset(config),
        )  # fmt: skip
        self.actor.stats.env_steps, self.actor.stats.episodes = steps_done, episodes_done
        policy_path = self.run_dir / "policy.safetensors"
        if policy_path.exists():  # a restarted actor acts with the run's last policy file
            tensors, meta = load_policy(policy_path)
            self.actor.adopt_weights(tensors, int(meta.get("weights_version", 0)))

    def deliver(self, items: list[Any]) -> None:
        """Messages from the learner (Ray calls this in its own thread)."""
        self.transport.deliver(items)

    def pid(self) -> int:
        """This actor's process id (tests and the benchmark kill it)."""
        return os.getpid()

    def progress(self) -> dict[str, Any]:
        """Counters so far (read while ``run`` is running)."""
        self.actor.count_stored()
        st = self.actor.stats
        return {"env_steps": st.env_steps, "episodes": st.episodes, "open_t": self._open_t()}

    def _open_t(self) -> int:
        ep = self.actor._open
        return ep.t if ep is not None else 0

    def stop(self) -> None:
        """Stop after the current step."""
        self.actor.stop_requested = True

    def run(self, env_steps: int) -> dict[str, Any]:
        """Act until this actor's store holds ``env_steps`` steps; its counters."""
        try:
            st = self.actor.run(env_steps)
            self.store.close()  # every finished episode committed
            self.transport.flush(timeout_s=30.0)  # and in the learner's inbox
        finally:
            self.metrics.close()
            self.transport.close()
        return {
            "index": self.index,
            "env_steps": st.env_steps,
            "episodes": st.episodes,
            "success_rate_last20": st.success_rate,
            "weights_version": st.weights_version,
            "learner_updates": st.learner_updates,
            "restarted": self.restarted,
            "node_id": _node_id(),
            "discarded_tmp_groups": len(self.discarded),
            "transport": dict(self.transport.stats),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),  # the acting thread's level
        }


class LearnerWorker:
    """The run's learner (robot_rl.runtime.learner.Learner over the Ray transport)."""

    def __init__(
        self, run_dir: str, namespace: str, demos: str | None, resume: bool, launch_token: str
    ) -> None:
        import ray

        from robot_rl.app.build import configure_threads
        from robot_rl.app.learner_main import build_learner, learner_config
        from robot_rl.runtime.transport_ray import RayLearnerEndpoint
        from robot_rl.wire.protocol import Hello

        path = Path(run_dir)
        config, digest = learner_config(path)
        self._hello = Hello(
            role="actor", run_id=path.name, config_hash=digest, launch_token=launch_token
        )
        rt = config.runtime
        configure_threads(rt.torch_threads)
        self._nice = rt.learner_nice
        self._sched_idle = rt.learner_sched_idle
        self._update_nice: int | None = None  # the update loop's nice level, once running
        # A restarted learner continues as `train --resume` does: newest checkpoint, replay
        # rebuilt from the actors' committed episodes.
        self.restored = resume or ray.get_runtime_context().was_current_actor_reconstructed
        self.endpoint = RayLearnerEndpoint(
            namespace=namespace,
            heartbeat_interval_s=rt.heartbeat_interval_s, heartbeat_timeout_s=rt.heartbeat_timeout_s,
        )  # fmt: skip
        self.learner: Any = build_learner(
            path,
            self.endpoint,
            demos_path=Path(demos) if demos else None,
            resume=self.restored,
            launch_token=launch_token,
        )

    def deliver(self, actor_key: str, items: list[Any]) -> None:
        """Messages from an actor (Ray calls this in its own thread)."""
        self.endpoint.deliver(actor_key, items)

    def pid(self) -> int:
        """This learner's process id."""
        return os.getpid()

    def stop(self) -> None:
        """Finish after everything already delivered: a stop queued behind the actors'
        last batches; the loop then pushes weights, checkpoints and returns."""
        from robot_rl.wire.protocol import Control, encode

        # The driver shows the run's launch token first: only its holders may stop the learner.
        messages = [
            encode(self._hello, seq=1, src="driver"),
            encode(Control(command="stop"), seq=2, src="driver"),
        ]
        self.endpoint.deliver("driver", messages)

    def progress(self) -> dict[str, Any]:
        """Counters so far."""
        lr = self.learner
        return {
            "updates": lr.updates,
            "weights_version": lr.weights_version,
            "steps_received": lr.steps_received,
            "dropped_steps": lr.dropped_steps,
            "restored": self.restored,
            "node_id": _node_id(),
            "device": str(getattr(lr.agent, "device", "cpu")),
            "transport": dict(self.endpoint.stats),
            "nice": self._update_nice,
        }

    def run(self) -> dict[str, Any]:
        """Serve the actors until stopped; the final counters."""
        from robot_rl.app.build import lower_priority

        # Ray runs this method in a thread of its own: the nice level is set for that thread,
        # the one that updates, so the actors' control loops come first on shared cores.
        self._update_nice = lower_priority(self._nice, idle=self._sched_idle)
        self.learner.run()
        return self.progress()


def _learner_gpus(requested: float) -> float:
    import ray

    if requested >= 0:
        return requested
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def _await_restart(handle: Any, name: str, err: Exception, timeout_s: float) -> int:
    """The pid of ``handle``'s process once Ray has it running again (after a crash);
    RuntimeError naming the actor when Ray gave up on it (``max_restarts`` spent)."""
    import ray
    from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return int(ray.get(handle.pid.remote(), timeout=5.0))
        except ActorDiedError as died:
            if time.monotonic() > deadline or "max_restarts" in str(died).lower():
                raise RuntimeError(f"Ray actor {name} died for good ({err}): {died}") from died
        except (RayActorError, GetTimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Ray actor {name} did not come back within {timeout_s:g} s"
                ) from err
        time.sleep(0.2)


def connect_ray(address: str) -> bool:
    """Join ``address`` (or start a local Ray); True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(address=address or None, logging_level=logging.WARNING, log_to_driver=False)
    return True


def train_online_ray(
    config: RunConfig,
    run_dir: Path,
    demos: Path | None,
    *,
    resume: bool = False,
    on_progress: Any = None,
    poll_s: float = 0.5,
) -> dict[str, Any]:
    """Run the actors and the learner until every actor reached its share of
    ``train.env_steps``; the run's counters (actor restarts, learner restarts included).

    ``on_progress(actor_handles, learner_handle)`` is called about every ``poll_s`` seconds
    (a progress bar, a monitor: ``ray.get(handle.progress.remote())``)."""
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    rt = config.runtime
    n = rt.num_actors
    started_ray = connect_ray(rt.ray_address)
    namespace = f"robot_rl-{run_dir.name}-{uuid.uuid4().hex[:8]}"
    token = secrets.token_hex(16)  # the learner obeys stop and pacing from its holders only
    learner_cls: Any = ray.remote(LearnerWorker)  # handles typed Any: Ray's stubs lose .remote
    actor_cls: Any = ray.remote(ActorWorker)
    learner = learner_cls.options(
        name="learner", namespace=namespace, max_restarts=rt.max_learner_restarts,
        max_concurrency=4, num_cpus=1, num_gpus=_learner_gpus(rt.learner_gpus),
    ).remote(str(run_dir), namespace, str(demos) if demos else None, resume, token)  # fmt: skip
    actors: list[Any] = []
    for k in range(n):
        options = actor_cls.options(
            name=actor_name(k), namespace=namespace, max_restarts=rt.max_actor_restarts,
            max_concurrency=3, num_cpus=rt.ray_actor_cpus,
        )  # fmt: skip
        actors.append(options.remote(str(run_dir), k, n, learner, token))
    # Wait for every constructor (demos loaded, actors heard by the learner) before acting:
    # an actor paces only on a learner it hears, and would otherwise run ahead unpaced.
    try:
        pids = ray.get(
            [learner.pid.remote(), *(a.pid.remote() for a in actors)], timeout=rt.startup_timeout_s
        )
    except (RayActorError, GetTimeoutError) as err:
        for handle in [*actors, learner]:
            ray.kill(handle, no_restart=True)
        if started_ray:
            ray.shutdown()
        raise RuntimeError(
            f"runtime.startup_timeout_s: the Ray learner or actors did not start: {err}"
        ) from err
    shares = split_steps(config.train.env_steps, n)
    runs = {actors[k].run.remote(shares[k]): k for k in range(n)}
    learner_run = learner.run.remote()
    results: dict[int, dict[str, Any]] = {}
    actor_restarts = [0] * n
    learner_restarts = 0
    acting_since, stopping = time.monotonic(), False
    try:
        while runs:
            budget_s = config.train.max_wall_s
            if budget_s and not stopping and time.monotonic() - acting_since > budget_s:
                stopping = True
                for handle in actors:
                    handle.stop.remote()
            ready, _ = ray.wait([*runs, learner_run], num_returns=1, timeout=poll_s)
            for ref in ready:
                if ref == learner_run:
                    try:
                        ray.get(ref)
                        raise RuntimeError("the learner stopped before the actors finished")
                    except RayActorError as err:
                        pid = _await_restart(learner, "learner", err, rt.startup_timeout_s)
                        learner_restarts += pid != pids[0]
                        pids[0] = pid
                        learner_run = learner.run.remote()
                    continue
                k = runs.pop(ref)
                try:
                    results[k] = ray.get(ref)
                except RayActorError as err:
                    pid = _await_restart(actors[k], actor_name(k), err, rt.startup_timeout_s)
                    actor_restarts[k] += pid != pids[k + 1]
                    pids[k + 1] = pid
                    runs[actors[k].run.remote(shares[k])] = k
                    if stopping:  # past train.max_wall_s: the new process stops at once too
                        actors[k].stop.remote()
            if on_progress is not None and runs:
                on_progress(actors, learner)
        learner.stop.remote()
        try:
            final = ray.get(learner_run, timeout=120.0)
        except (RayActorError, GetTimeoutError) as err:
            raise RuntimeError(f"the learner did not finish cleanly: {err}") from err
    finally:
        for handle in [*actors, learner]:
            ray.kill(handle, no_restart=True)
        if started_ray:
            ray.shutdown()
    per_actor = [results[k] for k in range(n)]
    return {
        "env_steps": sum(r["env_steps"] for r in per_actor),
        "episodes": sum(r["episodes"] for r in per_actor),
        "weights_version": final["weights_version"],
        "learner_updates": final["updates"],
        "learner_steps_received": final["steps_received"],
        "learner_dropped_steps": final["dropped_steps"],
        "learner_device": final["device"],
        "learner_restored": final["restored"],
        "learner_node_id": final["node_id"],
        "learner_nice": final["nice"],
        "train_success_rate_last20": sum(r["success_rate_last20"] for r in per_actor) / n,
        "actor_restarts": sum(actor_restarts),
        "learner_restarts": learner_restarts,
        "actors": per_actor,
    }
