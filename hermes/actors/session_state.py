"""The state a SessionActor owns, and the steps that change it and persist it.

Used only from its SessionActor's thread. The actor decides *when* (control flow, commands,
busy handling); this module holds *what* a session is: its entry, transcript, running turn and
waiting inputs, and how each change reaches the Store.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from enum import Enum

from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import AgentRuntimeCommand, CancelTurn, TurnContext, TurnResult
from hermes.messages.delivery import (
    DeliverMessage,
    DeliveryCommand,
    DeliveryEvent,
    OutboundKind,
    OutboundMessage,
)
from hermes.messages.ports import Clock
from hermes.messages.router import RouterCommand
from hermes.messages.scheduler import SchedulerCommand
from hermes.messages.session import ResetReason, SessionStatus
from hermes.messages.store import (
    RecordTurn,
    SaveSession,
    SessionRecord,
    SessionSnapshot,
    StoreCommand,
)
from hermes.messages.values import ChatMessage, InboundMessage, Role, TokenUsage
from hermes.policies.inputs import PendingInput
from hermes.policies.session_keys import SessionRoute
from hermes.policies.sessions import ResetRule, expiry_reason, new_session_id

logger = logging.getLogger(__name__)

QUEUED_NOTICE_INTERVAL_SECONDS = 30.0
"""The "still answering" notice goes out at most this often per session (as the original)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSettings:
    """The configuration a session applies."""

    interrupt: bool
    """``busy_input_mode: interrupt`` (else ``queue``)."""
    reset_rule: ResetRule | None
    local_zone: tzinfo
    idle_passivate_seconds: float
    history_limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDeps:
    """Everything a SessionActor is started with."""

    route: SessionRoute
    incarnation: int
    router: Address[RouterCommand]
    store: Address[StoreCommand]
    runtime: Address[AgentRuntimeCommand]
    delivery: Address[DeliveryCommand]
    scheduler: Address[SchedulerCommand]
    clock: Clock
    settings: SessionSettings


class TurnStop(Enum):
    """Why the session asked the runtime to cancel its running turn."""

    USER = "user"
    """/stop: the inputs are dropped."""
    INTERRUPT = "interrupt"
    """A newer message: the inputs are answered together with it."""


@dataclass(slots=True, kw_only=True)
class Turn:
    """The turn a session is running (mutable, owned by the session)."""

    turn_id: str
    inputs: tuple[PendingInput, ...]
    started_at: datetime
    stop: TurnStop | None = None


