"""The ``robot-rl`` command line: demos, train, eval, learner.

Every command takes a run config YAML (see configs/) and ``--set dotted.key=value``
overrides, validated like the file itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere

EPILOG = """examples:
  robot-rl demos configs/pick_cube_state.yaml --out runs/demos
  robot-rl train configs/pick_cube_state.yaml
  robot-rl train configs/pick_cube_state.yaml --set train.env_steps=5000 --set seed=1
  robot-rl train configs/pick_cube_state.yaml --dashboard   (prints the dashboard URL + token)
  robot-rl eval runs/pick_cube_state-20261123-101500 --episodes 50
  robot-rl learner RUN_DIR --bind tcp://0.0.0.0:5555   (learner on a GPU workstation)
  robot-rl dataset verify runs/pick_cube_state-20261123-101500/episodes
  robot-rl reward train configs/rewards/pick_cube_classifier.yaml
  robot-rl dashboard configs/pick_cube_state.yaml --teleop browser
  robot-rl reset-free configs/resets/reset_free_place_state.yaml --out runs/rf
  robot-rl train --resume runs/pick_cube_state-20261123-101500 --set train.env_steps=10000
"""


def _load(path: str, overrides: list[str]):
    from robot_rl.config import load_yaml
    from robot_rl.run_config import RunConfig

    return load_yaml(RunConfig, path, overrides=overrides)


def cmd_demos(args: argparse.Namespace) -> int:
    """Record scripted demonstrations in the twin."""
    from tqdm import tqdm

    from robot_rl.demos import record_demos

    config = _load(args.config, args.set)
    out = Path(args.out)
    with tqdm(total=config.demos.num_episodes, desc="demos") as bar:
        store = record_demos(config, out, on_episode=lambda n, a: bar.update(1))
    print(json.dumps(store.info(), indent=1, default=str))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train: demos, actor + learner processes, final eval."""
    from robot_rl.runtime.launch import ResumeError, train

    if args.resume and args.run_dir:
        print("error: give --resume RUN_DIR or --run-dir, not both", file=sys.stderr)
        return 2
    if not args.config and not args.resume:
        print("error: a config is needed (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    run_dir = args.resume or args.run_dir
    overrides = args.set + (["dashboard.enabled=true"] if args.dashboard else [])
    config = _load(args.config or str(Path(args.resume) / "config.yaml"), overrides)
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
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a run's policy: success rate + mp4."""
    from robot_rl.config import load_yaml
    from robot_rl.envs.spec import spec_from_json
    from robot_rl.evaluate import evaluate
    from robot_rl.run_config import RunConfig
    from robot_rl.runtime.build import configure_threads, make_env, make_policy
    from robot_rl.runtime.checkpoint import load_policy

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file():
        print(f"error: {run_dir} is not a run directory (no config.yaml)", file=sys.stderr)
        return 2
    config = load_yaml(RunConfig, run_dir / "config.yaml", overrides=args.set)
    configure_threads(config.runtime.torch_threads)
    spec, action_dim = spec_from_json(
        json.loads((run_dir / "spec.json").read_text()), where=str(run_dir / "spec.json")
    )
    policy = make_policy(config, spec, action_dim)
    tensors, meta = load_policy(run_dir / "policy.safetensors")
    policy.load_state_dict(tensors)
    env = make_env(config, seed=config.seed + 3)
    video = None if args.no_video else Path(args.video or run_dir / "eval" / "eval.mp4")
    result = evaluate(
        env,
        policy,
        episodes=args.episodes,
        seed=args.seed,
        video_path=video,
        fps=int(config.env.control_hz),
    )
    result["weights_version"] = int(meta.get("weights_version", -1))
    if video is not None:
        result["video"] = str(video)  # type: ignore[assignment]
    print(json.dumps(result, indent=1))
    return 0


def cmd_learner(args: argparse.Namespace) -> int:
    """Run only the learner (e.g. on a GPU workstation)."""
    from robot_rl.runtime.learner_main import main as learner_main

    argv = (
        [args.run_dir]
        + (["--bind", args.bind] if args.bind else [])
        + (["--demos", args.demos] if args.demos else [])
    )
    return learner_main(argv)


def _print_result(result: dict) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``robot-rl``."""
    parser = argparse.ArgumentParser(
        prog="robot-rl",
        description="Real-robot RL: record demos, train SAC/RLPD with actor + learner processes, evaluate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("demos", cmd_demos, "record scripted demonstrations in the twin into an episode store")
    p.add_argument("config", help="run config YAML (configs/...)")
    p.add_argument("--out", required=True, help="episode store directory to create")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field"
    )

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
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field"
    )

    p = add("eval", cmd_eval, "evaluate a run's policy: success rate and an mp4")
    p.add_argument("run_dir", help="run directory of a finished or running training")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video", help="mp4 path (default: RUN_DIR/eval/eval.mp4)")
    p.add_argument("--no-video", action="store_true")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field"
    )

    p = add("learner", cmd_learner, "run the learner alone (the actor connects to it)")
    p.add_argument("run_dir")
    p.add_argument("--bind", help="address to bind, e.g. tcp://0.0.0.0:5555")
    p.add_argument("--demos", help="demonstration episode store")

    # Command groups of the optional parts; each module imports its heavy deps lazily.
    from robot_rl.cli_dataset import add_dataset_commands
    from robot_rl.cli_hil import add_hil_commands
    from robot_rl.cli_resets import add_reset_commands
    from robot_rl.cli_reward import add_reward_commands

    add_dataset_commands(sub)
    add_reward_commands(sub)
    add_hil_commands(sub)
    add_reset_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``robot-rl``."""
    args = build_parser().parse_args(argv)
    from robot_rl.config import ConfigError
    from robot_rl.data.episode_store import EpisodeStoreError

    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    except EpisodeStoreError as err:  # e.g. a full disk: committed episodes are intact
        print(f"episode store error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
