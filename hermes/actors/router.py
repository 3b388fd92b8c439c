"""RouterActor: maps each inbound message to the SessionActor of its session_key.

Owns the map session_key -> live session, the buffers of keys whose session is passivating,
and the inbound dedupe window. Accepts ``RouterCommand``; tells sessions
``HandleUserMessage``/``ResetSession``/``PassivateSession`` and the Store ``RecordInbound``.
It is the single writer per key: it marks a key passivating *before* the session stops, so no
message slips into a stopping actor.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol, assert_never

import pykka

from hermes.actors.address import ActorAddress
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.router import (
    AdminResetSession,
    GetRouterStatus,
    RouteInbound,
    RouterCommand,
    RouterStatus,
    SessionCrashed,
    SessionIdle,
    SessionPassivated,
)
from hermes.messages.session import (
    HandleUserMessage,
    PassivateSession,
    ResetReason,
    ResetSession,
    SessionCommand,
)
from hermes.messages.store import RecordInbound, StoreCommand
from hermes.messages.values import Platform, SessionKey
from hermes.policies.session_keys import SessionRoute, route_for

logger = logging.getLogger(__name__)

DEDUPE_WINDOW: Final = 100_000
"""Inbound (platform, message_id) pairs remembered to drop re-deliveries."""

DedupeKey = tuple[Platform, str]
RoutedCommand = HandleUserMessage | ResetSession


class SessionHandle(Protocol):
    """A live SessionActor as its parent sees it."""

    @property
    def address(self) -> Address[SessionCommand]:
        """Where to send it messages."""
        ...

    def stop(self, timeout: float) -> None:
        """Stop it (after what is already queued), waiting up to ``timeout`` seconds."""
        ...


class SessionFactory(Protocol):
    """Starts SessionActors; ``hermes.actors.system`` provides the real one."""

    def spawn(
        self, route: SessionRoute, incarnation: int, router: Address[RouterCommand]
    ) -> SessionHandle:
        """Start the session for ``route``; it reports its lifecycle to ``router``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterDeps:
    """Everything the Router is started with."""

    sessions: SessionFactory
    store: Address[StoreCommand]
    group_sessions_per_user: bool
    recent_inbound: tuple[DedupeKey, ...] = ()
    """Inbound ids already journaled (from the Store at start), so re-deliveries after a
    restart are dropped too."""
    session_stop_timeout: float = 5.0


@dataclass(slots=True)
class _Live:
    handle: SessionHandle
    route: SessionRoute
    incarnation: int
    routed: int = 0


@dataclass(slots=True)
class _Counters:
    routed: int = 0
    duplicates: int = 0
    crashes: int = 0


@dataclass(slots=True)
class _Passivating:
    live: _Live
    buffered: list[tuple[SessionRoute, RoutedCommand]] = field(default_factory=list)


