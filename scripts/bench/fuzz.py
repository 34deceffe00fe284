"""Fuzz the trust boundaries against the real CLI and servers; one JSON object on the last line.

    python scripts/bench/fuzz.py                       # every group
    python scripts/bench/fuzz.py --groups config,set --quick
    python scripts/bench/fuzz.py --list                # case names per group

Groups (corpus in ``fuzz_config.py``, ``fuzz_files.py`` and ``fuzz_servers.py``; add a case
there):

* ``config``, ``set``, ``policy``, ``checkpoint``, ``store``, ``train``, ``learner_cli``: a
  ``robot-rl`` command on a bad config file, ``--set`` value, policy file, checkpoint or
  episode store. Each case runs the real CLI (``robot_rl.cli.main``) in its own process:
  forked from this one after the heavy imports (``--no-fork``: ``python -m robot_rl.cli``
  per case, the same code, ~2 s more each), in its own session so a hang is killed whole.
* ``socket``: payloads sent with a zmq DEALER to a real ``robot-rl learner`` process.
* ``dashboard``: HTTP and websocket requests to a real ``robot-rl dashboard`` server.

Counts (each case gets one verdict): ``crashes`` (a process that should survive died, or
died by a signal), ``tracebacks`` (a traceback reached the user), ``silent_ok`` (exit 0 or
"run finished" after a failure, or a server that accepted what it must refuse), ``hangs``
(past the case's deadline), ``bad_data_stored`` (damaged data counted or exported as good),
``wrong_refusals`` (a valid input refused); ``unclear`` counts refusals that took more than
one line or did not name what was wrong (not a failure by itself).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.modules.setdefault("fuzz", sys.modules[__name__])  # the corpus modules import this one
VERDICTS = ("pass", "crash", "traceback", "silent_ok", "hang", "bad_data", "wrong_refusal")
NOTE_PREFIXES = ("skipping damaged", "learner: ", "learner exited with code", "warning: ",
                 "DAMAGED episode")  # fmt: skip
COUNT_NAMES = {
    "crash": "crashes",
    "traceback": "tracebacks",
    "silent_ok": "silent_ok",
    "hang": "hangs",
    "bad_data": "bad_data_stored",
    "wrong_refusal": "wrong_refusals",
}


@dataclass
class Outcome:
    """What one CLI run did."""

    rc: int
    stdout: str
    stderr: str
    wall_s: float
    hung: bool = False

    def error_lines(self) -> list[str]:
        """stderr lines a person reads (progress-bar redraws and warnings left out)."""
        lines = []
        for line in self.stderr.splitlines():
            line = line.strip()
            if line and "\r" not in line and "%|" not in line and "it/s]" not in line:
                lines.append(line)
        return lines


@dataclass
class CliCase:
    """A ``robot-rl`` invocation on prepared files and what it must do."""

    group: str
    name: str
    argv: Callable[[Path], list[str]]
    """The arguments after ``robot-rl``, given a fresh case directory."""
    expect: str = "refuse"
    """refuse: non-zero exit, no traceback, not "run finished"; ok: exit 0."""
    mention: str = ""
    """Text the refusal should contain (a file or field name); missing: counted unclear."""
    check: Callable[[Path, Outcome], str | None] | None = None
    """Extra check after the run; returns a verdict (e.g. "bad_data") or None."""
    timeout_s: float = 60.0
    quick: bool = True
    """Part of ``--quick``."""


@dataclass
class ServerCase:
    """Something done to a running server; the server must survive and refuse bad input."""

    group: str
    name: str
    act: Callable[[Any], str | None]
    """Given the server handle; returns a verdict ("silent_ok" when bad input was accepted)
    or None for pass. The runner then checks that the server is alive and still serves."""
    quick: bool = True


@dataclass
class Tally:
    """Counts of one group."""

    cases: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    unclear: int = 0
    failures: list[str] = field(default_factory=list)
    unclear_names: list[str] = field(default_factory=list)

    def add(self, name: str, verdict: str, detail: str = "") -> None:
        self.cases += 1
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        if verdict != "pass":
            self.failures.append(f"{name}: {verdict}{': ' + detail[:300] if detail else ''}")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cases": self.cases, "passed": self.verdicts.get("pass", 0)}
        for verdict, name in COUNT_NAMES.items():
            out[name] = self.verdicts.get(verdict, 0)
        out["unclear"] = self.unclear
        return out


# ---------------------------------------------------------------------------- running the CLI
def _child(argv: list[str], cwd: Path, out_path: Path, err_path: Path) -> None:
    """In a forked child: run the CLI as ``python -m robot_rl.cli`` would, then exit."""
    os.setsid()
    os.chdir(cwd)
    for fd, path in ((1, out_path), (2, err_path)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    rc = 1
    try:
        from robot_rl.cli import main

        rc = int(main(argv))
    except SystemExit as err:  # argparse
        rc = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except BaseException:  # what the interpreter would print for an uncaught exception
        traceback.print_exc()
        rc = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


class CliRunner:
    """Runs CliCases, ``jobs`` at a time, forked (or as subprocesses), with deadlines."""

    def __init__(self, work: Path, *, jobs: int, fork: bool) -> None:
        self.work, self.jobs, self.fork = work, jobs, fork
        if fork:  # the imports every case needs, done once before forking
            import robot_rl.app.build
            import robot_rl.app.launch
            import robot_rl.cli
            import robot_rl.run_config  # noqa: F401

    def _start(self, case_dir: Path, argv: list[str]) -> Any:
        out, err = case_dir / "stdout.txt", case_dir / "stderr.txt"
        if self.fork:
            pid = os.fork()
            if pid == 0:
                _child(argv, case_dir, out, err)
            return pid
        import subprocess

        with out.open("w") as o, err.open("w") as e:
            return subprocess.Popen(
                [sys.executable, "-m", "robot_rl.cli", *argv], cwd=case_dir, stdout=o, stderr=e,
                start_new_session=True,
            )  # fmt: skip

    @staticmethod
    def _poll(handle: Any) -> int | None:
        if isinstance(handle, int):
            pid, status = os.waitpid(handle, os.WNOHANG)
            if pid == 0:
                return None
            return os.waitstatus_to_exitcode(status)
        return handle.poll()

    @staticmethod
    def _kill(handle: Any) -> None:
        pid = handle if isinstance(handle, int) else handle.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if isinstance(handle, int):
            os.waitpid(handle, 0)
        else:
            handle.wait()

    def run(self, cases: list[CliCase], on_done: Callable[[CliCase, Path, Outcome], None]) -> None:
        """Run every case; ``on_done`` gets each one's outcome as it finishes."""
        pending = list(enumerate(cases))
        running: dict[int, tuple[CliCase, Path, Any, float]] = {}
        while pending or running:
            while pending and len(running) < self.jobs:
                i, case = pending.pop(0)
                case_dir = self.work / f"{case.group}-{i:04d}"
                case_dir.mkdir(parents=True)
                try:
                    argv = case.argv(case_dir)
                except Exception as err:  # a case that cannot be prepared is the bench's bug
                    raise RuntimeError(f"preparing {case.group}/{case.name}: {err}") from err
                running[i] = (case, case_dir, self._start(case_dir, argv), time.monotonic())
            for i, (case, case_dir, handle, started) in list(running.items()):
                rc = self._poll(handle)
                hung = False
                if rc is None:
                    if time.monotonic() - started < case.timeout_s:
                        continue
                    self._kill(handle)
                    rc, hung = -9, True
                del running[i]
                outcome = Outcome(
                    rc,
                    (case_dir / "stdout.txt").read_text(errors="replace"),
                    (case_dir / "stderr.txt").read_text(errors="replace"),
                    time.monotonic() - started,
                    hung,
                )
                on_done(case, case_dir, outcome)
            select.select([], [], [], 0.02)


