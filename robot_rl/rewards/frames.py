"""Labelled frames for success classifiers: from the twin or from episode stores.

Twin frames carry ground truth (``gt_cube_height`` m, ``gt_grasped``) and their label is the
twin's own success rule: that is what evaluation compares against. Training labels must be
what a robot cell has, so :func:`label_by_outcome` relabels frames from each episode's
outcome alone, the rule :func:`frames_from_store` applies to stored episodes: the last
``positive_last`` frames of an episode that ended in success (demos, dashboard labels) are
positives, every frame of a failed episode is a negative, and the frames of a successful
episode before its positives are negatives except a ``margin`` next to them (the lift is in
progress there; a wrong label costs more than a missing one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot_rl import keys
from robot_rl.rewards.base import GT_CUBE_HEIGHT, GT_GRASPED


@dataclass
class LabelledFrames:
    """N frames with a success label each, grouped by episode."""

    images: dict[str, np.ndarray]  # pixels_<camera> -> (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) bool, True = task success visible in this frame
    episode: np.ndarray  # (N,) int64, episode index (splits keep episodes whole)
    step: np.ndarray  # (N,) int64, observation index within its episode
    state: np.ndarray | None = None  # (N, D) float32 proprioception, when recorded
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. ground truth, (N,) each

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, index: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
        """Reward-model batch (images, state, extra fields) of the selected rows."""
        sel = slice(None) if index is None else index
        out = {k: v[sel] for k, v in self.images.items()}
        if self.state is not None:
            out[keys.STATE] = self.state[sel]
        out.update({k: v[sel] for k, v in self.extra.items()})
        return out

    def subset(self, index: np.ndarray) -> LabelledFrames:
        """Frames at ``index`` (an int or bool array)."""
        return LabelledFrames(
            images={k: v[index] for k, v in self.images.items()},
            labels=self.labels[index],
            episode=self.episode[index],
            step=self.step[index],
            state=None if self.state is None else self.state[index],
            extra={k: v[index] for k, v in self.extra.items()},
        )

    def split_by_episode(
        self, fraction: float, *, seed: int
    ) -> tuple[LabelledFrames, LabelledFrames]:
        """(rest, held_out): about ``fraction`` of the episodes held out whole."""
        episodes = np.unique(self.episode)
        rng = np.random.default_rng(seed)
        n_held = max(1, round(fraction * len(episodes))) if len(episodes) > 1 else 0
        held = rng.choice(episodes, size=n_held, replace=False)
        mask = np.isin(self.episode, held)
        return self.subset(np.flatnonzero(~mask)), self.subset(np.flatnonzero(mask))

    @staticmethod
    def concat(parts: Iterable[LabelledFrames]) -> LabelledFrames:
        """Frames of several sets; episode indices are renumbered to stay distinct."""
        items = list(parts)
        if not items:
            raise ValueError("no frame sets to concatenate")
        offset, episodes = 0, []
        for part in items:
            local = np.unique(part.episode, return_inverse=True)[1].reshape(-1)  # 0..E-1
            episodes.append(local.astype(np.int64) + offset)
            offset += int(local.max()) + 1 if len(part) else 0
        with_state = all(p.state is not None for p in items)
        extra_keys = set.intersection(*(set(p.extra) for p in items))
        return LabelledFrames(
            images={k: np.concatenate([p.images[k] for p in items]) for k in items[0].images},
            labels=np.concatenate([p.labels for p in items]),
            episode=np.concatenate(episodes),
            step=np.concatenate([p.step for p in items]),
            state=np.concatenate([p.state for p in items]) if with_state else None,  # type: ignore[misc]
            extra={k: np.concatenate([p.extra[k] for p in items]) for k in sorted(extra_keys)},
        )


@dataclass
class TwinFramesConfig:
    """How to record labelled twin frames: expert, noisy expert, drops and random actions."""

    episodes: int = 40
    """Episodes to record."""
    image_size: int = 64
    """Camera frame height and width (px)."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras to record."""
    noisy_fraction: float = 0.3
    """Share of episodes where the expert acts with noise (failed grasps, slips)."""
    noisy_std: float = 0.6
    """Std of the noisy expert's action noise (action units)."""
    drop_fraction: float = 0.15
    """Share of episodes where the expert opens the gripper after success (falling cube)."""
    random_fraction: float = 0.15
    """Share of episodes of uniform random actions (arm anywhere, cube mostly untouched)."""
    partial_fraction: float = 0.0
    """Share of near-miss episodes: the expert grasps and lifts the cube only part of the way
    (below ``lift_height``), holds it, and in half of them lets it fall (hard negatives)."""
    partial_height: tuple[float, float] = (0.01, 0.045)
    """Range of the near-miss lift (m), drawn uniformly per episode."""
    hold_steps: int = 5
    """Steps recorded after the first success frame (lifted-cube positives per episode)."""
    max_steps: int = 40
    """Longest episode (steps)."""
    lift_height: float = 0.05
    """Lift that counts as success (m); the twin's rule with ``gt_grasped``."""
    seed: int = 0
    """Seed of the env resets and of the episode kinds."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if self.episodes < 1:
            raise ValueError(f"episodes: must be >= 1, got {self.episodes}")
        shares = (
            self.noisy_fraction,
            self.drop_fraction,
            self.random_fraction,
            self.partial_fraction,
        )
        if any(s < 0 for s in shares) or sum(shares) > 1:
            raise ValueError(
                "noisy_fraction, drop_fraction, random_fraction, partial_fraction: must be "
                ">= 0 and sum to <= 1"
            )
        low, high = self.partial_height
        if not 0 <= low <= high < self.lift_height:
            raise ValueError(
                f"partial_height: must be 0 <= low <= high < lift_height, got {self.partial_height}"
            )
        if self.hold_steps < 0 or self.max_steps < 1:
            raise ValueError("hold_steps must be >= 0 and max_steps >= 1")


def collect_twin_frames(config: TwinFramesConfig) -> LabelledFrames:
    """Record labelled frames in the twin; labels are ground-truth success per frame.

    Extra fields: ``gt_cube_height`` (m) and ``gt_grasped`` per frame, and ``kind``
    (0 expert, 1 noisy expert, 2 drop, 3 random, 4 near miss).
    """
    from robot_rl_sim import ScriptedExpert, TwinConfig, make_env

    config.validate()
    env = make_env(
        TwinConfig(
            obs_mode="both",
            image_size=config.image_size,
            cameras=config.cameras,
            lift_height=config.lift_height,
        ),
        seed=config.seed,
    )
    twin = env  # make_env returns the PickCubeEnv itself (no wrappers)
    rng = np.random.default_rng(config.seed)
    expert = ScriptedExpert(twin, noise_std=0.0, seed=config.seed)
    cams = [keys.pixels_key(c) for c in config.cameras]
    frames: dict[str, list[np.ndarray]] = {k: [] for k in [*cams, keys.STATE]}
    labels: list[bool] = []
    heights: list[float] = []
    grasped: list[bool] = []
    episode: list[int] = []
    step: list[int] = []
    kinds: list[int] = []
    shares = [
        config.noisy_fraction,
        config.drop_fraction,
        config.random_fraction,
        config.partial_fraction,
    ]
    cut = np.cumsum(shares)
    scale = twin.config.action_scale_xyz
    try:
        for ep in range(config.episodes):
            # cut splits [0, 1) into noisy | drop | random | near miss | clean expert
            kind = (int(np.searchsorted(cut, rng.random(), side="right")) + 1) % 5
            obs, _ = env.reset(seed=config.seed * 100_003 + ep)
            expert.reset()
            expert.noise_std = config.noisy_std if kind == 1 else 0.0
            since_success: int | None = None
            near_miss_height = float(rng.uniform(*config.partial_height)) if kind == 4 else 0.0
            near_miss_left = -1  # steps left once the near-miss height is reached
            for t in range(config.max_steps + 1):
                gt = twin.ground_truth()
                lifted = float(gt["cube_height"]) >= config.lift_height
                success = lifted and bool(gt["grasped"])
                for k in cams:
                    frames[k].append(obs[k])
                frames[keys.STATE].append(obs[keys.STATE])
                labels.append(success)
                heights.append(float(gt["cube_height"]))
                grasped.append(bool(gt["grasped"]))
                episode.append(ep)
                step.append(t)
                kinds.append(kind)
                if success and since_success is None:
                    since_success = 0
                if since_success is not None:
                    since_success += 1
                    if since_success > config.hold_steps:
                        break
                if t == config.max_steps or near_miss_left == 0:
                    break
                if kind == 3:
                    action = rng.uniform(-1, 1, twin.action_space.shape).astype(np.float32)
                else:
                    action = expert.act()
                    if kind == 2 and since_success is not None and since_success >= 2:
                        action[-1] = -1.0  # let go: the cube falls (hard negatives)
                    if kind == 4 and bool(gt["grasped"]):
                        height = float(gt["cube_height"])
                        # rise no further than the near-miss height: hold it there a while
                        action[2] = min(action[2], (near_miss_height - height) / scale)
                        if near_miss_left < 0 and height >= near_miss_height - 0.005:
                            near_miss_left = config.hold_steps + 4
                    if near_miss_left > 0:
                        near_miss_left -= 1
                        if ep % 2 and near_miss_left < 3:
                            action[-1] = -1.0  # half of them let the cube fall at the end
                obs, *_ = env.step(action)
    finally:
        env.close()
    return LabelledFrames(
        images={k: np.stack(frames[k]) for k in cams},
        labels=np.array(labels, dtype=bool),
        episode=np.array(episode, dtype=np.int64),
        step=np.array(step, dtype=np.int64),
        state=np.stack(frames[keys.STATE]).astype(np.float32),
        extra={
            GT_CUBE_HEIGHT: np.array(heights, dtype=np.float32),
            GT_GRASPED: np.array(grasped, dtype=bool),
            "kind": np.array(kinds, dtype=np.int64),
        },
    )


def outcome_labels(
    n: int, success: bool, positive_last: int, margin: int
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, keep), (n,) bool each, of one episode of n frames from its outcome alone."""
    labels = np.zeros(n, dtype=bool)
    keep = np.ones(n, dtype=bool)
    if success:
        labels[max(0, n - positive_last) :] = True
        keep[max(0, n - positive_last - margin) : max(0, n - positive_last)] = False
    return labels, keep