class RouterActor(pykka.ThreadingActor):
    """The owner of the session_key -> SessionActor map.

    Accepts: ``RouterCommand``.
    Emits: ``HandleUserMessage``, ``ResetSession``, ``PassivateSession`` to sessions;
        ``RecordInbound`` to the Store.
    Owns: live sessions, passivation buffers, the dedupe window, counters.
    Lifecycle: started by the System before the platforms; on stop it stops every live session,
        one at a time.
    """

    def __init__(self, deps: RouterDeps) -> None:
        """Keep ``deps`` and seed the dedupe window."""
        super().__init__()
        self._deps = deps
        self._live: dict[SessionKey, _Live] = {}
        self._passivating: dict[SessionKey, _Passivating] = {}
        self._seen: OrderedDict[DedupeKey, None] = OrderedDict.fromkeys(deps.recent_inbound)
        self._next_incarnation = 1
        self._counters = _Counters()
        self._self: ActorAddress[RouterCommand] = ActorAddress(self.actor_ref)

    def on_stop(self) -> None:
        """Stop every session, one at a time (each persists what it holds)."""
        handles = [live.handle for live in self._live.values()]
        handles += [entry.live.handle for entry in self._passivating.values()]
        self._live.clear()
        self._passivating.clear()
        for handle in handles:
            handle.stop(self._deps.session_stop_timeout)
        logger.info("router stopped %d sessions", len(handles))

    def on_receive(self, message: RouterCommand) -> object:
        """Dispatch one message of the Router's protocol."""
        match message:
            case RouteInbound():
                self._on_route_inbound(message)
            case SessionIdle():
                self._on_session_idle(message)
            case SessionPassivated():
                self._on_session_passivated(message)
            case SessionCrashed():
                self._on_session_crashed(message)
            case AdminResetSession():
                route = SessionRoute(
                    key=message.session_key, memory_scope=message.session_key.value
                )
                self._dispatch(route, ResetSession(reason=ResetReason.ADMIN))
            case GetRouterStatus():
                return self._status()
            case _:
                assert_never(message)
        return None

    def _on_route_inbound(self, message: RouteInbound) -> None:
        inbound = message.message
        route = route_for(inbound, group_sessions_per_user=self._deps.group_sessions_per_user)
        if not inbound.awaits_reply:
            # A sender waiting on its connection retries as a new request; chat platforms
            # re-deliver the same message id, which must not be answered twice.
            if self._is_duplicate((inbound.origin.platform, inbound.message_id)):
                self._counters.duplicates += 1
                logger.info(
                    "dropped re-delivered message %s from %s",
                    inbound.message_id,
                    inbound.origin.platform,
                )
                return
            self._deps.store.tell(
                RecordInbound(
                    platform=inbound.origin.platform,
                    message_id=inbound.message_id,
                    session_key=route.key,
                    received_at=inbound.received_at,
                )
            )
        self._counters.routed += 1
        self._dispatch(route, HandleUserMessage(message=inbound))

    def _on_session_idle(self, message: SessionIdle) -> None:
        live = self._live.get(message.session_key)
        if live is None or live.incarnation != message.incarnation:
            return
        if live.routed != message.handled:
            return  # a message is on its way to the session: it is not idle after all
        del self._live[message.session_key]
        self._passivating[message.session_key] = _Passivating(live=live)
        live.handle.address.tell(PassivateSession())

    def _on_session_passivated(self, message: SessionPassivated) -> None:
        entry = self._passivating.get(message.session_key)
        if entry is None or entry.live.incarnation != message.incarnation:
            return
        del self._passivating[message.session_key]
        self._replay(entry.buffered)

    def _on_session_crashed(self, message: SessionCrashed) -> None:
        self._counters.crashes += 1
        logger.error(
            "session %s (incarnation %d) crashed: %s; next message restarts it from the Store",
            message.session_key,
            message.incarnation,
            message.error,
        )
        live = self._live.get(message.session_key)
        if live is not None and live.incarnation == message.incarnation:
            del self._live[message.session_key]
        entry = self._passivating.get(message.session_key)
        if entry is not None and entry.live.incarnation == message.incarnation:
            del self._passivating[message.session_key]
            self._replay(entry.buffered)

    def _dispatch(self, route: SessionRoute, command: RoutedCommand) -> None:
        entry = self._passivating.get(route.key)
        if entry is not None:
            entry.buffered.append((route, command))
            return
        live = self._live.get(route.key) or self._activate(route)
        try:
            live.handle.address.tell(command)
        except AddressClosedError:
            logger.warning("session %s was dead; re-activating it", route.key)
            del self._live[route.key]
            live = self._activate(route)
            live.handle.address.tell(command)
        if isinstance(command, HandleUserMessage):
            live.routed += 1

    def _activate(self, route: SessionRoute) -> _Live:
        incarnation = self._next_incarnation
        self._next_incarnation += 1
        live = _Live(
            handle=self._deps.sessions.spawn(route, incarnation, self._self),
            route=route,
            incarnation=incarnation,
        )
        self._live[route.key] = live
        return live

    def _replay(self, buffered: Iterable[tuple[SessionRoute, RoutedCommand]]) -> None:
        for route, command in buffered:
            self._dispatch(route, command)

    def _is_duplicate(self, key: DedupeKey) -> bool:
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > DEDUPE_WINDOW:
            self._seen.popitem(last=False)
        return False

    def _status(self) -> RouterStatus:
        return RouterStatus(
            live_sessions=len(self._live),
            passivating=len(self._passivating),
            buffered_messages=sum(len(entry.buffered) for entry in self._passivating.values()),
            routed=self._counters.routed,
            duplicates_dropped=self._counters.duplicates,
            crashes=self._counters.crashes,
        )
