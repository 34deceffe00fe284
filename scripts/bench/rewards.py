"""Reward models against the twin's ground truth; prints one JSON object as its last line.

Trains the success classifier on labelled twin frames (expert, noisy expert, drops, random
actions; <= 200 positive frames), calibrates its threshold to 1 % FPR on held-out training
episodes, then scores fresh held-out episodes with every model: classifier, ground truth,
and the CLIP / VLM code paths with tiny *randomly initialised* models (no hub here: their
figures prove only that the path runs). Also measures the control-loop stall of a
deliberately slow reward model, in-line versus through the RewardService, and writes a PNG
of P(success) against ground truth.

    .venv/bin/python scripts/bench/rewards.py [--episodes 100] [--eval-episodes 30] [--steps 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from robot_rl.rewards import (
    ClassifierConfig,
    DelayedReward,
    GroundTruthReward,
    TwinFramesConfig,
    collect_twin_frames,
    measure_stall,
    train_classifier,
)
from robot_rl.rewards.evaluate import evaluate_models
from robot_rl.rewards.plot import plot_success


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=100, help="training episodes")
    parser.add_argument("--eval-episodes", type=int, default=30, help="held-out episodes")
    parser.add_argument("--steps", type=int, default=1500, help="classifier updates")
    parser.add_argument("--max-positives", type=int, default=200, help="positive frames kept")
    parser.add_argument("--plot", default="runs/bench/rewards.png")
    parser.add_argument("--skip-zero-shot", action="store_true", help="no CLIP / VLM")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    train_frames = collect_twin_frames(TwinFramesConfig(episodes=args.episodes, seed=7))
    eval_frames = collect_twin_frames(TwinFramesConfig(episodes=args.eval_episodes, seed=1000))
    collect_s = time.perf_counter() - t0
    positives = np.flatnonzero(train_frames.labels)
    if len(positives) > args.max_positives:  # the budget: <= 200 labelled positives
        rng = np.random.default_rng(0)
        drop = rng.choice(positives, len(positives) - args.max_positives, replace=False)
        train_frames = train_frames.subset(np.setdiff1d(np.arange(len(train_frames)), drop))
    classifier, report = train_classifier(
        train_frames, ClassifierConfig(train_steps=args.steps), log_every=250
    )
    models: dict = {"classifier": classifier, "ground_truth": GroundTruthReward()}
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_zero_shot:
            try:
                from robot_rl.rewards import ClipReward, ClipRewardConfig, VLMJudge, VLMJudgeConfig
                from robot_rl.rewards.tiny import build_tiny_clip, build_tiny_vlm

                clip_dir = build_tiny_clip(os.path.join(tmp, "clip"))
                vlm_dir = build_tiny_vlm(os.path.join(tmp, "vlm"))
                models["clip"] = ClipReward(ClipRewardConfig(weights_path=str(clip_dir)))
                models["vlm"] = VLMJudge(VLMJudgeConfig(weights_path=str(vlm_dir)))
            except ImportError as err:
                notes.append(f"CLIP/VLM skipped: {err}")
        metrics, probs = evaluate_models(models, eval_frames)
    for name in ("clip", "vlm"):
        if name in metrics:
            metrics[name]["random_init"] = True  # type: ignore[assignment]
    plot = plot_success(args.plot, probs, eval_frames.labels, eval_frames.episode)
    observations = [
        {k: v[i] for k, v in eval_frames.images.items()} for i in range(min(30, len(eval_frames)))
    ]
    slow = DelayedReward(classifier, delay_s=0.2)
    stall = {
        "slow_model_delay_ms": 200,
        "control_hz": 10,
        "inline": measure_stall(slow, observations, control_hz=10.0, use_service=False),
        "service": measure_stall(slow, observations, control_hz=10.0, use_service=True),
    }
    notes.append(
        "clip and vlm are tiny randomly initialised models built in code (no model hub here): "
        "their figures prove only the loading/preprocessing/batching/scoring path; real "
        "weights could not be loaded on this machine"
    )
    notes.append(
        "e2e_steps_ratio is null: pixel SAC to 80 % success with classifier vs ground-truth "
        "reward is a GPU-scale run (two pixel RL runs of ~1e5 env steps), not feasible on this "
        "2-core CPU machine"
    )
    result = {
        **metrics,
        "classifier_train": report,
        "eval_frames": len(eval_frames),
        "eval_positives": int(eval_frames.labels.sum()),
        "train_frames_total": len(train_frames),
        "train_positives_total": int(train_frames.labels.sum()),
        "collect_s": round(collect_s, 1),
        "stall": stall,
        "plot": str(plot),
        "e2e_steps_ratio": None,
        "notes": notes,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
