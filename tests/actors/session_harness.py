"""A real SessionActor with every collaborator a RecordingAddress; the test plays them all."""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace
from datetime import UTC

from hermes.actors.actor_pool import ActorPool
from hermes.actors.address import ActorAddress
from hermes.actors.session import SessionActor
from hermes.actors.session_state import SessionDeps, SessionSettings
from hermes.messages.agent import StartTurn, TurnCompleted, TurnFailed, TurnFailure, TurnResult
from hermes.messages.delivery import DeliverMessage, OutboundKind
from hermes.messages.session import (
    GetSessionStatus,
    HandleUserMessage,
    SessionCommand,
    SessionStatus,
)
from hermes.messages.store import RecordTurn, SessionLoaded, SessionRecord, SessionSnapshot, Settle
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    ClientContext,
    Conversation,
    InboundMessage,
    Platform,
    Sender,
    SessionKey,
    TokenUsage,
)
from hermes.policies.session_keys import SessionRoute, route_for
from hermes.policies.sessions import ResetRule, ResetRules
from tests.fakes.recording import FakeClock, RecordingAddress

KEY = SessionKey(value="agent:main:embedded:dm:chat-1")
ORIGIN = ChatAddress(platform=Platform.EMBEDDED, chat_id="chat-1")


def settings(*, interrupt: bool = True, reset_rule: ResetRule | None = None) -> SessionSettings:
    return SessionSettings(
        interrupt=interrupt,
        reset_rules=ResetRules(default=reset_rule),
        local_zone=UTC,
        idle_passivate_seconds=600.0,
        history_limit=50,
    )


class CommittingStore(RecordingAddress):
    """Records the Store's writes and, like the Store after a commit, passes settled replies on.

    So the replies a session queues durably (``Settle``, ``RecordTurn.settle``) reach the
    delivery probe in the order the session produced them, with its direct notices.
    """

    def tell(self, message: object) -> None:
        super().tell(message)
        settle = message.settle if isinstance(message, RecordTurn) else message
        if isinstance(settle, Settle) and settle.reply is not None and settle.delivery:
            settle.delivery.tell(settle.reply)


@functools.cache
def shared_pool() -> ActorPool:
    """One pool of daemon workers for every harness session (each test stops its actors)."""
    return ActorPool("TestSessionPool", daemon=True).start()


class Harness:
    """Starts one SessionActor; records what it tells everyone."""

    def __init__(self) -> None:
        self.router = RecordingAddress("router")
        self.store = CommittingStore("store")
        self.runtime = RecordingAddress("runtime")
        self.delivery = RecordingAddress("delivery")
        self.scheduler = RecordingAddress("scheduler")
        self.clock = FakeClock()
        self._ids = itertools.count(1)
        self.session: ActorAddress[SessionCommand] | None = None

    def start(
        self,
        route: SessionRoute | None = None,
        session_settings: SessionSettings | None = None,
        incarnation: int = 1,
        memory: object | None = None,
    ) -> ActorAddress[SessionCommand]:
        deps = SessionDeps(
            route=route or SessionRoute(key=KEY, memory_scope=KEY.value),
            incarnation=incarnation,
            router=self.router,
            store=self.store,
            runtime=self.runtime,
            delivery=self.delivery,
            scheduler=self.scheduler,
            clock=self.clock,
            settings=session_settings or settings(),
            memory=memory,  # type: ignore[arg-type]
        )
        self.session = ActorAddress(SessionActor.start(deps, shared_pool()))
        return self.session

    @property
    def address(self) -> ActorAddress[SessionCommand]:
        assert self.session is not None
        return self.session

    def load(
        self,
        record: SessionRecord | None = None,
        history: tuple[ChatMessage, ...] = (),
        key: SessionKey = KEY,
    ) -> None:
        self.address.tell(
            SessionLoaded(session_key=key, snapshot=SessionSnapshot(record=record, history=history))
        )

    def message(self, text: str, **changes: object) -> InboundMessage:
        base = InboundMessage(
            message_id=f"m{next(self._ids)}",
            origin=ORIGIN,
            sender=Sender(user_id="u1"),
            text=text,
            received_at=self.clock.now(),
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    def send(self, text: str, **changes: object) -> InboundMessage:
        message = self.message(text, **changes)
        self.address.tell(HandleUserMessage(message=message))
        return message

    def status(self) -> SessionStatus:
        status = self.address.ask(GetSessionStatus(), timeout=2.0)
        assert isinstance(status, SessionStatus)
        return status

    def expect_turn(self, count: int = 1) -> StartTurn:
        return self.runtime.expect(StartTurn, count=count)

    def complete(
        self, start: StartTurn, text: str = "answer", usage: TokenUsage | None = None
    ) -> None:
        result = TurnResult(text=text, usage=usage or TokenUsage(input_tokens=3, output_tokens=2))
        self.address.tell(TurnCompleted(turn_id=start.context.turn_id, result=result))

    def fail(self, start: StartTurn, failure: TurnFailure, detail: str = "it broke") -> None:
        self.address.tell(TurnFailed(turn_id=start.context.turn_id, failure=failure, detail=detail))

    def said(self, kind: OutboundKind | None = None) -> list[str]:
        """Texts delivered so far (after a trailing ask, so everything told is handled)."""
        self.status()
        return [
            d.message.text
            for d in self.delivery.of_type(DeliverMessage)
            if kind is None or d.message.kind is kind
        ]


def http_message(harness: Harness, text: str, **conversation: str) -> InboundMessage:
    """A message as the HTTP API sends it (awaits its own reply)."""
    request_id = f"http-{text[:8]}-{len(harness.delivery.messages)}"
    return harness.message(
        text,
        message_id=request_id,
        origin=ChatAddress(platform=Platform.API_SERVER, chat_id=request_id),
        awaits_reply=True,
        conversation=Conversation(**conversation) if conversation else None,
        client_context=ClientContext(),
    )


def http_route(message: InboundMessage) -> SessionRoute:
    return route_for(message, group_sessions_per_user=True)
