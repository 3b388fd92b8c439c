"""Fixtures shared by every test: no actor or thread outlives its test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pykka
import pytest

THREAD_GRACE_SECONDS = 5.0


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Stop every pykka actor after each test; fail if a non-daemon thread it started lives on."""
    before = set(threading.enumerate())
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=THREAD_GRACE_SECONDS)
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    leaked: list[threading.Thread] = []
    for thread in set(threading.enumerate()) - before:
        if thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            leaked.append(thread)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"