def classify(case: CliCase, case_dir: Path, out: Outcome) -> tuple[str, str, bool]:
    """(verdict, detail, unclear) of one CLI case."""
    text = out.stdout + out.stderr
    lines = out.error_lines()
    detail = (lines[-1] if lines else out.stdout.strip()[-200:]) or f"exit {out.rc}"
    if out.hung:
        return "hang", f"no exit within {case.timeout_s:.0f} s", False
    if "Traceback (most recent call last)" in text:
        tail = [line for line in text.splitlines() if line.strip()][-1:]
        return "traceback", tail[0] if tail else "", False
    if out.rc < 0:
        return "crash", f"killed by signal {-out.rc}", False
    if case.check is not None:
        verdict = case.check(case_dir, out)
        if verdict is not None:
            return verdict, detail, False
    if case.expect == "refuse":
        if out.rc == 0 or "run finished" in out.stdout:
            return "silent_ok", f"exit {out.rc}: {detail}", False
        # Notes before the error (what was skipped, what the learner did) are fine.
        errors = [ln for ln in lines if not ln.startswith(NOTE_PREFIXES)]
        unclear = (
            not lines
            or len(errors) > 1
            or (bool(case.mention) and case.mention not in " ".join(errors or lines))
        )
        return "pass", detail, unclear
    if out.rc != 0:
        return "wrong_refusal", f"exit {out.rc}: {detail}", False
    return "pass", detail, False


