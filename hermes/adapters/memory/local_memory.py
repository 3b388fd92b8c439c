"""Local long-term memory, the embedded default: SQLite with FTS5 in the data directory.

``LocalMemoryProvider`` owns one database file and one ``MemoryWorker``; every SQLite call runs
inline on the worker's loop thread (they take microseconds to a few milliseconds), so the file
has exactly one user. Recorded exchanges of all sessions are written together, one transaction
per batch (``local_batch``). A manager serves one scope and a handle one user in it: neither can
name another scope or another user, and no id a user sends ever becomes a file path.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from hermes.adapters.memory.formatting import (
    SEARCH_LIMIT,
    context_text,
    profile_text,
    quoted,
    search_text,
)
from hermes.adapters.memory.local_batch import Exchange, ExchangeBatch
from hermes.adapters.memory.local_store import LocalMemoryStore, StoredMessage
from hermes.adapters.memory.writer import MemoryWorker, RetryPolicy, WorkerSettings, WriteQueue
from hermes.messages.address import AddressClosedError
from hermes.messages.memory import MemoryScope, MemoryUnavailableError

if TYPE_CHECKING:
    from pathlib import Path

    from hermes.messages.values import Sender

logger = logging.getLogger(__name__)

PROFILE_LIMIT = 50
"""Most conclusions a profile lists."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LocalMemoryProvider:
    """Long-term memory in one SQLite file (module docstring); shared by every session."""

    def __init__(self, path: Path, *, retry: RetryPolicy | None = None) -> None:
        """Open (creating if needed) the memory database at ``path`` and start its worker.

        Raises:
            sqlite3.Error: the file cannot be opened as a memory database.
        """
        self._path = path
        self._store = LocalMemoryStore(path)
        self._worker = MemoryWorker(
            WorkerSettings(name="memory-local", retry=retry or RetryPolicy())
        )
        self._worker.start()
        self._batch = ExchangeBatch(self._store, self._worker)

    @property
    def description(self) -> str:
        """What it is, for the start-up log and status."""
        return f"local memory (SQLite FTS5, {self._path})"

    def open(self, scope: MemoryScope) -> LocalMemoryManager:
        """A manager for one session's scope; no I/O.

        Raises:
            RuntimeError: the provider is closed.
        """
        if self._worker.closed:
            raise RuntimeError("the local memory provider is closed")
        return LocalMemoryManager(scope, self._store, self._worker, self._batch)

    def close(self, timeout: float) -> None:
        """Finish queued writes (up to ``timeout``), then close the database."""
        self._worker.close(timeout, release=self._store.close)


class LocalMemoryManager:
    """One session's local memory; its methods are called from that session's actor thread."""

    def __init__(
        self,
        scope: MemoryScope,
        store: LocalMemoryStore,
        worker: MemoryWorker,
        batch: ExchangeBatch,
    ) -> None:
        """Serve ``scope`` from ``store`` through ``worker``; exchanges join ``batch``."""
        self.scope = scope
        self._store = store
        self._worker = worker
        self._batch = batch
        self._queue = WriteQueue(scope.scope)
        self._closed = threading.Event()

    def for_user(self, sender: Sender) -> LocalMemoryHandle:
        """The memory tools of a turn answering ``sender``."""
        return LocalMemoryHandle(self, sender)

    def record(self, session_id: str, sender: Sender, inputs: tuple[str, ...], reply: str) -> None:
        """Queue one exchange (the user's inputs, then the reply); returns at once."""
        messages = [
            StoredMessage(
                role="user", sender_id=sender.user_id, sender_name=sender.user_name, content=text
            )
            for text in inputs
            if text.strip()
        ]
        if reply.strip():
            messages.append(
                StoredMessage(role="assistant", sender_id="", sender_name=None, content=reply)
            )
        if messages:
            self._batch.add(
                Exchange(
                    queue=self._queue,
                    scope=self.scope.scope,
                    session_id=session_id,
                    messages=tuple(messages),
                    at=_utc_now(),
                )
            )

    def end_session(self, session_id: str) -> None:
        """Queue a row saying ``session_id`` ended; returns at once."""
        write = partial(self._store.end_session, self.scope.scope, session_id, _utc_now())
        self._worker.enqueue(self._queue, "end_session", write)

    def drain(self, timeout: float) -> bool:
        """Wait until this manager's queued writes are done; False on timeout.

        Its exchanges are in the shared batch, or on its own queue when they failed there.
        """
        deadline = time.monotonic() + timeout
        if not self._worker.drain(self._batch.queue, timeout):
            return False
        return self._worker.drain(self._queue, max(deadline - time.monotonic(), 0.0))

    def close(self) -> None:
        """Refuse further reads through this manager's handles."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed.is_set()

    async def read(self, call: Callable[[], str]) -> str:
        """Run a read of this scope on the worker; failures become ``MemoryUnavailableError``."""
        if self.closed:
            raise MemoryUnavailableError("This conversation's memory is closed.")
        try:
            return await self._worker.read(call)
        except (sqlite3.Error, AddressClosedError) as error:
            reason = self._worker.describe(error)
            logger.warning("local memory read for scope %r failed: %s", self.scope.scope, reason)
            raise MemoryUnavailableError(
                f"Local memory is unavailable right now: {reason}"
            ) from error

    def profile_text(self, user_id: str) -> str:
        """The profile of ``user_id`` in this scope (worker thread only)."""
        saved = self._store.conclusions(self.scope.scope, user_id, PROFILE_LIMIT)
        return profile_text([conclusion.text for conclusion in saved])

    def search_text(self, query: str) -> str:
        """Search results for ``query`` in this scope (worker thread only)."""
        return search_text(query, self._store.search(self.scope.scope, query, SEARCH_LIMIT))

    def context_text(self, user_id: str, query: str) -> str:
        """The profile plus the best excerpts for ``query`` (worker thread only)."""
        saved = self._store.conclusions(self.scope.scope, user_id, PROFILE_LIMIT)
        excerpts = self._store.search(self.scope.scope, query, SEARCH_LIMIT)
        return context_text(query, [conclusion.text for conclusion in saved], excerpts)

    def conclude_text(self, user_id: str, conclusion: str) -> str:
        """Save ``conclusion`` about ``user_id`` and say so (worker thread only)."""
        if not conclusion.strip():
            return "Nothing to save: the conclusion is empty."
        if self._store.conclude(self.scope.scope, user_id, conclusion, _utc_now()):
            return f"Saved: {quoted(conclusion)}."
        return f"Already saved: {quoted(conclusion)}."


class LocalMemoryHandle:
    """The memory tools of one turn: one scope, one user. Safe to await on any event loop."""

    __slots__ = ("_manager", "_user_id")

    def __init__(self, manager: LocalMemoryManager, sender: Sender) -> None:
        """Bind the tools to ``manager``'s scope and ``sender``."""
        self._manager = manager
        self._user_id = sender.user_id

    async def profile(self) -> str:
        """The conclusions saved about this user in this scope."""
        return await self._manager.read(partial(self._manager.profile_text, self._user_id))

    async def search(self, query: str) -> str:
        """Earlier messages of this scope matching ``query``, best first, with dates."""
        return await self._manager.read(partial(self._manager.search_text, query))

    async def context(self, query: str) -> str:
        """The profile plus the earlier messages that best match ``query``."""
        return await self._manager.read(partial(self._manager.context_text, self._user_id, query))

    async def conclude(self, conclusion: str) -> str:
        """Save a lasting fact about this user (deduplicated); returns a confirmation."""
        return await self._manager.read(
            partial(self._manager.conclude_text, self._user_id, conclusion)
        )
