"""The launcher's wait for its learner process: a learner that pre-trains for longer than
``runtime.startup_timeout_s`` but keeps reporting progress is waited for; one that goes silent
is given up on with an error that names its last report. Real child processes and files; the
children stand in for learner_main's start-up (its pre-training report and address file are
written the same way), so the waits take seconds, not minutes of pre-training."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from robot_rl.app.learner_main import PRETRAIN_STATUS, pretrain_reporter
from robot_rl.app.supervisor import LearnerStartError, wait_bound

CHILD = """
import json, os, sys, time
from pathlib import Path
from robot_rl.app.learner_main import pretrain_reporter
run, reports, bind = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "bind"
report = pretrain_reporter(run)
for k in range(1, reports + 1):
    time.sleep(0.25)
    report(k, reports)
if bind:
    (run / ".tmp").write_text(json.dumps({"address": "tcp://127.0.0.1:5555"}))
    os.replace(run / ".tmp", run / "learner.json")
time.sleep(30)
"""


def child(run: Path, reports: int, *, bind: bool) -> subprocess.Popen[bytes]:
    log = (run / "learner.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(run), str(reports), "bind" if bind else "silent"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_a_learner_that_reports_progress_is_waited_for(tmp_path: Path) -> None:
    # 12 reports 0.25 s apart: 3 s of pre-training against a 1.5 s deadline (plus the child's
    # import time, which the first report must come within: 20 s below, generous for CI).
    proc = child(tmp_path, 12, bind=True)
    try:
        started = time.monotonic()
        first_report_by = started + 20.0
        while not (tmp_path / PRETRAIN_STATUS).exists():  # the child's imports, not timed here
            assert proc.poll() is None and time.monotonic() < first_report_by
            time.sleep(0.02)
        address = wait_bound(proc, tmp_path, timeout_s=1.5)
        assert address == "tcp://127.0.0.1:5555"
        assert time.monotonic() - started > 1.5  # it did outlast the deadline
        assert "pre-training on the demos: 12/12 updates" in (tmp_path / "learner.log").read_text()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_silent_learner_is_given_up_on_naming_its_last_report(tmp_path: Path) -> None:
    proc = child(tmp_path, 2, bind=False)
    try:
        while not (tmp_path / PRETRAIN_STATUS).exists():
            assert proc.poll() is None
            time.sleep(0.02)
        with pytest.raises(LearnerStartError, match=r"within 1 s of its last pre-training report"):
            wait_bound(proc, tmp_path, timeout_s=1.0)
        assert proc.wait(timeout=10) != 0  # killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_the_reporter_writes_progress_and_logs_tenths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = pretrain_reporter(tmp_path)
    for k in range(1, 101):
        report(k, 100)
    assert (tmp_path / PRETRAIN_STATUS).read_text() == '{"done": 100, "total": 100}'
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11  # 1/100, then every tenth up to 100/100
    assert lines[0].endswith("1/100 updates") and lines[-1].endswith("100/100 updates")
