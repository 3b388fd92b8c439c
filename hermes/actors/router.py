"""RouterActor: maps each inbound message to the SessionActor of its session_key.

Owns the map session_key -> live session, the buffers of keys whose session is stopping, the
intake (``router_intake``: access rules with the approved pairings, the dedupe window, the
journal and its receipts), the book of chats (which session last spoke where, for mirrors and
Delivery's directory), the gateway view handed to sessions, and the periodic expiry check.
Accepts ``RouterCommand``; tells sessions ``HandleUserMessage``/``MirrorMessage``/
``ResetSession``/``ExpireSession``/``HandOver``, the Store ``RecordInbound``/
``FindExpiredSessions``, Delivery ``ChatSeen``, and the PairingActor ``RequestPairing``. It is
the single writer per key: once a session says it is stopping, nothing more is routed to it,
so no message slips into a stopping actor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Final, Protocol, assert_never

import pykka

from hermes.actors.address import ActorAddress
from hermes.actors.router_access import AccessGate
from hermes.actors.router_chats import ChatBook
from hermes.actors.router_intake import DedupeKey, RouterIntake
from hermes.messages.access import PlatformUser
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import ChatSeen, DeliveryCommand, HomesChanged, MirrorDelivery
from hermes.messages.pairing import PairingCommand
from hermes.messages.ports import Clock
from hermes.messages.router import (
    AdminResetSession,
    ApprovedUsersChanged,
    ExpireSessions,
    GetRouterStatus,
    ReplaceAuthRules,
    RouteInbound,
    RouterCommand,
    RouterStatus,
    SessionCrashed,
    SessionStopped,
    SessionStopping,
)
from hermes.messages.scheduler import ArmTimer, SchedulerCommand, TimerFired
from hermes.messages.session import (
    ExpireSession,
    GatewayView,
    HandleUserMessage,
    HandOver,
    MirrorMessage,
    ResetReason,
    ResetSession,
    SessionCommand,
)
from hermes.messages.store import FindExpiredSessions, StoreCommand
from hermes.messages.values import ChatAddress, InboundMessage, Platform, SessionKey
from hermes.policies.authorization import AuthRules
from hermes.policies.session_keys import SessionRoute, route_for, route_for_key
from hermes.policies.sessions import ResetRules
from hermes.policies.targets import PUSH_PLATFORMS

logger = logging.getLogger(__name__)

EXPIRY_TIMER: Final = "router:expiry-check"

RoutedCommand = HandleUserMessage | MirrorMessage | ResetSession | ExpireSession


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
class ExpiryCheck:
    """The periodic check that finalizes sessions expired under the reset policy."""

    rules: ResetRules
    scheduler: Address[SchedulerCommand]
    clock: Clock
    local_zone: tzinfo
    interval_seconds: float = 300.0
    batch: int = 20
    """Sessions asked to end per check, so a backlog never becomes a storm of flush turns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterDeps:
    """Everything the Router is started with."""

    sessions: SessionFactory
    store: Address[StoreCommand]
    group_sessions_per_user: bool
    auth: AuthRules
    recent_inbound: tuple[DedupeKey, ...] = ()
    """Inbound ids already journaled (from the Store at start), so re-deliveries after a
    restart are dropped too."""
    expiry: ExpiryCheck | None = None
    session_stop_timeout: float = 5.0
    pairing: Address[PairingCommand] | None = None
    """Where unauthorized DMs ask for a pairing code; None: never offered."""
    approved: frozenset[PlatformUser] = frozenset()
    """The approved pairings at start (from the Store)."""
    delivery: Address[DeliveryCommand] | None = None
    """Where chats seen are reported (Delivery's directory); None: nowhere."""
    connected: tuple[Platform, ...] = ()
    """The platforms the gateway runs (told to the agent every turn)."""
    known_chats: tuple[tuple[ChatAddress, SessionKey], ...] = ()
    """The chats of sessions known at start with their keys, oldest first (for mirrors)."""


