"""Waiting for a condition that has no event of its own, always with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.01


def wait_until(probe: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Return ``probe()`` once it is truthy; fail after ``timeout`` seconds.

    For state that only a query can see (an actor's counters); it re-checks every 10 ms.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s (last: {value!r})")
        pause.wait(POLL_SECONDS)
