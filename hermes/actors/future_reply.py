"""A one-shot reply address that completes a future: how tools await an actor's answer.

Tools run on the AgentRuntime's event loop and must not block it on an actor (no ``ask``
there). They send a request whose ``reply_to`` is a ``FutureReply`` and await the future with a
timeout; a late answer after the tool gave up is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Generic, TypeVar

T = TypeVar("T")


class FutureReply(Generic[T]):
    """An ``Address[T]`` whose first message completes ``future``; later ones are dropped."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        """Start with a pending future."""
        self.future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def tell(self, message: T) -> None:
        """Complete the future with ``message`` (a no-op once done or abandoned)."""
        try:
            self.future.set_result(message)
        except concurrent.futures.InvalidStateError:
            return  # the asker gave up (timed out, cancelled), or this is a second answer

    async def answer(self) -> T:
        """The answer, awaited without blocking the loop; bound it with ``asyncio.timeout``."""
        return await asyncio.wrap_future(self.future)