GT_LABEL = "gt_label"  # extra field of relabelled twin frames: the per-frame ground truth


def label_by_outcome(
    frames: LabelledFrames, *, positive_last: int = 3, margin: int = 2
) -> LabelledFrames:
    """Twin frames relabelled as a robot cell would: from each episode's outcome only.

    The outcome is the ground truth of the episode's last frame (what the operator sees when
    a demo or a labelled episode ends). Within an episode the per-frame ground truth is not
    used: the :func:`outcome_labels` rule decides. The old labels stay in ``extra[GT_LABEL]``
    to measure the label noise.
    """
    labels = np.zeros(len(frames), dtype=bool)
    keep = np.ones(len(frames), dtype=bool)
    for episode in np.unique(frames.episode):
        rows = np.flatnonzero(frames.episode == episode)
        rows = rows[np.argsort(frames.step[rows], kind="stable")]
        success = bool(frames.labels[rows[-1]])
        labels[rows], keep[rows] = outcome_labels(len(rows), success, positive_last, margin)
    relabelled = LabelledFrames(
        images=frames.images,
        labels=labels,
        episode=frames.episode,
        step=frames.step,
        state=frames.state,
        extra={**frames.extra, GT_LABEL: frames.labels},
    )
    return relabelled.subset(np.flatnonzero(keep))


