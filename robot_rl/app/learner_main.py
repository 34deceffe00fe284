"""Learner process entry point: ``python -m robot_rl.app.learner_main RUN_DIR``.

Reads ``config.yaml`` and ``spec.json`` from the run directory, loads demonstrations,
binds its socket, writes ``learner.json`` (its address) and serves the actor until told
to stop or until its parent process is gone. With ``RUN_DIR/keys`` (``--make-keys``) the socket
is CURVE-authenticated (robot_rl/runtime/curve_keys.py); ``ROBOT_RL_LAUNCH_TOKEN`` in the
environment (set by ``robot-rl train``) names the actor that may stop and pace it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robot_rl.app.build import configure_threads
from robot_rl.config import ConfigError, config_hash, load_yaml
from robot_rl.envs.spec import spec_from_json
from robot_rl.run_config import RunConfig

LAUNCH_TOKEN_ENV = "ROBOT_RL_LAUNCH_TOKEN"  # how robot-rl train hands its learner the token
PRETRAIN_STATUS = "learner_pretrain.json"
"""In the run directory: the learner's pre-training progress before it binds,
``{"done": k, "total": n}``, rewritten as it goes (app/supervisor.py ``wait_bound``: the
launcher's start-up deadline counts from its last change)."""


def write_json_replacing(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temp file and a rename, so that a reader
    polling ``path`` (the launcher) sees the old content or the new, never a partial file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def pretrain_reporter(run_dir: Path) -> Any:
    """``on_progress(done, total)`` for ``Learner.pretrain``: writes ``PRETRAIN_STATUS``
    atomically and logs a line at every tenth of the work."""
    path = run_dir / PRETRAIN_STATUS
    said = [-1]

    def report(done: int, total: int) -> None:
        write_json_replacing(path, {"done": done, "total": total})
        tenth = done * 10 // max(total, 1)
        if tenth != said[0]:
            said[0] = tenth
            print(f"pre-training on the demos: {done}/{total} updates", flush=True)

    return report


def episode_steps(episode: Any) -> Iterator[Any]:
    """A stored episode as the Step messages that streamed it (``first_obs`` with ``t == 0``)."""
    from robot_rl.wire.protocol import Step

    obs = episode.observations
    for t in range(len(episode)):
        yield Step(
            episode_id=0,
            t=t,
            first_obs={k: v[0] for k, v in obs.items()} if t == 0 else None,
            action=episode.actions[t],
            reward=float(episode.rewards[t]),
            next_obs={k: v[t + 1] for k, v in obs.items()},
            terminated=bool(episode.terminated[t]),
            truncated=bool(episode.truncated[t]),
            intervened=bool(episode.intervened[t]),
            source=int(episode.sources[t]),
            timestamp=float(episode.timestamps[t + 1]),
        )


def _readable_episodes(path: Path) -> list[Any]:
    """Every readable episode of a store; damaged ones are reported and skipped."""
    from robot_rl.data.episode_store import EpisodeStore, EpisodeStoreError

    store = EpisodeStore.open(path)
    episodes = []
    for episode_id in store.episode_ids():
        try:
            episodes.append(store.read_episode(episode_id))
        except EpisodeStoreError as err:
            print(f"replay: skipping {err}", flush=True)
    return episodes


def online_stores(run_dir: Path) -> list[Path]:
    """The run's online episode stores: ``episodes/`` (zmq runtime), or one per Ray actor,
    ``episodes/actor-NN/`` (runtime.engine: ray)."""
    root = run_dir / "episodes"
    if (root / "zarr.json").is_file():
        return [root]
    return sorted(p for p in root.glob("actor-*") if (p / "zarr.json").is_file())


def learner_config(run_dir: Path, overrides: list[str] | None = None) -> tuple[RunConfig, str]:
    """The run's config with ``--set`` overrides, and the config hash its weights carry.

    A learner may only change ``runtime.*`` (device, threads, heartbeats: where it runs); the
    rest is what the actor trains with, and the actor refuses weights of another config. The
    hash is therefore the saved config's. Raises ConfigError naming any other override.
    """
    path = run_dir / "config.yaml"
    saved = load_yaml(RunConfig, path)
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if not key.startswith("runtime."):
            raise ConfigError(
                f"{path}: --set {key}: a learner may change runtime.* only (the rest is the "
                "run's config, and the actor refuses weights of another config)"
            )
    config = load_yaml(RunConfig, path, overrides=overrides) if overrides else saved
    return config, config_hash(saved)


def build_learner(
    run_dir: Path,
    transport: object,
    *,
    demos_path: Path | None,
    resume: bool = False,
    overrides: list[str] | None = None,
    launch_token: str | None = None,
) -> object:
    """A Learner for the run in ``run_dir`` over ``transport`` (shared with in-process runs).

    With ``resume`` the online replay is rebuilt from ``run_dir/episodes`` and the agent,
    counters and RNG states come from the newest readable checkpoint (fresh networks, said
    loudly, when the run has none yet). ``overrides``: ``runtime.*`` only (learner_config).
    ``launch_token``: only the actor whose Hello carries it may stop or pace the learner.
    """
    from robot_rl.app.build import fit_state_normalizer, make_agent, make_replay
    from robot_rl.data.self_imitation import SelfImitation
    from robot_rl.hil import InterventionRouter
    from robot_rl.runtime.learner import Learner
    from robot_rl.runtime.metrics import MetricsLogger
    from robot_rl.runtime.resume import latest_checkpoint

    config, digest = learner_config(run_dir, overrides)
    spec, action_dim = spec_from_json(
        json.loads((run_dir / "spec.json").read_text()), where=str(run_dir / "spec.json")
    )
    agent = make_agent(config, spec, action_dim)
    episodes = _readable_episodes(demos_path) if demos_path is not None else []
    # HIL-SERL: interventions stream into the demo buffer too, so it needs room beyond the demos;
    # so do successful episodes with self-imitation.
    tr = config.train
    room = tr.intervention_capacity if config.hil.hil_serl else 0
    room += tr.self_imitation_capacity if tr.self_imitation else 0
    # The demos' returns-to-go under the agent's discount: Cal-QL's calibration (SAC
    # calql_alpha) where a return is known. Online rows have none (NaN).
    demo_buffer = make_replay(
        spec,
        action_dim,
        max(1, sum(len(e) for e in episodes) + room),
        seed=config.seed + 1,
        return_discount=config.sac.discount,
    )
    for episode in episodes:
        demo_buffer.add_episode(episode)
    fit_state_normalizer(agent, demo_buffer)  # a resumed run gets the saved one back below
    online = make_replay(spec, action_dim, config.train.replay_capacity, seed=config.seed + 2)
    router = InterventionRouter(demo_buffer, enabled=config.hil.hil_serl)
    imitation = SelfImitation(demo_buffer, enabled=tr.self_imitation)
    online_steps = 0
    for store_path in online_stores(run_dir) if resume else []:
        for episode in _readable_episodes(store_path):
            online.add_episode(episode)
            online_steps += len(episode)
            if (router.enabled and episode.intervened.any()) or imitation.enabled:
                for step in episode_steps(episode):  # as they were routed when they streamed in
                    router.route(step)
                    imitation.route(step)
        if router.routed:
            print(f"resume: {router.routed} intervention steps back in the demo buffer", flush=True)
        if imitation.episodes:
            print(
                f"resume: {imitation.episodes} successful episodes back in the demo buffer",
                flush=True,
            )
    metrics = MetricsLogger(run_dir / "metrics", "learner", tensorboard_dir=run_dir / "tb")
    learner = Learner(
        agent,
        transport,
        demo_buffer=demo_buffer,
        online_buffer=online,
        train=config.train,
        batch_size=config.sac.batch_size,
        demo_fraction=config.sac.demo_fraction,  # all online while the demo buffer is empty
        router=router,
        imitation=imitation,
        n_step=config.sac.n_step,
        discount=config.sac.discount,
        run_dir=run_dir,
        config_hash=digest,
        metrics=metrics,
        launch_token=launch_token,
    )
    if resume:
        found = latest_checkpoint(run_dir / "checkpoints")
        if found is None:
            print("resume: no checkpoint yet, the networks start fresh", flush=True)
        else:
            learner.restore(found[1])
            print(f"resume: restored {found[0]} ({learner.updates} updates)", flush=True)
        # The actor counts env steps from the stored transitions; so does pacing here.
        learner.steps_received = online_steps
        print(f"resume: online replay rebuilt with {online_steps} transitions", flush=True)
    if learner.updates == 0:
        learner.pretrain(pretrain_reporter(run_dir))  # before the actor connects
    return learner


def serve_learner(
    run_dir: Path,
    *,
    bind: str | None = None,
    demos: Path | None = None,
    resume: bool = False,
    parent_pid: int | None = None,
    overrides: list[str] | None = None,
    make_keys: bool = False,
) -> int:
    """Bind, write ``learner.json`` with the address, and serve the actor until told to stop
    (or until process ``parent_pid`` is gone). ``overrides``: ``runtime.*`` only.
    ``make_keys``: create the run's CURVE keys first (kept if there)."""
    config, _digest = learner_config(run_dir, overrides)
    configure_threads(config.runtime.torch_threads)
    from robot_rl.runtime.curve_keys import create_keys, learner_keys
    from robot_rl.runtime.transport_zmq import ZmqLearnerEndpoint

    if make_keys:
        keys_dir = create_keys(run_dir)
        print(
            f"CURVE keys in {keys_dir}: give the actor's run dir keys/learner.key and "
            "keys/actor.key_secret",
            flush=True,
        )
    curve = learner_keys(run_dir)
    endpoint = ZmqLearnerEndpoint(
        bind or config.runtime.learner_address,
        heartbeat_interval_s=config.runtime.heartbeat_interval_s,
        heartbeat_timeout_s=config.runtime.heartbeat_timeout_s,
        curve=curve,
    )
    learner = build_learner(
        run_dir, endpoint, demos_path=demos, resume=resume, overrides=overrides,
        launch_token=os.environ.get(LAUNCH_TOKEN_ENV) or None,
    )  # fmt: skip

    def parent_gone() -> bool:
        return parent_pid is not None and os.getppid() != parent_pid

    learner.should_exit = parent_gone  # type: ignore[attr-defined]
    write_json_replacing(
        run_dir / "learner.json", {"address": endpoint.address, "pid": os.getpid()}
    )
    auth = "CURVE" if curve is not None else "no authentication, loopback only"
    print(f"learner listening on {endpoint.address} ({auth})", flush=True)
    from robot_rl.app.build import lower_priority

    # the actor's control loop comes first
    lower_priority(config.runtime.learner_nice, idle=config.runtime.learner_sched_idle)
    try:
        learner.run()  # type: ignore[attr-defined]
    finally:
        endpoint.close()
    print(f"learner done after {learner.updates} updates", flush=True)  # type: ignore[attr-defined]
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a learner process (the child that ``robot-rl train`` starts)."""
    parser = argparse.ArgumentParser(prog="robot-rl learner", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--bind",
        default=None,
        help="address to bind (default: runtime.learner_address); off loopback only with "
        "the run's CURVE keys (--make-keys)",
    )
    parser.add_argument(
        "--make-keys", action="store_true", help="create RUN_DIR/keys (CURVE) if missing"
    )
    parser.add_argument("--demos", type=Path, default=None, help="demonstration episode store")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest readable checkpoint, replay rebuilt from episodes/",
    )
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit when this process is gone"
    )
    args = parser.parse_args(argv)
    from robot_rl.runtime.curve_keys import CurveKeyError
    from robot_rl.runtime.transport_zmq import InsecureBindError

    try:
        return serve_learner(
            args.run_dir,
            bind=args.bind,
            demos=args.demos,
            resume=args.resume,
            parent_pid=args.parent_pid,
            make_keys=args.make_keys,
        )
    except (InsecureBindError, CurveKeyError) as err:  # the socket's own refusals: one line
        print(f"learner: {err}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
