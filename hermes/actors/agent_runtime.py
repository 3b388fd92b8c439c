"""AgentRuntime: runs agent turns as asyncio tasks on an event loop of its own.

Owns the running turns and the global turn limit (``max_concurrent_turns``). Accepts
``StartTurn`` and ``CancelTurn``; reports exactly one ``TurnCompleted`` or ``TurnFailed`` per
turn to its ``reply_to``, and streams partial text to ``stream_to``. Each turn is bounded by
``turn_timeout``; a slow turn never delays another. Nothing an agent raises, ``BaseException``
included, escapes a turn: pykka would stop every actor on a ``SystemExit``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from dataclasses import dataclass
from typing import Final, assert_never

from hermes.eventloop import LoopAddress, LoopThread
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import (
    AgentError,
    AgentRuntimeCommand,
    CancelTurn,
    RunningTurn,
    RuntimeStatus,
    StartTurn,
    TurnCompleted,
    TurnEvent,
    TurnFailed,
    TurnFailure,
)
from hermes.messages.delivery import DeliverDelta
from hermes.messages.ports import Agent, Clock
from hermes.policies import texts

logger = logging.getLogger(__name__)

DELTA_FLUSH_SECONDS: Final = 0.05
"""Partial text is gathered this long before it is sent on: one message per flush, not per token."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeDeps:
    """Everything the AgentRuntime is started with."""

    agent: Agent
    clock: Clock
    max_concurrent_turns: int
    turn_timeout: float


