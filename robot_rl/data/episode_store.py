"""Episodes on disk: a zarr v3 hierarchy with one group per episode, committed atomically.

Layout (docs/episode_store.md has the full description)::

    <store>/zarr.json                     root group; attrs: format, schema_version, obs_spec, ...
    <store>/episodes/ep_000042/           one committed episode (arrays + attrs)
    <store>/episodes/.tmp-<hex>/          an episode being written (never listed by readers)

A writer builds an episode in a ``.tmp-*`` group, fsyncs it and renames the directory to
``ep_NNNNNN``: on a POSIX filesystem ``rename`` is atomic, so a reader (even in another
process) sees either the whole episode or nothing, and a writer killed mid-episode leaves only
a ``.tmp-*`` group that readers ignore. Renaming onto a non-empty directory fails, so two
writers racing for the same id cannot overwrite each other; the loser takes the next id.
zarr has no transactions of its own; this rename is the only thing written here by hand.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr
from zarr.storage import LocalStore

from robot_rl import keys
from robot_rl.data.episode import Episode, InfoValue
from robot_rl.data.episode_store_files import (
    EPISODE_NAME,
    OBS_GROUP,
    STEP_DTYPES,
    episode_name,
    fsync_path,
    fsync_tree,
    group_attrs,
    spec_to_attrs,
    tree_stats,
    write_group,
)
from robot_rl.envs.spec import ObsSpec

SCHEMA_VERSION = 1
FORMAT = "robot_rl.episodes"
EPISODES_DIR = "episodes"
TMP_PREFIX = ".tmp-"


class EpisodeStoreError(Exception):
    """A store or episode on disk is missing, of another schema version, corrupt or misused."""


def _info_value(key: str, value: object) -> InfoValue:
    """A JSON scalar for episode info; numpy scalars become Python ones."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    raise EpisodeStoreError(
        f"episode info[{key!r}] must be str, int, float or bool, got {type(value).__name__}"
    )


