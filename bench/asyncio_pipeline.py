"""Baseline A: the gateway's hops as a plain asyncio pipeline on one event loop.

A router task reads the inbox and hands each message to its chat's queue (creating the queue
and its session task on first sight); the session task runs the turn (the same agent, awaited
inline, so a chat's turns are serialized as in the gateway's queue mode) and puts the reply on
the delivery queue; a delivery task reports it. No store, no commands, no dedupe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from bench.pipeline import ReplySink
from hermes.eventloop import LoopThread
from hermes.messages.agent import TurnContext
from hermes.messages.ports import Agent
from hermes.messages.values import ChatAddress, Platform, SessionKey

START_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 300.0
Loader = Callable[[str], object]
"""Reads a session's state at activation (the live-sessions scenario's store)."""
Item = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineSetup:
    """What a baseline run gets: the agent, and optionally a loader and streaming."""

    agent: Agent
    loader: Loader | None = None
    stream: bool = False
    """Pass a delta sink to the agent, so a streaming agent streams."""


class AsyncioPipeline:
    """Router task -> one queue and task per session -> delivery queue and task."""

    name = "asyncio"

    def __init__(self, setup: BaselineSetup) -> None:
        self._setup = setup
        self._loop_thread = LoopThread("bench-asyncio")
        self._sink: ReplySink = _nowhere
        # Queues bind to the loop that first waits on them (3.10+): creating them here is safe.
        self._inbox: asyncio.Queue[Item] = asyncio.Queue()
        self._outbox: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        self._sessions: dict[str, asyncio.Queue[Item]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.deltas = 0

    def start(self, sink: ReplySink) -> None:
        """Start the loop thread and the router and delivery tasks."""
        self._sink = sink
        self._loop_thread.start()
        self._loop_thread.run(self._open(), START_TIMEOUT)

    def send(self, chat_id: str, message_id: str, text: str) -> None:
        """Put the message in the inbox (thread-safe)."""
        item = (chat_id, message_id, text)
        if self._loop_thread.in_loop_thread():
            self._inbox.put_nowait(item)
        else:
            self._loop_thread.call(self._inbox.put_nowait, item)

    def stop(self) -> dict[str, Any]:
        """Cancel every task, close the agent, stop the loop (timed)."""
        began = time.perf_counter()
        sessions = len(self._sessions)
        self._loop_thread.run(self._close(), STOP_TIMEOUT)
        self._loop_thread.stop(STOP_TIMEOUT)
        return {"stop_s": time.perf_counter() - began, "live_sessions_at_stop": sessions}

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(self._route()), loop.create_task(self._deliver())]

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._setup.agent.aclose()

    async def _route(self) -> None:
        while True:
            item = await self._inbox.get()
            queue = self._sessions.get(item[0])
            if queue is None:
                queue = self._sessions[item[0]] = asyncio.Queue()
                task = asyncio.get_running_loop().create_task(self._session(item[0], queue))
                self._tasks.append(task)
            queue.put_nowait(item)

    async def _session(self, chat_id: str, queue: asyncio.Queue[Item]) -> None:
        outbox = self._outbox
        if self._setup.loader is not None:
            self._setup.loader(chat_id)
        origin = ChatAddress(platform=Platform.EMBEDDED, chat_id=chat_id)
        key = SessionKey(value=f"bench:{chat_id}")
        on_delta = self._on_delta if self._setup.stream else None
        while True:
            _, message_id, text = await queue.get()
            context = TurnContext(
                turn_id=message_id,
                session_key=key,
                session_id=chat_id,
                memory_scope=key.value,
                origin=origin,
                history=(),
                inputs=(text,),
            )
            try:
                await self._setup.agent.run_turn(context, on_delta)
            except Exception:  # noqa: BLE001  (a failed turn is reported, as the gateway does)
                outbox.put_nowait((chat_id, message_id, False))
            else:
                outbox.put_nowait((chat_id, message_id, True))

    async def _deliver(self) -> None:
        outbox, sink = self._outbox, self._sink
        while True:
            chat_id, message_id, ok = await outbox.get()
            sink(chat_id, message_id, ok)

    def _on_delta(self, text: str) -> None:
        del text
        self.deltas += 1


def _nowhere(chat_id: str, message_id: str, ok: bool) -> None:
    del chat_id, message_id, ok
