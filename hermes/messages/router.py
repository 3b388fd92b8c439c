"""The Router's protocol: inbound messages, the session lifecycle events, operator requests.

The Router alone maps a session_key to its live SessionActor. Sessions tell it when they are
idle, stopped or crashed; ``incarnation`` tells one activation of a key from the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from hermes.messages.values import InboundMessage, SessionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteInbound:
    """Sent by a platform adapter to the Router: a person sent this message."""

    message: InboundMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionIdle:
    """Sent by a SessionActor to the Router: idle long enough to passivate.

    ``handled`` counts the messages the session got from the Router; the Router passivates it
    only when nothing it routed is still in flight.
    """

    session_key: SessionKey
    incarnation: int
    handled: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPassivated:
    """Sent by a SessionActor to the Router: state persisted, actor stopping."""

    session_key: SessionKey
    incarnation: int


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
class GetRouterStatus:
    """Query (ask only, with a timeout): the Router's counters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterStatus:
    """Reply to ``GetRouterStatus``."""

    live_sessions: int
    passivating: int
    buffered_messages: int
    routed: int
    duplicates_dropped: int
    crashes: int


RouterCommand = (
    RouteInbound
    | SessionIdle
    | SessionPassivated
    | SessionCrashed
    | AdminResetSession
    | GetRouterStatus
)
