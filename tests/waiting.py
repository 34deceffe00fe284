"""Polling with a deadline, shared by the tests that wait for another thread or process.

A test that waits polls the condition it needs instead of sleeping a fixed time and hoping:
on a loaded 2-core machine a fixed sleep is too short, on a fast one it is time wasted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], object],
    timeout_s: float = 20.0,
    *,
    what: str = "",
    poll_s: float = 0.05,
) -> float:
    """Poll ``predicate`` until it is truthy; returns the seconds it took. AssertionError
    naming ``what`` (or the predicate) when ``timeout_s`` passes first."""
    start = time.monotonic()
    deadline = start + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what or predicate}")
        time.sleep(poll_s)
    return time.monotonic() - start


def steady(
    read: Callable[[], T], *, for_s: float, timeout_s: float = 20.0, poll_s: float = 0.05
) -> T:
    """Poll ``read`` until it returns one value for ``for_s`` seconds; returns that value.

    What "nothing moves any more" is tested with: a fixed sleep then an exact equality fails
    when the last change (a step under way, a frame in flight) lands after the sleep; this
    waits for the change to land. AssertionError when the value still changes after
    ``timeout_s``."""
    start = time.monotonic()
    value, since = read(), start
    while True:
        time.sleep(poll_s)
        now, new = time.monotonic(), read()
        if new != value:
            value, since = new, now
        elif now - since >= for_s:
            return value
        if now - start > timeout_s:
            raise AssertionError(f"still changing after {timeout_s:g} s (last value {value!r})")
