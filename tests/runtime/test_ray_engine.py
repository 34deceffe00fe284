"""runtime.engine: ray on a real local Ray (2 CPUs) and the twin: N actors, one learner, restarts.

One Ray session serves the whole module (starting Ray takes seconds). The multi-node path
(``ray.cluster_utils.Cluster``, two nodes on this machine) is in test_ray_cluster.py: it needs
its own Ray session.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from robot_rl.app.launch import train  # noqa: E402
from robot_rl.app.learner_main import online_stores  # noqa: E402
from robot_rl.config import from_dict  # noqa: E402
from robot_rl.data.episode_store import EpisodeStore  # noqa: E402
from robot_rl.run_config import RunConfig  # noqa: E402
from tests.tiny_run import tiny_run  # noqa: E402


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """A local Ray with 2 CPUs for the module."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def ray_config(tmp_path: Path, *, num_actors: int = 2, **train: Any) -> RunConfig:
    train = {"env_steps": 240, "checkpoint_every": 30, "max_steps_ahead": 40, **train}
    runtime = {"engine": "ray", "num_actors": num_actors, "ray_actor_cpus": 0.5}
    return from_dict(RunConfig, tiny_run(tmp_path, "ray", train=train, runtime=runtime))


def stored(run_dir: Path) -> dict[str, list[Any]]:
    """Every committed episode of each actor's store (read back in full)."""
    out = {}
    for path in online_stores(run_dir):
        store = EpisodeStore.open(path)
        out[path.name] = [store.read_episode(i) for i in store.episode_ids()]
    return out


def test_two_actors_feed_one_learner_with_whole_episodes(tmp_path: Path, ray_session: None) -> None:
    result = train(ray_config(tmp_path), progress=False)
    run_dir = Path(result["run_dir"])
    episodes = stored(run_dir)
    assert sorted(episodes) == ["actor-00", "actor-01"]  # one store per actor
    transitions = sum(len(e) for eps in episodes.values() for e in eps)
    assert result["env_steps"] == 240  # each actor's share, counted by the actor
    # Committed: all but each actor's last, unfinished episode (discarded, < 20 steps).
    assert 240 - 2 * 20 < transitions <= 240
    # Whole episodes in batches, never interleaved: the learner took every committed step
    # and had to drop none (interleaved episodes would be dropped as out of order).
    assert result["learner_steps_received"] == transitions
    assert result["learner_dropped_steps"] == 0
    assert result["learner_updates"] > 0
    # Weights reached both actors through the object store, as versioned pushes.
    for actor in result["actors"]:
        assert actor["weights_version"] >= 2, actor
        assert actor["transport"]["send_dropped"] == 0
    # Own seeds: the two actors' first scenes differ.
    first = [episodes[name][0].observations["state"][0] for name in ("actor-00", "actor-01")]
    assert not np.allclose(first[0], first[1])
    assert (run_dir / "policy.safetensors").is_file()
    assert json.loads((run_dir / "result.json").read_text())["actor_restarts"] == 0
    # The learner updates runtime.learner_nice levels below the actors' control loops.
    nice = RunConfig().runtime.learner_nice
    assert nice > 0
    assert [min(19, a["nice"] + nice) for a in result["actors"]] == [result["learner_nice"]] * 2


def _find_actor(name: str) -> Any:
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["name"] == name and entry["namespace"].startswith("robot_rl-"):
            return ray.get_actor(name, namespace=entry["namespace"])
    return None


