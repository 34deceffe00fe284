"""CLIP zero-shot reward and VLM judge through the real transformers path, tiny random models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from robot_rl.rewards import ClipReward, ClipRewardConfig, RewardModel, VLMJudge, VLMJudgeConfig

FRAMES = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)  # (B, H, W, 3)


def test_clip_shapes_batching_determinism(tiny_clip_dir: Path) -> None:
    config = ClipRewardConfig(weights_path=str(tiny_clip_dir), max_batch=2)
    model = ClipReward(config)
    assert isinstance(model, RewardModel)
    out = model.score({"pixels_front": FRAMES})
    assert out.reward.shape == out.success_prob.shape == out.success.shape == (5,)
    assert out.reward.dtype == np.float32 and np.all(np.abs(out.reward) <= 1.0 + 1e-5)
    assert np.all((out.success_prob >= 0) & (out.success_prob <= 1))
    whole = ClipReward(replace(config, max_batch=64)).score({"pixels_front": FRAMES})
    np.testing.assert_allclose(whole.reward, out.reward, atol=1e-5)
    single = model.score({"pixels_front": FRAMES[2:3]})
    np.testing.assert_allclose(single.reward, out.reward[2:3], atol=1e-5)


def test_clip_prompts_and_alpha(tiny_clip_dir: Path) -> None:
    base = ClipRewardConfig(weights_path=str(tiny_clip_dir), alpha=0.0)
    plain = ClipReward(base)
    s = plain.image_embeddings(FRAMES).numpy()
    # alpha = 0: reward is the cosine similarity to the goal prompt
    np.testing.assert_allclose(
        plain.score({"pixels_front": FRAMES}).reward, s @ plain.goal.numpy(), atol=1e-5
    )
    projected = ClipReward(replace(base, alpha=1.0)).score({"pixels_front": FRAMES}).reward
    assert not np.allclose(projected, s @ plain.goal.numpy())
    other = (
        ClipReward(replace(base, goal_prompt="a red cube")).score({"pixels_front": FRAMES}).reward
    )
    assert not np.allclose(other, plain.score({"pixels_front": FRAMES}).reward)
    with pytest.raises(ValueError, match=r"clip.alpha"):
        ClipReward(replace(base, alpha=2.0))
    with pytest.raises(ValueError, match=r"clip.baseline_prompt"):
        ClipReward(replace(base, baseline_prompt=base.goal_prompt))


def test_clip_bad_inputs(tiny_clip_dir: Path, tmp_path: Path) -> None:
    model = ClipReward(ClipRewardConfig(weights_path=str(tiny_clip_dir), camera="wrist"))
    with pytest.raises(ValueError, match="pixels_wrist"):
        model.score({"pixels_front": FRAMES})
    with pytest.raises(ValueError, match=r"pixels_wrist.*uint8"):
        model.score({"pixels_wrist": FRAMES.astype(np.float32)})
    with pytest.raises(FileNotFoundError, match=r"clip.weights_path.*no_clip_here"):
        ClipReward(ClipRewardConfig(weights_path=str(tmp_path / "no_clip_here")))
    with pytest.raises(ValueError, match=r"clip.weights_path"):
        ClipReward(ClipRewardConfig(weights_path=""))


def test_vlm_p_yes_batching_determinism(tiny_vlm_dir: Path) -> None:
    config = VLMJudgeConfig(weights_path=str(tiny_vlm_dir), max_batch=2)
    judge = VLMJudge(config)
    assert isinstance(judge, RewardModel)
    assert "<image>" in judge.prompt and config.question in judge.prompt
    out = judge.score({"pixels_front": FRAMES})
    assert out.success_prob.shape == (5,) and out.success_prob.dtype == np.float32
    np.testing.assert_array_equal(out.reward, out.success_prob)
    assert np.all((out.success_prob > 0) & (out.success_prob < 1))
    again = VLMJudge(replace(config, max_batch=5)).score({"pixels_front": FRAMES})
    np.testing.assert_allclose(again.success_prob, out.success_prob, atol=1e-5)
    swapped = VLMJudge(replace(config, yes_token="No", no_token="Yes")).score(
        {"pixels_front": FRAMES}
    )
    np.testing.assert_allclose(swapped.success_prob, 1 - out.success_prob, atol=1e-5)
    asked = VLMJudge(replace(config, question="Is the cube lifted?"))
    assert "Is the cube lifted?" in asked.prompt
    assert not np.allclose(asked.score({"pixels_front": FRAMES}).success_prob, out.success_prob)


def test_vlm_chat_template_and_errors(tiny_vlm_dir: Path, tmp_path: Path) -> None:
    judge = VLMJudge(VLMJudgeConfig(weights_path=str(tiny_vlm_dir)))
    judge.processor.chat_template = (
        "{% for m in messages %}USER: {% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
        "{% endfor %}{% if add_generation_prompt %} ASSISTANT:{% endif %}"
    )
    assert judge._build_prompt() == f"USER: <image>\n{judge.config.question} ASSISTANT:"
    with pytest.raises(ValueError, match=r"vlm.yes_token"):
        VLMJudge(VLMJudgeConfig(weights_path=str(tiny_vlm_dir), yes_token="Absolutely"))
    with pytest.raises(ValueError, match=r"vlm.prompt_template"):
        VLMJudge(VLMJudgeConfig(weights_path=str(tiny_vlm_dir), prompt_template="no slot"))
    with pytest.raises(FileNotFoundError, match=r"vlm.weights_path.*missing_vlm"):
        VLMJudge(VLMJudgeConfig(weights_path=str(tmp_path / "missing_vlm")))
    with pytest.raises(ValueError, match=r"pixels_front.*\(B, H, W, 3\)"):
        judge.score({"pixels_front": FRAMES[..., 0]})
