"""``robot-rl train``: demos, then actor (this process) + learner (a child process), then eval.

Run directory layout::

    config.yaml  spec.json  learner.json  learner.log  result.json  policy.safetensors
    demos/ (episode store)  episodes/ (online episode store)  checkpoints/
    metrics/{actor,learner,eval}.jsonl  tb/  eval/video.mp4
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from robot_rl.app.build import configure_threads, env_spec, make_env, make_policy
from robot_rl.app.supervisor import LearnerStartError, LearnerSupervisor
from robot_rl.app.wiring import actor_hooks, scripted_reset, set_phase, start_dashboard
from robot_rl.config import config_hash, load_yaml, save_yaml
from robot_rl.data.async_writer import BackgroundEpisodeWriter
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.envs.spec import spec_to_json
from robot_rl.evaluate import evaluate
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor, ActorStats
from robot_rl.runtime.checkpoint import load_policy
from robot_rl.runtime.metrics import MetricsLogger
from robot_rl.runtime.resume import ResumeError, check_resumable, stored_progress
from robot_rl.wire.protocol import Control, Hello

if TYPE_CHECKING:  # the web stack is imported only when a run is watched
    from robot_rl.dashboard.session import DashboardSession

__all__ = [
    "LearnerError",
    "LearnerStartError",
    "ResumeError",
    "final_evaluation",
    "make_run_dir",
    "train",
]


class LearnerError(RuntimeError):
    """The learner failed during the run (thread exception, or a process that did not end
    cleanly): the run did not do what was asked. One line, naming where the details are."""


def make_run_dir(config: RunConfig) -> Path:
    """A fresh run directory ``<runs_dir>/<name>-<YYYYmmdd-HHMMSS>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(config.runs_dir) / f"{config.name}-{stamp}"
    run_dir, i = base, 1
    while run_dir.exists():
        run_dir, i = base.with_name(f"{base.name}-{i}"), i + 1
    run_dir.mkdir(parents=True)
    return run_dir


def _progress_bar(total: int, enabled: bool) -> Any:
    return tqdm(
        total=total,
        desc="train",
        unit="step",
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.05,
    )


