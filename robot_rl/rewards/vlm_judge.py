"""VLM yes/no judge: a vision-language model answers "is the task done?"; reward = P(yes).

One forward pass per batch, no generation: the probability of the answer is read from the
next-token logits after the prompt, renormalised over the "yes" and "no" tokens only
(``P(yes) = softmax([logit_yes, logit_no])[0]``), which stays meaningful when the model
would rather start with a space or a capital. Any transformers image-text-to-text model with
a processor works (LLaVA, PaliGemma, Idefics3/SmolVLM, Qwen2-VL ...), loaded from a local
directory with ``AutoProcessor`` / ``AutoModelForImageTextToText``; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robot_rl import keys
from robot_rl.rewards.base import Batch, RewardOutput, check_images
from robot_rl.rewards.clip_reward import import_transformers, require_model_dir


@dataclass
class VLMJudgeConfig:
    """VLM judge: weights, question, answer tokens, decision threshold."""

    weights_path: str = ""
    """Local directory with an image-text-to-text model and its processor (never downloaded)."""
    question: str = "Is the cube grasped and lifted above the table? Answer yes or no."
    """What the model is asked about each frame."""
    prompt_template: str = "USER: <image>\n{question} ASSISTANT:"
    """Prompt used when chat_template is off or the processor has none; {question} is filled in."""
    chat_template: bool = True
    """Format the question with the processor's chat template when it has one."""
    yes_token: str = "Yes"
    """Text whose first token means yes."""
    no_token: str = "No"
    """Text whose first token means no."""
    camera: str = "front"
    """Camera whose frames are judged."""
    threshold: float = 0.5
    """Success when P(yes) is at least this."""
    max_batch: int = 8
    """Frames per forward pass."""
    device: str = "cpu"
    """Torch device of the model."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not self.question.strip():
            raise ValueError("vlm.question: must be non-empty")
        if "{question}" not in self.prompt_template:
            raise ValueError("vlm.prompt_template: must contain {question}")
        if not self.yes_token or not self.no_token or self.yes_token == self.no_token:
            raise ValueError(
                "vlm.yes_token / vlm.no_token: must be two different non-empty strings"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"vlm.threshold: must be in [0, 1], got {self.threshold}")
        if self.max_batch < 1:
            raise ValueError(f"vlm.max_batch: must be >= 1, got {self.max_batch}")


class VLMJudge:
    """RewardModel: reward = success probability = P(yes | frame, question)."""

    name = "vlm"

    def __init__(self, config: VLMJudgeConfig) -> None:
        config.validate()
        tf = import_transformers()
        directory = require_model_dir(config.weights_path, "vlm.weights_path")
        self.config = config
        self.device = torch.device(config.device)
        self.processor = tf.AutoProcessor.from_pretrained(directory, local_files_only=True)
        self.model = tf.AutoModelForImageTextToText.from_pretrained(
            directory, local_files_only=True
        )
        self.model.to(self.device).eval()
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # the answer logit is then always at position -1
        self.answer_ids = (
            self._first_token(tokenizer, config.yes_token, "vlm.yes_token"),
            self._first_token(tokenizer, config.no_token, "vlm.no_token"),
        )
        self.prompt = self._build_prompt()
        self.image_key = keys.pixels_key(config.camera)
        self.required_keys: tuple[str, ...] = (self.image_key,)

    @staticmethod
    def _first_token(tokenizer: Any, text: str, field_name: str) -> int:
        ids = tokenizer.encode(text, add_special_tokens=False)
        if not ids or ids[0] == tokenizer.unk_token_id:
            raise ValueError(f"{field_name}: {text!r} is not in the model's vocabulary")
        return int(ids[0])

    def _build_prompt(self) -> str:
        template = getattr(self.processor, "chat_template", None)
        if self.config.chat_template and template:
            messages = [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": self.config.question}],
                }
            ]
            return str(self.processor.apply_chat_template(messages, add_generation_prompt=True))
        return self.config.prompt_template.format(question=self.config.question)

    def p_yes(self, frames: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 -> (B,) float32 P(yes), renormalised over yes/no."""
        out = []
        for start in range(0, len(frames), self.config.max_batch):
            chunk = list(frames[start : start + self.config.max_batch])
            inputs = self.processor(
                images=chunk, text=[self.prompt] * len(chunk), padding=True, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**inputs).logits[:, -1, :]  # (b, V) next-token logits
            pair = logits[:, list(self.answer_ids)].float()
            out.append(torch.softmax(pair, -1)[:, 0])
        return torch.cat(out).cpu().numpy().astype(np.float32)

    def score(self, batch: Batch) -> RewardOutput:
        """Reward and success probability P(yes); success when it reaches the threshold."""
        check_images(batch, self.required_keys, model=self.name)
        prob = self.p_yes(batch[self.image_key])
        return RewardOutput(
            reward=prob.copy(), success_prob=prob, success=prob >= self.config.threshold
        )
