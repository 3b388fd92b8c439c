"""The hook runner: calls user hooks for the events actors tell it, off every actor's thread.

It is the ``Address[HookEvent]`` that sessions and the System tell; ``tell`` never blocks and
never raises. One daemon thread runs an asyncio loop that loads the hooks (``loader``), then
hands every event to the ``Dispatcher``, which calls the hooks that want it, each call bounded
by the timeout. A failing or slow hook is logged with its name and the event's, never the
payload (user text), and changes nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from enum import Enum
from pathlib import Path
from typing import Final

from hermes.adapters.hooks.calls import HookRunnerStatus, HookState, HookStatus, Ledger
from hermes.adapters.hooks.dispatch import Dispatcher
from hermes.adapters.hooks.loader import SkippedHook, forget_modules, load_hooks
from hermes.messages.hooks import HookEvent

__all__ = ["HookRunner", "HookRunnerStatus", "HookStatus", "SkippedHook"]

logger = logging.getLogger(__name__)

_JOIN_FLOOR_SECONDS: Final = 0.1
"""Stopping always gives the loop thread this long to end, even past the caller's deadline."""


class _Phase(Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class HookRunner:
    """Runs the user hooks in ``hooks_dir`` for the ``HookEvent``s told to it.

    Accepts: ``HookEvent`` (``tell``, from any thread; an ``Address[HookEvent]``).
    Emits: nothing; it calls user code and logs what became of each call.
    Owns: the loaded hooks, their queues and counters, a loop thread and a worker pool.
    Lifecycle: ``start`` (the hooks load on its thread), ``stop`` (drains, then ends).
    """

    def __init__(
        self, hooks_dir: Path, timeout: float, max_concurrent: int = 4, max_queued: int = 1000
    ) -> None:
        """Prepare a runner for ``hooks_dir``; nothing runs until ``start``.

        Args:
            hooks_dir: ``$HERMES_HOME/hooks``; one hook per directory in it (it may not exist).
            timeout: seconds a handler may run, and a hook may take to load.
            max_concurrent: calls that may run at once, across all hooks.
            max_queued: events and calls that may wait; more events are dropped.

        Raises:
            ValueError: ``timeout`` is not above zero, or a limit is below one.
        """
        if not timeout > 0 or max_concurrent < 1 or max_queued < 1:
            raise ValueError("timeout must be > 0, max_concurrent and max_queued >= 1")
        self._hooks_dir = hooks_dir
        self._timeout = timeout
        self._max_queued = max_queued
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="hermes-hooks", daemon=True)
        self._stopping = asyncio.Event()
        self._ledger = Ledger()
        self._phase = _Phase.NEW  # under the ledger's lock
        self._overflowing = False  # under the ledger's lock
        self._dispatcher = Dispatcher(self._ledger, timeout, max_concurrent)
        self._early: deque[HookEvent] = deque()
        """Events that arrived on the loop before the hooks were loaded."""

    def start(self) -> None:
        """Start the loop thread, which loads the hooks; returns at once.

        Raises:
            RuntimeError: the runner was started or stopped before.
        """
        with self._ledger.lock:
            if self._phase is not _Phase.NEW:
                raise RuntimeError("a HookRunner starts only once")
            self._phase = _Phase.RUNNING
        self._thread.start()

    def tell(self, event: HookEvent) -> None:
        """Queue ``event`` for the hooks; never blocks, never raises.

        Events told before the hooks are loaded (or before ``start``) are dispatched, in order,
        once they are. Past ``max_queued`` waiting events and calls, ``event`` is dropped
        (counted, and logged once per run of drops). After ``stop`` it is dropped silently.
        """
        ledger = self._ledger
        with ledger.lock:
            if self._phase is _Phase.STOPPED:
                logger.debug("hooks: stopped, so %s is dropped", event.name)
                return
            if ledger.backlog < self._max_queued:
                try:
                    self._loop.call_soon_threadsafe(self._accept, event)
                except RuntimeError:  # the loop thread died (logged when it did)
                    logger.debug("hooks: the loop has closed, so %s is dropped", event.name)
                    return
                ledger.backlog += 1
                self._overflowing = False
                return
            ledger.dropped += 1
            first_of_a_run, self._overflowing = not self._overflowing, True
        if first_of_a_run:
            logger.warning(
                "hooks: %d events and calls wait already; dropping %s and the next ones "
                "until they drain (the status counts them)",
                self._max_queued,
                event.name,
            )

    def status(self) -> HookRunnerStatus:
        """A snapshot: the loaded hooks and their counters, the skipped ones, the drops."""
        return self._ledger.status()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the hooks are loaded and no event or call waits or runs.

        Calls abandoned at their timeout do not count. Returns False after ``timeout`` seconds.
        """
        with self._ledger.lock:
            return self._ledger.lock.wait_for(self._ledger.is_idle, timeout)

    def stop(self, timeout: float) -> None:
        """Stop taking events, let waiting and running calls finish, then end the thread.

        Waits at most about ``timeout`` seconds; calls left then are cancelled (async handlers)
        or abandoned (sync ones, on daemon threads). Idempotent.
        """
        with self._ledger.lock:
            if self._phase is _Phase.STOPPED:
                return
            started = self._phase is _Phase.RUNNING
            self._phase = _Phase.STOPPED
        if not started:
            self._loop.close()
            return
        deadline = time.monotonic() + timeout
        if not self.wait_idle(timeout):
            logger.warning("hooks: stopping with calls still waiting or running")
        with contextlib.suppress(RuntimeError):  # the loop has closed already
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(max(_JOIN_FLOOR_SECONDS, deadline - time.monotonic()))
        if self._thread.is_alive():
            logger.warning("hooks: the hook thread did not stop in time; abandoning it")

    # --- on the loop thread ------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception:
            logger.exception("hooks: the hook thread failed; no more hooks will run")
        finally:
            self._close_loop()

    async def _main(self) -> None:
        loaded, skipped = await load_hooks(self._hooks_dir, self._timeout)
        ledger = self._ledger
        with ledger.lock:
            ledger.hooks = tuple(HookState(hook=hook) for hook in loaded)
            ledger.skipped = skipped
            ledger.ready = True
            ledger.lock.notify_all()
        early, self._early = self._early, deque()
        for event in early:
            self._dispatcher.fan_out(event)
        await self._stopping.wait()

    def _accept(self, event: HookEvent) -> None:
        if self._ledger.ready:
            self._dispatcher.fan_out(event)
        else:
            self._early.append(event)

    def _close_loop(self) -> None:
        tasks = [task for task in asyncio.all_tasks(self._loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:  # a handler that ignores its cancellation is left behind, not waited for
            self._loop.run_until_complete(asyncio.wait(tasks, timeout=self._timeout))
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()
        self._dispatcher.shutdown()
        forget_modules(tuple(state.hook for state in self._ledger.hooks))
