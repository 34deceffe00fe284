"""``robot-rl train``: demos, then actor (this process) + learner (a child process), then eval.

Run directory layout::

    config.yaml  spec.json  learner.json  learner.log  result.json  policy.safetensors
    demos/ (episode store)  episodes/ (online episode store)  checkpoints/
    metrics/{actor,learner,eval}.jsonl  tb/  eval/video.mp4
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from robot_rl.config import config_hash, save_yaml
from robot_rl.data.async_writer import BackgroundEpisodeWriter
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.envs.spec import spec_to_json
from robot_rl.evaluate import evaluate
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor, ActorStats
from robot_rl.runtime.build import configure_threads, env_spec, make_env, make_policy
from robot_rl.runtime.checkpoint import load_policy
from robot_rl.runtime.metrics import MetricsLogger
from robot_rl.runtime.protocol import Control, Hello


class LearnerStartError(RuntimeError):
    """The learner process did not come up."""


def make_run_dir(config: RunConfig) -> Path:
    """A fresh run directory ``<runs_dir>/<name>-<YYYYmmdd-HHMMSS>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(config.runs_dir) / f"{config.name}-{stamp}"
    run_dir, i = base, 1
    while run_dir.exists():
        run_dir, i = base.with_name(f"{base.name}-{i}"), i + 1
    run_dir.mkdir(parents=True)
    return run_dir


def _start_learner_process(
    run_dir: Path, config: RunConfig, demos: Path | None
) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "robot_rl.runtime.learner_main",
        str(run_dir),
        "--parent-pid",
        str(os.getpid()),
    ]
    if demos is not None:
        cmd += ["--demos", str(demos)]
    log = (run_dir / "learner.log").open("w")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    info_path = run_dir / "learner.json"
    deadline = time.monotonic() + config.runtime.startup_timeout_s
    while not info_path.exists():
        if proc.poll() is not None:
            tail = (run_dir / "learner.log").read_text()[-3000:]
            raise LearnerStartError(f"learner process exited with code {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            proc.kill()
            raise LearnerStartError(
                f"learner did not start within {config.runtime.startup_timeout_s:.0f} s"
            )
        time.sleep(0.05)
    return proc, json.loads(info_path.read_text())["address"]


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
) -> dict[str, Any]:
    """Run a whole training run; returns the final result (also written to result.json)."""
    configure_threads(config.runtime.torch_threads)
    run_dir = run_dir or make_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(config, run_dir / "config.yaml")
    env = make_env(config, seed=config.seed)
    spec, action_dim = env_spec(env)
    (run_dir / "spec.json").write_text(json.dumps(spec_to_json(spec, action_dim), indent=1))
    started = time.monotonic()

    if demos is None and config.demos.num_episodes > 0:
        from robot_rl.demos import record_demos

        demos = run_dir / "demos"
        with tqdm(total=config.demos.num_episodes, desc="demos", disable=not progress) as bar:
            record_demos(config, demos, on_episode=lambda n, _a: bar.update(1))

    if config.agent == "bc":
        from robot_rl.runtime.offline import train_bc

        policy = train_bc(config, spec, action_dim, demos, run_dir, progress=progress)
        stats = None
    else:
        policy, stats = _train_online(
            config, env, spec, action_dim, demos, run_dir, progress=progress
        )

    result = final_evaluation(config, policy, run_dir, progress=progress)
    result.update({"wall_s": time.monotonic() - started, "run_dir": str(run_dir)})
    if stats is not None:
        result.update(
            {
                "env_steps": stats.env_steps,
                "weights_version": stats.weights_version,
                "learner_updates": stats.learner_updates,
                "train_success_rate_last20": stats.success_rate,
            }
        )
    (run_dir / "result.json").write_text(json.dumps(result, indent=1))
    env.close()
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
) -> tuple[Any, ActorStats]:
    rt = config.runtime
    learner_thread: threading.Thread | None = None
    proc: subprocess.Popen | None = None
    if rt.transport == "zmq":
        from robot_rl.runtime.transport import ZmqActorEndpoint

        proc, address = _start_learner_process(run_dir, config, demos)
        transport: Any = ZmqActorEndpoint(
            address,
            heartbeat_interval_s=rt.heartbeat_interval_s,
            heartbeat_timeout_s=rt.heartbeat_timeout_s,
        )
    else:
        from robot_rl.runtime.learner_main import build_learner
        from robot_rl.runtime.transport import InProcessTransport

        transport, learner_end = InProcessTransport.pair(
            heartbeat_interval_s=rt.heartbeat_interval_s, heartbeat_timeout_s=rt.heartbeat_timeout_s
        )
        learner = build_learner(run_dir, learner_end, demos_path=demos)
        learner_thread = threading.Thread(target=learner.run, name="learner", daemon=True)  # type: ignore[attr-defined]
        learner_thread.start()

    digest = config_hash(config)
    policy = make_policy(config, spec, action_dim)
    store = BackgroundEpisodeWriter(
        EpisodeStore.create(
            run_dir / "episodes",
            obs_spec=spec,
            action_dim=action_dim,
            attrs={"task": config.task, "config_hash": digest},
        )
    )
    actor_metrics = MetricsLogger(run_dir / "metrics", "actor", tensorboard_dir=run_dir / "tb")
    eval_metrics = MetricsLogger(run_dir / "metrics", "eval", tensorboard_dir=run_dir / "tb")
    hello = Hello(role="actor", run_id=run_dir.name, config_hash=digest)
    transport.send(hello)
    tr = config.train
    actor = Actor(
        env,
        policy,
        transport,
        config_hash=digest,
        seed=config.seed,
        store=store,
        updates_per_env_step=tr.updates_per_env_step,
        learning_starts=tr.learning_starts,
        max_steps_ahead=tr.max_steps_ahead,
        hello=hello,
        on_episode=lambda ep, st: actor_metrics.log(
            st.env_steps,
            {
                "charts/episode_return": float(ep.rewards.sum()),
                "charts/success": ep.success,
                "charts/episode_length": len(ep),
                "charts/weights_version": st.weights_version,
            },
        ),
    )
    eval_env = make_env(config, seed=config.seed + 1)
    bar = _progress_bar(tr.env_steps, progress)
    last_eval = {"success_rate": float("nan")}

    def on_step(stats: ActorStats) -> None:
        bar.update(1)
        if (
            tr.eval_every
            and stats.env_steps % tr.eval_every == 0
            and stats.env_steps < tr.env_steps
        ):
            last_eval.update(
                evaluate(eval_env, policy, episodes=tr.eval_episodes, seed=config.seed)
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
        stats = actor.run(tr.env_steps, progress=on_step)
    finally:
        bar.close()
        store.close()
        transport.send(Control(command="stop"))
        _wait_for_learner(proc, learner_thread, transport, timeout_s=120.0)
        transport.close()
        actor_metrics.close()
        eval_metrics.close()
        eval_env.close()
    policy_path = run_dir / "policy.safetensors"
    if policy_path.exists():
        tensors, _meta = load_policy(policy_path)
        policy.load_state_dict(tensors)
    return policy, stats


def _wait_for_learner(
    proc: subprocess.Popen | None,
    thread: threading.Thread | None,
    transport: Any,
    *,
    timeout_s: float,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (proc is not None and proc.poll() is not None) or (
            thread is not None and not thread.is_alive()
        ):
            return
        transport.recv(0.05)  # keep draining so the learner's final sends do not back up
        if int(time.monotonic() * 2) % 2 == 0:
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