# ---------------------------------------------------------------------------------- the bench
def _groups() -> dict[str, Callable[[Any], list[Any]]]:
    import fuzz_config
    import fuzz_files
    import fuzz_servers

    return {**fuzz_config.GROUPS, **fuzz_files.GROUPS, **fuzz_servers.GROUPS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", default="all", help="comma-separated groups (default: all)")
    parser.add_argument("--quick", action="store_true", help="a subset of each group")
    parser.add_argument("--jobs", type=int, default=2, help="CLI cases run at once")
    parser.add_argument("--no-fork", action="store_true", help="a fresh interpreter per case")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep", help="keep the case directories here")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "sim"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path[:0] = [str(ROOT), str(ROOT / "sim")]
    groups = _groups()
    chosen = list(groups) if args.groups == "all" else args.groups.split(",")
    unknown = [g for g in chosen if g not in groups]
    if unknown:
        parser.error(f"unknown groups {unknown} (known: {', '.join(groups)})")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="robot_rl_fuzz_"))
    work.mkdir(parents=True, exist_ok=True)
    import fuzz_files

    fixtures = fuzz_files.Fixtures(work / "fixtures")
    started = time.monotonic()
    cli_cases: list[CliCase] = []
    server_cases: list[ServerCase] = []
    for name in chosen:
        for case in groups[name](fixtures):
            if args.quick and not case.quick:
                continue
            (cli_cases if isinstance(case, CliCase) else server_cases).append(case)
    if args.list:
        for case in cli_cases + server_cases:
            print(f"{case.group}/{case.name}")
        print(json.dumps({"cases": len(cli_cases) + len(server_cases)}))
        return 0
    tallies = {name: Tally() for name in chosen}

    def done(case: CliCase, case_dir: Path, out: Outcome) -> None:
        verdict, detail, unclear = classify(case, case_dir, out)
        tally = tallies[case.group]
        tally.add(case.name, verdict, detail)
        tally.unclear += unclear
        if unclear:
            tally.unclear_names.append(f"{case.name}: {' | '.join(out.error_lines())[:200]}")
        if args.verbose or verdict != "pass":
            print(f"[{verdict:>13}] {case.group}/{case.name} ({out.wall_s:.1f} s): {detail[:200]}",
                  flush=True)  # fmt: skip

    if cli_cases:
        fixtures.prepare(cli_cases)  # builds the trained run / demo store the cases need
        CliRunner(work / "cases", jobs=args.jobs, fork=not args.no_fork).run(cli_cases, done)
    if server_cases:
        import fuzz_servers

        fuzz_servers.run_server_cases(server_cases, fixtures, tallies, verbose=args.verbose)
    total = Tally()
    for tally in tallies.values():
        total.cases += tally.cases
        total.unclear += tally.unclear
        for verdict, n in tally.verdicts.items():
            total.verdicts[verdict] = total.verdicts.get(verdict, 0) + n
    result = {
        **total.summary(),
        "groups": {name: t.summary() for name, t in tallies.items()},
        "failures": [f"{n}/{f}" for n, t in tallies.items() for f in t.failures][:60],
        "unclear_cases": [f"{n}/{u}" for n, t in tallies.items() for u in t.unclear_names][:30],
        "quick": args.quick,
        "wall_s": round(time.monotonic() - started, 1),
        "work_dir": str(work),
    }
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        del result["work_dir"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
