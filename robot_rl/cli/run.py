"""``robot-rl demos|train|eval|learner``: record demonstrations, train, evaluate, serve a learner.

``add_run_commands(subparsers, overrides)`` registers them on the main parser
(robot_rl/cli/__init__.py); ``overrides`` is the shared ``--set`` parent parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robot_rl.cli.common import load_run_config


def cmd_demos(args: argparse.Namespace) -> int:
    """Record scripted demonstrations in the twin."""
    from tqdm import tqdm

    from robot_rl.app.demos import record_demos

    config = load_run_config(args.config, args.set)
    with tqdm(total=config.demos.num_episodes, desc="demos") as bar:
        store = record_demos(config, Path(args.out), on_episode=lambda n, a: bar.update(1))
    print(json.dumps(store.info(), indent=1, default=str))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train: demos, actor + learner processes, final eval."""
    from robot_rl.app.launch import ResumeError, train

    if args.resume and args.run_dir:
        print("error: give --resume RUN_DIR or --run-dir, not both", file=sys.stderr)
        return 2
    if not args.config and not args.resume:
        print("error: a config is needed (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    run_dir = args.resume or args.run_dir
    overrides = args.set + (["dashboard.enabled=true"] if args.dashboard else [])
    config = load_run_config(args.config or str(Path(args.resume) / "config.yaml"), overrides)
    from robot_rl.resets.human import HumanResetTimeout
    from robot_rl.teleop import DeviceMissingError

    try:
        result = train(
            config,
            run_dir=Path(run_dir) if run_dir else None,
            demos=Path(args.demos) if args.demos else None,
            progress=not args.quiet,
            resume=bool(args.resume),
        )
    except (ResumeError, DeviceMissingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except HumanResetTimeout as err:  # the finished episodes are written; --resume goes on
        print(
            f"error: {err}\nresume with: robot-rl train --resume {run_dir or 'RUN_DIR'}",
            file=sys.stderr,
        )
        return 1
    _print_result(result)
    return 1 if result.get("learner_restarts") else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a run's policy: success rate + mp4."""
    from robot_rl.app.build import configure_threads, make_env, make_policy
    from robot_rl.config import config_hash
    from robot_rl.envs.spec import read_spec_file
    from robot_rl.evaluate import evaluate
    from robot_rl.runtime.checkpoint import PolicyFileError, load_policy

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file():
        print(f"error: {run_dir} is not a run directory (no config.yaml)", file=sys.stderr)
        return 2
    config = load_run_config(run_dir / "config.yaml", args.set)
    configure_threads(config.runtime.torch_threads)
    spec, action_dim = read_spec_file(run_dir / "spec.json")
    policy_path = run_dir / "policy.safetensors"
    tensors, meta = load_policy(policy_path)
    trained_with = meta.get("config_hash", "")
    run_hash = config_hash(load_run_config(run_dir / "config.yaml", []))
    if trained_with != run_hash:
        why = (
            f"{policy_path} was trained with config hash {trained_with or '(none)'}, but "
            f"{run_dir / 'config.yaml'} hashes to {run_hash} (edited, or weights of another run)"
        )
        if not args.allow_config_mismatch:
            print(f"error: {why}; --allow-config-mismatch evaluates it anyway", file=sys.stderr)
            return 2
        print(f"warning: {why}", file=sys.stderr)
    policy = make_policy(config, spec, action_dim)
    try:
        policy.load_state_dict(tensors)
    except (RuntimeError, ValueError, KeyError) as err:  # torch: missing keys, size mismatch
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        telling = [line for line in lines if line.startswith(("size mismatch", "Missing", "Unexp"))]
        first = (telling or lines or [type(err).__name__])[0][:300]
        raise PolicyFileError(
            f"{policy_path}: the weights do not fit the run's policy (spec.json and "
            f"config.yaml): {first}"
        ) from err
    env = make_env(config, seed=config.seed + 3)
    video = None if args.no_video else Path(args.video or run_dir / "eval" / "eval.mp4")
    result: dict[str, Any] = evaluate(
        env,
        policy,
        episodes=args.episodes,
        seed=args.seed,
        video_path=video,
        fps=int(config.env.control_hz),
        deterministic=not args.stochastic,
    )
    result["deterministic"] = not args.stochastic
    result["weights_version"] = int(meta.get("weights_version", -1))
    if video is not None:
        result["video"] = str(video)
    print(json.dumps(result, indent=1))
    return 0


def cmd_learner(args: argparse.Namespace) -> int:
    """Run only the learner (e.g. on a GPU workstation)."""
    import zmq

    from robot_rl.app.learner_main import learner_config, serve_learner
    from robot_rl.runtime.curve_keys import CurveKeyError
    from robot_rl.runtime.transport_zmq import InsecureBindError

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file():
        print(f"error: {run_dir} is not a run directory (no config.yaml)", file=sys.stderr)
        return 2
    from robot_rl.envs.spec import read_spec_file

    learner_config(run_dir, args.set)  # a bad override is named first,
    read_spec_file(run_dir / "spec.json")  # then a missing or garbage spec, before binding
    try:
        return serve_learner(
            run_dir,
            bind=args.bind,
            demos=Path(args.demos) if args.demos else None,
            overrides=args.set,
            make_keys=args.make_keys,
        )
    except (InsecureBindError, CurveKeyError) as err:  # the socket's own refusals: one line
        print(f"learner: {err}", file=sys.stderr)
        return 2
    except (zmq.ZMQError, OSError) as err:  # e.g. the port is in use, an unknown interface
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except Exception as err:  # a learner facing the network must say why it stopped, briefly
        if isinstance(err, _handled_by_main()):
            raise  # the CLI's main says these in one line
        import traceback

        crash = run_dir / "learner-crash.log"
        crash.write_text(traceback.format_exc())
        print(
            f"error: the learner stopped: {type(err).__name__}: {' '.join(str(err).split())} "
            f"(traceback in {crash})",
            file=sys.stderr,
        )
        return 1


def _handled_by_main() -> tuple[type[Exception], ...]:
    """The errors the CLI's main reports in one line by itself (config, episode store)."""
    from robot_rl.config import ConfigError
    from robot_rl.data.episode_store import EpisodeStoreError

    return (ConfigError, EpisodeStoreError)


def _print_result(result: dict[str, Any]) -> None:
    restarts = int(result.get("learner_restarts", 0))
    if restarts:
        print(
            f"\nrun incomplete: the learner died {restarts} time(s) and was restarted from its "
            f"checkpoint (see {Path(result.get('run_dir', '.')) / 'learner.log'})"
        )
    else:
        print("\nrun finished")
    for key in (
        "final_success_rate",
        "env_steps",
        "learner_updates",
        "weights_version",
        "wall_s",
        "run_dir",
    ):
        if key in result:
            value = result[key]
            text = (
                f"{value:.1%}"
                if key == "final_success_rate"
                else (f"{value:.0f}" if isinstance(value, float) else value)
            )
            print(f"  {key:<22} {text}")
    video = Path(result.get("run_dir", ".")) / "eval" / "video.mp4"
    if video.exists():
        print(f"  {'video':<22} {video}")


def add_run_commands(subparsers: Any, overrides: argparse.ArgumentParser) -> None:
    """Register ``demos``, ``train``, ``eval`` and ``learner`` on the main parser."""

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help_text, description=help_text, parents=[overrides])
        p.set_defaults(func=func)
        return p

    p = add("demos", cmd_demos, "record scripted demonstrations in the twin into an episode store")
    p.add_argument("config", help="run config YAML (configs/...)")
    p.add_argument("--out", required=True, help="episode store directory to create")

    p = add("train", cmd_train, "train a policy (demos, actor + learner, final eval with video)")
    p.add_argument("config", nargs="?", help="run config YAML (default with --resume: its own)")
    p.add_argument("--demos", help="use this demo store instead of recording new demos")
    p.add_argument("--run-dir", help="run directory (default: <runs_dir>/<name>-<time>)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue this run from its last checkpoint and stored episodes",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="serve the live dashboard (dashboard.enabled=true; URL with its token printed)",
    )

    p = add("eval", cmd_eval, "evaluate a run's policy: success rate and an mp4")
    p.add_argument("run_dir", help="run directory of a finished or running training")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video", help="mp4 path (default: RUN_DIR/eval/eval.mp4)")
    p.add_argument("--no-video", action="store_true")
    p.add_argument(
        "--allow-config-mismatch",
        action="store_true",
        help="evaluate even when the policy's config hash differs from the run's config.yaml",
    )
    p.add_argument(
        "--stochastic",
        action="store_true",
        help="sample actions as the actor does online (default: the policy's mean action)",
    )

    p = add(
        "learner",
        cmd_learner,
        "run the learner alone (the actor connects to it); --set may change runtime.* only",
    )
    p.add_argument("run_dir", help="run directory with config.yaml and spec.json")
    p.add_argument(
        "--bind",
        help="address to bind (default: runtime.learner_address, loopback); off loopback, e.g. "
        "tcp://0.0.0.0:5555, only with the run's CURVE keys (--make-keys)",
    )
    p.add_argument(
        "--make-keys",
        action="store_true",
        help="create the run's CURVE keys in RUN_DIR/keys first (kept if there); the actor "
        "needs keys/learner.key and keys/actor.key_secret in its run dir",
    )
    p.add_argument("--demos", help="demonstration episode store")
