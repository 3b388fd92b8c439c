"""One call of one user hook, and what the hook runner counts.

The call wrappers turn whatever a user's ``handle`` does into a returned outcome (the error, or
None), so that nothing a hook raises, ``SystemExit`` included, escapes into the runner's loop
or a worker thread.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from dataclasses import dataclass, field

from hermes.adapters.hooks.loader import Handler, LoadedHook, SkippedHook
from hermes.messages.hooks import HookEvent

Outcome = BaseException | None
"""What a call did: the error it raised, or None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HookStatus:
    """One loaded hook and what became of its calls."""

    name: str
    directory: str
    events: tuple[str, ...]
    calls: int
    """Calls started."""
    failures: int
    """Calls that raised."""
    timeouts: int
    """Calls abandoned at the timeout."""
    missed: int
    """Events not handed to the hook because an abandoned call of it still ran."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HookRunnerStatus:
    """A snapshot of the hook runner."""

    ready: bool
    """Loading has finished."""
    hooks: tuple[HookStatus, ...]
    skipped: tuple[SkippedHook, ...]
    dropped: int
    """Events refused because too many were waiting (or told before the runner could run)."""
    waiting: int
    """Events and calls waiting to start."""
    running: int
    """Calls running within their timeout."""


class Ledger:
    """The runner's counters: changed on its loop thread, read by any, under ``lock``."""

    def __init__(self) -> None:
        """Start with nothing loaded, waiting or running."""
        self.lock = threading.Condition()
        self.ready = False
        """Loading has finished."""
        self.backlog = 0
        """Events told and calls queued, not yet started."""
        self.active = 0
        """Calls running within their timeout."""
        self.dropped = 0
        self.hooks: tuple[HookState, ...] = ()
        self.skipped: tuple[SkippedHook, ...] = ()

    def is_idle(self) -> bool:
        """Loaded, and nothing waits or runs (call with ``lock`` held)."""
        return self.ready and self.backlog == 0 and self.active == 0

    def status(self) -> HookRunnerStatus:
        """A consistent snapshot."""
        with self.lock:
            return HookRunnerStatus(
                ready=self.ready,
                hooks=tuple(hook.status() for hook in self.hooks),
                skipped=self.skipped,
                dropped=self.dropped,
                waiting=self.backlog,
                running=self.active,
            )


@dataclass(slots=True, eq=False)
class HookState:
    """A loaded hook's queue and counters; owned by the runner's loop (counters under its lock)."""

    hook: LoadedHook
    queue: deque[HookEvent] = field(default_factory=deque)
    """Events for this hook, in the order told, not yet started."""
    busy: bool = False
    """A call runs within its timeout; the hook's next event waits for it."""
    overrunning: asyncio.Future[Outcome] | None = None
    """A call abandoned at its timeout that has not ended yet."""
    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    missed: int = 0

    def status(self) -> HookStatus:
        """The hook's counters as a frozen snapshot."""
        return HookStatus(
            name=self.hook.spec.name,
            directory=self.hook.directory,
            events=self.hook.spec.events,
            calls=self.calls,
            failures=self.failures,
            timeouts=self.timeouts,
            missed=self.missed,
        )


def call_sync(handle: Handler, event_name: str, payload: dict[str, object]) -> Outcome:
    """Call a sync ``handle`` on the current (worker) thread; return its error, if any."""
    try:
        result = handle(event_name, payload)
    except BaseException as error:  # noqa: BLE001  (user code: even SystemExit is its failure)
        return error
    if inspect.iscoroutine(result):
        result.close()
        return TypeError("handle returned a coroutine: declare it `async def handle(...)`")
    return None


async def call_async(handle: Handler, event_name: str, payload: dict[str, object]) -> Outcome:
    """Await an async ``handle`` on the runner's loop; return its error, if any."""
    try:
        result = handle(event_name, payload)
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        raise
    except BaseException as error:  # noqa: BLE001  (user code: even SystemExit is its failure)
        return error
    return None
