"""Files of an episode store: how one episode group is written, and the fsyncs its commit needs.

``episode_store.py`` owns the store (opening, listing, the atomic rename, reading back); this
module holds the form of what it writes: episode directory names, JSON attributes, the per-step
array dtypes, the chunking and zstd codec of every array, and the fsync / size walks over a tree.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.storage import LocalStore

from robot_rl import keys
from robot_rl.data.episode import Episode, InfoValue
from robot_rl.envs.spec import ObsSpec

OBS_GROUP = "obs"
EPISODE_NAME = re.compile(r"ep_(\d{6,})")  # a committed episode's directory
# Frames per image chunk: 16 × 128² × 3 B ≈ 786 kB raw, big enough for cheap I/O, small enough
# that sampling a few frames decodes little.
IMAGE_CHUNK_FRAMES = 16

# Per-step arrays of an episode group: name on disk (= Episode field) -> dtype.
STEP_DTYPES: dict[str, np.dtype] = {
    "actions": np.dtype(np.float32),
    "rewards": np.dtype(np.float32),
    "terminated": np.dtype(bool),
    "truncated": np.dtype(bool),
    "intervened": np.dtype(bool),
    "sources": np.dtype(np.uint8),
    "timestamps": np.dtype(np.float64),
}


def episode_name(episode_id: int) -> str:
    """The directory name of committed episode ``episode_id``."""
    return f"ep_{episode_id:06d}"


def spec_to_attrs(spec: ObsSpec) -> dict[str, Any]:
    """An obs spec as JSON attributes: key -> {"shape": [...], "dtype": name}."""
    return {
        k: {"shape": [int(d) for d in s], "dtype": np.dtype(t).name} for k, (s, t) in spec.items()
    }


def group_attrs(node: zarr.Group) -> dict[str, Any]:
    """A group's attributes as plain JSON values (zarr types them as a JSON union)."""
    return dict(node.attrs.asdict())


def compressor() -> ZstdCodec:
    """The codec of every episode array."""
    # zstd level 1 writes > 150 MB/s on one core; its frame checksum turns silent bit rot into
    # a read error.
    return ZstdCodec(level=1, checksum=True)


def fsync_path(path: Path) -> None:
    """fsync one file or directory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` so a rename never publishes lost data."""
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fsync_path(Path(dirpath, name))
        fsync_path(Path(dirpath))


def tree_stats(root: Path) -> tuple[int, float]:
    """(bytes, newest mtime) of what is under ``root``; entries vanishing meanwhile are skipped."""
    size, newest = 0, 0.0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            try:
                st = os.stat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue  # a concurrent writer removed or renamed it
            newest = max(newest, st.st_mtime)
            if name in filenames:
                size += st.st_size
    return size, newest


def write_group(where: Path, ep: Episode, info: dict[str, InfoValue], *, action_dim: int) -> None:
    """Write ``ep`` as a new zarr group at ``where`` (not fsynced, not committed)."""
    attrs: dict[str, Any] = {
        "length": len(ep),
        "success": ep.success,
        "committed_at": datetime.now(UTC).isoformat(),
        "info": info,
    }
    group = zarr.open_group(LocalStore(where), mode="w-", attributes=attrs)
    # Chunks are written even when all zeros, so a missing chunk file means damage.
    config: Any = {"write_empty_chunks": True}
    # "c.0.0.0.0" files instead of nested "c/0/0/0/0" directories: fewer inodes to create
    # and fsync per episode (~100 -> ~30).
    layout: Any = {"name": "default", "separator": "."}

    def put(parent: Any, name: str, arr: np.ndarray, *, image: bool = False) -> None:
        whole = tuple(max(1, d) for d in arr.shape)
        chunks = (IMAGE_CHUNK_FRAMES, *arr.shape[1:]) if image else whole
        parent.create_array(
            name,
            data=arr,
            chunks=chunks,
            compressors=[compressor()],
            config=config,
            chunk_key_encoding=layout,
        )

    obs = group.create_group(OBS_GROUP)
    for key, arr in ep.observations.items():
        put(obs, key, arr, image=keys.is_image_key(key))
    actions = ep.actions.reshape(len(ep), action_dim) if len(ep) == 0 else ep.actions
    for name in STEP_DTYPES:
        put(group, name, actions if name == "actions" else getattr(ep, name))
