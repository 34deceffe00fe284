"""Where the time goes between a sensor message and the command computed from it.

Per policy command (not the holds), the actor records five stages (ms) that add up to the
command's stamp minus the observation's reference stamp (the first camera's header, the TCP
pose's on a camera-less cell), the figure ``scripts/bench/ros_graph.py`` measures from outside:

- ``receive``: reference stamp -> the actor receiving the last message the observation waited
  for (any stream or the reward): the sender's publishing, DDS, the node's executor;
- ``assemble``: that receipt -> the observation built: the env's wait for its control tick
  and its polling, the image decoding;
- ``loop``: observation -> the policy's forward starts (the actor loop between two steps: the
  step sent to the learner, recorded, the dashboard feed, messages polled, weights loaded);
- ``policy``: the policy's forward (0 while it acts uniformly at random, before weights);
- ``publish``: the forward's end -> the command published (intervention mixer, safety
  layer, message copies, DDS write).

The hot path only appends one tuple per command; :meth:`CommandLatency.write` (called off
the control thread, e.g. by the node's status timer) appends the rows to a JSON-lines file,
read back with ``robot_rl.runtime.metrics.read_jsonl``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

STAGES = ("receive", "assemble", "loop", "policy", "publish")
"""The stages of a command's latency, in order; they sum to ``total``."""
LATENCY_FILE = "latency.jsonl"
"""The actor's per-command stage times (ms), one JSON object a line, in its run dir."""


class CommandLatency:
    """Collects per-command stage times (see the module docstring); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple[Any, ...]] = []
        # the observation the next command is computed from:
        # (reference stamp s, last receipt s, last stream, assembled s, stamp - clock offset s)
        self._observed: tuple[float, float, str, float, float] | None = None
        self._policy: tuple[float, float] | None = None  # (start s, end s), receive clock
        self.commands = 0
        """Policy commands recorded so far."""

    def observed(
        self,
        reference_stamp_s: float,
        receipts: Mapping[str, float],
        assembled_s: float,
        stamp_offset_s: float,
    ) -> None:
        """An observation was built at ``assembled_s`` (receive clock, s) from messages received
        at ``receipts`` (stream -> receive clock s); ``reference_stamp_s`` is its reference
        message's header stamp (stamp clock, s) and ``stamp_offset_s`` the stamp clock minus
        the receive clock now (s)."""
        last = max(receipts, key=receipts.__getitem__)
        self._observed = (
            reference_stamp_s, receipts[last], last, assembled_s, stamp_offset_s
        )  # fmt: skip

    def policy_ran(self, start_s: float, end_s: float) -> None:
        """The policy's forward ran from ``start_s`` to ``end_s`` (receive clock, s)."""
        self._policy = (start_s, end_s)

    def published(self, step_start_s: float, command_stamp_s: float, published_s: float) -> None:
        """The command of the env step that began at ``step_start_s`` (receive clock, s) went
        out at ``published_s`` (receive clock) with header stamp ``command_stamp_s`` (s)."""
        if self._observed is None:
            return
        ref_stamp, received, last, assembled, offset = self._observed
        policy = self._policy
        if policy is None or policy[0] < assembled:  # no forward on this observation
            policy = (step_start_s, step_start_s)
        row = (
            1e3 * (received + offset - ref_stamp),
            1e3 * (assembled - received),
            1e3 * (policy[0] - assembled),
            1e3 * (policy[1] - policy[0]),
            1e3 * (published_s - policy[1]),
            1e3 * (command_stamp_s - ref_stamp),
            last,
        )
        with self._lock:
            self._rows.append(row)
            self.commands += 1

    def drain(self) -> list[dict[str, Any]]:
        """The rows recorded since the last drain: ``STAGES``, ``total`` (ms) and ``last``."""
        with self._lock:
            rows, self._rows = self._rows, []
        names = (*STAGES, "total")
        return [
            {**{n: round(v, 3) for n, v in zip(names, row[:-1], strict=True)}, "last": row[-1]}
            for row in rows
        ]

    def write(self, path: Path) -> int:
        """Append the rows recorded since the last call to ``path`` (JSON lines); how many."""
        rows = self.drain()
        if rows:
            with Path(path).open("a") as f:
                f.writelines(json.dumps(row) + "\n" for row in rows)
        return len(rows)


def stage_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """p50/p99/mean (ms) of every stage and the total, the stages' means over the slowest 5 %
    of commands (``tail_mean``), and how often each stream was the last one received."""
    rows = list(rows)
    out: dict[str, Any] = {"commands": len(rows)}
    for name in (*STAGES, "total"):
        values = np.array([float(r[name]) for r in rows])
        out[name] = (
            {
                "p50": round(float(np.percentile(values, 50)), 2),
                "p99": round(float(np.percentile(values, 99)), 2),
                "mean": round(float(values.mean()), 2),
            }
            if len(values)
            else None
        )
    if rows:  # the slowest 5 % of commands: which stage makes the tail
        totals = np.array([float(r["total"]) for r in rows])
        tail = [r for r in rows if float(r["total"]) >= np.percentile(totals, 95)]
        out["tail_mean"] = {n: round(float(np.mean([r[n] for r in tail])), 2) for n in STAGES}
    last: dict[str, int] = {}
    for r in rows:
        last[r["last"]] = last.get(r["last"], 0) + 1
    out["last_stream"] = dict(sorted(last.items(), key=lambda kv: -kv[1]))
    return out


__all__ = ["LATENCY_FILE", "STAGES", "CommandLatency", "stage_summary"]
