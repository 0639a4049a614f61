"""Waiting for a condition instead of sleeping: one helper for threads and processes, one
for a Textual pilot."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition",
               *, step: Callable[[], object] = lambda: None,
               show: Callable[[], object] = lambda: None, interval: float = 0.02) -> T:
    """Run ``step`` (e.g. a run sync), then test ``condition``, every ``interval`` seconds
    until it is truthy; returns its value. The failure names what was awaited, the last
    step's result and ``show()``."""
    deadline = time.monotonic() + timeout
    while True:
        last = step()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; "
                                 f"last step: {last!r}; {show()!r}")
        time.sleep(interval)


async def pilot_until(pilot: Any, condition: Callable[[], object], timeout: float = 5.0) -> float:
    """Let the app run until ``condition()`` holds (a key press and a dismissal take a few
    message round trips); returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout:g} s")
        await pilot.pause(0.01)
    return time.monotonic() - start
