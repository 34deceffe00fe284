"""Integrity check of an episode store: every committed episode read back in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robot_rl.data.episode_store import EPISODES_DIR, TMP_PREFIX, EpisodeStore, EpisodeStoreError


def verify_store(path: Path) -> dict[str, Any]:
    """Read every committed episode (zstd checksums, chunk files, shapes, lengths).

    Returns ``{"path", "episodes", "ok", "transitions", "damaged": [{"episode", "error"}],
    "incomplete": [names of .tmp-* groups left by a killed writer]}``. Raises
    EpisodeStoreError when the store itself cannot be opened.
    """
    store = EpisodeStore.open(path)
    damaged: list[dict[str, Any]] = []
    ok = transitions = 0
    ids = store.episode_ids()
    for episode_id in ids:
        try:
            attrs = store.episode_attrs(episode_id)
            episode = store.read_episode(episode_id)
            episode.validate()
            if len(episode) != int(attrs["length"]):
                raise EpisodeStoreError(
                    f"episode {episode_id}: {len(episode)} steps, attrs say {attrs['length']}"
                )
        except (EpisodeStoreError, ValueError, KeyError) as err:
            damaged.append({"episode": episode_id, "error": str(err)})
            continue
        ok += 1
        transitions += len(episode)
    incomplete = sorted(
        p.name for p in (Path(path) / EPISODES_DIR).iterdir() if p.name.startswith(TMP_PREFIX)
    )
    return {
        "path": str(path),
        "episodes": len(ids),
        "ok": ok,
        "transitions": transitions,
        "damaged": damaged,
        "incomplete": incomplete,
    }
