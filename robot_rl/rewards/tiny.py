"""Tiny randomly initialised CLIP and LLaVA-style VLM directories, built offline.

They exist so tests and the benchmark run the real loading, preprocessing, batching and
scoring path without a model hub: the directories have the same layout as downloaded
weights (config.json, model.safetensors, tokenizer and processor files). Their scores are
meaningless (random weights). Tokenizers are built in code: CLIP's BPE from a character
vocabulary, the VLM's a word-level ``tokenizers`` model over the words of its prompts.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

from robot_rl.rewards.clip_reward import import_transformers

IMAGE_SIZE = 32  # px, the tiny vision towers' input
PATCH_SIZE = 8  # px


def _vision_dims() -> dict[str, int]:
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
    }


def build_tiny_clip(directory: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random CLIP (model, BPE tokenizer, PIL image processor) to ``directory``."""
    tf = import_transformers()
    out = Path(directory)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + string.digits + string.punctuation:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    tokenizer = tf.CLIPTokenizer(vocab=vocab, merges=[])
    config = tf.CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config=_vision_dims(),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = tf.CLIPModel(config).eval()
    crop = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    image_processor = tf.CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE}, crop_size=crop)
    tf.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    model.save_pretrained(out)
    return out


VLM_WORDS = (
    "<pad> <unk> <s> </s> <image> USER: ASSISTANT: Yes No yes no Is is the cube grasped and "
    "lifted above table? Answer or no. a robot gripper"
)


def build_tiny_vlm(directory: str | Path, *, seed: int = 0, extra_words: str = "") -> Path:
    """Write a tiny random LLaVA (CLIP vision tower + Llama text model) and its processor."""
    tf = import_transformers()
    from tokenizers import Tokenizer, models, pre_tokenizers

    out = Path(directory)
    words = list(dict.fromkeys((VLM_WORDS + " " + extra_words).split()))
    vocab = {w: i for i, w in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
        padding_side="left",
    )
    crop = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    image_processor = tf.CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE}, crop_size=crop)
    processor = tf.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the CLS token the "default" strategy drops
        image_token="<image>",
    )
    config = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(**_vision_dims()),
        text_config=tf.LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=256,
            pad_token_id=vocab["<pad>"],
            bos_token_id=vocab["<s>"],
            eos_token_id=vocab["</s>"],
        ),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = tf.LlavaForConditionalGeneration(config).eval()
    processor.save_pretrained(out)
    model.save_pretrained(out)
    return out
