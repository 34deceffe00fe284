"""CLIP zero-shot reward with baseline-prompt projection (VLM-RMs, Rocamonde et al. 2023).

With unit embeddings ``s`` (image), ``g`` (goal prompt) and ``b`` (baseline prompt), and ``P``
the projection onto the direction ``d = (g - b) / |g - b|``::

    reward = 1 - 0.5 * | (alpha * P + (1 - alpha) * I) (s - g) |^2        in [-1, 1]

alpha = 0 is the plain cosine similarity (reward = cos(s, g)); alpha = 1 keeps only the
goal-vs-baseline direction, which removes what the two prompts share (the scene, the arm).
The success probability is CLIP's own zero-shot classification between the goal and the
baseline prompt: ``softmax(logit_scale * [cos(s, g), cos(s, b)])[0]``.

Weights come from a local directory in Hugging Face layout (``config.json``, safetensors,
tokenizer and preprocessor files); nothing is downloaded. ``transformers`` is imported
lazily so the core works without it; the PIL image processor needs no torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl import keys
from robot_rl.rewards.base import Batch, RewardOutput, check_images


@dataclass
class ClipRewardConfig:
    """CLIP zero-shot reward: weights, prompts, projection strength."""

    weights_path: str = ""
    """Local directory with a CLIP model in Hugging Face layout (never downloaded)."""
    goal_prompt: str = "a robot gripper holding a cube lifted above the table"
    """Text that describes task success."""
    baseline_prompt: str = "a robot gripper and a cube on the table"
    """Text that describes the scene without success (the projection baseline)."""
    alpha: float = 0.5
    """Baseline projection strength in [0, 1] (0 = plain cosine similarity)."""
    camera: str = "front"
    """Camera whose frames are scored."""
    threshold: float = 0.5
    """Success when the goal-vs-baseline probability is at least this."""
    max_batch: int = 64
    """Frames per forward pass."""
    device: str = "cpu"
    """Torch device of the model."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"clip.alpha: must be in [0, 1], got {self.alpha}")
        if not self.goal_prompt.strip() or not self.baseline_prompt.strip():
            raise ValueError("clip.goal_prompt and clip.baseline_prompt must be non-empty")
        if self.goal_prompt.strip() == self.baseline_prompt.strip():
            raise ValueError("clip.baseline_prompt: must differ from clip.goal_prompt")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"clip.threshold: must be in [0, 1], got {self.threshold}")
        if self.max_batch < 1:
            raise ValueError(f"clip.max_batch: must be >= 1, got {self.max_batch}")


def require_model_dir(path: str, field_name: str) -> Path:
    """The local model directory, or an error naming the config field and path."""
    if not path:
        raise ValueError(f"{field_name}: a local model directory is required (got an empty path)")
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(
            f"{field_name}: no model at {directory} (expected a Hugging Face model directory "
            "with config.json; robot_rl never downloads weights, see docs/rewards.md)"
        )
    return directory


def import_transformers() -> Any:
    """The transformers module, or ImportError that says how to install it."""
    try:
        import transformers
    except ImportError as err:  # the core must work without it
        raise ImportError(
            "CLIP/VLM rewards need transformers: .venv/bin/pip install -c constraints.txt "
            "'robot-rl[rewards]'"
        ) from err
    return transformers


def _features(out: Any) -> torch.Tensor:
    # transformers < 5 returns the projected tensor; 5.x a ModelOutput with it as pooler_output
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class ClipReward:
    """RewardModel: VLM-RMs reward of one camera's frames against a goal prompt."""

    name = "clip"

    def __init__(self, config: ClipRewardConfig) -> None:
        config.validate()
        tf = import_transformers()
        directory = require_model_dir(config.weights_path, "clip.weights_path")
        self.config = config
        self.device = torch.device(config.device)
        self.model = tf.CLIPModel.from_pretrained(directory, local_files_only=True)
        self.model.to(self.device).eval()
        self.processor = tf.CLIPImageProcessorPil.from_pretrained(directory, local_files_only=True)
        tokenizer = tf.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.image_key = keys.pixels_key(config.camera)
        self.required_keys: tuple[str, ...] = (self.image_key,)
        max_len = int(self.model.config.text_config.max_position_embeddings)
        text = tokenizer(
            [config.goal_prompt, config.baseline_prompt],
            padding=True,
            truncation=True,
            max_length=max_len,
            return_tensors="pt",
        )
        with torch.inference_mode():
            emb = _features(self.model.get_text_features(**text.to(self.device)))
        emb = torch.nn.functional.normalize(emb.float(), dim=-1)
        self.goal, self.baseline = emb[0], emb[1]  # (E,) unit vectors
        direction = self.goal - self.baseline
        direction = direction / direction.norm().clamp_min(1e-8)
        eye = torch.eye(direction.numel(), device=self.device)
        projection = torch.outer(direction, direction)
        self.mix = config.alpha * projection + (1.0 - config.alpha) * eye  # (E, E)
        self.logit_scale = float(self.model.logit_scale.detach().exp())

    def image_embeddings(self, frames: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, E) unit image embeddings (model's own preprocessing)."""
        pixels = self.processor(images=list(frames), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            emb = _features(self.model.get_image_features(pixel_values=pixels.to(self.device)))
        return torch.nn.functional.normalize(emb.float(), dim=-1)

    def score(self, batch: Batch) -> RewardOutput:
        """Projected-distance reward and goal-vs-baseline success probability per frame."""
        n = check_images(batch, self.required_keys, model=self.name)
        frames = batch[self.image_key]
        rewards, probs = [], []
        for start in range(0, n, self.config.max_batch):
            s = self.image_embeddings(frames[start : start + self.config.max_batch])
            diff = (s - self.goal) @ self.mix.T  # (b, E)
            rewards.append(1.0 - 0.5 * (diff * diff).sum(-1))
            sims = torch.stack([s @ self.goal, s @ self.baseline], -1) * self.logit_scale
            probs.append(torch.softmax(sims, -1)[:, 0])
        reward = torch.cat(rewards).cpu().numpy().astype(np.float32)
        prob = torch.cat(probs).cpu().numpy().astype(np.float32)
        return RewardOutput(reward=reward, success_prob=prob, success=prob >= self.config.threshold)
