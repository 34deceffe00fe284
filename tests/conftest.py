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
