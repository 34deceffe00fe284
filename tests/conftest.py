"""Shared test set-up: one torch thread (2-core machines), headless rendering chosen by the twin."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def repo_root() -> str:
    """Absolute path of the repository."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def learn_seed() -> int:
    """Seed offset of the tests that assert a learned figure (``make test-repeat`` sets it)."""
    return int(os.environ.get("ROBOT_RL_TEST_SEED", "0"))


@pytest.fixture
def record_figure(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``record_figure(name, value, bound=...)``: note a learned figure beside its bound.

    Appends one JSON line to ``$ROBOT_RL_FIGURES`` when it is set (scripts/test_repeat.py reads
    them to print each figure's worst case over seeds and GL backends); else does nothing.
    """
    import json

    def record(name: str, value: float, *, bound: float, higher_is_better: bool = True) -> None:
        path = os.environ.get("ROBOT_RL_FIGURES")
        if not path:
            return
        row = {
            "test": request.node.nodeid,
            "figure": name,
            "value": float(value),
            "bound": float(bound),
            "higher_is_better": higher_is_better,
            "seed": int(os.environ.get("ROBOT_RL_TEST_SEED", "0")),
            "gl": os.environ.get("MUJOCO_GL", ""),
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    return record
