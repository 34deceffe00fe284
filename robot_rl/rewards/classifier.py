"""Trained success classifier (SERL / HIL-SERL): camera frames -> P(task success).

The image trunk is the agents' :class:`~robot_rl.agents.encoders.ObservationEncoder` (a small
conv net trained here, or the frozen ResNet-10 read from a local safetensors file), followed
by a two-layer MLP head and a sigmoid. Training is BCE on class-balanced batches (half
positives, half negatives: success frames are rare) with DrQ random-shift augmentation. The
decision threshold is calibrated on held-out frames to a target false-positive rate, because
a false success teaches the policy to stop early, while a missed one only delays learning.
Optional extras: "success must hold k consecutive steps" and state checks (AND-ed).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl import keys
from robot_rl.agents.encoders import EncoderConfig, ObservationEncoder, random_shift
from robot_rl.config import from_dict, to_dict
from robot_rl.envs.spec import ObsSpec
from robot_rl.rewards.base import Batch, HoldFilter, RewardOutput, batch_size_of, check_images
from robot_rl.rewards.frames import LabelledFrames

FILE_FORMAT = "robot_rl.success_classifier"
FILE_VERSION = "1"


@dataclass
class StateCheck:
    """A condition on one state entry that success also needs (e.g. gripper closed)."""

    index: int
    """Index into the ``state`` vector (twin: 10 = gripper opening in [0, 1])."""
    low: float = -math.inf
    """Smallest allowed value (state units)."""
    high: float = math.inf
    """Largest allowed value (state units)."""
    name: str = ""
    """What it checks, for messages."""


@dataclass
class ClassifierConfig:
    """Success classifier: inputs, network, training and calibration."""

    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras the classifier looks at (frames under ``pixels_<camera>``)."""
    image_size: int = 64
    """Frame height and width the classifier is trained on (px)."""
    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(conv_channels=(16, 16, 16, 16), latent_dim=32)
    )
    """Image trunk (type conv or pretrained, as for the agents); drq_pad is the augmentation."""
    hidden_dim: int = 64
    """Width of the MLP head."""
    use_state: bool = False
    """Also feed the ``state`` vector to the head (risks keying on the arm pose alone)."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 64
    """Frames per update (half positives, half negatives when balance is on)."""
    train_steps: int = 400
    """Gradient updates."""
    balance: bool = True
    """Sample positives and negatives equally in every batch."""
    calibration_fraction: float = 0.25
    """Share of labelled episodes held out to calibrate the threshold."""
    target_fpr: float = 0.01
    """False-positive rate the threshold is calibrated to on the held-out frames."""
    min_threshold: float = 0.5
    """Floor of the calibrated threshold (probability)."""
    consecutive_steps: int = 1
    """Success must hold this many consecutive steps (applied per episode stream)."""
    state_checks: tuple[StateCheck, ...] = ()
    """Conditions on the state vector that success also needs."""
    seed: int = 0
    """Seed of initialisation, batches and augmentation."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not self.cameras:
            raise ValueError("cameras: at least one camera is needed")
        self.encoder.validate()
        if self.encoder.type == "none":
            raise ValueError('encoder.type: "none" leaves the classifier without images')
        for name in ("image_size", "hidden_dim", "batch_size", "train_steps", "consecutive_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0 < self.calibration_fraction < 1:
            raise ValueError(
                f"calibration_fraction: must be in (0, 1), got {self.calibration_fraction}"
            )
        if not 0 <= self.target_fpr < 1:
            raise ValueError(f"target_fpr: must be in [0, 1), got {self.target_fpr}")
        if not 0 <= self.min_threshold < 1:
            raise ValueError(f"min_threshold: must be in [0, 1), got {self.min_threshold}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate: must be > 0, got {self.learning_rate}")

    @property
    def image_keys(self) -> tuple[str, ...]:
        """Observation keys of the cameras."""
        return tuple(keys.pixels_key(c) for c in self.cameras)


class SuccessNet(nn.Module):
    """Frames (+ state) -> success logit; (B,) float32."""

    def __init__(self, config: ClassifierConfig, state_dim: int = 0) -> None:
        super().__init__()
        size = config.image_size
        spec: ObsSpec = {k: ((size, size, 3), np.dtype(np.uint8)) for k in config.image_keys}
        if config.use_state:
            spec[keys.STATE] = ((state_dim,), np.dtype(np.float32))
        self.encoder = ObservationEncoder(spec, config.encoder)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_dim, config.hidden_dim),
            nn.LayerNorm(config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """uint8 (B, H, W, 3) frames per camera (+ float (B, D) state) -> (B,) logits."""
        return self.head(self.encoder(obs)).squeeze(-1)


def calibrate_threshold(
    negative_probs: np.ndarray, *, target_fpr: float, min_threshold: float = 0.0
) -> float:
    """Smallest threshold whose FPR on these negatives is <= ``target_fpr`` (then floored).

    A frame counts as success when ``prob >= threshold``. With N negatives the achievable
    FPR steps are 1/N, so fewer than 1/target_fpr negatives calibrate to "no false positive".
    Negatives that another check already rejects (state checks) enter as ``-inf``.
    """
    # float32 like the probabilities: with numpy 2 a Python-float threshold is compared in
    # float32, so "just above" must be the next float32 or the cut-off frame passes again
    neg = np.sort(np.asarray(negative_probs, dtype=np.float32))[::-1]  # descending
    if neg.size == 0:
        raise ValueError("calibration needs negative frames, got none")
    allowed = math.floor(target_fpr * neg.size)  # false positives we may keep
    if allowed >= neg.size or neg[allowed] == -np.inf:
        return float(min_threshold)
    threshold = float(np.nextafter(neg[allowed], np.float32(np.inf)))  # first one cut off
    return max(min(threshold, 1.0), float(min_threshold))


class ClassifierReward:
    """RewardModel of a trained :class:`SuccessNet`: reward 1.0 on success frames, else 0.0."""

    name = "classifier"

    def __init__(
        self,
        net: SuccessNet,
        config: ClassifierConfig,
        *,
        threshold: float,
        device: str = "cpu",
        max_batch: int = 256,
    ) -> None:
        self.net = net.to(device).eval()
        self.config = config
        self.threshold = float(threshold)
        self.device = torch.device(device)
        self.max_batch = max_batch
        state = (keys.STATE,) if config.use_state or config.state_checks else ()
        self.required_keys: tuple[str, ...] = config.image_keys + state

    def probabilities(self, batch: Batch) -> np.ndarray:
        """(B,) float32 success probabilities of the frames in ``batch``."""
        size = self.config.image_size
        n = check_images(batch, self.config.image_keys, model=self.name, image_hw=(size, size))
        if self.config.use_state:
            batch_size_of(batch, (*self.config.image_keys, keys.STATE), model=self.name)
        out = np.empty(n, dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, n, self.max_batch):
                obs = _to_tensors(batch, self.net_keys, slice(start, start + self.max_batch))
                obs = {k: v.to(self.device) for k, v in obs.items()}
                out[start : start + self.max_batch] = torch.sigmoid(self.net(obs)).cpu().numpy()
        return out

    @property
    def net_keys(self) -> tuple[str, ...]:
        """Batch keys the network reads."""
        return self.config.image_keys + ((keys.STATE,) if self.config.use_state else ())

    def score(self, batch: Batch) -> RewardOutput:
        """Per-frame success (threshold and state checks; the k-step hold is per stream)."""
        prob = self.probabilities(batch)
        success = prob >= self.threshold
        if self.config.state_checks:
            success &= self.state_ok(batch)
        return RewardOutput(reward=success.astype(np.float32), success_prob=prob, success=success)

    def state_ok(self, batch: Batch) -> np.ndarray:
        """(B,) bool: every configured state check passes."""
        batch_size_of(batch, (keys.STATE,), model=self.name)
        state = np.asarray(batch[keys.STATE])
        ok = np.ones(state.shape[0], dtype=bool)
        for check in self.config.state_checks:
            if not 0 <= check.index < state.shape[-1]:
                raise ValueError(
                    f"state_checks: index {check.index} ({check.name}) is outside state of "
                    f"{state.shape[-1]} entries"
                )
            value = state[:, check.index]
            ok &= (value >= check.low) & (value <= check.high)
        return ok

    def hold_filter(self) -> HoldFilter:
        """A fresh k-consecutive-steps filter for one episode stream."""
        return HoldFilter(self.config.consecutive_steps)

    def save(self, path: str | Path, *, report: dict | None = None) -> None:
        """Write weights, config and threshold to one safetensors file."""
        from safetensors.torch import save_file

        meta = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "config": json.dumps(to_dict(self.config)),
            "threshold": repr(self.threshold),
            "state_dim": str(self._state_dim()),
            "report": json.dumps(report or {}),
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=meta)

    def _state_dim(self) -> int:
        return int(self.net.encoder.state_dim)


