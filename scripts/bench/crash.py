"""Crash test on the twin: SIGKILL the actor or the learner at seeded random moments.

Starts ``robot-rl train`` (the CLI, in its own process group) on a small state-observation SAC
run, then, ``--kills`` times, waits a seeded random delay and SIGKILLs either the actor (the CLI
process) or the learner child (pid from RUN_DIR/learner.json). After each kill:

* ``verify_store`` reads back every committed episode of RUN_DIR/episodes and RUN_DIR/demos;
  an episode id listed before the kill that is missing or unreadable afterwards is lost;
* after an actor kill, the run is continued with ``robot-rl train --resume RUN_DIR`` (the
  orphaned learner exits by itself once its parent is gone); a resume counts as a success when
  a checkpoint newer than any before the kill appears and the actor commits a new episode;
* after a learner kill, the supervisor in the CLI restarts the learner by itself; training
  continued when a newer checkpoint (more learner updates) appears.

    .venv/bin/python scripts/bench/crash.py --kills 8 --seed 0

Prints human lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROBOT_RL = [sys.executable, "-m", "robot_rl.cli"]


def run_config(runs_dir: Path, episode_steps: int) -> dict[str, Any]:
    return {
        "name": "crash",
        "runs_dir": str(runs_dir),
        "seed": 0,
        "env": {"obs_mode": "state", "max_episode_steps": episode_steps},
        "sac": {"critic_ensemble_size": 2, "utd_ratio": 1, "batch_size": 16,
                "hidden_dims": [32, 32]},
        "demos": {"num_episodes": 2},
        "train": {"env_steps": 10_000_000, "learning_starts": 20, "weights_push_every": 10,
                  "checkpoint_every": 30, "eval_every": 0, "final_eval_episodes": 1,
                  "max_steps_ahead": 20, "video": False},
        "runtime": {"transport": "zmq", "heartbeat_timeout_s": 3.0, "torch_threads": 1},
    }  # fmt: skip


def start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [*ROBOT_RL, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group (the learner child joins it)
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def learner_pid(run: Path) -> int | None:
    try:
        return int(json.loads((run / "learner.json").read_text())["pid"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, ValueError):
        return None


def newest_checkpoint_updates(run: Path) -> int:
    from robot_rl.runtime.checkpoint import list_checkpoints

    ckpts = list_checkpoints(run / "checkpoints") if (run / "checkpoints").exists() else []
    return int(ckpts[-1].stem.split("_")[1]) if ckpts else -1


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as dead
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def committed(store: Path) -> set[int]:
    from robot_rl.data.episode_store import EpisodeStore

    if not (store / "zarr.json").exists():
        return set()
    return set(EpisodeStore.open(store).episode_ids())


def readable(store: Path) -> tuple[set[int], dict[str, Any]]:
    """Ids of episodes that read back in full, and the verify_store report."""
    from robot_rl.data.store_tools import verify_store

    if not (store / "zarr.json").exists():
        return set(), {"episodes": 0, "ok": 0, "damaged": [], "incomplete": []}
    report = verify_store(store)
    damaged = {int(d["episode"]) for d in report["damaged"]}
    from robot_rl.data.episode_store import EpisodeStore

    return set(EpisodeStore.open(store).episode_ids()) - damaged, report


def wait_for(predicate: Any, timeout_s: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(predicate())
        time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-delay", type=float, default=1.0, help="s after the run is up")
    parser.add_argument("--max-delay", type=float, default=6.0)
    parser.add_argument("--learner-share", type=float, default=0.5, help="P(kill the learner)")
    parser.add_argument("--episode-steps", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=90.0, help="s to wait for progress")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    parent = Path(tempfile.mkdtemp(prefix="crash-bench-"))
    run = parent / "run"
    config_path = parent / "crash.yaml"
    config_path.write_text(json.dumps(run_config(parent, args.episode_steps)))  # JSON is YAML
    log = parent / "cli.log"
    stores = {"episodes": run / "episodes", "demos": run / "demos"}

    kills: list[dict[str, Any]] = []
    resumes_attempted = resumes_ok = learner_kills = learner_continued = 0
    episodes_lost = 0
    started = time.monotonic()
    proc = start(["train", str(config_path), "--run-dir", str(run), "--quiet"], log)
    try:
        for k in range(args.kills):
            # The run is up: a learner serving and at least one checkpoint of this incarnation.
            floor = newest_checkpoint_updates(run)
            up = wait_for(
                lambda f=floor: learner_pid(run) is not None and newest_checkpoint_updates(run) > f,
                args.timeout,
                proc,
            )
            if not up or proc.poll() is not None:
                print(f"run did not come up (cli exit code {proc.poll()}); see {log}")
                kills.append({"kill": k, "error": "run did not come up", "exit": proc.poll()})
                break
            time.sleep(float(rng.uniform(args.min_delay, args.max_delay)))
            target = "learner" if rng.random() < args.learner_share else "actor"
            before = {name: committed(path) for name, path in stores.items()}
            updates_before = newest_checkpoint_updates(run)
            lpid = learner_pid(run)
            record: dict[str, Any] = {
                "kill": k,
                "target": target,
                "t_s": round(time.monotonic() - started, 1),
                "episodes_before": len(before["episodes"]),
                "checkpoint_updates_before": updates_before,
            }
            if target == "learner" and lpid is not None:
                os.kill(lpid, signal.SIGKILL)
                learner_kills += 1
                continued = wait_for(
                    lambda old=lpid, u=updates_before: (
                        learner_pid(run) not in (None, old) and newest_checkpoint_updates(run) > u
                    ),
                    args.timeout,
                    proc,
                )
                learner_continued += int(continued)
                record["training_continued"] = continued
            else:
                record["target"] = "actor"
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                # The orphaned learner notices its parent is gone and exits.
                if lpid is not None and not wait_for(lambda p=lpid: not pid_alive(p), 30.0):
                    os.kill(lpid, signal.SIGKILL)
                    record["orphan_learner_killed"] = True
                # Its last act is a final checkpoint: progress counts from there, not before.
                updates_before = newest_checkpoint_updates(run)
                record["checkpoint_updates_after_orphan_exit"] = updates_before
            lost = 0
            for name, path in stores.items():
                ok, report = readable(path)
                missing = before[name] - ok
                lost += len(missing)
                record[f"{name}_after"] = report["ok"]
                record[f"{name}_damaged"] = report["damaged"]
                record[f"{name}_incomplete"] = len(report["incomplete"])
                if missing:
                    record[f"{name}_lost"] = sorted(missing)
            episodes_lost += lost
            if target == "actor":
                resumes_attempted += 1
                proc = start(["train", "--resume", str(run), "--quiet"], log)
                # Both sides go on: a newer checkpoint (the learner) and a newly committed
                # episode (the actor). The learner alone can checkpoint while it catches up on
                # stored steps, so a checkpoint is no proof that the actor acts again. Catching
                # up on steps the actor ran while a learner was down may take a while (pacing).
                episodes_at_resume = committed(stores["episodes"])
                resumed = wait_for(
                    lambda u=updates_before, e=episodes_at_resume: (
                        newest_checkpoint_updates(run) > u
                        and bool(committed(stores["episodes"]) - e)
                    ),
                    2 * args.timeout,
                    proc,
                )
                resumes_ok += int(resumed)
                record["resumed"] = resumed
            print(
                f"kill {k}: {record['target']:7s} at {record['t_s']:6.1f} s, "
                f"episodes {record['episodes_before']} -> {record['episodes_after']}, "
                f"lost {lost}, "
                + (
                    f"resumed {record['resumed']}"
                    if target == "actor"
                    else f"learner restarted and trained on: {record['training_continued']}"
                ),
                flush=True,
            )
            kills.append(record)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        lpid = learner_pid(run)
        if lpid is not None and pid_alive(lpid):
            wait_for(lambda: not pid_alive(lpid), 15.0)

    final = {name: readable(path)[1] for name, path in stores.items()}
    result = {
        "kills": len([r for r in kills if "target" in r]),
        "episodes_lost": episodes_lost,
        "resume_success_rate": resumes_ok / resumes_attempted if resumes_attempted else None,
        "resumes_attempted": resumes_attempted,
        "learner_kills": learner_kills,
        "learner_restart_continued_rate": (
            learner_continued / learner_kills if learner_kills else None
        ),
        "final_episodes": final["episodes"]["ok"],
        "final_damaged": len(final["episodes"]["damaged"]) + len(final["demos"]["damaged"]),
        "final_checkpoint_updates": newest_checkpoint_updates(run),
        "wall_s": round(time.monotonic() - started, 1),
        "seed": args.seed,
        "details": kills,
    }
    if args.keep:
        result["run_dir"] = str(run)
    else:
        shutil.rmtree(parent, ignore_errors=True)
    print(json.dumps(result))
    return 0 if episodes_lost == 0 and resumes_ok == resumes_attempted else 1


if __name__ == "__main__":
    raise SystemExit(main())
