"""The Router's protocol: inbound messages, the session lifecycle, operator requests.

The Router alone maps a session_key to its live SessionActor. A session that wants to stop
(idle, or ending after /new, a reset policy or an operator's reset) says ``SessionStopping``;
the Router then routes nothing more to it, buffers that key's messages, and answers
``HandOver``; the session finishes its work, returns any message it still holds in
``SessionStopped`` and stops; the Router replays those, then its buffer, to the next
incarnation. ``incarnation`` tells one activation of a key from the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hermes.messages.access import AuthRules, PlatformUser
from hermes.messages.delivery import HomesChanged, MirrorDelivery
from hermes.messages.intake import InboundReceipt
from hermes.messages.scheduler import TimerFired
from hermes.messages.values import InboundMessage, SessionKey


class StopReason(StrEnum):
    """Why a session stops."""

    IDLE = "idle"
    """Passivation: the session goes on; its actor is released until the next message."""
    ENDED = "ended"
    """The session_id is retired (after the memory flush); the next incarnation starts fresh."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteInbound:
    """Sent by a platform adapter to the Router: a person sent this message."""

    message: InboundMessage
    receipt: InboundReceipt | None = None
    """Told ``InboundJournaled`` once the message is durable (adapters that can wait to
    confirm a message to their platform send one)."""
    resumed: bool = False
    """True when the System routes a journaled message again at start (it was never settled):
    it is neither journaled again nor dropped as a re-delivery."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStopping:
    """Sent by a SessionActor to the Router: route nothing more to me; answer ``HandOver``."""

    session_key: SessionKey
    incarnation: int
    reason: StopReason


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStopped:
    """Sent by a SessionActor to the Router: state persisted, actor stopping.

    ``handover`` holds the messages that reached the session after it began to stop, in
    order; the Router gives them to the next incarnation before anything it buffered.
    """

    session_key: SessionKey
    incarnation: int
    handover: tuple[InboundMessage, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCrashed:
    """Sent by a SessionActor from ``on_failure`` to the Router: it died of ``error``."""

    session_key: SessionKey
    incarnation: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminResetSession:
    """Sent by the admin interface to the Router: reset this session (activating it if needed)."""

    session_key: SessionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireSessions:
    """Sent by the Store to the Router, answering its expiry check: maybe-expired sessions.

    Each is asked (``ExpireSession``) to check its reset policy and, if expired, to end itself.
    """

    session_keys: tuple[SessionKey, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovedUsersChanged:
    """Sent by the PairingActor to the Router on every approval or revocation: serve these."""

    approved: frozenset[PlatformUser]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceAuthRules:
    """Sent by the admin interface (``reload``) to the Router: apply these rules from now on."""

    rules: AuthRules


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRouterStatus:
    """Query (ask only, with a timeout): the Router's counters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterStatus:
    """Reply to ``GetRouterStatus``."""

    live_sessions: int
    stopping: int
    buffered_messages: int
    routed: int
    duplicates_dropped: int
    unauthorized_dropped: int
    crashes: int
    mirrored: int = 0
    """Deliveries recorded in the transcript of the chat's session."""


RouterCommand = (
    RouteInbound
    | SessionStopping
    | SessionStopped
    | SessionCrashed
    | AdminResetSession
    | ExpireSessions
    | TimerFired
    | ApprovedUsersChanged
    | ReplaceAuthRules
    | GetRouterStatus
    | MirrorDelivery
    | HomesChanged
)
