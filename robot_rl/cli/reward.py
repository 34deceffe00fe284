"""``robot-rl reward train|eval``: train the success classifier, evaluate reward models.

Wired into ``robot_rl.cli`` with :func:`add_reward_commands`. Both commands read a reward
config (``configs/rewards/*.yaml``, :class:`robot_rl.rewards.config.RewardConfig`) and take
``--set dotted.key=value`` overrides validated like the file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EPILOG = """examples:
  robot-rl reward train configs/rewards/pick_cube_classifier.yaml --out runs/rewards/clf.safetensors
  robot-rl reward eval configs/rewards/pick_cube_classifier.yaml --model runs/rewards/clf.safetensors
  robot-rl reward eval configs/rewards/pick_cube_clip.yaml --set clip.weights_path=/models/clip
"""


def _load(args: argparse.Namespace) -> Any:
    from robot_rl.config import load_yaml
    from robot_rl.rewards.config import RewardConfig

    return load_yaml(RewardConfig, args.config, overrides=args.set)


def cmd_reward_train(args: argparse.Namespace) -> int:
    """Collect labelled frames, train and calibrate the classifier, save it."""
    import torch

    from robot_rl.rewards.classifier import train_classifier
    from robot_rl.rewards.frames import (
        LabelledFrames,
        collect_twin_frames,
        frames_from_store,
        label_by_outcome,
    )

    config = _load(args)
    torch.set_num_threads(max(1, args.threads))
    data = config.data
    data.validate()
    parts = []
    if data.twin is not None:
        twin = collect_twin_frames(data.twin)
        if data.twin_labels == "outcome":  # what a cell has; ground truth only evaluates
            twin = label_by_outcome(twin, positive_last=data.positive_last, margin=data.margin)
        parts.append(twin)
    for store in data.stores:
        parts.append(
            frames_from_store(
                store,
                cameras=config.classifier.cameras,
                positive_last=data.positive_last,
                margin=data.margin,
            )
        )
    frames = LabelledFrames.concat(parts)
    model, report = train_classifier(
        frames, config.classifier, device=config.device, log_every=args.log_every
    )
    out = Path(args.out or config.model_path)
    model.save(out, report=report)
    print(json.dumps({"model_path": str(out), **report}, indent=1))
    return 0


def cmd_reward_eval(args: argparse.Namespace) -> int:
    """Score held-out twin frames with the configured model (+ ground truth); print metrics."""
    import torch

    from robot_rl.rewards.base import GroundTruthReward, RewardModel
    from robot_rl.rewards.config import build_reward_model
    from robot_rl.rewards.evaluate import evaluate_models
    from robot_rl.rewards.frames import collect_twin_frames
    from robot_rl.rewards.plot import plot_success

    config = _load(args)
    torch.set_num_threads(max(1, args.threads))
    if config.type == "intervention":
        raise SystemExit("error: type: the intervention reward has no success to evaluate")
    frames_cfg = config.eval.frames
    if args.episodes:
        frames_cfg.episodes = args.episodes
    models: dict[str, RewardModel] = {  # built first: a bad weights path fails fast
        config.type: build_reward_model(config, model_path=args.model),
        "ground_truth": GroundTruthReward(lift_height=frames_cfg.lift_height),
    }
    frames = collect_twin_frames(frames_cfg)
    metrics, probs = evaluate_models(models, frames)
    result: dict[str, Any] = {
        **metrics,
        "frames": len(frames),
        "positives": int(frames.labels.sum()),
    }
    if args.plot:
        result["plot"] = str(plot_success(args.plot, probs, frames.labels, frames.episode))
    print(json.dumps(result, indent=1))
    return 0


def add_reward_commands(
    subparsers: Any, overrides: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """Add ``reward train`` and ``reward eval`` to the ``robot-rl`` sub-command parsers."""
    reward = subparsers.add_parser(
        "reward",
        help="train / evaluate reward models (success classifier, CLIP, VLM)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = reward.add_subparsers(dest="reward_command", required=True)
    common = argparse.ArgumentParser(add_help=False, parents=[overrides])
    common.add_argument("config", help="reward config YAML (configs/rewards/*.yaml)")
    common.add_argument("--threads", type=int, default=1, help="torch CPU threads")

    train = sub.add_parser(
        "train", parents=[common], help="train + calibrate the success classifier"
    )
    train.add_argument("--out", help="classifier file to write (default: model_path of the config)")
    train.add_argument("--log-every", type=int, default=100, help="print the loss every N updates")
    train.set_defaults(func=cmd_reward_train)

    ev = sub.add_parser("eval", parents=[common], help="metrics on held-out twin frames")
    ev.add_argument("--model", help="classifier file (default: model_path of the config)")
    ev.add_argument("--episodes", type=int, default=0, help="held-out episodes (default: config)")
    ev.add_argument("--plot", help="write a PNG of P(success) vs ground truth here")
    ev.set_defaults(func=cmd_reward_eval)
    return reward