class EpisodeStore:
    """Append-only episode store on a local POSIX filesystem (see module docstring)."""

    def __init__(self, path: Path, root: zarr.Group, *, mode: Literal["r", "a"]) -> None:
        """Use :meth:`create` or :meth:`open`."""
        self.path = path
        self.mode = mode
        attrs = group_attrs(root)
        self.schema_version = int(attrs["schema_version"])
        self.obs_spec: ObsSpec = {
            str(k): (tuple(int(d) for d in v["shape"]), np.dtype(v["dtype"]))
            for k, v in attrs["obs_spec"].items()
        }
        self.action_dim = int(attrs["action_dim"])
        self.created_at = str(attrs.get("created_at", ""))
        self.attrs: dict[str, Any] = dict(attrs.get("user_attrs", {}))
        self.written = 0
        """Episodes committed through this handle (EpisodeSink API: the actor's count)."""

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        obs_spec: ObsSpec,
        action_dim: int,
        attrs: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> EpisodeStore:
        """Create an empty store at ``path`` (a new or empty directory) and open it for appending.

        ``attrs`` are JSON-ready user attributes (task, config hash, ...). With ``exist_ok`` an
        existing store with the same obs spec and action_dim is opened instead.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            if not exist_ok:
                raise EpisodeStoreError(
                    f"{path}: cannot create an episode store here, it is not an empty directory"
                )
            store = cls.open(path, mode="a")
            if store.obs_spec != dict(obs_spec) or store.action_dim != action_dim:
                raise EpisodeStoreError(
                    f"{path}: existing store has obs_spec {spec_to_attrs(store.obs_spec)} and "
                    f"action_dim {store.action_dim}, asked for {spec_to_attrs(obs_spec)} and "
                    f"{action_dim}"
                )
            return store
        for key, (shape, dtype) in obs_spec.items():
            if keys.is_image_key(key) and (
                np.dtype(dtype) != np.uint8 or len(shape) != 3 or shape[-1] != 3
            ):
                raise EpisodeStoreError(
                    f"obs_spec[{key!r}]: images must be uint8 (H, W, 3), got {dtype} {shape}"
                )
        root_attrs: dict[str, Any] = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "obs_spec": spec_to_attrs(obs_spec),
            "action_dim": int(action_dim),
            "created_at": datetime.now(UTC).isoformat(),
            "user_attrs": dict(attrs or {}),
        }
        path.mkdir(parents=True, exist_ok=True)
        root = zarr.open_group(LocalStore(path), mode="w-", attributes=root_attrs)
        root.create_group(EPISODES_DIR)
        fsync_tree(path)
        return cls(path, root, mode="a")

    @classmethod
    def open(cls, path: str | Path, *, mode: Literal["r", "a"] = "r") -> EpisodeStore:
        """Open an existing store; raises EpisodeStoreError naming the path and versions."""
        path = Path(path)
        if mode not in ("r", "a"):
            raise EpisodeStoreError(f"mode must be 'r' or 'a', got {mode!r}")
        if not (path / "zarr.json").is_file():
            raise EpisodeStoreError(f"{path}: not an episode store (no zarr.json)")
        try:
            root = zarr.open_group(
                LocalStore(path, read_only=mode == "r"), mode="r" if mode == "r" else "r+"
            )
            attrs = group_attrs(root)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise EpisodeStoreError(f"{path}: not a readable zarr v3 group ({err})") from err
        if attrs.get("format") != FORMAT:
            raise EpisodeStoreError(
                f"{path}: not an episode store "
                f"(format={attrs.get('format')!r}, expected {FORMAT!r})"
            )
        found = attrs.get("schema_version")
        if found != SCHEMA_VERSION:
            raise EpisodeStoreError(
                f"{path}: episode store schema_version {found} is not supported "
                f"(this robot_rl reads schema_version {SCHEMA_VERSION})"
            )
        if not (path / EPISODES_DIR).is_dir():
            raise EpisodeStoreError(f"{path}: episode store has no {EPISODES_DIR}/ group")
        return cls(path, root, mode=mode)

    # -- listing ------------------------------------------------------------------------

    @property
    def _episodes_dir(self) -> Path:
        return self.path / EPISODES_DIR

    def episode_ids(self) -> list[int]:
        """Ids of committed episodes, ascending; lists the directory on every call (no cache)."""
        ids = []
        with os.scandir(self._episodes_dir) as entries:
            for entry in entries:
                match = EPISODE_NAME.fullmatch(entry.name)
                if match and entry.is_dir():
                    ids.append(int(match.group(1)))
        return sorted(ids)

    def __len__(self) -> int:
        return len(self.episode_ids())

    def _episode_group(self, episode_id: int, *, writable: bool = False) -> zarr.Group:
        where = self._episodes_dir / episode_name(episode_id)
        if not (where / "zarr.json").is_file():
            raise EpisodeStoreError(f"{self.path}: no committed episode {episode_id} ({where})")
        try:
            return zarr.open_group(
                LocalStore(where, read_only=not writable), mode="r+" if writable else "r"
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise EpisodeStoreError(
                f"{where}: episode {episode_id} metadata is unreadable ({err})"
            ) from err

    # -- writing ------------------------------------------------------------------------

    def _require_writable(self) -> None:
        if self.mode != "a":
            raise EpisodeStoreError(
                f"{self.path}: store is opened read-only (use EpisodeStore.open(path, mode='a'))"
            )

    def _check_episode(self, ep: Episode) -> None:
        try:
            ep.validate()
        except ValueError as err:
            raise EpisodeStoreError(f"episode does not fit {self.path}: {err}") from err
        missing = sorted(set(self.obs_spec) - set(ep.observations))
        extra = sorted(set(ep.observations) - set(self.obs_spec))
        if missing or extra:
            raise EpisodeStoreError(
                f"episode does not fit {self.path}: observation keys missing {missing}, "
                f"not in the store spec {extra}"
            )
        for key, (shape, dtype) in self.obs_spec.items():
            arr = ep.observations[key]
            if arr.shape[1:] != shape or arr.dtype != dtype:
                raise EpisodeStoreError(
                    f"episode does not fit {self.path}: observations[{key!r}] is {arr.dtype} "
                    f"{arr.shape[1:]} per step, the store spec says {dtype.name} {shape}"
                )
        for name, dtype in STEP_DTYPES.items():
            arr = getattr(ep, name)
            if arr.dtype != dtype:
                raise EpisodeStoreError(
                    f"episode does not fit {self.path}: {name} is {arr.dtype}, expected {dtype}"
                )
        if ep.actions.shape[1] != self.action_dim and len(ep) > 0:
            raise EpisodeStoreError(
                f"episode does not fit {self.path}: actions have {ep.actions.shape[1]} dims, "
                f"store action_dim is {self.action_dim}"
            )

    def write_episode(self, ep: Episode) -> int:
        """Validate, write and atomically commit one episode; returns its id."""
        self._require_writable()
        self._check_episode(ep)
        info = {str(k): _info_value(str(k), v) for k, v in ep.info.items()}
        tmp = self._episodes_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            write_group(tmp, ep, info, action_dim=self.action_dim)
            fsync_tree(tmp)
            episode_id = self._commit(tmp)
        except BaseException as err:
            # A failed or interrupted write must not leave a half group (SIGKILL still can;
            # readers ignore it and cleanup_incomplete() removes it).
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise EpisodeStoreError(
                    f"{self.path}: disk full, this episode was not written; every committed "
                    f"episode is intact (free space, then resume the run)"
                ) from err
            raise
        self.written += 1
        return episode_id

    def _commit(self, tmp: Path) -> int:
        while True:
            ids = self.episode_ids()
            episode_id = ids[-1] + 1 if ids else 0
            try:
                os.rename(tmp, self._episodes_dir / episode_name(episode_id))
            except OSError as err:
                if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # another writer committed this id first
                raise
            fsync_path(self._episodes_dir)
            return episode_id

    def set_episode_info(self, episode_id: int, **values: object) -> None:
        """Add or replace info entries of a committed episode (e.g. labels).

        Values must be str, int, float or bool (numpy scalars are converted). This is a
        read-modify-write of the episode's attrs: run one labeller per store at a time.
        """
        self._require_writable()
        group = self._episode_group(episode_id, writable=True)
        info = dict(group_attrs(group).get("info", {}))
        info.update({k: _info_value(k, v) for k, v in values.items()})
        update: dict[str, Any] = {"info": info}
        if keys.SUCCESS in values:
            update["success"] = bool(info[keys.SUCCESS])
        group.update_attributes(update)  # zarr writes zarr.json via an atomic rename

    def cleanup_incomplete(self, *, min_age_s: float = 600.0) -> list[str]:
        """Remove ``.tmp-*`` groups untouched for ``min_age_s`` seconds (left by crashed writers).

        A live writer finishes an episode in well under a second, so the default cannot race it.
        Returns the removed directory names.
        """
        self._require_writable()
        removed = []
        now = time.time()
        for entry in list(os.scandir(self._episodes_dir)):
            if not entry.name.startswith(TMP_PREFIX):
                continue
            try:
                newest = max(entry.stat().st_mtime, tree_stats(Path(entry.path))[1])
            except FileNotFoundError:
                continue  # its writer committed or removed it meanwhile
            if now - newest >= min_age_s:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
        return removed

    # -- reading ------------------------------------------------------------------------

    def episode_attrs(self, episode_id: int) -> dict[str, Any]:
        """Attributes of a committed episode: length, success, committed_at, info."""
        return group_attrs(self._episode_group(episode_id))

    def raise_if_failed(self) -> None:
        """Writes here are synchronous: a failed one has already raised (EpisodeSink API)."""

    def flush(self) -> None:
        """Writes here are synchronous: every written episode is on disk (EpisodeSink API)."""

    def read_episode(self, episode_id: int) -> Episode:
        """Read a committed episode; raises EpisodeStoreError naming it when damaged."""
        group = self._episode_group(episode_id)
        where = self._episodes_dir / episode_name(episode_id)
        try:
            attrs = group_attrs(group)
            length = int(attrs["length"])
            obs_group = group[OBS_GROUP]
            assert isinstance(obs_group, zarr.Group)
            observations = {
                key: self._read_array(obs_group, key, (length + 1, *shape))
                for key, (shape, _) in self.obs_spec.items()
            }
            fields = {}
            for name in STEP_DTYPES:
                rows = length + 1 if name == "timestamps" else length
                shape = (rows, self.action_dim) if name == "actions" else (rows,)
                fields[name] = self._read_array(group, name, shape)
        except EpisodeStoreError as err:
            raise EpisodeStoreError(f"{where}: episode {episode_id} is damaged: {err}") from err
        # Decoding damaged chunks raises from zarr/numcodecs with no common base class.
        except Exception as err:
            raise EpisodeStoreError(
                f"{where}: episode {episode_id} is damaged: {type(err).__name__}: {err}"
            ) from err
        info: dict[str, InfoValue] = dict(attrs.get("info", {}))
        return Episode(observations=observations, info=info, **fields)

    @staticmethod
    def _read_array(group: zarr.Group, name: str, shape: tuple[int, ...]) -> np.ndarray:
        arr = group[name]
        assert isinstance(arr, zarr.Array)
        if arr.shape != shape:
            raise EpisodeStoreError(f"array {name!r} has shape {arr.shape}, expected {shape}")
        # zarr fills missing chunks with the fill value; every chunk was written, so this is loss.
        if arr.nchunks_initialized != arr.nchunks:
            raise EpisodeStoreError(
                f"array {name!r} has {arr.nchunks_initialized}/{arr.nchunks} chunk files"
            )
        try:
            return np.asarray(arr[...])
        except Exception as err:  # a corrupt chunk: zarr/numcodecs share no error base class
            raise EpisodeStoreError(
                f"array {name!r}: a chunk does not decode ({type(err).__name__}: {err})"
            ) from err

    def iter_episodes(self) -> Iterator[Episode]:
        """Episodes committed when the iteration starts, in id order."""
        for episode_id in self.episode_ids():
            yield self.read_episode(episode_id)

    def readable_episodes(
        self, *, on_skip: Callable[[str], None] | None = None
    ) -> Iterator[tuple[int, Episode]]:
        """(id, episode) of every committed episode that reads back; a damaged one is skipped
        and ``on_skip`` gets one line naming it (default: printed to stderr)."""
        for episode_id in self.episode_ids():
            try:
                episode = self.read_episode(episode_id)
            except EpisodeStoreError as err:
                line = f"skipping damaged episode {episode_id}: {' '.join(str(err).split())}"
                if on_skip is None:
                    print(line, file=sys.stderr, flush=True)
                else:
                    on_skip(line)
                continue
            yield episode_id, episode

    def episode_summary(self, episode_id: int) -> tuple[int, bool]:
        """(length, success) of an episode from its attributes, checked against the length of
        its actions array (metadata only, no chunk is read); EpisodeStoreError names it."""
        where = self._episodes_dir / episode_name(episode_id)
        try:
            group = self._episode_group(episode_id)
            attrs = group_attrs(group)
            length, success = attrs["length"], attrs["success"]
            actions = group["actions"]
            rows = actions.shape[0] if isinstance(actions, zarr.Array) else None
        except EpisodeStoreError:
            raise
        except Exception as err:  # zarr metadata errors share no base class
            raise EpisodeStoreError(
                f"{where}: episode {episode_id} is damaged: {type(err).__name__}: {err}"
            ) from err
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise EpisodeStoreError(f"{where}: episode {episode_id}: bad length {length!r}")
        if rows != length:
            raise EpisodeStoreError(
                f"{where}: episode {episode_id}: attrs say {length} steps, actions hold {rows}"
            )
        return length, bool(success)

    def info(self) -> dict[str, Any]:
        """Summary: episodes, transitions, successes, bytes on disk, spec and user attrs.

        Lengths come from each episode's attributes checked against its arrays' shapes; an
        episode whose metadata does not read is left out of the counts and listed under
        ``damaged`` (``{"episode", "error"}``); ``robot-rl dataset verify`` reads every chunk.
        """
        ids = self.episode_ids()
        transitions = successes = 0
        damaged: list[dict[str, Any]] = []
        for episode_id in ids:
            try:
                length, success = self.episode_summary(episode_id)
            except EpisodeStoreError as err:
                damaged.append({"episode": episode_id, "error": " ".join(str(err).split())})
                continue
            transitions += length
            successes += success
        size = tree_stats(self.path)[0]
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "episodes": len(ids),
            "damaged": damaged,
            "transitions": transitions,
            "successes": successes,
            "bytes_on_disk": size,
            "obs_spec": spec_to_attrs(self.obs_spec),
            "action_dim": self.action_dim,
            "created_at": self.created_at,
            "attrs": self.attrs,
        }

    def __repr__(self) -> str:
        return f"EpisodeStore({str(self.path)!r}, mode={self.mode!r})"
