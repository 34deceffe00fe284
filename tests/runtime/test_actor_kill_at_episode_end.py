"""kill -9 of the actor right at an episode boundary: no episode it counted is lost.

The actor writes episodes on a background thread (a commit takes tens of milliseconds); an
episode counted finished while still queued was lost by a kill right after its end, and a
resumed run (which counts the store) then went on from fewer episodes than were reported.
A real actor process on the twin, a real store: the test kills it the moment it reports a
new episode, then resumes it on the same store.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from robot_rl.data.episode_store import EpisodeStore

pytestmark = pytest.mark.twin

# The actor process: twin, random actions (no learner), the episode writer of every runtime;
# it prints ``episodes`` after every step, as the ROS status and the progress bar report it.
ACTOR = """
import sys
from pathlib import Path
from robot_rl.app.build import env_spec, make_env, make_policy
from robot_rl.config import from_dict
from robot_rl.data.async_writer import BackgroundEpisodeWriter
from robot_rl.data.episode_store import EpisodeStore
from robot_rl.run_config import RunConfig
from robot_rl.runtime.actor import Actor
from robot_rl.runtime.resume import stored_progress
from robot_rl.runtime.transport import InProcessTransport

path, resume = Path(sys.argv[1]), sys.argv[2] == "resume"
config = from_dict(RunConfig, {"env": {"obs_mode": "state", "max_episode_steps": 20}})
env = make_env(config, seed=0)
spec, action_dim = env_spec(env)
episodes, steps = stored_progress(path) if resume else (0, 0)
store = EpisodeStore.create(path, obs_spec=spec, action_dim=action_dim, exist_ok=resume)
if resume:
    store.cleanup_incomplete(min_age_s=0.0)
transport, _learner = InProcessTransport.pair()
actor = Actor(env, make_policy(config, spec, action_dim), transport, config_hash="kill",
              seed=episodes, store=BackgroundEpisodeWriter(store))
actor.stats.env_steps, actor.stats.episodes = steps, episodes
actor.run(10**9, progress=lambda stats: print(stats.episodes, flush=True))
"""


def run_until(path: Path, mode: str, episodes: int) -> tuple[int, int]:
    """Start the actor; SIGKILL it as soon as it reports ``episodes`` or more.

    Returns (the first count it reported, the count it reported when killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ACTOR, str(path), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = reported = -1
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            reported = int(line)
            first = reported if first < 0 else first
            if reported >= episodes:
                proc.send_signal(signal.SIGKILL)  # right after the episode's end
                break
    finally:
        proc.kill()
        _out, err = proc.communicate(timeout=60)
    assert reported >= episodes, f"the actor ended before {episodes} episodes:\n{err}"
    return first, reported


def test_actor_killed_right_after_an_episode_end_keeps_it_and_resumes_from_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "episodes"
    stored = 0
    for kill in range(3):  # three boundaries, two resumes: a lucky commit does not pass
        first, reported = run_until(path, "resume" if kill else "fresh", stored + 1)
        assert first == stored, f"started at {first} episodes, the store holds {stored}"
        store = EpisodeStore.open(path)
        ids = store.episode_ids()
        assert len(ids) >= reported, f"{reported} episodes reported finished, {len(ids)} stored"
        assert ids == list(range(len(ids))) and all(len(store.read_episode(i)) for i in ids)
        stored = len(ids)
