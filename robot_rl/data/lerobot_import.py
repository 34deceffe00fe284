"""Import a LeRobotDataset v3.0 directory (parquet + mp4 + meta) into an episode store.

The inverse of :mod:`robot_rl.data.lerobot_export`, read from the v3.0 layout itself (LeRobot
needs Python >= 3.12 and is not a dependency):

- ``meta/info.json``: ``fps``, ``features``, ``data_path``, ``video_path``;
- ``meta/episodes/chunk-*/file-*.parquet``: one row per episode with its ``length``,
  ``dataset_from_index``/``dataset_to_index``, and per video feature its chunk/file and
  ``from_timestamp``;
- ``data/chunk-*/file-*.parquet``: one row per frame, ``index`` global.

Mapping: ``action`` -> actions; ``observation.state`` -> ``state``, other non-image
``observation.<name>`` -> ``<name>`` (float32); video features ``observation.images.<cam>`` ->
``pixels_<cam>`` (uint8, decoded with imageio-ffmpeg; lossy as LeRobot stores them);
``next.reward`` (0 when absent); ``next.done`` ends the episode as terminated unless
``next.truncated`` says truncated; with neither, the last step is truncated. A dataset written
by our export also carries the final observation, interventions and sources; one from
elsewhere has no observation after its last action, so its final observation repeats the last
frame's. ``assume_success`` marks every episode a success (reward 1, terminated, on its last
step), for demonstration sets recorded without rewards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore

IMAGE_PREFIX = "observation.images."


class LeRobotImportError(ValueError):
    """The directory is not a LeRobotDataset v3 this importer can read; names file and field."""


def _obs_key(feature: str) -> str:
    if feature.startswith(IMAGE_PREFIX):
        return keys.pixels_key(feature[len(IMAGE_PREFIX) :])
    if feature == "observation.state":
        return keys.STATE
    return feature.removeprefix("observation.").replace(".", "_")


def _read_info(root: Path) -> dict[str, Any]:
    path = root / "meta" / "info.json"
    if not path.is_file():
        raise LeRobotImportError(f"{path}: not found (is {root} a LeRobotDataset v3 directory?)")
    info = json.loads(path.read_text())
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        raise LeRobotImportError(
            f"{path}: codebase_version {version!r}, this importer reads v3.x datasets"
        )
    for name in ("fps", "features", "data_path"):
        if name not in info:
            raise LeRobotImportError(f"{path}: missing field {name!r}")
    if "action" not in info["features"]:
        raise LeRobotImportError(f"{path}: features has no 'action'")
    return info


def _read_parquets(folder: Path, what: str) -> dict[str, list[Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(folder.glob("chunk-*/file-*.parquet"))
    if not files:
        raise LeRobotImportError(f"{folder}: no chunk-*/file-*.parquet ({what})")
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pydict()  # type: ignore[no-any-return]


def _decode_video(path: Path) -> np.ndarray:
    """All frames of an mp4, (N, H, W, 3) uint8."""
    import imageio.v2 as iio

    if not path.is_file():
        raise LeRobotImportError(f"{path}: video file not found")
    reader: Any = iio.get_reader(path, format="FFMPEG")  # type: ignore[arg-type]
    try:
        return np.stack([np.asarray(f, np.uint8) for f in reader])
    finally:
        reader.close()


def import_lerobot(
    root: Path, out: Path, *, assume_success: bool = False, task: str | None = None
) -> EpisodeStore:
    """Read the LeRobotDataset v3 under ``root`` into a new episode store at ``out``."""
    info = _read_info(root)
    fps = float(info["fps"])
    features: dict[str, Any] = info["features"]
    frames = _read_parquets(root / "data", "frames")
    meta = _read_parquets(root / "meta" / "episodes", "episodes")
    index_of = {int(i): row for row, i in enumerate(frames["index"])}
    video_keys = [k for k, f in features.items() if f.get("dtype") == "video"]
    state_features = [k for k in features if k.startswith("observation.") and k not in video_keys]
    spec: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name in state_features:
        shape = tuple(int(d) for d in features[name]["shape"])
        spec[_obs_key(name)] = (shape, np.dtype(np.float32))
    for name in video_keys:
        h, w, c = (int(d) for d in features[name]["shape"])
        spec[_obs_key(name)] = ((h, w, c), np.dtype(np.uint8))
    action_shape = features["action"]["shape"]
    if len(action_shape) != 1:
        raise LeRobotImportError(f"{root}/meta/info.json: features.action.shape must be 1-D")
    action_dim = int(action_shape[0])
    videos: dict[tuple[str, int, int], np.ndarray] = {}

    def video(name: str, chunk: int, file: int) -> np.ndarray:
        if (name, chunk, file) not in videos:
            rel = str(info.get("video_path") or "")
            if not rel:
                raise LeRobotImportError(f"{root}/meta/info.json: video_path is empty")
            path = root / rel.format(video_key=name, chunk_index=chunk, file_index=file)
            videos[(name, chunk, file)] = _decode_video(path)
        return videos[(name, chunk, file)]

    store = EpisodeStore.create(
        out,
        obs_spec=spec,
        action_dim=action_dim,
        attrs={
            "task": task or str((meta.get("tasks") or [["lerobot"]])[0][0]),
            "source": "lerobot_import",
            "lerobot_dataset": str(root),
            "fps": fps,
        },
    )
    demo = keys.SOURCE_CODE["demo"]
    for e in range(len(meta["episode_index"])):
        start, stop = int(meta["dataset_from_index"][e]), int(meta["dataset_to_index"][e])
        rows = [index_of[i] for i in range(start, stop)]
        steps = len(rows)

        def column(name: str, default: Any, dtype: Any, rows: list[int] = rows) -> np.ndarray:
            if name not in frames:
                return np.full(len(rows), default, dtype)
            return np.asarray([frames[name][r] for r in rows], dtype)

        observations: dict[str, np.ndarray] = {}
        for name in state_features:
            values = column(name, 0.0, np.float32).reshape(steps, *spec[_obs_key(name)][0])
            final_name = f"robot_rl/final/{name}"
            final = (
                np.asarray(meta[final_name][e], np.float32).reshape(values.shape[1:])
                if final_name in meta
                else values[-1]
            )
            observations[_obs_key(name)] = np.concatenate([values, final[None]])
        for name in video_keys:
            chunk = int(meta[f"videos/{name}/chunk_index"][e])
            file = int(meta[f"videos/{name}/file_index"][e])
            first = round(float(meta[f"videos/{name}/from_timestamp"][e]) * fps)
            all_frames = video(name, chunk, file)
            # Our export writes the final image after the T frames; others end at frame T.
            has_final = first + steps < len(all_frames) and "robot_rl/success" in meta
            images = all_frames[first : first + steps + (1 if has_final else 0)]
            if len(images) < steps:
                raise LeRobotImportError(
                    f"{root}: video {name} chunk {chunk} file {file} has {len(all_frames)} "
                    f"frames, episode {e} needs frames {first}..{first + steps - 1}"
                )
            if not has_final:
                images = np.concatenate([images, images[-1:]])
            h, w, _ = spec[_obs_key(name)][0]
            observations[_obs_key(name)] = np.ascontiguousarray(images[:, :h, :w])
        done = column("next.done", False, bool)
        truncated = column("next.truncated", False, bool)
        terminated = done & ~truncated
        if not done.any():
            truncated[-1] = True
        rewards = column("next.reward", 0.0, np.float32)
        if assume_success:
            rewards[-1], terminated[-1], truncated[-1] = 1.0, True, False
        ep_info: dict[str, Any] = {}
        if "robot_rl/success" in meta and not assume_success:
            ep_info[keys.SUCCESS] = bool(meta["robot_rl/success"][e])
        episode = Episode(
            observations=observations,
            actions=column("action", 0.0, np.float32).reshape(steps, action_dim),
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            intervened=column("robot_rl.intervened", False, bool),
            sources=column("robot_rl.source", demo, np.uint8),
            timestamps=np.arange(steps + 1, dtype=np.float64) / fps,
            info=ep_info,
        )
        store.write_episode(episode)
    return store


__all__ = ["LeRobotImportError", "import_lerobot"]
