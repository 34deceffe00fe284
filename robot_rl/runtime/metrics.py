"""Metrics to JSONL (one object per line) and TensorBoard, under stable scalar names."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends metric rows to ``<dir>/<role>.jsonl`` and TensorBoard ``<tb_dir>/<role>``."""

    def __init__(
        self, metrics_dir: Path, role: str, *, tensorboard_dir: Path | None = None
    ) -> None:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        self.path = metrics_dir / f"{role}.jsonl"
        # Line-buffered so a crash loses at most the row being written.
        self._file = self.path.open("a", buffering=1)
        self._tb: Any = None
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(tensorboard_dir / role))

    def log(
        self, step: int, values: dict[str, float | int | bool], *, step_name: str = "step"
    ) -> None:
        """Write one row; ``step`` is the x-axis (env steps or learner updates)."""
        row: dict[str, Any] = {step_name: int(step), "time": time.time()}
        for name, value in values.items():
            row[name] = float(value) if not isinstance(value, (int, bool)) else value
        self._file.write(json.dumps(row, allow_nan=True) + "\n")
        if self._tb is not None:
            for name, value in values.items():
                number = float(value)
                if math.isfinite(number):
                    self._tb.add_scalar(name, number, int(step))

    def close(self) -> None:
        """Flush and close the JSONL file and the TensorBoard writer."""
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics file; a torn last line (crash mid-write) is skipped."""
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
