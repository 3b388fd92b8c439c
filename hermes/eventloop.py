"""An asyncio event loop on a thread of its own, and an ``Address`` whose mailbox is that loop.

Platform adapters, the AgentRuntime and the Scheduler own one ``LoopThread`` each. Messages told
to a ``LoopAddress`` run their handler on the loop thread, one at a time in arrival order, so
the owner's state needs no lock; a handler must never block (no pykka ``ask``/``get`` on the
loop). This is one thread hop where a pykka actor forwarding to a loop would be two.

Waking a loop from another thread is a system call (asyncio writes to its self-pipe), and the
caller gives up the GIL for it: under load, one per message made every teller wait its turn
for the GIL again. So ``call`` gathers messages in an inbox and wakes the loop only for the
first one of a batch; the loop runs the whole batch in one callback, in arrival order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Final, Generic, TypeVar

from hermes.messages.address import AddressClosedError

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS: Final = 2.0
"""At stop, how long the loop's cancelled tasks get to end before the thread gives up on them."""

M = TypeVar("M")
T = TypeVar("T")


class LoopThread:
    """Runs one asyncio event loop on a dedicated (non-daemon) thread."""

    def __init__(self, name: str) -> None:
        """Prepare a loop thread called ``name``; nothing runs until ``start``."""
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._log_exception)
        self._thread = threading.Thread(target=self._run, name=name)
        self._ready = threading.Event()
        self._inbox: deque[tuple[Callable[..., object], tuple[object, ...]]] = deque()
        self._inbox_lock = threading.Lock()
        self._drain_due = False
        """A ``_drain`` is scheduled on the loop: later calls join its batch."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (use only thread-safe methods from other threads)."""
        return self._loop

    def start(self) -> None:
        """Start the thread and return once its loop runs."""
        self._thread.start()
        self._ready.wait()

    def is_alive(self) -> bool:
        """True while the loop thread runs."""
        return self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread."""
        return threading.current_thread() is self._thread

    def call(self, callback: Callable[..., object], *args: object) -> None:
        """Schedule ``callback(*args)`` on the loop, after every earlier ``call``; never blocks.

        Raises:
            AddressClosedError: the loop has stopped.
        """
        if self._loop.is_closed():
            raise AddressClosedError(f"{self.name} has stopped")
        with self._inbox_lock:
            self._inbox.append((callback, args))
            if self._drain_due:
                return  # the loop is woken already and will take this one too
            self._drain_due = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError as error:  # "Event loop is closed": nothing will run any more
            raise AddressClosedError(f"{self.name} has stopped") from error

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; the returned future resolves in any thread."""
        if self._loop.is_closed():
            coro.close()
            raise AddressClosedError(f"{self.name} has stopped")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for its result (never from the loop thread)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("LoopThread.run would deadlock on its own thread")
        return self.submit(coro).result(timeout)

    def stop(self, timeout: float) -> None:
        """Cancel the loop's remaining tasks, stop it and join the thread."""
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("%s did not stop within %.1f s", self.name, timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            while True:
                try:
                    self._loop.run_forever()
                except (SystemExit, KeyboardInterrupt):
                    # A callback raised it (asyncio lets these two out of the loop): it ends
                    # that callback, not the loop the rest of the gateway relies on.
                    logger.critical(
                        "%s: a callback raised SystemExit or KeyboardInterrupt; the loop goes on",
                        self.name,
                        exc_info=True,
                    )
                    continue
                break
        finally:
            self._shutdown_loop()

    def _drain(self) -> None:
        """Run every call gathered so far, in order (on the loop)."""
        with self._inbox_lock:
            batch, self._inbox = self._inbox, deque()
            self._drain_due = False
        while batch:
            callback, args = batch.popleft()
            try:
                callback(*args)
            except (SystemExit, KeyboardInterrupt):
                self._keep(batch)  # the rest still runs, once ``_run`` has logged this
                raise
            except BaseException as error:  # noqa: BLE001  (as asyncio's own callbacks: logged)
                self._loop.call_exception_handler(
                    {"message": f"Exception in callback {callback!r}", "exception": error}
                )

    def _keep(self, batch: deque[tuple[Callable[..., object], tuple[object, ...]]]) -> None:
        """Put ``batch`` back in front of the inbox and drain it next (on the loop)."""
        with self._inbox_lock:
            batch.extend(self._inbox)
            self._inbox = batch
            schedule = bool(batch) and not self._drain_due
            self._drain_due = self._drain_due or schedule
        if schedule:
            self._loop.call_soon(self._drain)

    def _shutdown_loop(self) -> None:
        tasks = [task for task in asyncio.all_tasks(self._loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task that ignores its cancellation must not keep the thread alive.
            done, pending = self._loop.run_until_complete(
                asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
            )
            del done
            if pending:
                names = ", ".join(sorted(task.get_name() for task in pending))
                logger.warning(
                    "%s: %d task(s) ignored cancellation: %s", self.name, len(pending), names
                )
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def _log_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        del loop
        error = context.get("exception")
        logger.error("unhandled error on %s: %s", self.name, context.get("message"), exc_info=error)


class LoopAddress(Generic[M]):
    """An ``Address`` whose messages are handled on a ``LoopThread``, in arrival order."""

    __slots__ = ("_handler", "_loop_thread")

    def __init__(self, loop_thread: LoopThread, handler: Callable[[M], None]) -> None:
        """Deliver every message told to this address to ``handler`` on ``loop_thread``."""
        self._loop_thread = loop_thread
        self._handler = handler

    def tell(self, message: M) -> None:
        """Queue ``message`` for the loop; never blocks.

        Raises:
            AddressClosedError: the loop has stopped.
        """
        self._loop_thread.call(self._handler, message)