def frames_from_store(
    path: str | Path,
    *,
    cameras: tuple[str, ...],
    positive_last: int = 3,
    margin: int = 2,
) -> LabelledFrames:
    """Labelled frames of an episode store (demos or online episodes with success labels).

    Successful episodes (info ``success``, e.g. demos or dashboard labels): the last
    ``positive_last`` observations are positives, the ``margin`` before them are skipped,
    the rest are negatives. Failed episodes: every observation is a negative.
    """
    from robot_rl.data.episode_store import EpisodeStore

    store = EpisodeStore.open(path)
    cams = [keys.pixels_key(c) for c in cameras]
    parts: list[LabelledFrames] = []
    for index, ep in enumerate(store.iter_episodes()):
        missing = [k for k in cams if k not in ep.observations]
        if missing:
            raise ValueError(
                f"{path}: episode {index} has no {missing} (has {sorted(ep.observations)}); "
                "set reward.cameras to cameras the store recorded"
            )
        labels, keep = outcome_labels(len(ep) + 1, ep.success, positive_last, margin)
        state = ep.observations.get(keys.STATE)
        rows = np.flatnonzero(keep)
        parts.append(
            LabelledFrames(
                images={k: ep.observations[k][rows] for k in cams},
                labels=labels[rows],
                episode=np.zeros(len(rows), dtype=np.int64),  # renumbered by concat
                step=rows.astype(np.int64),
                state=None if state is None else state[rows].astype(np.float32),
            )
        )
    if not parts:
        raise ValueError(f"{path}: episode store has no episodes")
    return LabelledFrames.concat(parts)
