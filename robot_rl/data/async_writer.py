"""Write finished episodes on a background thread, off the control loop.

Committing an episode with two 128x128 cameras takes tens of milliseconds (compression,
fsync, rename); a 10 Hz control loop must not stall for it. Errors are re-raised on the
next call (or on close), so a full disk still stops the run loudly.
"""

from __future__ import annotations

import queue
import threading

from robot_rl.data.episode import Episode
from robot_rl.data.episode_store import EpisodeStore, EpisodeStoreError

_STOP = object()


class BackgroundEpisodeWriter:
    """Queue episodes for ``store.write_episode`` on one worker thread."""

    def __init__(self, store: EpisodeStore, *, max_pending: int = 16) -> None:
        self.store = store
        self.written = 0
        """Episodes committed (on disk, fsynced): counted after the store's commit returns,
        so a reader of this count never claims an episode that a kill -9 could still lose."""
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="episode-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:
                    assert isinstance(item, Episode)
                    self.store.write_episode(item)
                    self.written += 1
            except BaseException as err:  # kept and re-raised in the caller's thread
                self._error = err
            finally:
                self._queue.task_done()

    def raise_if_failed(self) -> None:
        """Raise the worker's error now (the actor checks every step, so a full disk stops
        the arm at once, not at the end of the next episode)."""
        if self._error is not None:
            err, self._error = self._error, None
            raise EpisodeStoreError(
                f"writing an episode to {self.store.path} failed: {err}"
            ) from err

    def write_episode(self, ep: Episode) -> int:
        """Queue ``ep``; blocks only when ``max_pending`` episodes are already waiting."""
        self.raise_if_failed()
        self._queue.put(ep)
        return -1

    def flush(self) -> None:
        """Wait until every queued episode is on disk."""
        self._queue.join()
        self.raise_if_failed()

    def close(self) -> None:
        """Flush and stop the worker thread."""
        self.flush()
        self._queue.put(_STOP)
        self._thread.join(timeout=30.0)
