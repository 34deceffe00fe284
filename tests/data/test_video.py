"""MP4 writing through imageio-ffmpeg's bundled binary, read back with imageio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imageio.v2 as iio
import numpy as np
import pytest

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.data.video import episode_video, write_mp4


def moving_square(frames: int, height: int, width: int) -> np.ndarray:
    video = np.zeros((frames, height, width, 3), dtype=np.uint8)  # (T, H, W, 3) uint8
    for t in range(frames):
        video[t, 4:14, t : t + 10] = (255, 40, 40)
    return video


def read_back(path: Path) -> np.ndarray:
    """(T, H, W, 3) frames decoded by imageio (list(reader) would ask len(), which is inf)."""
    reader: Any
    with iio.get_reader(path, format="FFMPEG") as reader:  # type: ignore[arg-type]
        frames = np.stack([frame for frame in reader])
        assert reader.count_frames() == len(frames)  # ffmpeg's own count agrees
    return frames


def test_write_mp4_reads_back_same_frame_count(tmp_path: Path) -> None:
    frames = moving_square(12, 48, 64)
    path = write_mp4(frames, tmp_path / "sub" / "clip.mp4", fps=10)
    video = read_back(path)
    assert video.shape == (12, 48, 64, 3)
    # H.264 is lossy, but the square must stay where it was drawn.
    assert np.abs(video.astype(int) - frames.astype(int)).mean() < 8


def test_odd_sizes_are_padded_and_lists_accepted(tmp_path: Path) -> None:
    frames = list(moving_square(5, 33, 45))
    video = read_back(write_mp4(frames, tmp_path / "odd.mp4", fps=5))
    assert video.shape == (5, 34, 46, 3)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((3, 16, 16, 3), dtype=np.float32), "uint8"),
        (np.zeros((3, 16, 16), dtype=np.uint8), "RGB"),
        (np.zeros((0, 16, 16, 3), dtype=np.uint8), "empty"),
        ([np.zeros((16, 16, 3), np.uint8), np.zeros((8, 16, 3), np.uint8)], "different shapes"),
    ],
)
def test_bad_frames_are_rejected(tmp_path: Path, frames: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_mp4(frames, tmp_path / "bad.mp4")  # type: ignore[arg-type]
    assert not (tmp_path / "bad.mp4").exists()


def test_episode_video_from_store(tmp_path: Path) -> None:
    steps = 9
    episode = Episode(
        observations={keys.pixels_key("front"): moving_square(steps + 1, 32, 32)},
        actions=np.zeros((steps, 4), np.float32),
        rewards=np.zeros(steps, np.float32),
        terminated=np.zeros(steps, bool),
        truncated=np.zeros(steps, bool),
        intervened=np.zeros(steps, bool),
        sources=np.zeros(steps, np.uint8),
        timestamps=np.arange(steps + 1, dtype=np.float64),
    )
    store = EpisodeStore.create(
        tmp_path / "store",
        obs_spec={keys.pixels_key("front"): ((32, 32, 3), np.dtype(np.uint8))},
        action_dim=4,
    )
    store.write_episode(episode)
    assert (
        read_back(episode_video(store, "front", tmp_path / "ep.mp4", fps=10)).shape[0] == steps + 1
    )
    with pytest.raises(KeyError, match="wrist"):
        episode_video(episode, "wrist", tmp_path / "none.mp4")
