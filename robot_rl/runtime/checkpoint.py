"""Checkpoints written atomically (write to a temp file, fsync, rename) keeping the last N."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_CKPT = re.compile(r"^ckpt_(\d{9})\.pt$")


class PolicyFileError(ValueError):
    """A policy weights file is missing, truncated, not safetensors, or does not fit."""


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(ckpt_dir: Path, updates: int, state: dict[str, Any], *, keep: int = 3) -> Path:
    """Save a learner checkpoint (tensors and plain values only) and prune old ones."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"ckpt_{updates:09d}.pt"
    _atomic_write(path, lambda tmp: torch.save(state, tmp))
    for old in list_checkpoints(ckpt_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if _CKPT.match(p.name))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code from the file)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/corrupt files
        raise ValueError(f"checkpoint {path} is unreadable (truncated or corrupt): {err}") from err


def save_policy(
    path: Path, tensors: dict[str, torch.Tensor], *, version: int, config_hash: str
) -> None:
    """Write the acting policy's weights as safetensors with version and config hash."""
    metadata = {"weights_version": str(version), "config_hash": config_hash}
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _atomic_write(path, lambda tmp: save_file(cpu, str(tmp), metadata=metadata))


def load_policy(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read policy weights and their metadata from a safetensors file.

    Raises PolicyFileError naming the file when it is missing or not readable safetensors
    (empty, truncated, a pickle), or when a tensor holds NaN or inf (such weights would only
    make the safety layer hold the arm); safetensors never runs code from the file.
    """
    if not path.is_file():
        raise PolicyFileError(f"{path}: policy weights not found")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = load_file(str(path))
    except Exception as err:  # safetensors raises its own error type, OSError or ValueError
        size = path.stat().st_size
        raise PolicyFileError(
            f"{path}: not a readable safetensors policy file ({size} bytes; "
            f"{type(err).__name__}: {' '.join(str(err).split())})"
        ) from err
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise PolicyFileError(f"{path}: tensor {name!r} holds NaN or inf values")
    return tensors, metadata
