"""Resuming a run: compare configs, pick the newest readable checkpoint, count stored progress.

``robot-rl train --resume RUN_DIR`` continues a run where it stopped (crash, power cut,
``kill -9``). Networks, optimisers, temperature, target critics, RNG states, update and
weights counters come from the newest readable checkpoint; replay is rebuilt from the
episode stores, and the actor's env-step counter is the number of stored transitions, so
metrics continue without a jump.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robot_rl.config import to_dict
from robot_rl.runtime.checkpoint import list_checkpoints, load_checkpoint

# Fields that may change on resume: extending a run needs a larger env-step budget.
RESUMABLE_FIELDS = frozenset({"train.env_steps"})


class ResumeError(RuntimeError):
    """A run cannot be resumed (missing files, a config that differs, no readable state)."""


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def config_differences(saved: Any, given: Any) -> list[str]:
    """Dotted fields where two config dataclasses differ, as ``field: saved -> given``."""
    left, right = _flatten(to_dict(saved)), _flatten(to_dict(given))
    return [
        f"{name}: {left.get(name)!r} -> {right.get(name)!r}"
        for name in sorted(set(left) | set(right))
        if left.get(name) != right.get(name)
    ]


def check_resumable(saved: Any, given: Any, *, where: Path) -> None:
    """Raise ResumeError naming every differing field outside ``RESUMABLE_FIELDS``."""
    bad = [d for d in config_differences(saved, given) if d.split(":")[0] not in RESUMABLE_FIELDS]
    if bad:
        raise ResumeError(
            f"cannot resume {where}: the config differs from the run's config.yaml in "
            + "; ".join(bad)
            + f" (only {', '.join(sorted(RESUMABLE_FIELDS))} may change on resume)"
        )


def latest_checkpoint(ckpt_dir: Path, *, log: Any = print) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads, and its state; unreadable newer ones are reported.

    Returns None when there is no checkpoint at all; raises ResumeError when every checkpoint
    present is unreadable (resuming from nothing would silently re-initialise the networks).
    """
    paths = list_checkpoints(ckpt_dir)
    errors = []
    for path in reversed(paths):
        try:
            state = load_checkpoint(path)
        except ValueError as err:
            errors.append(str(err))
            log(f"resume: skipping {err}")
            continue
        if not isinstance(state, dict) or "agent" not in state or "updates" not in state:
            errors.append(f"checkpoint {path} is not a learner checkpoint")
            log(f"resume: skipping {errors[-1]}")
            continue
        return path, state
    if paths:
        raise ResumeError(f"no readable checkpoint in {ckpt_dir}: " + "; ".join(errors))
    return None


def stored_progress(store_path: Path) -> tuple[int, int]:
    """(episodes, transitions) committed in an episode store (0, 0 when it does not exist)."""
    from robot_rl.data.episode_store import EpisodeStore

    if not (store_path / "zarr.json").is_file():
        return 0, 0
    store = EpisodeStore.open(store_path)
    ids = store.episode_ids()
    return len(ids), sum(int(store.episode_attrs(i)["length"]) for i in ids)
