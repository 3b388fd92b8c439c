"""The I/O worker a memory provider shares between its managers: one loop, ordered writes.

A provider owns one ``MemoryWorker``, a ``LoopThread`` that runs all of the provider's I/O, so
ten thousand sessions never mean ten thousand threads. Each manager gets a ``WriteQueue``; its
writes run one at a time in the order they were queued (one session's writes never reorder),
each retried with backoff and then dropped with an ERROR naming the scope. Reads awaited on
another event loop (the agent runtime's) run here and are awaited there through
``asyncio.wrap_future``, so neither loop blocks. Blocking client calls run inline on the loop
thread when they are fast and local (SQLite), or in the worker's own small thread pool when they
wait on a network (Honcho). Nothing here raises into the thread that queued a write.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from hermes.eventloop import LoopThread
from hermes.messages.address import AddressClosedError

logger = logging.getLogger(__name__)

T = TypeVar("T")

Job = Callable[[], None]
"""One blocking write; it raises on failure and may be called again to retry."""

_BEARER: Final = re.compile(r"(?i)bearer\s+\S+")
_MAX_ERROR_TEXT: Final = 300
_STOP_GRACE_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a failing write is retried before it is dropped."""

    backoff: tuple[float, ...] = (0.5, 1.0, 2.0)
    """Pauses before each retry, in seconds: a write is tried ``1 + len(backoff)`` times."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """How a ``MemoryWorker`` runs."""

    name: str
    """The loop thread's name, also used in log lines."""
    retry: RetryPolicy = RetryPolicy()
    threads: int = 0
    """Size of the pool for blocking calls; 0 runs them inline on the loop thread."""
    secrets: tuple[str, ...] = ()
    """Texts (API keys) that must never reach a log line or an error text."""


class WriteQueue:
    """One manager's pending writes; every field is touched only on the worker's loop."""

    __slots__ = ("jobs", "label", "running", "waiters")

    def __init__(self, label: str) -> None:
        """Prepare an empty queue whose log lines name ``label`` (the memory scope)."""
        self.label = label
        self.jobs: deque[tuple[str, Job]] = deque()
        self.running = False
        self.waiters: list[concurrent.futures.Future[bool]] = []


