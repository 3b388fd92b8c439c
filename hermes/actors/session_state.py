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

from hermes.actors.session_hooks import SessionHooks
from hermes.actors.session_memory import SessionMemory
from hermes.actors.session_turns import TurnContexts
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import AgentRuntimeCommand, TurnContext, TurnResult
from hermes.messages.cron import CronService
from hermes.messages.delivery import DeliveryCommand, SetTyping
from hermes.messages.hooks import HookEvent
from hermes.messages.memory import MemoryProvider
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
from hermes.messages.values import ChatMessage, Role, Sender, TokenUsage
from hermes.policies.inputs import PendingInput
from hermes.policies.session_keys import SessionRoute
from hermes.policies.sessions import ResetRules, expiry_reason, new_session_id
from hermes.policies.targets import TYPING_PLATFORMS

logger = logging.getLogger(__name__)

FLUSH_MIN_MESSAGES = 4
"""A session with fewer transcript messages has nothing worth a flush turn (as the original)."""
QUEUED_NOTICE_INTERVAL_SECONDS = 30.0
"""The "still answering" notice goes out at most this often per session (as the original)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSettings:
    """The configuration a session applies."""

    interrupt: bool
    """``busy_input_mode: interrupt`` (else ``queue``)."""
    reset_rules: ResetRules
    local_zone: tzinfo
    idle_passivate_seconds: float
    history_limit: int
    flush_turn: bool = True
    """Run the "save what matters" turn when a session with memory ends."""
    memory_drain_seconds: float = 10.0


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
    memory: MemoryProvider | None = None
    cron: CronService | None = None
    """Where turns get their cron tools (None: no scheduled jobs)."""
    hooks: Address[HookEvent] | None = None
    """The hook runner (None: no hooks installed, no events built)."""


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
        self.finishing: Turn | None = None
        """A turn that has ended whose inputs are not answered yet (a crash in between
        answers them with the crash notice)."""
        self.loaded = False
        self.memory = SessionMemory(deps.memory, deps.route, deps.settings.memory_drain_seconds)
        self.contexts = TurnContexts(deps, self.memory)
        self.hooks = SessionHooks(deps.hooks, deps.route.key)
        self._announced: str | None = None
        """The session_id whose ``session:start`` was emitted."""
        self.last_sender: Sender | None = None
        self.last_activity = deps.clock.now()
        self._last_queued_notice: datetime | None = None

    @property
    def session_id(self) -> str | None:
        """The current session_id (None before loading)."""
        return self.record.session_id if self.record is not None else None

    @property
    def deps(self) -> SessionDeps:
        """The session's collaborators and settings."""
        return self._deps

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
        old = self.require_record()
        now = self._deps.clock.now()
        self.record = replace(
            old,
            session_id=new_session_id(now),
            created_at=now,
            updated_at=now,
            usage=TokenUsage(),
            memory_flushed=True,
        )
        self.history.clear()
        self._deps.store.tell(
            SaveSession(
                record=self.record, ended_session_id=old.session_id, end_reason=reason.value
            )
        )
        sender = self.last_sender or old.last_sender
        self.hooks.ended(old.origin, sender, old.session_id, self.record.session_id, reason)

    def expiry_reason(self) -> ResetReason | None:
        """Why the reset policy retires the current session now, or None."""
        platform = self.record.origin.platform if self.record and self.record.origin else None
        rule = self._deps.settings.reset_rules.for_platform(platform)
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
        record = self.require_record()
        last = batch[-1].message
        client = last.client_context
        if self._deps.route.ephemeral:
            history = client.history if client is not None else ()
        else:
            history = tuple(self.history[-self._deps.settings.history_limit :])
        self.turn = Turn(turn_id=turn_id, inputs=batch, started_at=self._deps.clock.now())
        self.last_sender = last.sender
        self._typing(self.turn, active=True)
        if self._announced != record.session_id and not self._deps.route.ephemeral:
            self._announced = record.session_id
            if not self.history:
                self.hooks.emit("session:start", last.origin, last.sender, record.session_id)
        return self.turn, self.contexts.reply(record, history, batch, turn_id)

    def flush_context(self, turn_id: str) -> TurnContext | None:
        """The "save what matters" turn of an ending session, or None when there is none."""
        record = self.record
        sender = self.last_sender or (record.last_sender if record is not None else None)
        enough = len(self.history) >= FLUSH_MIN_MESSAGES
        if not (self._deps.settings.flush_turn and self.memory.enabled and enough):
            return None
        if record is None or sender is None or record.origin is None:
            return None
        history = tuple(self.history[-self._deps.settings.history_limit :])
        return self.contexts.flush(record, history, sender, record.origin, turn_id)

    def finish_turn(self, turn_id: str) -> Turn | None:
        """End the running turn if it is ``turn_id``; None for a stale report."""
        turn = self.turn
        if turn is None or turn.turn_id != turn_id:
            logger.debug("session %s: stale report for turn %s", self._deps.route.key, turn_id)
            return None
        self.turn = None
        self.finishing = turn
        self._typing(turn, active=False)
        return turn

    def answered(self) -> None:
        """The turn that just ended has had its outcome told (see ``finishing``)."""
        self.finishing = None

    def abandon_turn(self) -> Turn | None:
        """Forget the running turn (its report will be stale); returns it."""
        turn, self.turn = self.turn, None
        if turn is not None:
            self._typing(turn, active=False)
        return turn

    def _typing(self, turn: Turn, *, active: bool) -> None:
        """The chat sees "typing…" while its turn runs (where its platform shows it)."""
        last = turn.inputs[-1].message
        if last.awaits_reply or last.origin.platform not in TYPING_PLATFORMS:
            return
        try:
            self._deps.delivery.tell(SetTyping(target=last.origin, active=active))
        except AddressClosedError:
            logger.debug("delivery gone; no typing indicator for %s", self._deps.route.key)

    def append_turn(self, turn: Turn, result: TurnResult) -> tuple[ChatMessage, ...] | None:
        """Add the turn's inputs and answer to the transcript; None when nothing is kept.

        The caller writes them to the Store (``session_output.record_answer``); the memory
        provider hears of the exchange here.
        """
        record = self.require_record()
        messages = tuple(ChatMessage(role=Role.USER, content=item.text) for item in turn.inputs)
        messages += (ChatMessage(role=Role.ASSISTANT, content=result.text),)
        self.history.extend(messages)
        limit = self._deps.settings.history_limit
        if len(self.history) > 2 * limit:
            del self.history[:-limit]
        last = turn.inputs[-1].message
        self.record = replace(
            record,
            updated_at=self._deps.clock.now(),
            usage=record.usage + result.usage,
            origin=last.origin,
            last_sender=last.sender,
            memory_flushed=False,
        )
        if self._deps.route.ephemeral:
            return None
        inputs = tuple(item.text for item in turn.inputs)
        self.memory.record(record.session_id, last.sender, inputs, result.text)
        return messages

    def record_mirror(self, text: str, label: str) -> None:
        """Note that ``text`` was delivered into this chat from elsewhere (reference §7.4).

        It joins the transcript as the assistant's ``[Delivered from <label>] ...``, so the
        agent knows on its next turn what was said here. It is not activity: the reset policy's
        clock and the memory provider are left alone.
        """
        if self._deps.route.ephemeral:
            return
        record = self.require_record()
        message = ChatMessage(role=Role.ASSISTANT, content=f"[Delivered from {label}] {text}")
        self.history.append(message)
        self._deps.store.tell(RecordTurn(record=record, messages=(message,)))

    # -- output ---------------------------------------------------------------------------------

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

    def require_record(self) -> SessionRecord:
        """The session's entry (it has loaded)."""
        if self.record is None:
            raise RuntimeError(f"session {self._deps.route.key} used before it loaded")
        return self.record
