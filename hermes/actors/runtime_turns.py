"""One turn as the AgentRuntime keeps it, its streamed text, and how an error ends it.

Used only on the runtime's loop thread. A ``RuntimeTurn`` lives from ``StartTurn`` until its
one outcome is reported, or, when the stall watchdog gave up on it, until its coroutine ends.
``failed_turn`` maps whatever a turn raised to the ``TurnFailed`` its session hears:
``AgentError`` texts as they are, anything else (``SystemExit`` and its kind included) as a
generic apology, logged with the session key and turn id.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from hermes.actors.runtime_guard import ContainedExitError
from hermes.messages.address import AddressClosedError
from hermes.messages.agent import (
    AgentError,
    RunningTurn,
    StartTurn,
    TurnContext,
    TurnFailed,
    TurnFailure,
)
from hermes.messages.delivery import DeliverDelta

logger = logging.getLogger(__name__)

DELTA_FLUSH_SECONDS: Final = 0.05
"""Partial text is gathered this long before it is sent on: one message per flush, not per token."""


class DeltaBuffer:
    """Gathers a turn's partial text and sends it on every ``DELTA_FLUSH_SECONDS``."""

    def __init__(self, start: StartTurn, loop: asyncio.AbstractEventLoop) -> None:
        """Stream ``start``'s text to its ``stream_to`` (nothing when it has none)."""
        self._start = start
        self._loop = loop
        self._parts: list[str] = []
        self._scheduled = False
        self._closed = start.stream_to is None

    def add(self, text: str) -> None:
        """Gather ``text``; dropped once the turn was reported."""
        if self._closed:
            return
        self._parts.append(text)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_later(DELTA_FLUSH_SECONDS, self.flush)

    def close(self) -> None:
        """Send what was gathered; drop anything added later."""
        self.flush()
        self._closed = True

    def flush(self) -> None:
        """Send what was gathered, as one delta."""
        self._scheduled = False
        stream_to = self._start.stream_to
        if not self._parts or stream_to is None or self._closed:
            return
        text, self._parts = "".join(self._parts), []
        context = self._start.context
        delta = DeliverDelta(
            target=context.origin, in_reply_to=None, session_id=context.session_id, text=text
        )
        try:
            stream_to.tell(delta)
        except AddressClosedError:
            logger.debug("delta of turn %s dropped: delivery stopped", context.turn_id)


@dataclass(slots=True, eq=False)
class RuntimeTurn:
    """One turn, from ``StartTurn`` until it is reported (and, if abandoned, until it ends)."""

    start: StartTurn
    deltas: DeltaBuffer
    task: asyncio.Task[None] | None = None
    started_at: datetime | None = None
    """When it got its slot (the runtime's clock); None while it waits for one."""
    began: float = 0.0
    """``loop.time()`` when it got its slot."""
    holds_slot: bool = False
    timed_out: bool = False
    """Its time limit cancelled it: the cancellation is reported as ``TIMEOUT``."""
    settled: bool = False
    """Its one outcome was reported; anything it ends with later is dropped."""
    watchdogs: list[asyncio.TimerHandle] = field(default_factory=list)

    @property
    def context(self) -> TurnContext:
        """What the turn answers."""
        return self.start.context

    @property
    def turn_id(self) -> str:
        """The turn's id."""
        return self.start.context.turn_id

    def view(self, now: float, timeout: float) -> RunningTurn | None:
        """The turn for ``status`` at ``loop.time()`` ``now``; None while it waits for a slot."""
        if self.started_at is None:
            return None
        age = now - self.began
        return RunningTurn(
            turn_id=self.turn_id,
            session_key=self.context.session_key,
            started_at=self.started_at,
            age_seconds=round(age, 1),
            overdue=age > timeout,
            abandoned=self.settled,  # reported while it runs on: the watchdog gave up on it
        )


def failed_turn(context: TurnContext, error: BaseException) -> TurnFailed:
    """The outcome of a turn that raised ``error`` (neither its timeout nor a cancellation)."""
    if isinstance(error, AgentError):
        return TurnFailed(
            turn_id=context.turn_id, failure=TurnFailure.ERROR, detail=error.user_message
        )
    if isinstance(error, Exception) and not isinstance(error, ContainedExitError):
        logger.error("turn %s of %s failed", context.turn_id, context.session_key, exc_info=error)
        return TurnFailed(
            turn_id=context.turn_id, failure=TurnFailure.ERROR, detail=unexpected(error)
        )
    # SystemExit, KeyboardInterrupt (raised here or, contained, in a task the turn awaited),
    # GeneratorExit or another BaseException: pykka or asyncio would have stopped far more.
    original = error.original if isinstance(error, ContainedExitError) else error
    logger.critical(
        "turn %s of %s raised %r; contained: only this turn failed",
        context.turn_id,
        context.session_key,
        original,
        exc_info=error,
    )
    return TurnFailed(
        turn_id=context.turn_id, failure=TurnFailure.ERROR, detail=unexpected(original)
    )


def unexpected(error: BaseException) -> str:
    """The user's text for a failure that is not the agent's own (a bug, an exit)."""
    return (
        f"Sorry, I encountered an error ({type(error).__name__}). "
        "Try again or use /reset to start a fresh session."
    )
