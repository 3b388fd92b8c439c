"""Daemon threads for user code, whose results come back to the hook runner's event loop.

User code may hang for ever (a ``handler.py`` that blocks at import, a handler that never
returns). ``concurrent.futures`` workers are joined when the interpreter exits, so one hung hook
would hang the gateway's exit; these threads are daemons and are simply abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Final, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[], None]
_STOP: Final = None


class DaemonPool:
    """A fixed number of daemon worker threads taking jobs in arrival order.

    The caller bounds how many jobs run at once (the hook runner's slots), so a job never waits
    for a worker held by a job that overran: that job keeps its slot too.
    """

    def __init__(self, size: int, name: str) -> None:
        """Prepare ``size`` workers called ``name-N``; they start with the first job."""
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, job: Job) -> None:
        """Queue ``job`` for a worker; never blocks."""
        with self._lock:
            if not self._workers:
                for number in range(self._size):
                    worker = threading.Thread(
                        target=self._work, name=f"{self._name}-{number}", daemon=True
                    )
                    worker.start()
                    self._workers.append(worker)
        self._jobs.put(job)

    def shutdown(self) -> None:
        """Let idle workers end; a worker still running a job ends after it."""
        with self._lock:
            for _ in self._workers:
                self._jobs.put(_STOP)
            self._workers.clear()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            try:
                job()
            except Exception:
                logger.exception("a hook worker job failed")


def call_off_loop(
    loop: asyncio.AbstractEventLoop, work: Callable[[], T], start: Callable[[Job], None]
) -> asyncio.Future[T]:
    """Run ``work`` through ``start`` (off the loop); the future on ``loop`` gets its result.

    ``work`` must return rather than raise: wrap user code so that it returns its error.
    Call on the loop's thread.
    """
    future: asyncio.Future[T] = loop.create_future()

    def job() -> None:
        value = work()
        # A closed loop means the runner stopped and nobody waits for this result any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(partial(_settle, future, value))

    start(job)
    return future


def start_daemon_thread(name: str) -> Callable[[Job], None]:
    """A ``start`` for ``call_off_loop`` that runs each job on a new daemon thread."""

    def start(job: Job) -> None:
        threading.Thread(target=job, name=name, daemon=True).start()

    return start


def _settle(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)