class MemoryWorker:
    """Runs a memory provider's I/O on one loop thread (module docstring)."""

    def __init__(self, settings: WorkerSettings) -> None:
        """Prepare the worker; nothing runs until ``start``."""
        self._settings = settings
        self._loop_thread = LoopThread(settings.name)
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(
                max_workers=settings.threads, thread_name_prefix=f"{settings.name}-io"
            )
            if settings.threads > 0
            else None
        )
        self._closed = False
        # Loop-owned: the running pump tasks, kept so they are not garbage-collected.
        self._pumps: set[asyncio.Task[None]] = set()
        # Calls running in the pool; done callbacks fire on pool threads, hence the lock.
        self._in_flight: set[concurrent.futures.Future[Any]] = set()
        self._in_flight_lock = threading.Lock()

    def start(self) -> None:
        """Start the loop thread."""
        self._loop_thread.start()

    @property
    def closed(self) -> bool:
        """True once ``close`` began: new writes and reads are refused."""
        return self._closed

    def enqueue(self, queue: WriteQueue, what: str, job: Job) -> None:
        """Queue ``job`` behind ``queue``'s earlier writes; returns at once, never raises."""
        queued = False
        if not self._closed:
            try:
                self._loop_thread.call(self._push, queue, what, job)
                queued = True
            except AddressClosedError:
                pass
        if not queued:
            logger.error("memory %s for scope %r dropped: provider closed", what, queue.label)

    def enqueue_here(self, queue: WriteQueue, what: str, job: Job) -> None:
        """``enqueue`` from a job running on the worker's own loop: queued now, in call order.

        Raises:
            RuntimeError: called from another thread.
        """
        if not self._loop_thread.in_loop_thread():
            raise RuntimeError("MemoryWorker.enqueue_here runs on the worker's loop only")
        self._push(queue, what, job)

    def drain(self, queue: WriteQueue, timeout: float) -> bool:
        """Block until ``queue`` is empty and idle; False if that took longer than ``timeout``."""
        if self._loop_thread.in_loop_thread():
            raise RuntimeError("MemoryWorker.drain would deadlock on its own loop")
        idle: concurrent.futures.Future[bool] = concurrent.futures.Future()
        try:
            self._loop_thread.call(self._watch, queue, idle)
        except AddressClosedError:
            # The loop is gone, so nothing touches the queue any more.
            return not queue.jobs and not queue.running
        try:
            return idle.result(timeout)
        except TimeoutError:
            return False

    async def read(self, call: Callable[[], T]) -> T:
        """Run the blocking ``call`` on the worker and await its result on the caller's loop.

        Raises:
            AddressClosedError: the worker is closed.
        """
        if self._closed:
            raise AddressClosedError(f"{self._settings.name} is closed")
        future = self._loop_thread.submit(self._run(call))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Cancelled by the worker's loop stopping, not by the caller: the caller's turn
            # goes on, so it must see a failed read rather than its own cancellation.
            task = asyncio.current_task()
            if future.cancelled() and task is not None and not task.cancelling():
                raise AddressClosedError(f"{self._settings.name} stopped") from None
            raise

    def run(self, call: Callable[[], T], timeout: float) -> T:
        """Run the blocking ``call`` on the worker and wait for it (never from the worker)."""
        return self._loop_thread.run(self._run(call), timeout)

    def describe(self, error: BaseException) -> str:
        """A short text for ``error`` that is safe to log: no secret, no bearer token."""
        text = _BEARER.sub("Bearer ***", str(error))
        for secret in self._settings.secrets:
            if secret:
                text = text.replace(secret, "***")
        if len(text) > _MAX_ERROR_TEXT:
            text = text[:_MAX_ERROR_TEXT] + "..."
        return f"{type(error).__name__}: {text}" if text else type(error).__name__

    def close(self, timeout: float, release: Callable[[], None] | None = None) -> None:
        """Finish queued writes, stop the loop, ``release`` the clients; all within ``timeout``.

        ``release`` runs once nothing runs on the loop any more. A blocking call still running
        in the pool at the deadline is left to end by its own (HTTP) timeout: it is logged,
        and closing does not wait for it.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        if self._loop_thread.is_alive():
            try:
                self._loop_thread.run(self._finish_all(), timeout)
            except TimeoutError:
                logger.warning(
                    "%s: queued memory writes did not finish within %.1f s; dropping them",
                    self._settings.name,
                    timeout,
                )
            self._loop_thread.stop(_remaining(deadline) + _STOP_GRACE_SECONDS)
        if release is not None:
            release()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            with self._in_flight_lock:
                running = set(self._in_flight)
            _, unfinished = concurrent.futures.wait(running, _remaining(deadline))
            if unfinished:
                logger.warning(
                    "%s: %d call(s) still running at close; they end with their own timeout",
                    self._settings.name,
                    len(unfinished),
                )

    async def _run(self, call: Callable[[], T]) -> T:
        if self._executor is None:
            return call()
        future = self._executor.submit(call)
        with self._in_flight_lock:
            self._in_flight.add(future)
        future.add_done_callback(self._forget)
        return await asyncio.wrap_future(future)

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._in_flight_lock:
            self._in_flight.discard(future)

    def _push(self, queue: WriteQueue, what: str, job: Job) -> None:
        queue.jobs.append((what, job))
        if not queue.running:
            queue.running = True
            pump = asyncio.get_running_loop().create_task(self._pump(queue))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    def _watch(self, queue: WriteQueue, idle: concurrent.futures.Future[bool]) -> None:
        if queue.running or queue.jobs:
            queue.waiters.append(idle)
        else:
            idle.set_result(True)

    async def _pump(self, queue: WriteQueue) -> None:
        finished = False
        try:
            while queue.jobs:
                what, job = queue.jobs.popleft()
                await self._attempt(queue.label, what, job)
            finished = True
        finally:
            # Cancelled only when the loop stops: the waiters learn the queue did not empty.
            queue.running = False
            waiters, queue.waiters = queue.waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(finished)

    async def _attempt(self, label: str, what: str, job: Job) -> None:
        backoff = self._settings.retry.backoff
        for attempt in range(len(backoff) + 1):
            error = await self._try(job)
            if error is None:
                return
            if attempt == len(backoff):
                logger.error(
                    "memory %s for scope %r dropped after %d attempts: %s",
                    what,
                    label,
                    attempt + 1,
                    self.describe(error),
                )
                return
            logger.warning(
                "memory %s for scope %r failed (attempt %d), retrying in %.2f s: %s",
                what,
                label,
                attempt + 1,
                backoff[attempt],
                self.describe(error),
            )
            await asyncio.sleep(backoff[attempt])

    async def _try(self, job: Job) -> Exception | None:
        try:
            await self._run(job)
        # One write's failure, whatever the client raised, must stay inside the worker: it
        # is retried and logged (without a traceback, which could quote a secret).
        except Exception as error:  # noqa: BLE001
            return error
        return None

    async def _finish_all(self) -> None:
        while self._pumps:
            await asyncio.gather(*self._pumps, return_exceptions=True)


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)
