"""What the dashboard shows and changes, without the web stack (importable anywhere).

``DashboardFeed`` is fed by the actor (``on_step``, ``on_episode``) and read by the web app:
the latest JPEG per camera, the run's mode and counters, and the history behind the charts.
``LabellingSink`` sits between the actor and its episode store so that a person's
success/failure label lands in the episode's info (``EpisodeStore.set_episode_info``).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from robot_rl import keys
from robot_rl.data.episode import Episode
from robot_rl.hil import RunControls

HISTORY_LEN = 2000  # episodes kept for the charts
LABEL_KEY = "labelled_by"


@dataclass
class Frame:
    """One encoded camera frame."""

    seq: int
    captured_s: float
    """Wall-clock capture time (s since the epoch) so a browser on the host can time it."""
    jpeg: bytes


def encode_jpeg(image: np.ndarray, *, quality: int = 80) -> bytes:
    """(H, W, 3) uint8 -> JPEG bytes."""
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


class LabellingSink:
    """EpisodeSink wrapper: applies dashboard labels to the current or the last episode."""

    def __init__(self, sink: Any, store: Any) -> None:
        """``sink``: where the actor writes (an EpisodeStore or BackgroundEpisodeWriter);
        ``store``: the EpisodeStore behind it (labels go through its set_episode_info)."""
        self.sink = sink
        self.store = store
        self._lock = threading.Lock()
        self._pending: bool | None = None  # label for the episode still running
        self._last_id: int | None = None

    def label_current(self, success: bool) -> None:
        """Label the running episode; stored with it when it is written."""
        with self._lock:
            self._pending = success

    def write_episode(self, ep: Episode) -> int:
        """Write ``ep`` with a pending label applied to its info."""
        with self._lock:
            label, self._pending = self._pending, None
        if label is not None:
            ep.info[keys.SUCCESS] = label
            ep.info[LABEL_KEY] = "operator"
        episode_id = self.sink.write_episode(ep)
        with self._lock:
            self._last_id = episode_id if episode_id >= 0 else None
        return episode_id

    def raise_if_failed(self) -> None:
        """A failed background write (a full disk) raises here, before the next command."""
        self.sink.raise_if_failed()

    @property
    def written(self) -> int:
        """Episodes the wrapped sink has committed to disk."""
        return int(self.sink.written)

    def flush(self) -> None:
        """Wait until every episode written so far is on disk."""
        self.sink.flush()

    def label_last(self, success: bool) -> int:
        """Label the last written episode; returns its id. Raises LookupError when none."""
        with self._lock:
            episode_id = self._last_id
        if episode_id is None:
            flush = getattr(self.sink, "flush", None)
            if flush is not None:
                flush()  # a background writer assigns ids on its thread
            ids = self.store.episode_ids()
            if not ids:
                raise LookupError("no episode has been written yet")
            episode_id = ids[-1]
        self.store.set_episode_info(episode_id, **{keys.SUCCESS: success, LABEL_KEY: "operator"})
        return episode_id

    def close(self) -> None:
        """Close the wrapped sink when it has a close()."""
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()


class DashboardFeed:
    """Live state for the dashboard; thread-safe (actor thread writes, web thread reads)."""

    def __init__(
        self,
        controls: RunControls,
        *,
        labeller: LabellingSink | None = None,
        render: Callable[[], dict[str, np.ndarray]] | None = None,
        render_every: int = 1,
        jpeg_quality: int = 80,
        publish_obs_images: bool = True,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``render``: extra frames per step when the observation has none (state runs);
        ``publish_obs_images``: encode the observation's images on the caller's thread (off
        when a TwinCameraStream renders the cameras on a thread of its own)."""
        self.controls = controls
        self.labeller = labeller
        self.render = render
        self.render_every = max(1, render_every)
        self.jpeg_quality = jpeg_quality
        self.publish_obs_images = publish_obs_images
        self.wall_clock = wall_clock
        self.phase = "running"
        """What the run is doing: e.g. demos, training, evaluating, finished."""
        self.human_reset: Any = None
        """The run's HumanReset (``resets.mode: human``): its pending request is shown."""
        self.safety: Any = None
        """The run's SafetyLayer: its counters (held, events, e-stop) are shown live."""
        self._lock = threading.Lock()
        self._frames: dict[str, Frame] = {}
        self._frame_seq = 0
        self.env_steps = 0
        self.episode = 0
        self.episode_return = 0.0
        self.episode_steps = 0
        self.episode_interventions = 0
        self.last_success: bool | None = None
        self.last_intervened = False
        self.learner_updates = 0
        self.weights_version = 0
        self.eval_success_rate: float | None = None
        self.eval_env_steps = 0
        self.history: dict[str, list[float]] = {
            "episode": [],
            "success": [],
            "intervention_rate": [],
            "env_steps": [],
        }

    # -- producers ------------------------------------------------------------------------
    def publish_frame(self, camera: str, image: np.ndarray) -> None:
        """Encode and publish one camera frame (H, W, 3) uint8."""
        captured = self.wall_clock()
        jpeg = encode_jpeg(image, quality=self.jpeg_quality)
        with self._lock:
            self._frame_seq += 1
            self._frames[camera] = Frame(self._frame_seq, captured, jpeg)

    def on_step(self, next_obs: dict[str, np.ndarray], step: Any, stats: Any) -> None:
        """Actor callback after each env step."""
        if self.publish_obs_images:
            for key, value in next_obs.items():
                if keys.is_image_key(key):
                    self.publish_frame(keys.camera_of(key), value)
        if self.render is not None and stats.env_steps % self.render_every == 0:
            for camera, image in self.render().items():
                self.publish_frame(camera, image)
        with self._lock:
            self.env_steps = stats.env_steps
            self.episode = int(step.episode_id)
            self.episode_return = (0.0 if step.t == 0 else self.episode_return) + step.reward
            self.episode_steps = step.t + 1
            self.episode_interventions = (0 if step.t == 0 else self.episode_interventions) + int(
                step.intervened
            )
            self.last_intervened = bool(step.intervened)
            self.learner_updates = stats.learner_updates
            self.weights_version = stats.weights_version

    def on_episode(self, episode: Episode, stats: Any) -> None:
        """Actor callback after each finished episode (charts)."""
        rate = float(np.mean(episode.intervened)) if len(episode) else 0.0
        with self._lock:
            self.last_success = bool(episode.success)
            for name, value in (
                # finished so far: counted ones and those the store is still committing
                ("episode", float(stats.episodes + stats.episodes_writing)),
                ("success", float(episode.success)),
                ("intervention_rate", rate),
                ("env_steps", float(stats.env_steps)),
            ):
                series = self.history[name]
                series.append(value)
                del series[:-HISTORY_LEN]

    def record_eval(self, env_steps: int, success_rate: float) -> None:
        """The latest periodic evaluation (deterministic policy, separate twin)."""
        with self._lock:
            self.eval_env_steps, self.eval_success_rate = env_steps, float(success_rate)

    # -- readers --------------------------------------------------------------------------
    def frames(self) -> dict[str, Frame]:
        """The latest frame of every camera."""
        with self._lock:
            return dict(self._frames)

    def mode(self) -> str:
        """policy / human / reset / waiting for person / paused / e-stopped."""
        c = self.controls
        if c.estopped:
            return "e-stopped"
        if c.paused:
            return "paused"
        if self.human_reset is not None and self.human_reset.status()["pending"]:
            return "waiting for person"
        if c.reset_pending:
            return "reset"
        if c.takeover or self.last_intervened:
            return "human"
        return "policy"

    def status(self) -> dict[str, Any]:
        """The numbers of the status panel (JSON-ready)."""
        with self._lock:
            steps = max(self.episode_steps, 1)
            recent = self.history["success"][-20:]
            return {
                "mode": self.mode(),
                "phase": self.phase,
                "pause_reason": self.controls.pause_reason,
                "estopped": self.controls.estopped,
                "env_steps": self.env_steps,
                "episode": self.episode,
                "episode_return": self.episode_return,
                "last_success": self.last_success,
                "success_rate": float(np.mean(recent)) if recent else None,
                "intervention_rate": self.episode_interventions / steps,
                "learner_updates": self.learner_updates,
                "weights_version": self.weights_version,
                "eval_success_rate": self.eval_success_rate,
                "eval_env_steps": self.eval_env_steps,
                "cameras": sorted(self._frames),
                "human_reset": self.human_reset.status() if self.human_reset else None,
                "safety": self.safety.stats if self.safety is not None else None,
            }

    def press_continue(self) -> None:
        """The person reset the scene (dashboard's continue button)."""
        if self.human_reset is None:
            raise LookupError("this run has no human reset (resets.mode is not human)")
        self.human_reset.press_continue()

    def history_json(self) -> dict[str, list[float]]:
        """Chart series: per finished episode."""
        with self._lock:
            return {k: list(v) for k, v in self.history.items()}

    # -- controls -------------------------------------------------------------------------
    def label(self, which: str, success: bool) -> dict[str, Any]:
        """Mark the current or last episode a success/failure."""
        if self.labeller is None:
            raise LookupError("this run has no episode store to label")
        if which == "current":
            self.labeller.label_current(success)
            return {"episode": "current", "success": success}
        if which == "last":
            episode_id = self.labeller.label_last(success)
            with self._lock:  # the chart and panel show the person's verdict too
                self.last_success = success
                if self.history["success"]:
                    self.history["success"][-1] = float(success)
            return {"episode_id": episode_id, "success": success}
        raise ValueError(f"episode: expected 'current' or 'last', got {which!r}")
