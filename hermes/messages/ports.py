"""The small interfaces the core depends on and the adapters implement.

``Agent`` runs turns, ``StateStorage`` keeps durable state, ``PlatformAdapter`` connects one
chat platform. The core holds these and never imports a concrete adapter; only
``hermes.actors.system`` chooses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from hermes.messages.address import Address
from hermes.messages.agent import TurnContext, TurnResult
from hermes.messages.delivery import DeliverMessage, PlatformCommand
from hermes.messages.router import RouteInbound
from hermes.messages.store import SessionRecord, SessionSnapshot, StoreWrite
from hermes.messages.values import ChatAddress, HomeChannel, InboundMessage, Platform, SessionKey

DeltaSink = Callable[[str], None]
"""Receives partial answer text while a turn streams; called on the agent's event loop."""


class Agent(Protocol):
    """Runs one turn at a time per call; many calls may run concurrently on one event loop."""

    @property
    def description(self) -> str:
        """What this agent is, for the start-up log and status (no secrets)."""
        ...

    async def run_turn(self, context: TurnContext, on_delta: DeltaSink | None) -> TurnResult:
        """Answer ``context.inputs`` given ``context.history``.

        Raises:
            AgentError: an expected failure, with a text fit for the user.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; called once on the runtime's loop at shutdown."""
        ...


class StorageError(Exception):
    """The durable store could not be opened, read or written."""


class StateStorage(Protocol):
    """Durable state. Used by one thread at a time (the Store actor, or start-up code)."""

    @property
    def location(self) -> str:
        """Where the state lives, for logs and errors."""
        ...

    def apply(self, writes: Sequence[StoreWrite]) -> None:
        """Apply ``writes`` in order, in one transaction (all or none)."""
        ...

    def load_session(
        self, session_key: SessionKey, session_id: str | None, history_limit: int
    ) -> SessionSnapshot:
        """The entry of ``session_key`` and the last ``history_limit`` transcript messages.

        The transcript read is ``session_id``'s when given, else the entry's current one.
        """
        ...

    def get_session(self, session_key: SessionKey) -> SessionRecord | None:
        """The entry of ``session_key``, if any."""
        ...

    def list_sessions(self, active_since: datetime | None) -> tuple[SessionRecord, ...]:
        """Entries updated at or after ``active_since`` (all when None), newest first."""
        ...

    def recent_chats(
        self, active_since: datetime, limit: int
    ) -> tuple[tuple[ChatAddress, SessionKey], ...]:
        """The chats of the ``limit`` sessions updated last since ``active_since``, newest first."""
        ...

    def expired_candidates(self, updated_before: datetime, limit: int) -> tuple[SessionKey, ...]:
        """Keys whose current session has unflushed turns, oldest first.

        Only sessions last active before ``updated_before``; at most ``limit`` of them.
        """
        ...

    def home_channels(self) -> tuple[HomeChannel, ...]:
        """The home channels chosen with ``/sethome``, one per platform at most."""
        ...

    def recent_inbound(self, since: datetime) -> tuple[tuple[Platform, str], ...]:
        """(platform, message_id) of inbound messages journaled at or after ``since``."""
        ...

    def unsettled_inbound(self, since: datetime) -> tuple[InboundMessage, ...]:
        """Journaled messages since ``since`` never settled, oldest first (older: given up)."""
        ...

    def pending_outbox(self) -> tuple[DeliverMessage, ...]:
        """Replies committed but never confirmed by their platform, oldest first."""
        ...

    def close(self) -> None:
        """Flush and close."""
        ...


class PlatformState(StrEnum):
    """Where a platform adapter is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformHealth:
    """A platform adapter's state, for ``admin status``."""

    platform: Platform
    state: PlatformState
    detail: str = ""


class PlatformStartError(Exception):
    """A platform adapter could not start; the message says why, without secrets."""


class PlatformAdapter(Protocol):
    """One chat platform: turns its updates into ``RouteInbound`` and sends what it is told.

    An adapter owns one event-loop thread. It never blocks that loop on an actor: inbound it
    only ``tell``s the Router; outbound arrives on ``address``.
    """

    @property
    def platform(self) -> Platform:
        """Which platform this adapter serves."""
        ...

    @property
    def max_message_length(self) -> int | None:
        """The longest text one platform message holds, or None for no limit."""
        ...

    @property
    def address(self) -> Address[PlatformCommand]:
        """Where Delivery sends this platform's outbound commands."""
        ...

    def start(self, router: Address[RouteInbound]) -> None:
        """Connect and begin intake; return once ready.

        Raises:
            PlatformStartError: the platform cannot start (bad credentials, port in use).
        """
        ...

    def stop_intake(self) -> None:
        """Stop accepting new messages; outbound keeps working until ``close``."""
        ...

    def close(self, timeout: float) -> None:
        """Disconnect and stop the adapter's thread within ``timeout`` seconds."""
        ...

    def health(self) -> PlatformHealth:
        """The adapter's current state (safe to call from any thread)."""
        ...


class Clock(Protocol):
    """Tells the time; tests substitute a controllable one."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...