@dataclass(slots=True)
class _Live:
    handle: SessionHandle
    incarnation: int
    buffered: list[tuple[SessionRoute, RoutedCommand]] = field(default_factory=list)
    """Commands for the key while this session is stopping (replayed to the next one)."""


@dataclass(slots=True)
class _Counters:
    routed: int = 0
    crashes: int = 0
    mirrored: int = 0


class RouterActor(pykka.ThreadingActor):
    """The owner of the session_key -> SessionActor map.

    Accepts: ``RouterCommand``.
    Emits: ``HandleUserMessage``, ``MirrorMessage``, ``ResetSession``, ``ExpireSession``,
        ``HandOver`` to sessions; ``RecordInbound``, ``FindExpiredSessions`` to the Store;
        ``ChatSeen`` to Delivery; ``ArmTimer`` to the Scheduler; ``RequestPairing`` to the
        PairingActor.
    Owns: live and stopping sessions (with their buffers), the dedupe window, the access
        rules and approved pairings, the chat book, the gateway view, counters.
    Lifecycle: started by the System before the platforms; on stop it stops every session,
        one at a time.
    """

    def __init__(self, deps: RouterDeps) -> None:
        """Keep ``deps`` and seed the dedupe window."""
        super().__init__()
        self._deps = deps
        self._live: dict[SessionKey, _Live] = {}
        self._stopping: dict[SessionKey, _Live] = {}
        self._next_incarnation = 1
        self._counters = _Counters()
        self._intake = RouterIntake(
            AccessGate(deps.auth, deps.approved, deps.pairing),
            deps.store,
            deps.recent_inbound,
            group_sessions_per_user=deps.group_sessions_per_user,
        )
        self._chats = ChatBook(deps.known_chats)
        self._gateway = GatewayView(connected=deps.connected)
        self._self: ActorAddress[RouterCommand] = ActorAddress(self.actor_ref)

    def on_start(self) -> None:
        """Arm the first expiry check, if any reset rule is in force."""
        self._arm_expiry_check()

    def on_stop(self) -> None:
        """Stop every session, one at a time (each persists what it holds)."""
        entries = [*self._live.values(), *self._stopping.values()]
        self._live.clear()
        self._stopping.clear()
        for entry in entries:
            entry.handle.stop(self._deps.session_stop_timeout)
        logger.info("router stopped %d sessions", len(entries))

    def on_receive(self, message: RouterCommand) -> object:
        """Dispatch one message of the Router's protocol."""
        match message:
            case RouteInbound():
                self._on_route_inbound(message)
            case SessionStopping():
                self._on_session_stopping(message)
            case SessionStopped():
                self._on_session_stopped(message)
            case SessionCrashed():
                self._on_session_crashed(message)
            case AdminResetSession() | ExpireSessions():
                self._on_end_requests(message)
            case TimerFired():
                self._on_expiry_check()
            case ApprovedUsersChanged() | ReplaceAuthRules():
                self._intake.gate.apply(message)
            case MirrorDelivery() | HomesChanged():
                self._on_delivery_feed(message)
            case GetRouterStatus():
                return self._status()
            case _:
                assert_never(message)
        return None

    def _on_end_requests(self, message: AdminResetSession | ExpireSessions) -> None:
        if isinstance(message, AdminResetSession):
            route = route_for_key(message.session_key)
            self._dispatch(route, ResetSession(reason=ResetReason.ADMIN))
        else:
            self._replay((route_for_key(key), ExpireSession()) for key in message.session_keys)

    def _on_route_inbound(self, command: RouteInbound) -> None:
        route = self._intake.accept(command)
        if route is None:
            return
        inbound = command.message
        if not route.ephemeral:
            self._note_chat(inbound.origin, route.key)
        self._counters.routed += 1
        self._dispatch(route, HandleUserMessage(message=inbound, gateway=self._gateway))

    def _note_chat(self, origin: ChatAddress, key: SessionKey) -> None:
        delivery = self._deps.delivery
        if not self._chats.note(origin, key) or delivery is None:
            return
        if origin.platform not in PUSH_PLATFORMS:
            return  # nothing can be sent there unasked: no use as a target
        try:
            delivery.tell(ChatSeen(address=origin))
        except AddressClosedError:
            logger.debug("delivery gone; chat %s not added to the directory", origin.chat_id)

    def _on_delivery_feed(self, message: MirrorDelivery | HomesChanged) -> None:
        if isinstance(message, HomesChanged):
            self._gateway = replace(self._gateway, homes=message.homes)
            return
        key = self._chats.session_of(message.address)
        if key is None:
            logger.debug("no session in %s to mirror into", message.address.chat_id)
            return
        self._counters.mirrored += 1
        self._dispatch(route_for_key(key), MirrorMessage(text=message.text, label=message.label))

    def _on_session_stopping(self, message: SessionStopping) -> None:
        live = self._live.get(message.session_key)
        if live is None or live.incarnation != message.incarnation:
            return
        del self._live[message.session_key]
        self._stopping[message.session_key] = live
        live.handle.address.tell(HandOver())

    def _on_session_stopped(self, message: SessionStopped) -> None:
        entry = self._stopping.get(message.session_key)
        if entry is None or entry.incarnation != message.incarnation:
            return
        del self._stopping[message.session_key]
        handed = (
            (self._route_of(inbound), HandleUserMessage(message=inbound, gateway=self._gateway))
            for inbound in message.handover
        )
        self._replay([*handed, *entry.buffered])

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
        entry = self._stopping.get(message.session_key)
        if entry is not None and entry.incarnation == message.incarnation:
            del self._stopping[message.session_key]
            self._replay(entry.buffered)

    def _on_expiry_check(self) -> None:
        expiry = self._deps.expiry
        if expiry is None:
            return
        cutoff = expiry.rules.latest_cutoff(expiry.clock.now(), expiry.local_zone)
        if cutoff is not None:
            self._deps.store.tell(
                FindExpiredSessions(updated_before=cutoff, limit=expiry.batch, reply_to=self._self)
            )
        self._arm_expiry_check()

    def _dispatch(self, route: SessionRoute, command: RoutedCommand) -> None:
        stopping = self._stopping.get(route.key)
        if stopping is not None:
            stopping.buffered.append((route, command))
            return
        live = self._live.get(route.key) or self._activate(route)
        try:
            live.handle.address.tell(command)
        except AddressClosedError:
            logger.warning("session %s was dead; re-activating it", route.key)
            del self._live[route.key]
            self._activate(route).handle.address.tell(command)

    def _activate(self, route: SessionRoute) -> _Live:
        incarnation = self._next_incarnation
        self._next_incarnation += 1
        handle = self._deps.sessions.spawn(route, incarnation, self._self)
        live = _Live(handle=handle, incarnation=incarnation)
        self._live[route.key] = live
        return live

    def _replay(self, commands: Iterable[tuple[SessionRoute, RoutedCommand]]) -> None:
        for route, command in commands:
            self._dispatch(route, command)

    def _route_of(self, inbound: InboundMessage) -> SessionRoute:
        return route_for(inbound, group_sessions_per_user=self._deps.group_sessions_per_user)

    def _arm_expiry_check(self) -> None:
        expiry = self._deps.expiry
        if (
            expiry is None
            or expiry.rules.latest_cutoff(expiry.clock.now(), expiry.local_zone) is None
        ):
            return
        try:
            expiry.scheduler.tell(
                ArmTimer(
                    key=EXPIRY_TIMER, delay_seconds=expiry.interval_seconds, reply_to=self._self
                )
            )
        except AddressClosedError:
            logger.debug("scheduler gone; no more expiry checks")

    def _status(self) -> RouterStatus:
        return RouterStatus(
            live_sessions=len(self._live),
            stopping=len(self._stopping),
            buffered_messages=sum(len(entry.buffered) for entry in self._stopping.values()),
            routed=self._counters.routed,
            duplicates_dropped=self._intake.duplicates,
            unauthorized_dropped=self._intake.gate.refused,
            crashes=self._counters.crashes,
            mirrored=self._counters.mirrored,
        )
