"""PNG plot of predicted success probability against ground truth over episodes.

matplotlib draws it when installed; otherwise PIL (always installed) draws a plain chart, so
the evaluation never needs an extra dependency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))


def plot_success(
    path: str | Path,
    probs: dict[str, np.ndarray],
    truth: np.ndarray,
    episode: np.ndarray,
    *,
    title: str = "success probability vs ground truth",
) -> Path:
    """Write a PNG: one line per model's (N,) probabilities, ground truth shaded, episode ticks."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _plot_pil(out, probs, truth, episode, title)
        return out
    x = np.arange(len(truth))
    fig, ax = plt.subplots(figsize=(14, 4))
    ax.fill_between(x, 0, truth.astype(float), step="mid", color="0.85", label="ground truth")
    for name, p in probs.items():
        ax.plot(x, p, lw=1, label=name)
    for b in np.flatnonzero(np.diff(episode)) + 0.5:
        ax.axvline(b, color="0.6", lw=0.5)
    ax.set(xlabel="frame (episodes in order)", ylabel="P(success)", ylim=(-0.02, 1.02), title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _plot_pil(
    out: Path, probs: dict[str, np.ndarray], truth: np.ndarray, episode: np.ndarray, title: str
) -> None:
    from PIL import Image, ImageDraw

    n = max(len(truth), 2)
    width, height, pad = max(800, min(4000, 3 * n)), 300, 30
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)

    def xy(i: float, v: float) -> tuple[float, float]:
        return pad + i * (width - 2 * pad) / (n - 1), height - pad - v * (height - 2 * pad)

    for i in np.flatnonzero(truth):  # ground truth as grey columns
        draw.rectangle([xy(i - 0.5, 1.0), xy(i + 0.5, 0.0)], fill=(220, 220, 220))
    for b in np.flatnonzero(np.diff(episode)):
        draw.line([xy(b + 0.5, 0.0), xy(b + 0.5, 1.0)], fill=(170, 170, 170))
    draw.rectangle([xy(0, 1.0), xy(n - 1, 0.0)], outline="black")
    for k, (name, p) in enumerate(probs.items()):
        colour = COLOURS[k % len(COLOURS)]
        draw.line([xy(i, float(v)) for i, v in enumerate(p)], fill=colour, width=1)
        draw.text((pad + 5 + 140 * k, 4), name, fill=colour)
    draw.text((width - pad - 260, 4), title + " (grey: ground truth)", fill="black")
    img.save(out)