def train(
    config: RunConfig,
    *,
    run_dir: Path | None = None,
    demos: Path | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Run a whole training run; returns the final result (also written to result.json).

    With ``resume``, ``run_dir`` is an existing run: its config must equal ``config`` but for
    ``train.env_steps``; demos, episodes, checkpoints and metrics are continued.
    With ``config.dashboard.enabled`` the live dashboard serves the run (its URL with the
    token is printed at start) and a person can drive, label, pause, reset and e-stop.
    """
    configure_threads(config.runtime.torch_threads)
    if resume:
        if run_dir is None or not (run_dir / "config.yaml").is_file():
            raise ResumeError(f"cannot resume {run_dir}: not a run directory (no config.yaml)")
        saved = load_yaml(RunConfig, run_dir / "config.yaml")
        # Watching a run, or not, and who puts the scene back do not change what it learns.
        given = dataclasses.replace(
            config, dashboard=saved.dashboard, teleop=saved.teleop, resets=saved.resets
        )
        check_resumable(saved, given, where=run_dir)
        if demos is None and (run_dir / "demos" / "zarr.json").is_file():
            demos = run_dir / "demos"
    session = start_dashboard(config)
    try:
        return _train(config, run_dir, demos, progress=progress, resume=resume, session=session)
    finally:
        if session is not None:
            session.close()


def _train(
    config: RunConfig,
    run_dir: Path | None,
    demos: Path | None,
    *,
    progress: bool,
    resume: bool,
    session: DashboardSession | None,
) -> dict[str, Any]:
    run_dir = run_dir or make_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(config, run_dir / "config.yaml")
    env = make_env(config, seed=config.seed)
    spec, action_dim = env_spec(env)
    (run_dir / "spec.json").write_text(json.dumps(spec_to_json(spec, action_dim), indent=1))
    started = time.monotonic()

    if demos is None and config.demos.num_episodes > 0:
        from robot_rl.app.demos import record_demos

        set_phase(session, "recording demos")
        demos = run_dir / "demos"
        with tqdm(total=config.demos.num_episodes, desc="demos", disable=not progress) as bar:
            record_demos(config, demos, on_episode=lambda n, _a: bar.update(1))

    ray_counters: dict[str, Any] = {}
    if config.agent == "bc":
        from robot_rl.app.offline import train_bc

        set_phase(session, "training (offline)")
        policy = train_bc(config, spec, action_dim, demos, run_dir, progress=progress)
        stats, restarts = None, 0
    elif config.runtime.engine == "ray":
        set_phase(session, "training (ray)")
        policy, ray_counters = _train_online_ray(
            config, spec, action_dim, demos, run_dir, resume=resume, progress=progress
        )
        stats, restarts = None, 0
    else:
        policy, stats, restarts = _train_online(
            config, env, spec, action_dim, demos, run_dir, progress=progress, resume=resume,
            session=session,
        )  # fmt: skip

    set_phase(session, "final evaluation")
    result = final_evaluation(config, policy, run_dir, progress=progress)
    result.update({"wall_s": time.monotonic() - started, "run_dir": str(run_dir)})
    if stats is not None:
        result.update(
            {
                "env_steps": stats.env_steps,
                "weights_version": stats.weights_version,
                "learner_updates": stats.learner_updates,
                "train_success_rate_last20": stats.success_rate,
                "pace_stalls": stats.pace_stalls,
                "learner_restarts": restarts,
            }
        )
    if ray_counters:
        result.update(ray_counters)
    (run_dir / "result.json").write_text(json.dumps(result, indent=1))
    set_phase(session, "finished")
    env.close()
    return result


def _train_online_ray(
    config: RunConfig,
    spec: Any,
    action_dim: int,
    demos: Path | None,
    run_dir: Path,
    *,
    resume: bool,
    progress: bool,
) -> tuple[Any, dict[str, Any]]:
    """``runtime.engine: ray``: N actors + one learner as Ray actors (app/ray_engine.py); the
    final policy is the learner's last policy file."""
    import ray

    from robot_rl.app.ray_engine import train_online_ray

    bar = _progress_bar(config.train.env_steps, progress)

    def on_progress(actors: list[Any], learner: Any) -> None:
        try:
            done = ray.get([a.progress.remote() for a in actors], timeout=2.0)
            lp = ray.get(learner.progress.remote(), timeout=2.0)
        except Exception:  # an actor restarting: the next poll shows it
            return
        bar.update(sum(p["env_steps"] for p in done) - bar.n)
        bar.set_postfix(updates=lp["updates"], weights=lp["weights_version"], refresh=False)

    try:
        counters = train_online_ray(
            config, run_dir, demos, resume=resume, on_progress=on_progress if progress else None
        )
    finally:
        bar.close()
    policy = make_policy(config, spec, action_dim)
    tensors, _meta = load_policy(run_dir / "policy.safetensors")
    policy.load_state_dict(tensors)
    return policy, counters


@dataclasses.dataclass
class _LearnerRun:
    """The learner the actor trains with: a supervised child process (zmq) or a thread."""

    transport: Any
    """The actor's end: ZmqActorEndpoint or InProcessTransport."""
    supervisor: LearnerSupervisor | None = None
    thread: threading.Thread | None = None
    hello: Hello | None = None
    """The actor's Hello: the learner takes stop only from the actor that said it."""
    thread_error: list[str] = dataclasses.field(default_factory=list)
    """In-process: the exception that ended the learner thread, as one line."""

    def stop(self) -> None:
        """Ask the learner to stop, wait for it (up to 120 s), close the transport."""
        if self.hello is not None:  # a learner restarted after the actor's last step knows
            self.transport.send(self.hello)  # nobody yet
        self.transport.send(Control(command="stop"))
        proc = self.supervisor.proc if self.supervisor else None
        _wait_for_learner(proc, self.thread, self.transport, timeout_s=120.0, hello=self.hello)
        self.transport.close()

    def failure(self, run_dir: Path) -> str | None:
        """After ``stop()``: why the learner did not end cleanly (None when it did)."""
        if self.thread_error:
            return f"{self.thread_error[0]} (traceback in {run_dir / 'learner.log'})"
        if self.supervisor is not None and self.supervisor.proc.returncode not in (0, None):
            from robot_rl.app.supervisor import last_error_line

            log = run_dir / "learner.log"
            return (
                f"learner process ended with code {self.supervisor.proc.returncode}: "
                f"{last_error_line(log)} (see {log})"
            )
        return None


def _start_learner(
    config: RunConfig, run_dir: Path, demos: Path | None, *, resume: bool
) -> _LearnerRun:
    """Start the run's learner: a child process over zmq, or a thread in this process."""
    rt = config.runtime
    interval_s, timeout_s = rt.heartbeat_interval_s, rt.heartbeat_timeout_s
    if rt.transport == "zmq":
        from robot_rl.runtime.curve_keys import actor_keys
        from robot_rl.runtime.transport_zmq import ZmqActorEndpoint

        log = run_dir / "learner.log"
        offset = log.stat().st_size if log.exists() else 0
        supervisor = LearnerSupervisor(run_dir, config, demos, resume=resume)
        _echo_learner_notes(log, offset)
        return _LearnerRun(
            ZmqActorEndpoint(
                supervisor.address, heartbeat_interval_s=interval_s, heartbeat_timeout_s=timeout_s,
                curve=actor_keys(run_dir),
            ),
            supervisor=supervisor,
        )  # fmt: skip
    from robot_rl.app.learner_main import build_learner
    from robot_rl.runtime.transport import InProcessTransport

    transport, learner_end = InProcessTransport.pair(
        heartbeat_interval_s=interval_s, heartbeat_timeout_s=timeout_s
    )
    learner = build_learner(run_dir, learner_end, demos_path=demos, resume=resume)
    errors: list[str] = []

    def run_learner() -> None:
        try:
            learner.run()  # type: ignore[attr-defined]
        except Exception as err:  # the run must end non-zero, not print and exit 0
            import traceback

            with (run_dir / "learner.log").open("a") as log:
                traceback.print_exc(file=log)
            errors.append(f"learner thread failed: {type(err).__name__}: {err}")

    thread = threading.Thread(target=run_learner, name="learner", daemon=True)
    thread.start()
    return _LearnerRun(transport, thread=thread, thread_error=errors)


_NOTES = ("replay: skipping", "resume: skipping", "resume: no checkpoint", "resume: restored")


def _echo_learner_notes(log: Path, offset: int) -> None:
    """Show on the console what the learner skipped while it came up (damaged demos, an
    unreadable checkpoint) and what it resumed from; the child's output goes to learner.log."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if line.startswith(_NOTES):
            print(f"learner: {line}", file=sys.stderr, flush=True)


def _open_episode_store(
    config: RunConfig,
    run_dir: Path,
    spec: Any,
    action_dim: int,
    digest: str,
    *,
    resume: bool,
) -> EpisodeStore:
    """The run's online episode store ``episodes/`` (continued when resuming)."""
    store = EpisodeStore.create(
        run_dir / "episodes",
        obs_spec=spec,
        action_dim=action_dim,
        attrs={"task": config.task, "config_hash": digest},
        exist_ok=resume,
    )
    if resume:  # the writer of any .tmp-* group was the killed actor: nobody is writing it
        store.cleanup_incomplete(min_age_s=0.0)
    return store


def _evaluate_during_training(
    config: RunConfig,
    eval_env: Any,
    policy: Any,
    session: DashboardSession | None,
    env_steps: int,
) -> dict[str, float]:
    """``train.eval_episodes`` episodes on the eval twin (the training twin waits meanwhile);
    the success rate goes on the dashboard's chart."""
    set_phase(session, "evaluating (the training twin waits)")
    result = evaluate(eval_env, policy, episodes=config.train.eval_episodes, seed=config.seed)
    if session is not None:
        session.feed.record_eval(env_steps, result["success_rate"])
    set_phase(session, "training")
    return result


def _train_online(
    config: RunConfig,
    env: Any,
    spec: Any,
    action_dim: int,
    demos: Path | None,
    run_dir: Path,
    *,
    progress: bool,
    resume: bool = False,
    session: DashboardSession | None = None,
) -> tuple[Any, ActorStats, int]:
    """Actor here + learner (process or thread); returns the policy, the actor's counters and
    how many times the learner process died and was restarted."""
    rt, tr = config.runtime, config.train
    set_phase(session, "starting the learner")
    learner = _start_learner(config, run_dir, demos, resume=resume)
    digest = config_hash(config)
    policy = make_policy(config, spec, action_dim)
    episodes_done, steps_done = stored_progress(run_dir / "episodes") if resume else (0, 0)
    episode_store = _open_episode_store(config, run_dir, spec, action_dim, digest, resume=resume)
    store: Any = BackgroundEpisodeWriter(episode_store)
    if session is not None:  # labels from the page land in the episode store
        store = session.attach(env, action_dim, store, episode_store)
    hooks = actor_hooks(session)
    actor_metrics = MetricsLogger(run_dir / "metrics", "actor", tensorboard_dir=run_dir / "tb")
    eval_metrics = MetricsLogger(run_dir / "metrics", "eval", tensorboard_dir=run_dir / "tb")
    token = learner.supervisor.launch_token if learner.supervisor is not None else ""
    hello = Hello(role="actor", run_id=run_dir.name, config_hash=digest, launch_token=token)
    learner.hello = hello

    def on_episode(ep: Episode, st: ActorStats) -> None:
        actor_metrics.log(
            st.env_steps,
            {
                "charts/episode_return": float(ep.rewards.sum()),
                "charts/success": ep.success,
                "charts/episode_length": len(ep),
                "charts/intervention_rate": float(ep.intervened.mean()) if len(ep) else 0.0,
                "charts/weights_version": st.weights_version,
                **st.resets,
            },
        )
        if session is not None:
            session.on_episode(ep, st)

    learner.transport.send(hello)
    actor = Actor(
        env,
        policy,
        learner.transport,
        config_hash=digest,
        # Resumed: episode k of the run keeps its reset seed, seed + k.
        seed=config.seed + episodes_done,
        store=store,
        updates_per_env_step=tr.updates_per_env_step,
        learning_starts=tr.learning_starts,
        max_steps_ahead=tr.max_steps_ahead,
        hello=hello,
        partial_episode=rt.partial_episode,
        on_episode=on_episode,
        mixer=hooks.mixer,
        controls=hooks.controls,
        on_step=hooks.on_step,
        scripted_reset=scripted_reset(config),
        human_reset=hooks.human_reset,
        human_message=config.resets.human_message,
    )
    if hooks.controls is not None and actor.safety is not None:  # the layer latches too
        hooks.controls.link_estop(actor.safety.estop, actor.safety.release)
    actor.stats.env_steps, actor.stats.episodes = steps_done, episodes_done
    policy_path = run_dir / "policy.safetensors"
    if resume and policy_path.exists():
        tensors, meta = load_policy(policy_path)
        actor.adopt_weights(tensors, int(meta.get("weights_version", 0)))
    eval_env = make_env(config, seed=config.seed + 1)
    set_phase(session, "training")
    bar = _progress_bar(tr.env_steps, progress)
    bar.update(steps_done)
    last_eval = {"success_rate": float("nan")}

    acting_since = time.monotonic()

    def on_step(stats: ActorStats) -> None:
        bar.update(1)
        if tr.max_wall_s and time.monotonic() - acting_since > tr.max_wall_s:
            actor.stop_requested = True
        if session is not None:
            session.pace()
        if learner.thread_error:  # nothing learns any more: end the run, say why below
            actor.stop_requested = True
        if learner.supervisor is not None:
            _supervise(learner.supervisor, actor, pause=rt.on_learner_loss == "pause")
        if (
            tr.eval_every
            and stats.env_steps % tr.eval_every == 0
            and stats.env_steps < tr.env_steps
        ):
            last_eval.update(
                _evaluate_during_training(config, eval_env, policy, session, stats.env_steps)
            )
            eval_metrics.log(
                stats.env_steps,
                {f"eval/{k}": v for k, v in last_eval.items()},
                step_name="env_steps",
            )
        if stats.env_steps % 50 == 0:
            bar.set_postfix(
                success=f"{stats.success_rate:.0%}",
                eval=f"{last_eval['success_rate']:.0%}",
                updates=stats.learner_updates,
                weights=stats.weights_version,
                refresh=False,
            )

    try:
        with _graceful_interrupt(actor) as interrupted:
            stats = actor.run(tr.env_steps, progress=on_step)
        if interrupted():
            raise KeyboardInterrupt  # after the actor stopped cleanly; the CLI exits 130
    finally:
        bar.close()
        store.close()
        learner.stop()
        actor_metrics.close()
        eval_metrics.close()
        eval_env.close()
    failure = learner.failure(run_dir)
    if failure is not None:
        raise LearnerError(failure)
    if policy_path.exists():
        tensors, _meta = load_policy(policy_path)
        policy.load_state_dict(tensors)
    return policy, stats, learner.supervisor.restarts if learner.supervisor else 0


@contextlib.contextmanager
def _graceful_interrupt(actor: Actor) -> Iterator[Callable[[], bool]]:
    """Ctrl-C asks the actor to stop after its current step; a second Ctrl-C interrupts at once.

    A KeyboardInterrupt raised at an arbitrary point could break a lock or queue shared with
    the learner thread, the episode writer or the dashboard (a Ctrl-C once left a run hanging
    in its clean-up). Stopping between steps also ends the open episode per
    ``runtime.partial_episode``. Yields whether Ctrl-C was pressed.
    """
    hits: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signal handlers can only be set in the main thread
        return

    def on_sigint(signum: int, _frame: Any) -> None:
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt
        actor.stop_requested = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def _supervise(supervisor: LearnerSupervisor, actor: Actor, *, pause: bool) -> None:
    """Restart a dead learner; with ``pause``, hold between steps until it is heard again."""
    supervisor.check()
    while pause and not actor.stop_requested and not actor.transport.peer_alive():
        actor.poll_messages(timeout_s=0.05)
        supervisor.check()


def _wait_for_learner(
    proc: subprocess.Popen | None,
    thread: threading.Thread | None,
    transport: Any,
    *,
    timeout_s: float,
    hello: Hello | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    hello_at = time.monotonic()  # stop() has just said it
    while time.monotonic() < deadline:
        if (proc is not None and proc.poll() is not None) or (
            thread is not None and not thread.is_alive()
        ):
            return
        transport.recv(0.05)  # keep draining so the learner's final sends do not back up
        if int(time.monotonic() * 2) % 2 == 0:
            if hello is not None and time.monotonic() - hello_at >= 1.0:
                transport.send(hello)  # each one makes the learner push weights: not too often
                hello_at = time.monotonic()
            transport.send(Control(command="stop"))
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def final_evaluation(
    config: RunConfig, policy: Any, run_dir: Path, *, progress: bool
) -> dict[str, Any]:
    """Evaluate the final policy over ``train.final_eval_episodes`` episodes (+ mp4)."""
    tr = config.train
    env = make_env(config, seed=config.seed + 2)
    with tqdm(total=tr.final_eval_episodes, desc="eval", disable=not progress) as bar:
        result = evaluate(
            env,
            policy,
            episodes=tr.final_eval_episodes,
            seed=config.seed,
            video_path=run_dir / "eval" / "video.mp4" if tr.video else None,
            fps=int(config.env.control_hz),
            on_episode=lambda _i, _s: bar.update(1),
        )
    env.close()
    out: dict[str, Any] = {
        "final_success_rate": result["success_rate"],
        "final_mean_return": result["mean_return"],
        "final_mean_length": result["mean_length"],
    }
    return out
