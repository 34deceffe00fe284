"""The learner child process: start it, notice when it dies, restart it from its checkpoint.

A learner killed mid-run (OOM, ``kill -9``, a CUDA fault) must not stop the robot: the actor
keeps acting with its last weights (or pauses, ``runtime.on_learner_loss``) while the
supervisor restarts the learner with ``--resume`` on the same address, so the actor's zmq
socket reconnects by itself.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from robot_rl.run_config import RunConfig


class LearnerStartError(RuntimeError):
    """The learner process did not come up (or kept dying); the message is one line."""


def last_error_line(log_path: Path) -> str:
    """The last line of a learner log that says what went wrong (an exception's message)."""
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        return "(no learner.log)"
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line or line.startswith("error"):
            return line
    return lines[-1] if lines else "(learner.log is empty)"


def spawn_learner(
    run_dir: Path,
    demos: Path | None,
    *,
    resume: bool = False,
    bind: str | None = None,
    launch_token: str | None = None,
) -> subprocess.Popen:
    """Start ``robot_rl.app.learner_main`` without waiting for it (log: learner.log).

    ``launch_token`` goes to the child in its environment (not on its command line, which
    other users can read): only an actor whose Hello carries it may stop or pace it."""
    from robot_rl.app.learner_main import LAUNCH_TOKEN_ENV, PRETRAIN_STATUS

    cmd = [
        sys.executable,
        "-m",
        "robot_rl.app.learner_main",
        str(run_dir),
        "--parent-pid",
        str(os.getpid()),
    ]
    if demos is not None:
        cmd += ["--demos", str(demos)]
    if resume:
        cmd.append("--resume")
    if bind is not None:
        cmd += ["--bind", bind]
    # A dead learner's address file must not be taken as the new one's, nor its progress.
    (run_dir / "learner.json").unlink(missing_ok=True)
    (run_dir / PRETRAIN_STATUS).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop(LAUNCH_TOKEN_ENV, None)
    if launch_token:
        env[LAUNCH_TOKEN_ENV] = launch_token
    with (run_dir / "learner.log").open("a") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def start_learner_process(
    run_dir: Path,
    config: RunConfig,
    demos: Path | None,
    *,
    resume: bool = False,
    launch_token: str | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start the learner and wait until it is bound; returns the process and its address."""
    proc = spawn_learner(run_dir, demos, resume=resume, launch_token=launch_token)
    return proc, wait_bound(proc, run_dir, timeout_s=config.runtime.startup_timeout_s)


def wait_bound(proc: subprocess.Popen, run_dir: Path, *, timeout_s: float) -> str:
    """Wait for learner ``proc`` to write ``learner.json``; its address.

    The learner pre-trains on the demos before it binds (minutes, with pixels or
    ``critic_pretrain_updates``): while it reports progress (``PRETRAIN_STATUS``) the deadline
    of ``timeout_s`` counts from its last report, so only a learner silent for that long is
    given up on (killed; LearnerStartError). A learner that exits: LearnerStartError with the
    last error line of its log."""
    from robot_rl.app.learner_main import PRETRAIN_STATUS

    info_path, status_path = run_dir / "learner.json", run_dir / PRETRAIN_STATUS
    deadline = time.monotonic() + timeout_s
    last_status: str | None = None
    while not info_path.exists():
        try:
            status = status_path.read_text()
        except OSError:  # not pre-training (yet)
            status = None
        if status is not None and status != last_status:
            last_status, deadline = status, time.monotonic() + timeout_s
        if proc.poll() is not None:
            log = run_dir / "learner.log"
            raise LearnerStartError(
                f"learner process exited with code {proc.returncode}: {last_error_line(log)} "
                f"(see {log})"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise LearnerStartError(
                f"learner did not start within {timeout_s:.0f} s"
                + (f" of its last pre-training report ({last_status})" if last_status else "")
                + f" (see {run_dir / 'learner.log'})"
            )
        time.sleep(0.05)
    return str(json.loads(info_path.read_text())["address"])


class LearnerSupervisor:
    """Owns the learner process; ``check()`` restarts it (resumed, same address) when it died."""

    def __init__(
        self, run_dir: Path, config: RunConfig, demos: Path | None, *, resume: bool = False
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.demos = demos
        self.restarts = 0
        # The launching actor's secret (its Hello carries it); a restarted learner gets it too.
        self.launch_token = secrets.token_hex(16)
        self.proc, self.address = start_learner_process(
            run_dir, config, demos, resume=resume, launch_token=self.launch_token
        )

    def alive(self) -> bool:
        """Whether the learner process is running."""
        return self.proc.poll() is None

    def check(self) -> bool:
        """Restart a dead learner without waiting for it; True when a restart happened.

        The actor goes on meanwhile; its socket reconnects once the learner is bound again.
        Raises LearnerStartError after ``runtime.max_learner_restarts`` restarts (a learner
        that cannot come up, e.g. every checkpoint unreadable, dies again and counts).
        """
        if self.alive():
            return False
        limit = self.config.runtime.max_learner_restarts
        if self.restarts >= limit:
            log = self.run_dir / "learner.log"
            raise LearnerStartError(
                f"learner died (exit code {self.proc.returncode}) after {limit} restarts: "
                f"{last_error_line(log)} (see {log})"
            )
        self.restarts += 1
        print(
            f"learner exited with code {self.proc.returncode}; restart {self.restarts}/{limit} "
            f"from its last checkpoint on {self.address}",
            file=sys.stderr,
            flush=True,
        )
        self.proc = spawn_learner(
            self.run_dir, self.demos, resume=True, bind=self.address,
            launch_token=self.launch_token,
        )  # fmt: skip
        return True
