"""The AgentRuntime's protocol: starting and cancelling turns, and how turns end.

A turn is one run of the agent over a session's history plus new user input. The SessionActor
asks for it with ``StartTurn`` and hears back exactly one ``TurnCompleted`` or ``TurnFailed``
carrying the same ``turn_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hermes.messages.address import Address
from hermes.messages.cron import CronHandle
from hermes.messages.delivery import DeliverDelta
from hermes.messages.memory import MemoryHandle
from hermes.messages.messaging import MessagingHandle
from hermes.messages.values import ChatAddress, ChatMessage, SessionKey, TokenUsage


class AgentError(Exception):
    """An expected agent failure (provider error, bad answer) with a text fit for the user."""

    def __init__(self, user_message: str) -> None:
        """Keep ``user_message``, which the user will read; it must hold no secret."""
        super().__init__(user_message)
        self.user_message = user_message


class TurnFailure(StrEnum):
    """Why a turn produced no answer."""

    ERROR = "error"
    """The agent or its provider failed; the user is told."""
    TIMEOUT = "timeout"
    """The turn ran past ``turn_timeout`` and was cancelled; the user is told."""
    CANCELLED = "cancelled"
    """Someone asked (``CancelTurn``): /stop, an interrupting message, a reset, a shutdown."""


class TurnPurpose(StrEnum):
    """What a turn is for."""

    REPLY = "reply"
    """Answer the user."""
    FLUSH = "flush"
    """The session is ending: save what matters with the memory tools; the answer is not shown
    to anyone and nothing of the turn is written back to memory."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnContext:
    """Everything one turn needs, frozen at the moment the session starts it.

    Tools the agent calls act on this session only: they get it from here, never from a global.
    """

    turn_id: str
    session_key: SessionKey
    session_id: str
    memory_scope: str
    """The long-term memory scope: the session key, or the HTTP API's X-Hermes-Session-Key."""
    origin: ChatAddress
    history: tuple[ChatMessage, ...]
    inputs: tuple[str, ...]
    """The user messages this turn answers, oldest first (several after an interrupt)."""
    system_prompt: str | None = None
    """Extra instructions for this turn only (from an HTTP request body); never stored."""
    session_context: str | None = None
    """Where the agent is talking: the session-context block (``policies.context_prompt``)."""
    memory: MemoryHandle | None = None
    """This session's memory tools for this turn's user; None without a memory provider."""
    cron: CronHandle | None = None
    """The cron tools, bound to this turn's chat and user; None where jobs may not be made
    (flush turns, and the runs of jobs themselves)."""
    messaging: MessagingHandle | None = None
    """The ``send_message`` tools, bound to this turn's chat; None for flush turns and jobs."""
    purpose: TurnPurpose = TurnPurpose.REPLY

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("a turn answers at least one input")


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnResult:
    """What an agent returns from a successful turn."""

    text: str
    usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCompleted:
    """Sent by the AgentRuntime to the turn's ``reply_to``: the agent answered."""

    turn_id: str
    result: TurnResult


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnFailed:
    """Sent by the AgentRuntime to the turn's ``reply_to``: the turn ended without an answer."""

    turn_id: str
    failure: TurnFailure
    detail: str
    """A short explanation fit for the user (no secrets, at most a few hundred characters)."""


TurnEvent = TurnCompleted | TurnFailed


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTurn:
    """Sent by a SessionActor to the AgentRuntime: run one turn and report its outcome."""

    context: TurnContext
    reply_to: Address[TurnEvent]
    stream_to: Address[DeliverDelta] | None = None
    """Where partial text goes while the turn runs, for origins that show it (SSE)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTurn:
    """Sent by a SessionActor to the AgentRuntime: stop this turn; it ends ``CANCELLED``."""

    turn_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningTurn:
    """One turn the runtime is running, for status displays."""

    turn_id: str
    session_key: SessionKey
    started_at: datetime
    age_seconds: float = 0.0
    """Seconds since it began to run (got its slot), by the runtime's monotonic clock."""
    overdue: bool = False
    """It has run longer than ``turn_timeout``: its timeout cancelled it, and it has not ended."""
    abandoned: bool = False
    """The stall watchdog reported it to its session and freed its slot: its coroutine ignores
    cancellation and still runs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeStatus:
    """What the AgentRuntime is doing, for ``admin status``."""

    agent: str
    running: tuple[RunningTurn, ...]
    waiting: int
    """Turns waiting for a slot under ``max_concurrent_turns``."""
    completed: int
    failed: int


AgentRuntimeCommand = StartTurn | CancelTurn
