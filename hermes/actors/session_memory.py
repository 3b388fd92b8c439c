"""A session's long-term memory: its own manager, opened when the session activates.

Owned by one SessionActor and used only by it. Turns get a handle bound to this
session's scope and the user who spoke; finished exchanges are queued for the provider; at the
end the provider's end-of-session hook runs and queued writes are drained before the actor
stops. Without a provider (``memory: none``) every call is a no-op.
"""

from __future__ import annotations

import logging

from hermes.actors.actor_pool import blocking
from hermes.messages.memory import MemoryHandle, MemoryManager, MemoryProvider, MemoryScope
from hermes.messages.values import Platform, Sender
from hermes.policies.session_keys import SessionRoute, platform_of_key

logger = logging.getLogger(__name__)


class SessionMemory:
    """The memory manager of one session, if a provider is configured."""

    def __init__(
        self, provider: MemoryProvider | None, route: SessionRoute, drain_seconds: float
    ) -> None:
        """Open nothing yet: ``open`` runs in the actor's ``on_start``."""
        self._provider = None if route.ephemeral else provider
        self._route = route
        self._drain_seconds = drain_seconds
        self._manager: MemoryManager | None = None

    @property
    def enabled(self) -> bool:
        """True when this session has long-term memory."""
        return self._provider is not None

    def open(self) -> None:
        """Open this session's manager (no blocking I/O)."""
        if self._provider is None:
            return
        scope = MemoryScope(
            scope=self._route.memory_scope,
            session_key=self._route.key.value,
            platform=platform_of_key(self._route.key) or Platform.API_SERVER,
        )
        self._manager = self._provider.open(scope)

    def handle_for(self, sender: Sender) -> MemoryHandle | None:
        """The memory tools of a turn answering ``sender``."""
        return None if self._manager is None else self._manager.for_user(sender)

    def record(self, session_id: str, sender: Sender, inputs: tuple[str, ...], reply: str) -> None:
        """Queue a finished exchange."""
        if self._manager is not None:
            self._manager.record(session_id, sender, inputs, reply)

    def end_session(self, session_id: str) -> None:
        """Run the provider's end-of-session hook and wait (bounded) for queued writes."""
        if self._manager is None:
            return
        self._manager.end_session(session_id)
        self._drain()

    def close(self) -> None:
        """Drain queued writes (bounded) and release the manager."""
        if self._manager is None:
            return
        self._drain()
        self._manager.close()
        self._manager = None

    def _drain(self) -> None:
        if self._manager is None:
            return
        with blocking():  # the one wait of a session: other sessions get a spare worker
            drained = self._manager.drain(self._drain_seconds)
        if not drained:
            logger.warning(
                "memory writes of %s still queued after %.0f s",
                self._route.key,
                self._drain_seconds,
            )
