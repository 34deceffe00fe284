"""The learner's update loop runs ``runtime.learner_nice`` levels nicer than the actors (and,
with ``runtime.learner_sched_idle``, in SCHED_IDLE), so that on shared cores the control loop
gets the CPU first: the helper on a thread, and a real learner process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from robot_rl.app.build import lower_priority
from tests.runtime.test_learner_socket_process import make_run, spawn, wait_bound


def thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def run_in_thread(nice: int) -> tuple[int, int]:
    """(level returned, level the thread reads) for lower_priority(nice) in a new thread."""
    got: list[int] = []

    def work() -> None:
        got.extend([lower_priority(nice), thread_nice()])

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=10)
    return got[0], got[1]


def test_lower_priority_changes_only_the_calling_thread() -> None:
    base = thread_nice()
    if base > 19 - 3:
        pytest.skip(f"this process already runs at nice {base}")
    assert run_in_thread(3) == (base + 3, base + 3)
    assert thread_nice() == base  # the caller of the thread is untouched
    assert run_in_thread(0) == (base, base)
    assert run_in_thread(40) == (19, 19)  # capped at the lowest priority


needs_sched_idle = pytest.mark.skipif(
    not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only"
)


@needs_sched_idle
def test_sched_idle_moves_only_the_calling_thread() -> None:
    base = os.sched_getscheduler(0)
    assert base != os.SCHED_IDLE
    seen: dict[str, int] = {}
    inside = threading.Event()
    release = threading.Event()

    def work() -> None:
        lower_priority(0, idle=True)

        def child() -> None:  # a thread the update loop starts inherits the class
            seen["child"] = os.sched_getscheduler(0)

        helper = threading.Thread(target=child)
        helper.start()
        helper.join(timeout=10)
        inside.set()
        release.wait(timeout=10)

    worker = threading.Thread(target=work)
    worker.start()
    assert inside.wait(timeout=10)
    assert worker.native_id is not None
    # read back from outside the thread, by its kernel thread id
    seen["worker"] = os.sched_getscheduler(worker.native_id)
    release.set()
    worker.join(timeout=10)
    assert seen == {"worker": os.SCHED_IDLE, "child": os.SCHED_IDLE}
    assert os.sched_getscheduler(0) == base  # the caller of the thread is untouched


def stat_nice(pid: int) -> int:
    """The nice level of process ``pid``'s main thread (/proc/PID/stat, field 19)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_learner_process_updates_at_its_nice_level(tmp_path: Path) -> None:
    base = thread_nice()
    if base > 19 - 7:
        pytest.skip(f"this process already runs at nice {base}")
    run, _ = make_run(tmp_path, learner_nice=7)
    proc = spawn(run)
    try:
        wait_bound(run, proc)
        deadline = time.monotonic() + 30.0
        while stat_nice(proc.pid) != base + 7:  # set just before the loop starts
            assert proc.poll() is None, (run / "learner.log").read_text()
            assert time.monotonic() < deadline, f"learner at nice {stat_nice(proc.pid)}"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert base == thread_nice()


@needs_sched_idle
def test_learner_process_updates_in_sched_idle_when_asked(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path, learner_sched_idle=True)
    proc = spawn(run)
    try:
        wait_bound(run, proc)
        deadline = time.monotonic() + 30.0
        while os.sched_getscheduler(proc.pid) != os.SCHED_IDLE:  # set just before the loop
            assert proc.poll() is None, (run / "learner.log").read_text()
            assert time.monotonic() < deadline, "learner not in SCHED_IDLE"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert os.sched_getscheduler(0) != os.SCHED_IDLE


def test_learner_nice_is_bounded_on_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="learner_nice"):
        make_run(tmp_path, learner_nice=25)