def _kill_when(name: str, ready: Any, killed: list[dict[str, Any]], run_dir_of: Any) -> None:
    """Kill Ray actor ``name``'s process (SIGKILL) once ``ready(progress)``; note what was
    committed just before."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        handle = _find_actor(name)
        if handle is not None:
            try:
                progress = ray.get(handle.progress.remote(), timeout=10)
                if ready(progress):
                    pid = ray.get(handle.pid.remote(), timeout=10)
                    killed.append({"progress": progress, "stored": run_dir_of()})
                    os.kill(pid, signal.SIGKILL)
                    return
            except Exception:  # not constructed yet
                pass
        time.sleep(0.05)


def test_killed_actor_is_restarted_and_loses_no_committed_episode(
    tmp_path: Path, ray_session: None
) -> None:
    config = ray_config(tmp_path, env_steps=300)

    def committed() -> dict[str, int]:
        runs = list(tmp_path.glob("ray-*"))
        if not runs:
            return {}
        return {p.name: len(EpisodeStore.open(p).episode_ids()) for p in online_stores(runs[0])}

    killed: list[dict[str, Any]] = []
    # Mid-episode: at least one committed episode and a few steps into the next.
    killer = threading.Thread(
        target=_kill_when,
        args=(
            "actor-01",
            lambda p: p["episodes"] >= 2 and 3 <= p["open_t"] <= 15,
            killed,
            committed,
        ),
        daemon=True,
    )
    killer.start()
    result = train(config, progress=False)
    killer.join(timeout=5)
    assert killed, "the actor was never killed"
    run_dir = Path(result["run_dir"])
    assert result["actor_restarts"] == 1
    assert [a["restarted"] for a in result["actors"]] == [False, True]
    episodes = stored(run_dir)  # every committed episode reads back in full
    before = killed[0]["stored"]["actor-01"]
    assert len(episodes["actor-01"]) >= before + 1  # nothing committed was lost, and it went on
    # The run still got its whole budget; what is committed lacks only the unfinished
    # episodes (the killed one and each actor's last), each shorter than 20 steps.
    assert result["env_steps"] == 300
    transitions = sum(len(e) for eps in episodes.values() for e in eps)
    assert 300 - 3 * 20 < transitions <= 300
    assert not list((run_dir / "episodes" / "actor-01").rglob(".tmp-*"))
    assert result["learner_dropped_steps"] == 0
    assert result["learner_restarts"] == 0


@pytest.mark.slow
def test_killed_learner_is_restored_from_its_checkpoint(tmp_path: Path, ray_session: None) -> None:
    config = ray_config(tmp_path, env_steps=600, checkpoint_every=20)
    killed: list[dict[str, Any]] = []

    def checkpoints() -> list[str]:
        runs = list(tmp_path.glob("ray-*"))
        return sorted(p.name for p in (runs[0] / "checkpoints").glob("*")) if runs else []

    killer = threading.Thread(
        target=_kill_when,
        args=("learner", lambda p: p["updates"] >= 60, killed, checkpoints),
        daemon=True,
    )
    killer.start()
    result = train(config, progress=False)
    killer.join(timeout=5)
    assert killed, "the learner was never killed"
    assert killed[0]["stored"], "no checkpoint before the kill"
    assert result["learner_restarts"] == 1
    assert result["learner_restored"] is True
    assert result["env_steps"] == 600
    # Restored, not restarted from scratch: updates continue past the checkpoint's count.
    assert result["learner_updates"] > killed[0]["progress"]["updates"] - 20
    log = (Path(result["run_dir"]) / "metrics" / "learner.jsonl").read_text()
    assert log


def test_ray_settings_are_checked_on_load(tmp_path: Path) -> None:
    from robot_rl.config import ConfigError, load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("runtime:\n  num_actors: 2\n")
    with pytest.raises(ConfigError, match=r"runtime.*num_actors > 1 needs engine: ray"):
        load_yaml(RunConfig, path)
    with pytest.raises(ConfigError, match=r"runtime.ray_actor_cpus: must be > 0, got 0"):
        load_yaml(RunConfig, path, overrides=["runtime.engine=ray", "runtime.ray_actor_cpus=0"])
    config = load_yaml(RunConfig, path, overrides=["runtime.engine=ray"])
    assert config.runtime.num_actors == 2
