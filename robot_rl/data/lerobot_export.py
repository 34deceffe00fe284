"""Export an episode store to the LeRobotDataset v3.0 layout (parquet + mp4 + meta).

Layout written (one chunk, one file each; enough for the datasets a cell records)::

    meta/info.json  meta/stats.json  meta/tasks.parquet
    meta/episodes/chunk-000/file-000.parquet
    data/chunk-000/file-000.parquet
    videos/observation.images.<camera>/chunk-000/file-000.mp4   (all episodes, one after another)

A LeRobot frame is (observation_t, action_t, next.reward_t, next.done_t): an episode of T
steps gives T frames. What LeRobot has no column for travels in extra features that LeRobot
readers ignore, so ``robot-rl dataset import-lerobot`` gives the same episodes back: per frame
``next.truncated``, ``robot_rl.intervened``, ``robot_rl.source``; per episode (meta/episodes)
the final observation's state entries (``robot_rl/final/<feature>``), and in each video one
frame after the episode's T frames (the final image; ``to_timestamp`` still ends at frame T).
Images go to mp4 only (lossy, as LeRobot stores them); training here keeps using the zarr store.
Uses pyarrow for parquet; written by hand because LeRobot itself needs Python >= 3.12.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl import keys
from robot_rl.data.episode_store import EpisodeStore, EpisodeStoreError

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


def _video_key(obs_key: str) -> str:
    return f"observation.images.{obs_key.removeprefix('pixels_')}"


def _stats(values: np.ndarray) -> dict[str, list[float]]:
    """min/max/mean/std/count over axis 0 of (N, ...) values (images: per channel, in [0, 1])."""
    if values.ndim == 4:  # (N, H, W, 3) uint8 -> LeRobot's (3, 1, 1) per-channel stats
        flat = values.reshape(-1, 3).astype(np.float64) / 255.0
        shape: tuple[int, ...] = (3, 1, 1)
    else:
        flat = values.reshape(len(values), -1).astype(np.float64)
        shape = values.shape[1:] or (1,)
    return {
        "min": flat.min(0).reshape(shape).tolist(),
        "max": flat.max(0).reshape(shape).tolist(),
        "mean": flat.mean(0).reshape(shape).tolist(),
        "std": flat.std(0).reshape(shape).tolist(),
        "count": [len(values)],
    }


def _column(values: np.ndarray) -> Any:
    """(N,) -> a scalar column, (N, D) -> a list column (LeRobot's layout for vectors)."""
    import pyarrow as pa

    return pa.array(values) if values.ndim == 1 else pa.array(list(values))


def export_lerobot(
    store: EpisodeStore,
    out: Path,
    *,
    fps: float = 10.0,
    task: str | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``store`` as a LeRobotDataset v3.0 under ``out`` (a new directory); returns info.

    A damaged episode is left out and named to ``on_skip`` (default: stderr)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from robot_rl.data.video import write_mp4

    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: export target exists and is not empty")
    task = task or str(store.attrs.get("task", "task"))
    image_keys = [k for k in store.obs_spec if keys.is_image_key(k)]
    state_keys = [k for k in store.obs_spec if not keys.is_image_key(k)]
    columns: dict[str, list[Any]] = {}
    episodes: dict[str, list[Any]] = {}
    frames: dict[str, list[np.ndarray]] = {k: [] for k in image_keys}
    stat_values: dict[str, list[np.ndarray]] = {}
    index = 0
    skipped: list[str] = []

    def skip(line: str) -> None:
        skipped.append(line)
        if on_skip is None:
            print(line, file=sys.stderr, flush=True)
        else:
            on_skip(line)

    readable = store.readable_episodes(on_skip=skip)
    for episode_index, (episode_id, ep) in enumerate(readable):
        steps = len(ep)
        per_frame: dict[str, np.ndarray] = {
            "action": ep.actions,
            "next.reward": ep.rewards,
            "next.done": ep.terminated | ep.truncated,
            "next.truncated": ep.truncated,
            "robot_rl.intervened": ep.intervened,
            "robot_rl.source": ep.sources.astype(np.int64),
            "timestamp": (np.arange(steps) / fps).astype(np.float32),
            "frame_index": np.arange(steps, dtype=np.int64),
            "episode_index": np.full(steps, episode_index, np.int64),
            "index": np.arange(index, index + steps, dtype=np.int64),
            "task_index": np.zeros(steps, np.int64),
        }
        final: dict[str, Any] = {}
        for key in state_keys:
            name = "observation.state" if key == keys.STATE else f"observation.{key}"
            per_frame[name] = ep.observations[key][:steps]
            final[f"robot_rl/final/{name}"] = ep.observations[key][steps].tolist()
        for name, values in per_frame.items():
            columns.setdefault(name, []).extend(list(values))
            stat_values.setdefault(name, []).append(np.asarray(values))
        row: dict[str, Any] = {
            "episode_index": episode_index,
            "tasks": [task],
            "length": steps,
            "data/chunk_index": 0,
            "data/file_index": 0,
            "dataset_from_index": index,
            "dataset_to_index": index + steps,
            "meta/episodes/chunk_index": 0,
            "meta/episodes/file_index": 0,
            "robot_rl/episode_id": episode_id,
            "robot_rl/success": ep.success,
            **final,
        }
        for key in image_keys:
            video = _video_key(key)
            start = sum(len(f) for f in frames[key])
            row[f"videos/{video}/chunk_index"] = 0
            row[f"videos/{video}/file_index"] = 0
            row[f"videos/{video}/from_timestamp"] = start / fps
            row[f"videos/{video}/to_timestamp"] = (start + steps) / fps
            frames[key].append(ep.observations[key][: steps + 1])  # + the final image
            stat_values.setdefault(video, []).append(ep.observations[key][:steps:10])
        for name, value in row.items():
            episodes.setdefault(name, []).append(value)
        index += steps

    if not columns:
        raise EpisodeStoreError(
            f"{store.path}: no readable episode to export ({len(skipped)} damaged)"
        )
    data_path = out / DATA_PATH.format(chunk_index=0, file_index=0)
    data_path.parent.mkdir(parents=True)
    pq.write_table(pa.table({k: _column(np.stack(vs)) for k, vs in columns.items()}), data_path)
    meta = out / "meta"
    (meta / "episodes" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(episodes), meta / "episodes" / "chunk-000" / "file-000.parquet")
    # pandas reads "task" back as the index, as LeRobot writes it.
    tasks = pa.table({"task_index": [0], "task": [task]})
    pandas_meta = {"index_columns": ["task"], "columns": [], "column_indexes": []}
    tasks = tasks.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    pq.write_table(tasks, meta / "tasks.parquet")
    features: dict[str, Any] = {}
    for key in image_keys:
        video = _video_key(key)
        if frames[key]:
            write_mp4(
                np.concatenate(frames[key]),
                out / VIDEO_PATH.format(video_key=video, chunk_index=0, file_index=0),
                fps=fps,
            )
        h, w, c = store.obs_spec[key][0]
        features[video] = {
            "dtype": "video",
            "shape": [h, w, c],
            "names": ["height", "width", "channels"],
            "info": {"video.fps": fps, "video.codec": "h264", "video.pix_fmt": "yuv420p"},
        }
    for name, vs in columns.items():
        arr = np.asarray(vs[0])
        features[name] = {
            "dtype": "bool" if arr.dtype == bool else arr.dtype.name,
            "shape": list(arr.shape) or [1],
            "names": None,
        }
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": str(store.attrs.get("robot_type", "franka_panda")),
        "total_episodes": len(episodes.get("episode_index", [])),
        "total_frames": index,
        "total_tasks": 1,
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 500,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes.get('episode_index', []))}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if image_keys else None,
        "features": features,
    }
    (meta / "info.json").write_text(json.dumps(info, indent=2))
    stats = {name: _stats(np.concatenate(vs)) for name, vs in stat_values.items() if vs}
    (meta / "stats.json").write_text(json.dumps(stats, indent=2))
    return {**info, "skipped_episodes": len(skipped)}
