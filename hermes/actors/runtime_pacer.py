"""How many turns may begin in one iteration of the AgentRuntime's loop.

A turn's first step is the expensive one: building the request, opening or taking a
connection, sending. When a thousand turns are told at once (a busy minute, a cron storm, a
restart resuming every chat) they would all take that step in the same loop iteration, and
every stream already running would stall for it (about 75 ms per thousand). ``StartPacer``
lets ``PER_ITERATION`` turns begin per iteration and the rest wait, in order, for the next
ones. Used only on the runtime's loop thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

PER_ITERATION: Final = 32
"""Turns that may begin in one loop iteration (a few milliseconds of work)."""


class StartPacer:
    """Admits turns to their first step, at most ``per_iteration`` per loop iteration."""

    def __init__(self, loop: asyncio.AbstractEventLoop, per_iteration: int = PER_ITERATION) -> None:
        """Pace turns on ``loop``."""
        if per_iteration < 1:
            raise ValueError("per_iteration must be at least 1")
        self._loop = loop
        self._per_iteration = per_iteration
        self._budget = per_iteration
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._refill_armed = False

    async def admit(self) -> None:
        """Return at once while this iteration has room, else when a later one does."""
        self._arm()
        if self._budget > 0 and not self._waiting:
            self._budget -= 1
            return
        admitted = self._loop.create_future()
        self._waiting.append(admitted)
        await admitted  # a cancelled turn leaves its place; the refill skips it

    def _arm(self) -> None:
        if not self._refill_armed:
            self._refill_armed = True
            self._loop.call_soon(self._refill)

    def _refill(self) -> None:
        """A new iteration: a full budget, spent first on those waiting, oldest first."""
        self._refill_armed = False
        self._budget = self._per_iteration
        while self._waiting and self._budget > 0:
            admitted = self._waiting.popleft()
            if not admitted.done():
                admitted.set_result(None)
                self._budget -= 1
        if self._waiting:
            self._arm()