class _DeltaBuffer:
    """Gathers a turn's partial text and sends it on every ``DELTA_FLUSH_SECONDS``."""

    def __init__(self, start: StartTurn, loop: asyncio.AbstractEventLoop) -> None:
        self._start = start
        self._loop = loop
        self._parts: list[str] = []
        self._scheduled = False

    def add(self, text: str) -> None:
        self._parts.append(text)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_later(DELTA_FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._parts or self._start.stream_to is None:
            return
        text, self._parts = "".join(self._parts), []
        context = self._start.context
        try:
            self._start.stream_to.tell(
                DeliverDelta(
                    target=context.origin,
                    in_reply_to=None,
                    session_id=context.session_id,
                    text=text,
                )
            )
        except AddressClosedError:
            logger.debug("delta of turn %s dropped: delivery stopped", context.turn_id)


class AgentRuntime:
    """The owner of running turns.

    Accepts: ``StartTurn``, ``CancelTurn``; ``status()`` answers queries from the edges.
    Emits: ``TurnCompleted``/``TurnFailed`` to each turn's ``reply_to``; ``DeliverDelta`` to
        its ``stream_to``.
    Owns: turn_id -> task, the semaphore of ``max_concurrent_turns``, counters; all touched
        only on its loop thread.
    Lifecycle: started by the System before the sessions; ``cancel_all`` at shutdown ends
        every turn ``CANCELLED``; ``stop`` closes the agent and the loop.
    """

    def __init__(self, deps: RuntimeDeps) -> None:
        """Prepare the loop; nothing runs until ``start``."""
        self._deps = deps
        self._loop_thread = LoopThread("agent-runtime")
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, RunningTurn] = {}
        self._slots = asyncio.Semaphore(deps.max_concurrent_turns)
        self._completed = 0
        self._failed = 0
        self._idle = threading.Event()
        self._idle.set()
        self.address: Address[AgentRuntimeCommand] = LoopAddress(
            self._loop_thread, self._on_receive
        )

    def start(self) -> None:
        """Start the loop thread."""
        self._loop_thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no turn runs or waits; False if ``timeout`` passed first."""
        return self._idle.wait(timeout)

    def cancel_all(self, timeout: float) -> None:
        """Cancel every turn (each reports ``CANCELLED``) and wait for them to end."""
        try:
            self._loop_thread.call(self._cancel_all)
        except AddressClosedError:
            return
        self.wait_idle(timeout)

    def stop(self, timeout: float) -> None:
        """Close the agent and stop the loop thread."""
        try:
            self._loop_thread.run(self._deps.agent.aclose(), timeout)
        except (AddressClosedError, TimeoutError):
            logger.warning("the agent did not close cleanly within %.1f s", timeout)
        self._loop_thread.stop(timeout)

    def status(self, timeout: float) -> RuntimeStatus:
        """What is running (edge use: admin, tests)."""
        return self._loop_thread.run(self._status(), timeout)

    def _on_receive(self, message: AgentRuntimeCommand) -> None:
        match message:
            case StartTurn():
                self._on_start_turn(message)
            case CancelTurn():
                task = self._tasks.get(message.turn_id)
                if task is not None:
                    task.cancel()
            case _:
                assert_never(message)

    def _on_start_turn(self, message: StartTurn) -> None:
        turn_id = message.context.turn_id
        self._idle.clear()
        task = self._loop_thread.loop.create_task(self._run_turn(message), name=f"turn-{turn_id}")
        self._tasks[turn_id] = task
        task.add_done_callback(functools.partial(self._turn_done, message))

    def _turn_done(self, start: StartTurn, task: asyncio.Task[None]) -> None:
        turn_id = start.context.turn_id
        self._tasks.pop(turn_id, None)
        if task.cancelled():  # cancelled before it began, so it could not report itself
            cancelled = TurnFailed(turn_id=turn_id, failure=TurnFailure.CANCELLED, detail="")
            self._report(start, cancelled)
        if not self._tasks:
            self._idle.set()

    async def _run_turn(self, start: StartTurn) -> None:
        self._report(start, await self._outcome(start))

    def _report(self, start: StartTurn, event: TurnEvent) -> None:
        if isinstance(event, TurnCompleted):
            self._completed += 1
        else:
            self._failed += 1
        try:
            start.reply_to.tell(event)
        except AddressClosedError:
            logger.info("turn %s ended after its session stopped", start.context.turn_id)

    async def _outcome(self, start: StartTurn) -> TurnEvent:
        context = start.context
        deltas = _DeltaBuffer(start, self._loop_thread.loop)
        on_delta = deltas.add if start.stream_to is not None else None
        try:
            async with self._slots:
                self._running[context.turn_id] = RunningTurn(
                    turn_id=context.turn_id,
                    session_key=context.session_key,
                    started_at=self._deps.clock.now(),
                )
                async with asyncio.timeout(self._deps.turn_timeout):
                    result = await self._deps.agent.run_turn(context, on_delta)
        except TimeoutError:
            detail = texts.turn_timed_out(self._deps.turn_timeout)
            return TurnFailed(turn_id=context.turn_id, failure=TurnFailure.TIMEOUT, detail=detail)
        except asyncio.CancelledError:
            return TurnFailed(turn_id=context.turn_id, failure=TurnFailure.CANCELLED, detail="")
        except AgentError as error:
            return TurnFailed(
                turn_id=context.turn_id, failure=TurnFailure.ERROR, detail=error.user_message
            )
        except Exception as error:
            logger.exception("turn %s of %s failed", context.turn_id, context.session_key)
            return TurnFailed(
                turn_id=context.turn_id, failure=TurnFailure.ERROR, detail=_unexpected(error)
            )
        except BaseException as error:  # noqa: BLE001  (SystemExit in a tool must not stop the gateway)
            logger.critical("turn %s raised %r; contained", context.turn_id, error)
            return TurnFailed(
                turn_id=context.turn_id, failure=TurnFailure.ERROR, detail=_unexpected(error)
            )
        finally:
            self._running.pop(context.turn_id, None)
            deltas.flush()
        return TurnCompleted(turn_id=context.turn_id, result=result)

    def _cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def _status(self) -> RuntimeStatus:
        running = tuple(self._running.values())
        return RuntimeStatus(
            agent=self._deps.agent.description,
            running=running,
            waiting=len(self._tasks) - len(running),
            completed=self._completed,
            failed=self._failed,
        )


def _unexpected(error: BaseException) -> str:
    return (
        f"Sorry, I encountered an error ({type(error).__name__}). "
        "Try again or use /reset to start a fresh session."
    )
