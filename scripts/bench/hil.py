"""Human in the loop on the twin: RLPD with vs without the scripted intervener.

Each arm runs actor + learner (in-process transport, learner thread) for ``--env-steps``;
the "hil" arm has the ScriptedIntervener (twin ground truth + scripted expert) behind an
InterventionMixer, and the learner routes its intervention steps into the demo buffer
(HIL-SERL, ``hil.hil_serl``). steps_ratio = env steps the HIL arm needed to reach ``--target``
success / steps the plain arm needed, success measured every ``--eval-every`` env steps by
deterministic evaluation of the policy alone (no person); the 20-episode training window
(episodes the policy finished itself) is reported too (< 1: HIL is faster; target <= 0.6; an arm that never reaches it counts as
env_steps). The pixel version is a GPU-scale run (--obs pixels); on a CPU use --obs state
with small budgets. Both arms start from ``--config`` (default: the ``make demo`` recipe) with
``--demos`` scripted demonstrations (few, so that there is something left for a person to
teach). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from robot_rl_sim.tasks import get_task

from robot_rl.app.build import configure_threads, env_spec, make_env, make_policy
from robot_rl.app.demos import record_demos
from robot_rl.app.learner_main import build_learner
from robot_rl.config import config_hash, load_yaml, save_yaml
from robot_rl.envs.spec import spec_to_json
from robot_rl.evaluate import evaluate
from robot_rl.hil import (
    HilConfig,
    InterventionMixer,
    ScriptedIntervener,
    ScriptedIntervenerConfig,
)
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.transport import InProcessTransport
from robot_rl.wire.protocol import Control, Hello


def run_arm(
    config: RunConfig,
    root: Path,
    *,
    hil: bool,
    rlif: bool,
    target: float,
    eval_every: int,
    eval_episodes: int,
    final_episodes: int = 50,
) -> dict[str, Any]:
    configure_threads(1)
    run_dir = root / ("hil" if hil else "plain")
    run_dir.mkdir(parents=True)
    save_yaml(config, run_dir / "config.yaml")
    env = make_env(config, seed=config.seed)
    spec, action_dim = env_spec(env)
    (run_dir / "spec.json").write_text(json.dumps(spec_to_json(spec, action_dim)))
    demos = None
    if config.demos.num_episodes:
        demos = run_dir / "demos"
        record_demos(config, demos)
    transport, learner_end = InProcessTransport.pair(heartbeat_timeout_s=30.0)
    learner: Any = build_learner(run_dir, learner_end, demos_path=demos)
    thread = threading.Thread(target=learner.run, daemon=True)
    thread.start()
    mixer = None
    if hil:
        person = ScriptedIntervener(
            env.unwrapped, config=ScriptedIntervenerConfig(), seed=config.seed,
            expert_factory=get_task(config.task).make_expert,
        )  # fmt: skip
        mixer = InterventionMixer(action_dim, config=HilConfig(rlif=rlif), source=person)
    rates: list[float] = []
    reached: list[int] = []  # first deterministic evaluation at or above target
    train_reached: list[int] = []  # first 20-episode training window at or above target
    window: list[float] = []
    evals: list[list[float]] = []
    eval_env = make_env(config, seed=config.seed + 1)
    policy = make_policy(config, spec, action_dim)

    def on_episode(ep: Any, stats: Any) -> None:
        rates.append(float(np.mean(ep.intervened)))
        window.append(float(ep.success and not ep.intervened[-5:].any()))  # policy finished it
        del window[:-20]
        if not train_reached and len(window) >= 10 and np.mean(window) >= target:
            train_reached.append(stats.env_steps)
        if stats.env_steps >= eval_every * (len(evals) + 1):
            # The policy alone (no person), deterministic, as after training.
            rate = evaluate(eval_env, policy, episodes=eval_episodes, seed=config.seed)
            evals.append([stats.env_steps, rate["success_rate"]])
            print(f"[hil] {'hil' if hil else 'plain'} {stats.env_steps} env steps: success "
                  f"{rate['success_rate']:.2f}, intervened {np.mean(rates[-20:]):.2f}",
                  file=sys.stderr, flush=True)  # fmt: skip
            if not reached and rate["success_rate"] >= target:
                reached.append(stats.env_steps)

    tr = config.train
    # The learner takes stop and pacing only from the actor that said Hello with the run's hash.
    hello = Hello(role="actor", run_id=run_dir.name, config_hash=config_hash(config))
    transport.send(hello)
    actor = Actor(env, policy, transport, hello=hello,
                  config_hash=config_hash(config), seed=config.seed,
                  updates_per_env_step=tr.updates_per_env_step, learning_starts=tr.learning_starts,
                  max_steps_ahead=tr.max_steps_ahead, mixer=mixer, on_episode=on_episode)  # fmt: skip
    stats = actor.run(tr.env_steps)
    transport.send(Control(command="stop"))
    thread.join(timeout=60)
    final = evaluate(eval_env, policy, episodes=final_episodes, seed=config.seed + 10_000)
    env.close()
    eval_env.close()
    chunk = max(1, len(rates) // 10)
    curve = [float(np.mean(rates[i : i + chunk])) for i in range(0, len(rates), chunk)]
    return {"steps_to_target": reached[0] if reached else tr.env_steps, "reached": bool(reached),
            "train_steps_to_target": train_reached[0] if train_reached else None,
            "evals": evals, "episodes": stats.episodes,
            "final_success_rate": final["success_rate"],
            "intervention_rate_curve": curve}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--config",
        default=None,
        help="run config both arms start from (default: the task's recipe, "
        "configs/TASK_state.yaml)",
    )
    parser.add_argument("--task", default="pick_cube", help="twin task (robot-rl tasks)")
    parser.add_argument("--obs", choices=("state", "pixels"), default="state")
    parser.add_argument("--env-steps", type=int, default=3000)
    parser.add_argument("--demos", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--rlif", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=250, help="env steps between evals")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument(
        "--final-episodes", type=int, default=50, help="final evaluation of the policy alone"
    )
    parser.add_argument(
        "--parallel", action=argparse.BooleanOptionalAction, default=True,
        help="run the two arms in two processes at once",
    )  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    configure_threads(1)
    args.config = args.config or f"configs/{args.task}_state.yaml"
    config = load_yaml(RunConfig, args.config, overrides=[
        "name=hil", f"seed={args.seed}", f"env.obs_mode={args.obs}",
        f"demos.num_episodes={args.demos}", f"train.env_steps={args.env_steps}",
        "train.eval_every=0", "runtime.transport=inprocess", *args.set,
    ])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        kwargs = {
            "rlif": args.rlif,
            "target": args.target,
            "eval_every": args.eval_every,
            "eval_episodes": args.eval_episodes,
            "final_episodes": args.final_episodes,
        }
        if args.parallel:  # one process per arm: the arms are independent runs
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
                futures = {
                    name: pool.submit(run_arm, config, Path(tmp), hil=name == "hil", **kwargs)
                    for name in ("plain", "hil")
                }
                arms = {name: f.result() for name, f in futures.items()}
        else:
            arms = {
                name: run_arm(config, Path(tmp), hil=name == "hil", **kwargs)
                for name in ("plain", "hil")
            }
        plain, hil = arms["plain"], arms["hil"]  # fmt: skip
    print(json.dumps({
        "steps_ratio": hil["steps_to_target"] / max(plain["steps_to_target"], 1),
        "intervention_rate_curve": hil["intervention_rate_curve"],
        "plain": plain, "hil": hil, "obs": args.obs, "env_steps": args.env_steps,
        "target_success": args.target, "rlif": args.rlif, "seed": args.seed,
        "config": args.config, "task": config.task, "demos": args.demos,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
