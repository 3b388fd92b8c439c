"""Dispatching events to loaded hooks, on the hook runner's loop thread alone.

Each hook gets its events one at a time, in the order told; different hooks run in parallel, at
most ``max_concurrent`` calls at once (async handlers on the loop, sync ones on a pool of as
many daemon workers). A call may run for ``timeout`` seconds, then it is abandoned (an async one
cancelled) and keeps its slot until it really ends; meanwhile its hook misses its further events
(counted), so one stuck hook cannot take every slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from functools import partial

from hermes.adapters.hooks.calls import HookState, Ledger, Outcome, call_async, call_sync
from hermes.adapters.hooks.loader import LoadedHook
from hermes.adapters.hooks.threads import DaemonPool, call_off_loop
from hermes.messages.hooks import HookEvent

logger = logging.getLogger(__name__)


class Dispatcher:
    """Queues each event for the hooks that want it and starts their calls as slots free up."""

    def __init__(self, ledger: Ledger, timeout: float, max_concurrent: int) -> None:
        """Dispatch with ``max_concurrent`` slots, each call bounded by ``timeout`` seconds."""
        self._ledger = ledger
        self._timeout = timeout
        self._free_slots = max_concurrent
        self._pool = DaemonPool(max_concurrent, "hermes-hook-worker")
        self._runnable: deque[HookState] = deque()
        """Hooks with queued events and no call in time: each is here at most once."""
        self._tasks: set[asyncio.Task[None]] = set()

    def fan_out(self, event: HookEvent) -> None:
        """Queue ``event`` (counted once in the backlog) for every hook that wants it."""
        ledger = self._ledger
        wanting = [hook for hook in ledger.hooks if hook.hook.spec.wants(event.name)]
        with ledger.lock:
            ledger.backlog += len(wanting) - 1  # the event becomes one call per hook
            ledger.lock.notify_all()
        for hook in wanting:
            hook.queue.append(event)
            if len(hook.queue) == 1 and not hook.busy:
                self._runnable.append(hook)
        self._pump()

    def shutdown(self) -> None:
        """Let the idle workers end (the loop is closing)."""
        self._pool.shutdown()

    def _pump(self) -> None:
        while self._runnable:
            hook = self._runnable[0]
            if hook.overrunning is None and self._free_slots == 0:
                return
            self._runnable.popleft()
            event = hook.queue.popleft()
            if hook.overrunning is not None:
                self._miss(hook, event)
                continue
            self._free_slots -= 1
            hook.busy = True
            with self._ledger.lock:
                self._ledger.backlog -= 1
                self._ledger.active += 1
                hook.calls += 1
            task = asyncio.get_running_loop().create_task(self._supervise(hook, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _miss(self, hook: HookState, event: HookEvent) -> None:
        with self._ledger.lock:
            self._ledger.backlog -= 1
            hook.missed += 1
            self._ledger.lock.notify_all()
        logger.warning(
            "hooks: %s misses %s: its call for an earlier event still runs past its timeout",
            hook.hook.spec.name,
            event.name,
        )
        if hook.queue:
            self._runnable.append(hook)

    async def _supervise(self, hook: HookState, event: HookEvent) -> None:
        call = self._start_call(hook.hook, event)
        # Added before asyncio.wait's own callback, so it runs first when the call ends.
        call.add_done_callback(partial(self._call_ended, hook))
        # asyncio.wait rather than asyncio.timeout: a handler that swallows its cancellation
        # must hold up only its own slot, not this hook's bookkeeping.
        await asyncio.wait({call}, timeout=self._timeout)
        if call.done():
            self._record(hook, event, None if call.cancelled() else call.result())
        else:
            hook.overrunning = call
            if isinstance(call, asyncio.Task):
                call.cancel()
            self._record_timeout(hook, event)
        hook.busy = False
        if hook.queue:
            self._runnable.append(hook)
        self._pump()

    def _start_call(self, hook: LoadedHook, event: HookEvent) -> asyncio.Future[Outcome]:
        loop = asyncio.get_running_loop()
        payload = event.as_dict()  # a fresh dict per call: one hook's changes stay its own
        if hook.is_async:
            return loop.create_task(call_async(hook.handle, event.name, payload))
        work = partial(call_sync, hook.handle, event.name, payload)
        return call_off_loop(loop, work, self._pool.submit)

    def _call_ended(self, hook: HookState, call: asyncio.Future[Outcome]) -> None:
        """The call's worker or task is free again (in time, or long after its timeout)."""
        self._free_slots += 1
        if hook.overrunning is call:
            hook.overrunning = None
            logger.info("hooks: the abandoned call of %s has ended", hook.hook.spec.name)
        self._pump()

    def _record(self, hook: HookState, event: HookEvent, error: Outcome) -> None:
        with self._ledger.lock:
            self._ledger.active -= 1
            if error is not None:
                hook.failures += 1
            self._ledger.lock.notify_all()
        if error is not None:
            logger.warning(
                "hooks: %s failed on %s: %s: %s",
                hook.hook.spec.name,
                event.name,
                type(error).__name__,
                error,
                exc_info=error,
            )

    def _record_timeout(self, hook: HookState, event: HookEvent) -> None:
        with self._ledger.lock:
            self._ledger.active -= 1
            hook.timeouts += 1
            self._ledger.lock.notify_all()
        logger.warning(
            "hooks: %s timed out on %s after %g s; %s",
            hook.hook.spec.name,
            event.name,
            self._timeout,
            "cancelled"
            if hook.hook.is_async
            else "abandoned (its thread runs on; the hook misses events until it returns)",
        )