class SessionState:
    """A session's entry, transcript, running turn and waiting inputs."""

    def __init__(self, deps: SessionDeps) -> None:
        """Start empty; ``load`` or ``load_ephemeral`` fills it."""
        self._deps = deps
        self.record: SessionRecord | None = None
        self.history: list[ChatMessage] = []
        self.pending: deque[PendingInput] = deque()
        self.turn: Turn | None = None
        self.loaded = False
        self.handled = 0
        """Messages received from the Router (the passivation handshake compares it)."""
        self.last_activity = deps.clock.now()
        self._last_queued_notice: datetime | None = None

    # -- loading and identity -------------------------------------------------------------------

    def load(self, snapshot: SessionSnapshot) -> None:
        """Adopt what the Store knows; a session new to the Store gets its first session_id."""
        now = self._deps.clock.now()
        self.history = list(snapshot.history)
        self.record = snapshot.record
        if self.record is None:
            pinned = self._deps.route.pinned_session_id
            self.record = SessionRecord(
                session_key=self._deps.route.key,
                session_id=pinned or new_session_id(now),
                created_at=now,
                updated_at=now,
            )
            self._deps.store.tell(SaveSession(record=self.record))
        self.loaded = True

    def load_ephemeral(self) -> None:
        """Start a stateless session: nothing is read or written."""
        now = self._deps.clock.now()
        self.record = SessionRecord(
            session_key=self._deps.route.key,
            session_id=f"stateless_{secrets.token_hex(8)}",
            created_at=now,
            updated_at=now,
        )
        self.loaded = True

    def rotate(self, reason: ResetReason) -> None:
        """Retire the session_id and start a new one under the same key."""
        old = self._require_record()
        now = self._deps.clock.now()
        self.record = replace(
            old, session_id=new_session_id(now), created_at=now, updated_at=now, usage=TokenUsage()
        )
        self.history.clear()
        self._deps.store.tell(
            SaveSession(
                record=self.record, ended_session_id=old.session_id, end_reason=reason.value
            )
        )

    def expiry_reason(self) -> ResetReason | None:
        """Why the reset policy retires the current session now, or None."""
        rule = self._deps.settings.reset_rule
        route = self._deps.route
        if rule is None or route.ephemeral or route.pinned_session_id is not None:
            return None
        if self.record is None or not self.history:
            return None
        return expiry_reason(
            rule, self.record.updated_at, self._deps.clock.now(), self._deps.settings.local_zone
        )

    # -- activity -------------------------------------------------------------------------------

    def touch(self) -> None:
        """Note activity now (the idle timer measures from here)."""
        self.last_activity = self._deps.clock.now()

    def busy(self) -> bool:
        """True while a turn runs or inputs wait."""
        return self.turn is not None or bool(self.pending)

    def idle_remaining(self) -> float:
        """Seconds until the session has been idle for ``idle_passivate_seconds``."""
        idle_for = (self._deps.clock.now() - self.last_activity).total_seconds()
        return self._deps.settings.idle_passivate_seconds - idle_for

    def may_send_queued_notice(self) -> bool:
        """True at most once per ``QUEUED_NOTICE_INTERVAL_SECONDS``."""
        now = self._deps.clock.now()
        last = self._last_queued_notice
        if last is not None and (now - last).total_seconds() < QUEUED_NOTICE_INTERVAL_SECONDS:
            return False
        self._last_queued_notice = now
        return True

    # -- turns ----------------------------------------------------------------------------------

    def begin_turn(self, batch: tuple[PendingInput, ...], turn_id: str) -> tuple[Turn, TurnContext]:
        """Make ``batch`` the running turn and freeze what the agent needs."""
        record = self._require_record()
        last = batch[-1].message
        client = last.client_context
        if self._deps.route.ephemeral:
            history = client.history if client is not None else ()
        else:
            history = tuple(self.history[-self._deps.settings.history_limit :])
        conversation = last.conversation
        scope = (
            conversation.session_key if conversation else None
        ) or self._deps.route.memory_scope
        self.turn = Turn(turn_id=turn_id, inputs=batch, started_at=self._deps.clock.now())
        context = TurnContext(
            turn_id=turn_id,
            session_key=self._deps.route.key,
            session_id=record.session_id,
            memory_scope=scope,
            origin=last.origin,
            history=history,
            inputs=tuple(item.text for item in batch),
            system_prompt=client.system_prompt if client is not None else None,
        )
        return self.turn, context

    def finish_turn(self, turn_id: str) -> Turn | None:
        """End the running turn if it is ``turn_id``; None for a stale report."""
        turn = self.turn
        if turn is None or turn.turn_id != turn_id:
            logger.debug("session %s: stale report for turn %s", self._deps.route.key, turn_id)
            return None
        self.turn = None
        return turn

    def abandon_turn(self) -> Turn | None:
        """Forget the running turn (its report will be stale); returns it."""
        turn, self.turn = self.turn, None
        return turn

    def record_turn(self, turn: Turn, result: TurnResult) -> None:
        """Append the turn's inputs and answer to the transcript, in one Store write."""
        record = self._require_record()
        messages = tuple(ChatMessage(role=Role.USER, content=item.text) for item in turn.inputs)
        messages += (ChatMessage(role=Role.ASSISTANT, content=result.text),)
        self.history.extend(messages)
        limit = self._deps.settings.history_limit
        if len(self.history) > 2 * limit:
            del self.history[:-limit]
        self.record = replace(
            record,
            updated_at=self._deps.clock.now(),
            usage=record.usage + result.usage,
            origin=turn.inputs[-1].message.origin,
        )
        if not self._deps.route.ephemeral:
            self._deps.store.tell(RecordTurn(record=self.record, messages=messages))

    # -- output ---------------------------------------------------------------------------------

    def say(
        self,
        to: InboundMessage,
        text: str,
        kind: OutboundKind,
        usage: TokenUsage | None,
        reply_to: Address[DeliveryEvent],
    ) -> None:
        """Deliver ``text`` to the chat ``to`` came from, as an answer to it."""
        ephemeral = self._deps.route.ephemeral
        session_id = None if ephemeral or self.record is None else self.record.session_id
        self._deps.delivery.tell(
            DeliverMessage(
                delivery_id=secrets.token_hex(8),
                message=OutboundMessage(
                    target=to.origin,
                    text=text,
                    kind=kind,
                    in_reply_to=to.message_id,
                    session_id=session_id,
                    usage=usage,
                ),
                reply_to=reply_to,
            )
        )

    def tell_each(
        self,
        inputs: tuple[PendingInput, ...],
        text: str,
        kind: OutboundKind,
        reply_to: Address[DeliveryEvent],
    ) -> None:
        """One notice per sender waiting on its own reply, and one for the chat's other inputs."""
        chat_notice_sent = False
        for item in inputs:
            if item.message.awaits_reply:
                self.say(item.message, text, kind, None, reply_to)
            elif not chat_notice_sent:
                self.say(inputs[-1].message, text, kind, None, reply_to)
                chat_notice_sent = True

    def drop_all(self, text: str, reply_to: Address[DeliveryEvent]) -> int:
        """Cancel the running turn and drop waiting inputs; returns how many chat inputs went.

        A sender waiting on its own reply (HTTP) is told ``text``; chat inputs are counted for
        the reply to the command that dropped them.
        """
        turn = self.abandon_turn()
        dropped = tuple(self.pending)
        self.pending.clear()
        if turn is not None:
            self._deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
            dropped = turn.inputs + dropped
        chat_dropped = 0
        for item in dropped:
            if item.message.awaits_reply:
                self.say(item.message, text, OutboundKind.NOTICE, None, reply_to)
            else:
                chat_dropped += 1
        return chat_dropped

    def abandon_all(self, text: str, kind: OutboundKind, reply_to: Address[DeliveryEvent]) -> None:
        """At a stop or crash: cancel the turn and tell everyone still waiting ``text``."""
        turn = self.abandon_turn()
        waiting = tuple(self.pending)
        self.pending.clear()
        if turn is not None:
            try:
                self._deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
            except AddressClosedError:
                logger.debug("runtime gone while abandoning %s", turn.turn_id)
            waiting = turn.inputs + waiting
        if waiting:
            self.tell_each(waiting, text, kind, reply_to)

    def status(self) -> SessionStatus:
        """A snapshot for /status and the admin interface."""
        record = self.record
        turn = self.turn
        return SessionStatus(
            session_key=self._deps.route.key,
            session_id=record.session_id if record else None,
            created_at=record.created_at if record else None,
            updated_at=record.updated_at if record else None,
            usage=record.usage if record else TokenUsage(),
            transcript_length=len(self.history),
            running_turn_id=turn.turn_id if turn else None,
            running_since=turn.started_at if turn else None,
            pending_inputs=len(self.pending),
        )

    def _require_record(self) -> SessionRecord:
        if self.record is None:
            raise RuntimeError(f"session {self._deps.route.key} used before it loaded")
        return self.record
