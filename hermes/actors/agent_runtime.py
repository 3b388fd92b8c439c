"""AgentRuntime: runs agent turns as asyncio tasks on an event loop of its own.

Owns the running turns and the global turn limit (``max_concurrent_turns``). Accepts
``StartTurn`` and ``CancelTurn``; reports exactly one ``TurnCompleted`` or ``TurnFailed`` per
turn to its ``reply_to``, and streams partial text to ``stream_to``. Each turn is bounded by
``turn_timeout``; a slow turn never delays another. Nothing an agent or a tool raises,
``BaseException`` included, escapes its turn: pykka would stop every actor on a ``SystemExit``,
and asyncio would stop this loop on one raised in any task (``runtime_guard``).

The stall watchdog: a turn that was cancelled (``/stop``, an interrupting message, a reset,
its timeout) and still runs ``cancel_grace`` seconds later swallows cancellation. It is
reported anyway (``CANCELLED``, or ``TIMEOUT`` when its time ran out), its slot is freed, and
it is logged with where it waits; whatever it returns later is dropped, and ``status`` lists
it as abandoned until it ends. A turn that blocks the loop thread in a synchronous call stops
the loop itself, watchdog included: that is outside what a loop can guard.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from dataclasses import dataclass
from typing import Final, assert_never

from hermes.actors.runtime_guard import awaiting_at, contain_exits
from hermes.actors.runtime_pacer import StartPacer
from hermes.actors.runtime_turns import DeltaBuffer, RuntimeTurn, failed_turn
from hermes.eventloop import LoopAddress, LoopThread
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import (
    AgentRuntimeCommand,
    CancelTurn,
    RuntimeStatus,
    StartTurn,
    TurnCompleted,
    TurnEvent,
    TurnFailed,
    TurnFailure,
)
from hermes.messages.ports import Agent, Clock
from hermes.policies import texts

logger = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS: Final = 2.0
"""How long a cancelled turn has to end before it is reported anyway. A turn that honours
cancellation ends at its next ``await``: the OpenAI agent, mid-request to the fake LLM, reported
``CANCELLED`` within 1 ms of ``CancelTurn`` (median 0.6 ms, 40 runs, streamed or not). Two
seconds leave a wide margin for a loop busy with many turns and keep ``/stop`` prompt; giving
up on a turn a little early costs only its late result, which was cancelled anyway."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeDeps:
    """Everything the AgentRuntime is started with."""

    agent: Agent
    clock: Clock
    max_concurrent_turns: int
    turn_timeout: float
    cancel_grace: float = CANCEL_GRACE_SECONDS
    """Seconds a cancelled turn has to end before the watchdog reports it (see the module)."""