def load_classifier(
    path: str | Path, *, device: str = "cpu", field_name: str = "model_path"
) -> ClassifierReward:
    """Load a classifier written by :meth:`ClassifierReward.save`; errors name the file.

    ``field_name`` is the config field the path came from, for the missing-file message.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"{field_name}: classifier weights not found: {file} (write them with "
            "`robot-rl reward train`)"
        )
    with safe_open(str(file), framework="pt") as handle:
        meta = handle.metadata() or {}
    if meta.get("format") != FILE_FORMAT:
        raise ValueError(f"{file}: not a success-classifier file (format {meta.get('format')!r})")
    if meta.get("version") != FILE_VERSION:
        raise ValueError(f"{file}: classifier file version {meta.get('version')!r} is unsupported")
    config = from_dict(ClassifierConfig, json.loads(meta["config"]), where=str(file))
    net = SuccessNet(config, state_dim=int(meta.get("state_dim", "0")))
    tensors = load_file(str(file))
    missing, unexpected = net.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{file}: weights do not fit: missing {missing}, unexpected {unexpected}")
    return ClassifierReward(net, config, threshold=float(meta["threshold"]), device=device)


def _to_tensors(
    batch: Batch, names: tuple[str, ...], rows: slice | np.ndarray
) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(batch[k][rows])) for k in names}


def train_classifier(
    frames: LabelledFrames,
    config: ClassifierConfig,
    *,
    device: str = "cpu",
    log_every: int = 0,
) -> tuple[ClassifierReward, dict[str, float | int]]:
    """Fit on most episodes, calibrate the threshold on the rest; returns (model, report).

    The report has frame counts, the final training loss, the threshold and the calibration
    split's precision/recall/FPR at that threshold.
    """
    from robot_rl.rewards.base import detection_metrics

    config.validate()
    missing = [k for k in config.image_keys if k not in frames.images]
    if missing:
        raise ValueError(f"cameras: frames have no {missing} (have {sorted(frames.images)})")
    if config.use_state and frames.state is None:
        raise ValueError("use_state: the labelled frames carry no state")
    fit, cal = frames.split_by_episode(config.calibration_fraction, seed=config.seed)
    if fit.labels.all() or not fit.labels.any() or cal.labels.all():
        raise ValueError(
            f"labelled frames: training needs positives and negatives and calibration needs "
            f"negatives; got {int(fit.labels.sum())}/{len(fit)} and {int(cal.labels.sum())}/"
            f"{len(cal)} positives (record more episodes)"
        )
    torch.manual_seed(config.seed)
    state_dim = 0 if frames.state is None else int(frames.state.shape[-1])
    net = SuccessNet(config, state_dim=state_dim).to(device)
    model = ClassifierReward(net, config, threshold=0.5, device=device)
    params = [p for p in net.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=config.learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator(device=device).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    pos, neg = np.flatnonzero(fit.labels), np.flatnonzero(~fit.labels)
    data = fit.batch()
    start, loss_value = time.perf_counter(), float("nan")
    net.train()
    for step in range(config.train_steps):
        if config.balance:
            half = config.batch_size // 2
            rows = np.concatenate(
                [rng.choice(pos, half), rng.choice(neg, config.batch_size - half)]
            )
        else:
            rows = rng.integers(0, len(fit), config.batch_size)
        obs = {k: v.to(device) for k, v in _to_tensors(data, model.net_keys, rows).items()}
        for k in config.image_keys:
            obs[k] = random_shift(obs[k], config.encoder.drq_pad, gen)
        target = torch.from_numpy(fit.labels[rows].astype(np.float32)).to(device)
        loss = loss_fn(net(obs), target)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        loss_value = float(loss.detach())
        if log_every and (step + 1) % log_every == 0:
            print(f"reward classifier: step {step + 1}/{config.train_steps} loss {loss_value:.4f}")
    net.eval()
    cal_batch = cal.batch()
    cal_prob = model.probabilities(cal_batch)
    if config.state_checks:  # calibrate the combined decision: rejected frames are never FPs
        cal_prob = np.where(model.state_ok(cal_batch), cal_prob, -np.inf)
    model.threshold = calibrate_threshold(
        cal_prob[~cal.labels], target_fpr=config.target_fpr, min_threshold=config.min_threshold
    )
    cal_metrics = detection_metrics(model.score(cal_batch).success, cal.labels)
    report: dict[str, float | int] = {
        "train_frames": len(fit),
        "train_positives": int(fit.labels.sum()),
        "calibration_frames": len(cal),
        "calibration_positives": int(cal.labels.sum()),
        "final_loss": round(loss_value, 5),
        "threshold": round(model.threshold, 6),
        "calibration_precision": round(cal_metrics.precision, 4),
        "calibration_recall": round(cal_metrics.recall, 4),
        "calibration_fpr": round(cal_metrics.fpr, 4),
        "train_s": round(time.perf_counter() - start, 2),
    }
    return model, report
