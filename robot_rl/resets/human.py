"""Human reset: the actor pauses and a person resets the scene, then presses continue.

The dashboard (or a teleop button, or a ROS service) calls ``press_continue()``; the actor
blocks in ``wait_for_continue()`` with a deadline, so a person who walked away does not hang
the actor forever. ``status()`` is what the dashboard shows. Thread-safe by construction:
the only shared state is a ``threading.Event`` and a lock-guarded request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class HumanResetRequest:
    """A pending request for the person."""

    message: str
    """What the dashboard shows, e.g. "put the cube back in the start region"."""
    since: float
    """When it was made (s, on the controller's clock)."""


class HumanResetTimeout(TimeoutError):
    """Nobody pressed continue before the deadline."""


class HumanReset:
    """Ask a person to reset the scene and wait, with a deadline, for the continue button."""

    def __init__(
        self,
        *,
        timeout_s: float = 300.0,
        continue_event: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.continue_event = continue_event or threading.Event()
        self._clock = clock
        self._lock = threading.Lock()
        self._request: HumanResetRequest | None = None
        self.requests = 0
        self.timeouts = 0

    def request(self, message: str) -> None:
        """Ask for a reset: clears any earlier continue press and shows ``message``."""
        with self._lock:
            self.continue_event.clear()
            self._request = HumanResetRequest(message, self._clock())
            self.requests += 1

    def press_continue(self) -> None:
        """The person is done (dashboard button); wakes ``wait_for_continue``."""
        self.continue_event.set()

    def wait_for_continue(
        self,
        timeout_s: float | None = None,
        *,
        keep_going: Callable[[], bool] | None = None,
        poll_s: float = 0.05,
    ) -> bool:
        """Block until continue is pressed (True) or ``timeout_s`` (default: the config) passes
        (False). Clears the request either way.

        ``keep_going``: called every ``poll_s`` (s) while waiting, so the caller can take its
        messages and heartbeats; returning False gives up at once (False, not counted as a
        timeout: e.g. the run was asked to stop).
        """
        limit = self.timeout_s if timeout_s is None else timeout_s
        if keep_going is None:
            pressed, abandoned = self.continue_event.wait(limit), False
        else:
            pressed, abandoned = self._poll(limit, keep_going, poll_s)
        with self._lock:
            self._request = None
            if pressed:
                self.continue_event.clear()
            elif not abandoned:
                self.timeouts += 1
        return pressed

    def _poll(
        self, limit_s: float, keep_going: Callable[[], bool], poll_s: float
    ) -> tuple[bool, bool]:
        """(pressed, abandoned) of a wait of at most ``limit_s`` (s) checking ``keep_going``."""
        deadline = self._clock() + limit_s
        while True:
            remaining = deadline - self._clock()
            if self.continue_event.wait(max(0.0, min(poll_s, remaining))):
                return True, False
            if not keep_going():
                return False, True
            if remaining <= poll_s:
                return False, False

    def status(self) -> dict[str, str | float | bool]:
        """For the dashboard: ``pending``, ``message``, ``waiting_s`` (s)."""
        with self._lock:
            req = self._request
        if req is None:
            return {"pending": False, "message": "", "waiting_s": 0.0}
        return {"pending": True, "message": req.message, "waiting_s": self._clock() - req.since}


__all__ = ["HumanReset", "HumanResetRequest", "HumanResetTimeout"]
