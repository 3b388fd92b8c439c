"""Long-term memory in Honcho, through the honcho-ai SDK's synchronous client.

``HonchoMemoryProvider`` owns one ``honcho.Honcho`` client (its httpx client is thread-safe)
and one ``MemoryWorker``. Each SDK call blocks on HTTP, so it runs in the worker's small thread
pool, dispatched from the worker's loop: the loop keeps each manager's writes in order while
calls for different scopes overlap, and no actor thread or agent loop waits on the network.
(The SDK's ``.aio`` accessors were not used: they build their async client from the process
environment when no API key is given, which this provider must never read.) The SDK is given
the key, URL and workspace explicitly, and a request hook strips any Authorization header when
no key is configured, so ``HONCHO_*`` variables cannot leak in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Final

import httpx
from honcho import Honcho
from honcho.http.exceptions import HonchoError

from hermes.adapters.memory.formatting import bounded, profile_text, quoted, search_text
from hermes.adapters.memory.honcho_session import (
    MAX_BATCH,
    HonchoScopeLink,
    OutgoingMessage,
    chunked,
    honcho_id,
    user_peer_id,
)
from hermes.adapters.memory.writer import MemoryWorker, RetryPolicy, WorkerSettings, WriteQueue
from hermes.messages.address import AddressClosedError
from hermes.messages.memory import MemoryScope, MemoryUnavailableError
from hermes.messages.values import Sender

logger = logging.getLogger(__name__)

PRODUCTION_URL: Final = "https://api.honcho.dev"
IO_THREADS: Final = 8
"""Concurrent Honcho calls per provider (each scope's writes still run one at a time)."""
_READ_ERRORS: Final = (HonchoError, httpx.HTTPError, ValueError, AddressClosedError)


@dataclass(frozen=True, slots=True, kw_only=True)
class HonchoSettings:
    """How to reach Honcho; built by the configuration, never from the environment here."""

    api_key: str | None
    base_url: str | None
    """A self-hosted Honcho; None means Honcho's production service."""
    workspace_id: str = "hermes"
    ai_peer: str = "hermes"
    timeout: float = 30.0
    max_retries: int = 2
    """The SDK's own retries of one request; the worker retries whole writes on top."""

    def __post_init__(self) -> None:
        if not self.workspace_id or not self.ai_peer:
            raise ValueError("workspace_id and ai_peer must not be empty")
        if self.timeout <= 0 or self.max_retries < 0:
            raise ValueError("timeout must be positive and max_retries not negative")


def _drop_authorization(request: httpx.Request) -> None:
    request.headers.pop("Authorization", None)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HonchoMemoryProvider:
    """Long-term memory in Honcho (module docstring); shared by every session."""

    def __init__(self, settings: HonchoSettings, *, retry: RetryPolicy | None = None) -> None:
        """Build the SDK client (no HTTP call) and start the worker."""
        self._settings = settings
        hooks = {} if settings.api_key else {"request": [_drop_authorization]}
        self._http = httpx.Client(timeout=settings.timeout, event_hooks=hooks)
        self._client = Honcho(
            api_key=settings.api_key or None,
            base_url=settings.base_url or PRODUCTION_URL,
            workspace_id=settings.workspace_id,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            http_client=self._http,
        )
        self._worker = MemoryWorker(
            WorkerSettings(
                name="memory-honcho",
                retry=retry or RetryPolicy(),
                threads=IO_THREADS,
                secrets=(settings.api_key,) if settings.api_key else (),
            )
        )
        self._worker.start()

    @property
    def description(self) -> str:
        """Where memory lives, without the key."""
        url = self._settings.base_url or PRODUCTION_URL
        return f"Honcho memory ({url}, workspace {self._settings.workspace_id})"

    def open(self, scope: MemoryScope) -> HonchoMemoryManager:
        """A manager for one session's scope; no HTTP call.

        Raises:
            RuntimeError: the provider is closed.
        """
        if self._worker.closed:
            raise RuntimeError("the Honcho memory provider is closed")
        ai_peer = honcho_id(self._settings.ai_peer)
        link = HonchoScopeLink(self._client, honcho_id(scope.scope), ai_peer)
        return HonchoMemoryManager(scope, link, self._worker)

    def close(self, timeout: float) -> None:
        """Send queued writes (up to ``timeout``), then close the HTTP client."""
        self._worker.close(timeout, release=self._http.close)


class _RecordWrite:
    """Adds one exchange; a retry resumes after the batches already sent, so none repeats."""

    def __init__(
        self, link: HonchoScopeLink, user_peer: str, messages: list[OutgoingMessage]
    ) -> None:
        self._link = link
        self._user_peer = user_peer
        self._batches = [messages[i : i + MAX_BATCH] for i in range(0, len(messages), MAX_BATCH)]
        self._sent = 0

    def __call__(self) -> None:
        while self._sent < len(self._batches):
            self._link.add_messages(self._user_peer, self._batches[self._sent])
            self._sent += 1


class HonchoMemoryManager:
    """One session's Honcho memory; its methods are called from that session's actor thread."""

    def __init__(self, scope: MemoryScope, link: HonchoScopeLink, worker: MemoryWorker) -> None:
        """Serve ``scope`` through ``link`` on ``worker``."""
        self.scope = scope
        self.link = link
        self._worker = worker
        self._queue = WriteQueue(scope.scope)
        self._closed = threading.Event()

    @property
    def session_id(self) -> str:
        """The Honcho session of this scope."""
        return self.link.session_id

    def for_user(self, sender: Sender) -> HonchoMemoryHandle:
        """The memory tools of a turn answering ``sender`` (their own peer)."""
        return HonchoMemoryHandle(self, user_peer_id(self.scope.platform, sender.user_id))

    def record(self, session_id: str, sender: Sender, inputs: tuple[str, ...], reply: str) -> None:
        """Queue the user's inputs (as their peer), then the reply (as the AI peer)."""
        at = _utc_now()
        user_peer = user_peer_id(self.scope.platform, sender.user_id)
        metadata: dict[str, str | int] = {
            "hermes_session_id": session_id,
            "platform": self.scope.platform.value,
            "user_id": sender.user_id,
        }
        if sender.user_name:
            metadata["user_name"] = sender.user_name
        messages = _messages(user_peer, inputs, metadata, at)
        messages += _messages(self.link.ai_peer_id, (reply,), {"hermes_session_id": session_id}, at)
        if messages:
            self._worker.enqueue(
                self._queue, "record", _RecordWrite(self.link, user_peer, messages)
            )

    def end_session(self, session_id: str) -> None:
        """Queue the end of ``session_id``: a marker behind its writes, sending nothing.

        Honcho 2.7.0 has no end-of-session call (its deriver summarises sessions as messages
        arrive), so once drained it only guarantees every earlier write was sent or given up.
        """
        marker = partial(
            logger.debug, "Honcho writes of %s (%s) done", session_id, self.scope.scope
        )
        self._worker.enqueue(self._queue, "end_session", marker)

    def drain(self, timeout: float) -> bool:
        """Wait until this manager's queued writes were sent (or dropped); False on timeout."""
        return self._worker.drain(self._queue, timeout)

    def close(self) -> None:
        """Refuse further reads through this manager's handles."""
        self._closed.set()

    async def read(self, call: Callable[[], str]) -> str:
        """Run one Honcho call on the worker; failures become ``MemoryUnavailableError``."""
        if self._closed.is_set():
            raise MemoryUnavailableError("This conversation's memory is closed.")
        try:
            return await self._worker.read(call)
        except _READ_ERRORS as error:
            reason = self._worker.describe(error)
            logger.warning("Honcho read for scope %r failed: %s", self.scope.scope, reason)
            # from None: the SDK error's own text may quote the key, and a traceback of this
            # error (logged by whoever catches it) would print it.
            raise MemoryUnavailableError(
                f"Honcho memory is unavailable right now: {reason}"
            ) from None


def _messages(
    peer_id: str, texts: Sequence[str], metadata: dict[str, str | int], at: datetime
) -> list[OutgoingMessage]:
    """The messages for ``texts`` by one peer; blank ones skipped, long ones chunked."""
    messages = []
    for text in texts:
        if not text.strip():
            continue
        pieces = chunked(text)
        for number, piece in enumerate(pieces, start=1):
            extra = {"chunk": number, "chunks": len(pieces)} if len(pieces) > 1 else {}
            messages.append(
                OutgoingMessage(
                    peer_id=peer_id, content=piece, metadata={**metadata, **extra}, created_at=at
                )
            )
    return messages


class HonchoMemoryHandle:
    """The memory tools of one turn: one scope's session, one user's peer. Any event loop."""

    __slots__ = ("_manager", "_peer")

    def __init__(self, manager: HonchoMemoryManager, peer: str) -> None:
        """Bind the tools to ``manager``'s session and the user peer ``peer``."""
        self._manager = manager
        self._peer = peer

    async def profile(self) -> str:
        """The user peer's card, or a note that nothing is known yet."""
        return await self._manager.read(self._profile)

    async def search(self, query: str) -> str:
        """Messages of this scope's Honcho session matching ``query``."""
        if not query.strip():
            return f"No earlier messages match {quoted(query)}."
        return await self._manager.read(partial(self._search, query))

    async def context(self, query: str) -> str:
        """Honcho's dialectic answer about the user, confined to this scope's session."""
        if not query.strip():
            return "Ask a question about the user or the conversation's past."
        return await self._manager.read(partial(self._context, query))

    async def conclude(self, conclusion: str) -> str:
        """Save a lasting fact about the user as a Honcho conclusion."""
        text = " ".join(conclusion.split())
        if not text:
            return "Nothing to save: the conclusion is empty."
        return await self._manager.read(partial(self._conclude, text))

    def _profile(self) -> str:
        facts = self._manager.link.card(self._peer)
        if not facts:
            return "Nothing is known about this user yet."
        return profile_text(facts, header="What Honcho knows about this user:")

    def _search(self, query: str) -> str:
        return search_text(query, self._manager.link.search(self._peer, query))

    def _context(self, query: str) -> str:
        answer = self._manager.link.dialectic(self._peer, query)
        return bounded(answer) if answer.strip() else "Honcho has nothing on that yet."

    def _conclude(self, text: str) -> str:
        self._manager.link.conclude(self._peer, text)
        return f"Saved: {quoted(text)}."
