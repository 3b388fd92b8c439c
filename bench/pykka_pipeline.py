"""Baseline B: bare pykka actors on the gateway's hops, with no gateway logic.

Router actor -> one session actor per chat (started on first sight) -> delivery actor. A
session never runs the turn itself: like the gateway's SessionActor it hands the turn to an
asyncio loop on its own thread (the same agent), which tells the outcome back; turns of one
chat are serialized, later messages wait in the session's FIFO. No store, no dedupe, no typing
indicators, no delivery confirmations.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import pykka

from bench.asyncio_pipeline import BaselineSetup
from bench.pipeline import ReplySink
from hermes.eventloop import LoopThread
from hermes.messages.agent import TurnContext
from hermes.messages.values import ChatAddress, Platform, SessionKey

STOP_TIMEOUT: Final = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Inbound:
    chat_id: str
    message_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _TurnDone:
    message_id: str
    ok: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outbound:
    chat_id: str
    message_id: str
    ok: bool


class _Runtime:
    """Runs turns as tasks on its loop and tells each outcome to the session that asked."""

    def __init__(self, setup: BaselineSetup) -> None:
        self.setup = setup
        self.loop_thread = LoopThread("bench-pykka-runtime")
        self.deltas = 0

    def start_turn(self, context: TurnContext, reply_to: pykka.ActorRef[Any]) -> None:
        self.loop_thread.call(self._create, context, reply_to)

    def _create(self, context: TurnContext, reply_to: pykka.ActorRef[Any]) -> None:
        self.loop_thread.loop.create_task(self._run(context, reply_to))

    async def _run(self, context: TurnContext, reply_to: pykka.ActorRef[Any]) -> None:
        on_delta = self._on_delta if self.setup.stream else None
        try:
            await self.setup.agent.run_turn(context, on_delta)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (a failed turn is reported, as the gateway does)
            reply_to.tell(_TurnDone(message_id=context.turn_id, ok=False))
        else:
            reply_to.tell(_TurnDone(message_id=context.turn_id, ok=True))

    def _on_delta(self, text: str) -> None:
        del text
        self.deltas += 1


class _Delivery(pykka.ThreadingActor):
    def __init__(self, sink: ReplySink) -> None:
        super().__init__()
        self._sink = sink

    def on_receive(self, message: _Outbound) -> None:
        self._sink(message.chat_id, message.message_id, message.ok)


class _Session(pykka.ThreadingActor):
    def __init__(
        self, chat_id: str, runtime: _Runtime, delivery: pykka.ActorRef[_Delivery]
    ) -> None:
        super().__init__()
        self._chat_id = chat_id
        self._runtime = runtime
        self._delivery = delivery
        self._origin = ChatAddress(platform=Platform.EMBEDDED, chat_id=chat_id)
        self._key = SessionKey(value=f"bench:{chat_id}")
        self._pending: deque[_Inbound] = deque()
        self._running: _Inbound | None = None

    def on_start(self) -> None:
        if self._runtime.setup.loader is not None:
            self._runtime.setup.loader(self._chat_id)

    def on_receive(self, message: _Inbound | _TurnDone) -> None:
        match message:
            case _Inbound():
                self._pending.append(message)
            case _TurnDone():
                self._running = None
                self._delivery.tell(
                    _Outbound(chat_id=self._chat_id, message_id=message.message_id, ok=message.ok)
                )
        if self._running is None and self._pending:
            self._start(self._pending.popleft())

    def _start(self, inbound: _Inbound) -> None:
        self._running = inbound
        context = TurnContext(
            turn_id=inbound.message_id,
            session_key=self._key,
            session_id=self._chat_id,
            memory_scope=self._key.value,
            origin=self._origin,
            history=(),
            inputs=(inbound.text,),
        )
        self._runtime.start_turn(context, self.actor_ref)


class _Router(pykka.ThreadingActor):
    def __init__(self, runtime: _Runtime, delivery: pykka.ActorRef[_Delivery]) -> None:
        super().__init__()
        self._runtime = runtime
        self._delivery = delivery
        self._sessions: dict[str, pykka.ActorRef[_Session]] = {}

    def on_receive(self, message: _Inbound) -> None:
        session = self._sessions.get(message.chat_id)
        if session is None:
            session = _Session.start(message.chat_id, self._runtime, self._delivery)
            self._sessions[message.chat_id] = session
        session.tell(message)

    def on_stop(self) -> None:
        for session in self._sessions.values():  # one at a time, as the gateway's Router
            session.stop(block=True, timeout=STOP_TIMEOUT)


class PykkaPipeline:
    """Router actor -> session actor per chat (turns on an asyncio loop) -> delivery actor."""

    name = "pykka"

    def __init__(self, setup: BaselineSetup) -> None:
        self._runtime = _Runtime(setup)
        self._router: pykka.ActorRef[_Router] | None = None
        self._delivery: pykka.ActorRef[_Delivery] | None = None

    def start(self, sink: ReplySink) -> None:
        """Start the runtime loop, then delivery, then the router."""
        self._runtime.loop_thread.start()
        self._delivery = _Delivery.start(sink)
        self._router = _Router.start(self._runtime, self._delivery)

    def send(self, chat_id: str, message_id: str, text: str) -> None:
        """Tell the router (thread-safe)."""
        if self._router is None:
            raise RuntimeError("the pykka baseline is not running")
        self._router.tell(_Inbound(chat_id=chat_id, message_id=message_id, text=text))

    def stop(self) -> dict[str, Any]:
        """Stop the router (and its sessions), delivery, the agent and the loop (timed)."""
        began = time.perf_counter()
        if self._router is not None:
            self._router.stop(block=True, timeout=STOP_TIMEOUT)
        if self._delivery is not None:
            self._delivery.stop(block=True, timeout=STOP_TIMEOUT)
        loop_thread = self._runtime.loop_thread
        loop_thread.run(self._runtime.setup.agent.aclose(), STOP_TIMEOUT)
        loop_thread.stop(STOP_TIMEOUT)
        return {"stop_s": time.perf_counter() - began}
