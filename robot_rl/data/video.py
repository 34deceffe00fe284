"""MP4 videos of RGB frames (evaluation rollouts, recorded episodes) via imageio-ffmpeg.

imageio-ffmpeg ships its own ffmpeg binary, so no system ffmpeg is needed. Videos are H.264
(libx264) in yuv420p, which every browser and player decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imageio.v2 as iio
import numpy as np

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore


def _as_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """(T, H, W, 3) uint8 frames; raises ValueError naming what is wrong."""
    if not isinstance(frames, np.ndarray):
        frames = list(frames)
        if not frames:
            raise ValueError("frames is empty: a video needs at least one frame")
        shapes = {np.shape(f) for f in frames}
        if len(shapes) != 1:
            raise ValueError(f"frames have different shapes {sorted(shapes)}")
        dtypes = {np.asarray(f).dtype for f in frames}
        if dtypes != {np.dtype(np.uint8)}:
            raise ValueError(
                f"frames must be uint8 RGB, got dtypes {sorted(str(d) for d in dtypes)}"
            )
        frames = np.stack(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError("frames is empty: a video needs at least one frame")
    return frames


def write_mp4(
    frames: np.ndarray | Sequence[np.ndarray], path: str | Path, *, fps: float = 10.0
) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames to an H.264 mp4 at ``fps`` frames per second.

    Odd heights/widths are padded by one black row/column (yuv420p needs even sizes).
    Returns the path written.
    """
    frames = _as_frames(frames)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    _, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # macro_block_size=1: we already padded to even sizes; imageio would otherwise resize to 16.
    writer: Any
    with iio.get_writer(
        path,
        format="FFMPEG",  # type: ignore[arg-type]
        mode="I",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        macro_block_size=1,
        ffmpeg_log_level="error",
    ) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def episode_video(
    source: EpisodeStore | Episode,
    camera: str,
    path: str | Path,
    *,
    episode_id: int | None = None,
    fps: float = 10.0,
) -> Path:
    """Write one camera's frames of an episode to mp4.

    ``source`` is an Episode or an EpisodeStore (then ``episode_id`` picks the episode, default
    the last committed one). ``camera`` is the camera name ("front") or its key ("pixels_front").
    """
    if isinstance(source, EpisodeStore):
        ids = source.episode_ids()
        if not ids:
            raise ValueError(f"{source.path}: store has no episodes")
        source = source.read_episode(ids[-1] if episode_id is None else episode_id)
    key = camera if keys.is_image_key(camera) else keys.pixels_key(camera)
    if key not in source.observations:
        cameras = sorted(keys.camera_of(k) for k in source.observations if keys.is_image_key(k))
        raise KeyError(f"episode has no camera {camera!r} (cameras: {cameras})")
    return write_mp4(source.observations[key], path, fps=fps)
