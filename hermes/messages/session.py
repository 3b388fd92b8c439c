"""The SessionActor's protocol: what a session accepts, and the queries it answers.

A SessionActor also accepts the events its collaborators send back to it (``SessionLoaded``,
``TurnCompleted``, ``TurnFailed``, ``TimerFired``, ``DeliveryFailed``); ``SessionCommand``
is the whole union.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hermes.messages.agent import TurnCompleted, TurnFailed
from hermes.messages.delivery import DeliveryFailed, MessageDelivered
from hermes.messages.scheduler import TimerFired
from hermes.messages.store import SessionLoaded
from hermes.messages.values import HomeChannel, InboundMessage, Platform, SessionKey, TokenUsage


class ResetReason(StrEnum):
    """Why a session_id was retired."""

    USER = "user"
    """/new or /reset."""
    ADMIN = "admin"
    """An operator's ``admin reset``."""
    IDLE = "idle"
    """The reset policy: no activity for ``idle_minutes``."""

    DAILY = "daily"
    """The reset policy: the daily boundary passed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayView:
    """What the gateway looks like when a message is routed: told to the agent every turn."""

    connected: tuple[Platform, ...] = ()
    """The platforms the gateway runs."""
    homes: tuple[HomeChannel, ...] = ()
    """The home channels, one per platform at most."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HandleUserMessage:
    """Sent by the Router to a SessionActor: a person's message (text or command) for it."""

    message: InboundMessage
    gateway: GatewayView = GatewayView()
    """The Router's view of the gateway at routing time (one shared frozen value)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorMessage:
    """Sent by the Router to a SessionActor: ``text`` was delivered into its chat from elsewhere.

    The session appends it to its transcript as the assistant's ``[Delivered from <label>] ...``
    so the agent knows what was said there (reference §7.4, through the owner).
    """

    text: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetSession:
    """Sent by the Router to a SessionActor: retire the session_id and start a new one."""

    reason: ResetReason


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOver:
    """Sent by the Router to a SessionActor that said ``SessionStopping``.

    Nothing more will be routed to it: it finishes, returns what it holds in
    ``SessionStopped``, and stops.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireSession:
    """Sent by the Router to a SessionActor: end yourself if the reset policy says so."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GetSessionStatus:
    """Query (ask only, with a timeout): the session's state."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStatus:
    """Reply to ``GetSessionStatus``."""

    session_key: SessionKey
    session_id: str | None
    """None until the session has loaded from the Store."""
    created_at: datetime | None
    updated_at: datetime | None
    usage: TokenUsage
    transcript_length: int
    running_turn_id: str | None
    running_since: datetime | None
    pending_inputs: int
    ending: bool = False
    """True while the session runs its ending protocol (flush, then stop)."""


SessionCommand = (
    HandleUserMessage
    | MirrorMessage
    | ResetSession
    | HandOver
    | ExpireSession
    | GetSessionStatus
    | SessionLoaded
    | TurnCompleted
    | TurnFailed
    | TimerFired
    | DeliveryFailed
    | MessageDelivered
)
