"""Reward models against the twin's ground truth; prints one JSON object as its last line.

Training frames are labelled the way a robot cell can label them (``--labels outcome``):
from each episode's outcome only (demos and dashboard labels: the last ``--positive-last``
frames of a successful episode are positives, failed episodes are all negatives), never from
the twin's per-frame ground truth. The recorded episodes are what a user would record:
expert demos, noisy attempts, random motion and near misses (the cube grasped and lifted
less than the success height, then held or dropped: hard negatives). At most
``--max-positives`` positive frames are kept. The threshold is calibrated to 1 % FPR on
held-out training episodes; the fresh held-out evaluation episodes (another seed, the
mixture of the first benchmark, including drops) are scored against per-frame ground truth.

Every model is evaluated: the classifier, ground truth, and the CLIP / VLM code paths with
tiny *randomly initialised* models (no hub here: their figures prove only that the path
runs). Also measured: the control-loop stall of a deliberately slow (200 ms) reward model at
10 Hz, in-line, through the thread RewardService (``service``) and through the ProcessRewardService;
and a PNG of P(success) against ground truth.

    .venv/bin/python scripts/bench/rewards.py                 # the recipe described above
    .venv/bin/python scripts/bench/rewards.py --labels ground_truth --near-miss 0 \\
        --noisy 0.3 --drop 0.15 --no-state --no-state-check   # the first version's recipe

The state check is the task's definition on proprioception: the TCP must be 5 cm above its
height when the gripper closed on the cube in the successful training episodes (median; no
per-frame label, no ground truth); the images decide that the cube is in the gripper.
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
    ClassifierReward,
    DelayedReward,
    GroundTruthReward,
    LabelledFrames,
    StateCheck,
    TwinFramesConfig,
    collect_twin_frames,
    measure_stall,
    train_classifier,
)
from robot_rl.rewards.evaluate import evaluate_models
from robot_rl.rewards.frames import GT_LABEL, label_by_outcome
from robot_rl.rewards.plot import plot_success
from robot_rl.rewards.process_service import ProcessRewardService
from robot_rl.rewards.service import load_delayed_classifier, measure_service_stall

TCP_Z = 2  # index of the TCP height (m) in the twin's state vector
GRIPPER = 10  # index of the gripper opening in [0, 1]
LIFT = 0.05  # m, the task's success lift (the twin's lift_height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=100, help="training episodes")
    parser.add_argument("--eval-episodes", type=int, default=30, help="held-out episodes")
    parser.add_argument("--eval-seed", type=int, default=1000, help="seed of held-out episodes")
    parser.add_argument("--steps", type=int, default=1500, help="classifier updates")
    parser.add_argument("--max-positives", type=int, default=200, help="positive frames kept")
    parser.add_argument("--labels", choices=("outcome", "ground_truth"), default="outcome")
    parser.add_argument("--positive-last", type=int, default=6, help="outcome labels: positives")
    parser.add_argument("--margin", type=int, default=0, help="outcome labels: frames left out")
    parser.add_argument("--noisy", type=float, default=0.25, help="share of noisy-expert episodes")
    parser.add_argument("--drop", type=float, default=0.0, help="share of drop-after-lift episodes")
    parser.add_argument("--random", type=float, default=0.15, help="share of random episodes")
    parser.add_argument("--near-miss", type=float, default=0.25, help="share of near misses")
    parser.add_argument(
        "--no-state", action="store_true", help="images only (no proprioception in the head)"
    )
    parser.add_argument(
        "--state-check-z",
        type=float,
        default=None,
        help="success also needs TCP z >= this (m); default: grasp height in the demos + 5 cm",
    )
    parser.add_argument("--no-state-check", action="store_true", help="no TCP-height check")
    parser.add_argument("--plot", default="runs/bench/rewards.png")
    parser.add_argument("--skip-zero-shot", action="store_true", help="no CLIP / VLM")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    train_cfg = TwinFramesConfig(
        episodes=args.episodes,
        seed=7,
        noisy_fraction=args.noisy,
        drop_fraction=args.drop,
        random_fraction=args.random,
        partial_fraction=args.near_miss,
        partial_height=(0.01, 0.04),
    )
    train_frames = collect_twin_frames(train_cfg)
    eval_frames = collect_twin_frames(
        TwinFramesConfig(episodes=args.eval_episodes, seed=args.eval_seed)
    )
    collect_s = time.perf_counter() - t0
    label_noise = 0
    if args.labels == "outcome":
        train_frames = label_by_outcome(
            train_frames, positive_last=args.positive_last, margin=args.margin
        )
        label_noise = int(np.sum(train_frames.labels != train_frames.extra[GT_LABEL]))
    positives = np.flatnonzero(train_frames.labels)
    if len(positives) > args.max_positives:  # the budget: <= 200 labelled positives
        rng = np.random.default_rng(0)
        drop = rng.choice(positives, len(positives) - args.max_positives, replace=False)
        train_frames = train_frames.subset(np.setdiff1d(np.arange(len(train_frames)), drop))
    checks: tuple[StateCheck, ...] = ()
    grasp_z = grasp_height(train_frames)
    check_z = grasp_z + LIFT if args.state_check_z is None else args.state_check_z
    if not args.no_state_check:
        checks = (StateCheck(index=TCP_Z, low=check_z, name="TCP height (m)"),)
    clf_config = ClassifierConfig(
        train_steps=args.steps, use_state=not args.no_state, state_checks=checks
    )
    classifier, report = train_classifier(train_frames, clf_config, log_every=250)
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
        stall = measure_stalls(classifier, eval_frames, os.path.join(tmp, "clf.safetensors"))
    for name in ("clip", "vlm"):
        if name in metrics:
            metrics[name]["random_init"] = True  # type: ignore[assignment]
    plot = plot_success(args.plot, probs, eval_frames.labels, eval_frames.episode)
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
        "recipe": {
            "labels": args.labels,
            "positive_last": args.positive_last,
            "margin": args.margin,
            "mix": {"noisy": args.noisy, "drop": args.drop, "random": args.random},
            "near_miss": args.near_miss,
            "use_state": not args.no_state,
            "demo_grasp_tcp_z": round(grasp_z, 4),
            "state_check_z": None if args.no_state_check else round(check_z, 4),
            "train_steps": args.steps,
            "eval_seed": args.eval_seed,
        },
        "train_label_noise_frames": label_noise,
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


def grasp_height(frames: LabelledFrames) -> float:
    """Median TCP z (m) when the gripper has closed, in episodes labelled successful.

    Proprioception and outcome labels only: what a cell reads off its own demos.
    """
    assert frames.state is not None
    heights = []
    for episode in np.unique(frames.episode[frames.labels]):
        rows = np.flatnonzero(frames.episode == episode)
        closed = rows[frames.state[rows, GRIPPER] < 0.5]
        if closed.size:
            heights.append(float(frames.state[closed[0], TCP_Z]))
    return float(np.median(heights))


def measure_stalls(
    classifier: ClassifierReward, frames: LabelledFrames, path: str
) -> dict[str, object]:
    """A 200 ms classifier in a 10 Hz loop: in-line, thread service, process service."""
    classifier.save(path)
    n = min(30, len(frames))
    observations = [frames.batch(slice(i, i + 1)) for i in range(n)]
    observations = [{k: v[0] for k, v in obs.items()} for obs in observations]
    slow = DelayedReward(classifier, delay_s=0.2)
    process = ProcessRewardService(load_delayed_classifier, path, 0.2)
    return {
        "slow_model_delay_ms": 200,
        "control_hz": 10,
        "inline": measure_stall(slow, observations, control_hz=10.0, use_service=False),
        "service": measure_stall(slow, observations, control_hz=10.0, use_service=True),
        "process_service": measure_service_stall(process, observations, control_hz=10.0),
    }


if __name__ == "__main__":
    main()