class AgentRuntime:
    """The owner of running turns.

    Accepts: ``StartTurn``, ``CancelTurn``; ``status()`` answers queries from the edges.
    Emits: ``TurnCompleted``/``TurnFailed`` to each turn's ``reply_to``; ``DeliverDelta`` to
        its ``stream_to``.
    Owns: the turns (running, waiting, abandoned), the semaphore of ``max_concurrent_turns``,
        counters; all touched only on its loop thread.
    Lifecycle: started by the System before the sessions; ``cancel_all`` at shutdown ends
        every turn ``CANCELLED``; ``stop`` closes the agent and the loop.
    """

    def __init__(self, deps: RuntimeDeps) -> None:
        """Prepare the loop; nothing runs until ``start``."""
        self._deps = deps
        self._loop_thread = LoopThread("agent-runtime")
        contain_exits(self._loop_thread.loop)
        self._turns: dict[str, RuntimeTurn] = {}
        """Turns not yet reported: running, or waiting for a slot."""
        self._abandoned: dict[str, RuntimeTurn] = {}
        """Turns the watchdog reported whose coroutines still run."""
        self._slots = asyncio.Semaphore(deps.max_concurrent_turns)
        self._pacer = StartPacer(self._loop_thread.loop)
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
        """Wait until every turn was reported; False if ``timeout`` passed first."""
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
            self._loop_thread.run(self._close(), timeout)
        except (AddressClosedError, TimeoutError):
            logger.warning("the agent did not close cleanly within %.1f s", timeout)
        self._loop_thread.stop(timeout)

    async def _close(self) -> None:
        if self._abandoned:  # the loop waits for every task it has when it stops
            logger.error(
                "%d abandoned turn(s) still run (%s): the loop cannot stop before they end",
                len(self._abandoned),
                ", ".join(self._abandoned),
            )
        await self._deps.agent.aclose()

    def status(self, timeout: float) -> RuntimeStatus:
        """What is running (edge use: admin, tests)."""
        return self._loop_thread.run(self._status(), timeout)

    def _on_receive(self, message: AgentRuntimeCommand) -> None:
        match message:
            case StartTurn():
                self._on_start_turn(message)
            case CancelTurn():
                turn = self._turns.get(message.turn_id)
                if turn is not None:
                    self._cancel(turn, TurnFailure.CANCELLED, self._deps.cancel_grace)
            case _:
                assert_never(message)

    def _on_start_turn(self, message: StartTurn) -> None:
        turn = RuntimeTurn(start=message, deltas=DeltaBuffer(message, self._loop_thread.loop))
        self._idle.clear()
        self._turns[turn.turn_id] = turn
        # Not through the loop's task factory (``contain_exits``): ``_run_turn`` catches every
        # exception itself, so the guard's wrapper coroutine would only cost time per turn.
        turn.task = asyncio.Task(
            self._run_turn(turn), loop=self._loop_thread.loop, name=f"turn-{turn.turn_id}"
        )
        turn.task.add_done_callback(functools.partial(self._turn_done, turn))

    def _turn_done(self, turn: RuntimeTurn, task: asyncio.Task[None]) -> None:
        if self._abandoned.pop(turn.turn_id, None) is not None:
            key = turn.context.session_key
            logger.warning("abandoned turn %s of %s has ended", turn.turn_id, key)
        # A GeneratorExit thrown into a task closes every frame of its coroutine chain and
        # is raised again above the one that caught it: the task itself ends with it.
        error = None if task.cancelled() else task.exception()
        if turn.settled:
            return
        if error is not None:
            self._settle(turn, failed_turn(turn.context, error))
        else:  # cancelled before it began, so it could not report itself
            self._settle(turn, _cancelled(turn))

    async def _run_turn(self, turn: RuntimeTurn) -> None:
        """Run ``turn`` and report it; every outcome is settled here, in the frame that sees it."""
        context = turn.context
        on_delta = turn.deltas.add if turn.start.stream_to is not None else None
        event: TurnEvent
        try:
            await self._slots.acquire()
            self._began(turn)
            await self._pacer.admit()  # a burst of turns begins over a few loop iterations
            result = await self._deps.agent.run_turn(context, on_delta)
        except TimeoutError:
            event = self._timed_out(turn)
        except asyncio.CancelledError:  # by /stop, a newer message, a reset, or its time limit
            event = self._timed_out(turn) if turn.timed_out else _cancelled(turn)
        except BaseException as error:  # noqa: BLE001  (SystemExit in a tool must not stop the gateway)
            event = failed_turn(context, error)
        else:
            event = TurnCompleted(turn_id=context.turn_id, result=result)
        self._settle(turn, event)

    def _began(self, turn: RuntimeTurn) -> None:
        """``turn`` holds a slot now: it runs, and its time limit is armed.

        One timer per turn: when it fires, the turn is cancelled and the stall watchdog armed.
        """
        loop = self._loop_thread.loop
        turn.holds_slot = True
        turn.began = loop.time()
        turn.started_at = self._deps.clock.now()
        turn.watchdogs.append(loop.call_later(self._deps.turn_timeout, self._expire, turn))

    def _expire(self, turn: RuntimeTurn) -> None:
        """``turn`` has run ``turn_timeout`` seconds: cancel it, reported as ``TIMEOUT``."""
        if turn.settled:
            return
        turn.timed_out = True
        self._cancel(turn, TurnFailure.TIMEOUT, self._deps.cancel_grace)

    def _timed_out(self, turn: RuntimeTurn) -> TurnFailed:
        detail = texts.turn_timed_out(self._deps.turn_timeout)
        return TurnFailed(turn_id=turn.turn_id, failure=TurnFailure.TIMEOUT, detail=detail)

    def _settle(self, turn: RuntimeTurn, event: TurnEvent) -> None:
        """Report ``turn``'s one outcome and free what it held; a later outcome is dropped."""
        if turn.settled:
            logger.debug("turn %s ended after it was reported; outcome dropped", turn.turn_id)
            return
        turn.settled = True
        for watchdog in turn.watchdogs:
            watchdog.cancel()
        if turn.holds_slot:
            turn.holds_slot = False
            self._slots.release()
        turn.deltas.close()  # its partial text goes before the outcome, and nothing after
        self._turns.pop(turn.turn_id, None)
        if isinstance(event, TurnCompleted):
            self._completed += 1
        else:
            self._failed += 1
        try:
            turn.start.reply_to.tell(event)
        except AddressClosedError:
            logger.info("turn %s ended after its session stopped", turn.turn_id)
        if not self._turns:
            self._idle.set()

    def _cancel(self, turn: RuntimeTurn, failure: TurnFailure, grace: float) -> None:
        if turn.task is not None:
            turn.task.cancel()
        loop = self._loop_thread.loop
        turn.watchdogs.append(loop.call_later(grace, self._watchdog, turn, failure))

    def _watchdog(self, turn: RuntimeTurn, failure: TurnFailure) -> None:
        """``turn`` was cancelled ``cancel_grace`` ago and runs on: report it, free its slot."""
        if turn.settled or turn.task is None:
            return
        logger.error(
            "turn %s of %s did not end within %.1f s of its cancellation; reported %s and its "
            "slot freed; it runs on, waiting in %s",
            turn.turn_id,
            turn.context.session_key,
            self._deps.cancel_grace,
            failure.value,
            awaiting_at(turn.task),
        )
        turn.task.cancel()  # once more, for a coroutine that swallowed only the first one
        self._abandoned[turn.turn_id] = turn
        timed_out = failure is TurnFailure.TIMEOUT
        detail = texts.turn_timed_out(self._deps.turn_timeout) if timed_out else ""
        self._settle(turn, TurnFailed(turn_id=turn.turn_id, failure=failure, detail=detail))

    def _cancel_all(self) -> None:
        for turn in list(self._turns.values()):
            self._cancel(turn, TurnFailure.CANCELLED, self._deps.cancel_grace)

    async def _status(self) -> RuntimeStatus:
        now = self._loop_thread.loop.time()
        turns = (*self._turns.values(), *self._abandoned.values())
        views = (turn.view(now, self._deps.turn_timeout) for turn in turns)
        running = tuple(view for view in views if view is not None)
        return RuntimeStatus(
            agent=self._deps.agent.description,
            running=running,
            waiting=sum(1 for turn in self._turns.values() if turn.started_at is None),
            completed=self._completed,
            failed=self._failed,
        )


def _cancelled(turn: RuntimeTurn) -> TurnFailed:
    return TurnFailed(turn_id=turn.turn_id, failure=TurnFailure.CANCELLED, detail="")
