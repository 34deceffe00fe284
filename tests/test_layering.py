"""The core never pulls in ROS or the web stack; keys are defined once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CORE_MODULES = [
    "robot_rl",
    "robot_rl.cli",
    "robot_rl.runtime.launch",
    "robot_rl.runtime.learner_main",
    "robot_rl.agents",
    "robot_rl.data.episode_store",
    "robot_rl.data.replay",
]


def test_core_imports_neither_rclpy_nor_fastapi() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'fastapi', 'starlette'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_rclpy_or_pickle_in_core_sources() -> None:
    for path in list((ROOT / "robot_rl").rglob("*.py")) + list((ROOT / "sim").rglob("*.py")):
        text = path.read_text()
        assert "import rclpy" not in text and "from rclpy" not in text, path
        assert "import pickle" not in text and "pickle.loads" not in text, path
