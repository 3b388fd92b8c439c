"""Long-term memory as the core sees it: a provider, a manager per session, a handle per turn.

A SessionActor opens its own ``MemoryManager`` when it activates and closes it when it stops;
its turns get a ``MemoryHandle`` bound to that session's scope and the user who spoke. The
handle is a capability, like an ``Address``: a thread-safe reference that only ever reaches
its own session's memory, which is why a frozen ``TurnContext`` may carry it. There is no
module-level "current session" anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hermes.messages.values import Platform, Sender


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryScope:
    """Whose memory a manager serves."""

    scope: str
    """The long-term scope: the session key, or the HTTP API's X-Hermes-Session-Key."""
    session_key: str
    platform: Platform


class MemoryUnavailableError(Exception):
    """A memory operation failed; the text is fit for the agent to read."""


class MemoryHandle(Protocol):
    """The memory tools of one turn: one session's scope, one user. Safe on any event loop."""

    async def profile(self) -> str:
        """What is known about the user (saved conclusions, the peer card)."""
        ...

    async def search(self, query: str) -> str:
        """Earlier messages of this scope that match ``query``."""
        ...

    async def context(self, query: str) -> str:
        """An answer about the user or the conversation's past, for ``query``."""
        ...

    async def conclude(self, conclusion: str) -> str:
        """Save a lasting fact about the user; returns a confirmation."""
        ...


class MemoryManager(Protocol):
    """One session's memory, owned by its SessionActor (called from that actor's thread)."""

    def for_user(self, sender: Sender) -> MemoryHandle:
        """The handle a turn answering ``sender`` gets."""
        ...

    def record(self, session_id: str, sender: Sender, inputs: tuple[str, ...], reply: str) -> None:
        """Queue a finished exchange for the long-term store; returns at once."""
        ...

    def end_session(self, session_id: str) -> None:
        """Queue the provider's end-of-session hook for ``session_id``; returns at once."""
        ...

    def drain(self, timeout: float) -> bool:
        """Wait until every queued write of this manager is done; False on timeout."""
        ...

    def close(self) -> None:
        """Release the manager (after ``drain``); it is not used again."""
        ...


class MemoryProvider(Protocol):
    """A long-term memory backend, shared by all sessions (thread-safe)."""

    @property
    def description(self) -> str:
        """What it is, for the start-up log and status (no secrets)."""
        ...

    def open(self, scope: MemoryScope) -> MemoryManager:
        """A manager for one session; no blocking I/O."""
        ...

    def close(self, timeout: float) -> None:
        """Finish queued work (up to ``timeout``) and release connections."""
        ...
