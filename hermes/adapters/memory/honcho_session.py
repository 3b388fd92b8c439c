"""What one Hermes memory scope is in Honcho, and the blocking SDK calls that reach it.

The Honcho session id is derived from the long-term scope (never the rotating gateway
session_id), so ``/new`` keeps the same Honcho session; each platform user is a peer of their
own (``user-<platform>-<user id>``), never one peer shared by every user; the assistant is one
configured AI peer. ``HonchoScopeLink`` creates the session and peers lazily, on the first
call that needs them, and only ever touches its own session. Every method blocks on HTTP and
runs on the provider's worker pool, never on an actor thread or an event loop.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

# honcho-ai 2.7.0 ships no py.typed: its objects are Any here and are wrapped in typed calls.
from honcho import MessageCreateParams
from honcho.api_types import SessionPeerConfig

from hermes.adapters.memory.formatting import SEARCH_LIMIT, Excerpt
from hermes.messages.values import Platform

MAX_MESSAGE_CHARS: Final = 25_000
"""Honcho's per-message limit (server ``MAX_MESSAGE_SIZE``); longer messages are chunked."""
MAX_BATCH: Final = 100
"""Honcho's per-request message limit."""
MAX_DIALECTIC_CHARS: Final = 10_000
MAX_ID_CHARS: Final = 100
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")
_HASH_CHARS: Final = 12
_BOTH_WAYS: Final = {"observe_me": True, "observe_others": True}


def honcho_id(raw: str) -> str:
    """``raw`` as a Honcho id: every character outside ``[A-Za-z0-9_-]`` becomes ``-``.

    ``agent:main:telegram:dm:123`` gives ``agent-main-telegram-dm-123`` (the original
    gateway's names, so existing Honcho data stays reachable). An id longer than
    ``MAX_ID_CHARS`` is cut and ends with a hash of the whole of ``raw``.
    """
    clean = _UNSAFE.sub("-", raw)
    if 0 < len(clean) <= MAX_ID_CHARS:
        return clean
    digest = hashlib.sha256(raw.encode()).hexdigest()[:_HASH_CHARS]
    return f"{clean[: MAX_ID_CHARS - _HASH_CHARS - 1]}-{digest}"


def user_peer_id(platform: Platform, user_id: str) -> str:
    """The peer of one platform user: ``user-<platform>-<user id>``, sanitized."""
    return honcho_id(f"user-{platform.value}-{user_id}")


def chunked(text: str, size: int = MAX_MESSAGE_CHARS) -> list[str]:
    """``text`` in pieces of at most ``size`` characters (one piece when it fits)."""
    return [text[start : start + size] for start in range(0, len(text), size)] or [text]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """One message to add to the Honcho session, already within Honcho's size limit."""

    peer_id: str
    content: str
    metadata: Mapping[str, str | int]
    created_at: datetime


class HonchoScopeLink:
    """One scope's Honcho session and peers, created lazily (thread-safe, blocking)."""

    def __init__(self, client: Any, session_id: str, ai_peer_id: str) -> None:  # noqa: ANN401
        """Reach ``session_id`` through the shared SDK ``client``; no HTTP call yet."""
        self.session_id = session_id
        self.ai_peer_id = ai_peer_id
        self._client = client
        self._lock = threading.Lock()
        self._session: Any = None
        self._peers: dict[str, Any] = {}
        self._joined: set[str] = set()

    def add_messages(self, user_peer: str, messages: Sequence[OutgoingMessage]) -> None:
        """Add ``messages`` to the session in order, at most ``MAX_BATCH`` per request."""
        session = self._session_with(user_peer)
        params = [
            MessageCreateParams(
                peer_id=message.peer_id,
                content=message.content,
                metadata=dict(message.metadata),
                created_at=message.created_at,
            )
            for message in messages
        ]
        for start in range(0, len(params), MAX_BATCH):
            session.add_messages(params[start : start + MAX_BATCH])

    def card(self, user_peer: str) -> list[str]:
        """The user peer's card (facts Honcho derived about the user); empty when none."""
        self._session_with(user_peer)
        card = self._peers[user_peer].get_card()
        return [str(fact) for fact in card or ()]

    def search(self, user_peer: str, query: str) -> list[Excerpt]:
        """Messages of this scope's session matching ``query``, as Honcho ranks them."""
        session = self._session_with(user_peer)
        found = session.search(query, limit=SEARCH_LIMIT)
        return [self._excerpt(message) for message in found]

    def dialectic(self, user_peer: str, query: str) -> str:
        """Honcho's answer about the user for ``query``, from this session only; "" if none."""
        session = self._session_with(user_peer)
        answer = self._peers[user_peer].chat(query[:MAX_DIALECTIC_CHARS], session=session)
        return str(answer or "")

    def conclude(self, user_peer: str, conclusion: str) -> None:
        """Save a conclusion about the user (the user peer's self-conclusions)."""
        self._session_with(user_peer)
        self._peers[user_peer].conclusions.create(
            [{"content": conclusion, "session_id": self.session_id}]
        )

    def _session_with(self, user_peer: str) -> Any:  # noqa: ANN401
        """The session, created with the AI peer and ``user_peer`` in it if not yet done."""
        with self._lock:
            if self._session is None:
                self._session = self._client.session(self.session_id)
            missing = [p for p in (self.ai_peer_id, user_peer) if p not in self._joined]
            for peer_id in missing:
                if peer_id not in self._peers:
                    self._peers[peer_id] = self._client.peer(peer_id)
            if missing:
                config = SessionPeerConfig(**_BOTH_WAYS)
                self._session.add_peers([(self._peers[p], config) for p in missing])
                self._joined.update(missing)
            return self._session

    def _excerpt(self, message: Any) -> Excerpt:  # noqa: ANN401
        metadata = message.metadata or {}
        is_ai = message.peer_id == self.ai_peer_id
        name = metadata.get("user_name")
        return Excerpt(
            role="assistant" if is_ai else "user",
            sender_id="" if is_ai else str(metadata.get("user_id") or message.peer_id),
            sender_name=None if is_ai or not name else str(name),
            created_at=message.created_at.isoformat(),
            text=str(message.content),
        )
