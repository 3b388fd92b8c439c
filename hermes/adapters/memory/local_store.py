"""The SQLite file behind local memory: exchanges per scope (FTS5-indexed), conclusions per user.

One connection, used only from the local provider's worker loop (never concurrently). Every
statement names the scope it reads or writes, and searches are confined to it twice: by an
FTS5 token derived from the scope (so the index does the narrowing) and by an equality on the
stored scope. A user's words reach FTS5 only as quoted terms and SQL only as parameters, so no
query text can raise a syntax error or read outside its scope. The file is WAL-journaled with
``synchronous=NORMAL``, like the gateway's own store.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from hermes.adapters.memory.formatting import Excerpt

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

MAX_MESSAGE_CHARS: Final = 25_000
"""Longest message stored (Honcho's limit); longer ones are cut with a marker."""
MAX_CONCLUSION_CHARS: Final = 2_000
MAX_QUERY_TERMS: Final = 12
_MAX_TERM_CHARS: Final = 64
_BUSY_TIMEOUT_SECONDS: Final = 0.25  # short: the worker retries, and the loop must not stall
_TRUNCATED: Final = " [...truncated]"
_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS memory_messages (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    scope_tag TEXT NOT NULL,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    sender_name TEXT,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_messages_by_scope ON memory_messages (scope, id);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_messages_fts USING fts5(
    content, scope_tag, content='memory_messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS memory_messages_indexed AFTER INSERT ON memory_messages BEGIN
    INSERT INTO memory_messages_fts (rowid, content, scope_tag)
        VALUES (new.id, new.content, new.scope_tag);
END;
CREATE TRIGGER IF NOT EXISTS memory_messages_unindexed AFTER DELETE ON memory_messages BEGIN
    INSERT INTO memory_messages_fts (memory_messages_fts, rowid, content, scope_tag)
        VALUES ('delete', old.id, old.content, old.scope_tag);
END;
CREATE TABLE IF NOT EXISTS memory_conclusions (
    scope TEXT NOT NULL,
    user_id TEXT NOT NULL,
    normalized TEXT NOT NULL,
    conclusion TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, user_id, normalized)
);
CREATE TABLE IF NOT EXISTS memory_session_ends (
    scope TEXT NOT NULL,
    session_id TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    PRIMARY KEY (scope, session_id)
);
"""
_INSERT_MESSAGE: Final = """INSERT INTO memory_messages (scope, scope_tag, session_id, role,
    sender_id, sender_name, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
_SEARCH: Final = """SELECT m.role, m.sender_id, m.sender_name, m.created_at,
        snippet(memory_messages_fts, 0, '', '', '...', 32)
    FROM memory_messages_fts JOIN memory_messages AS m ON m.id = memory_messages_fts.rowid
    WHERE memory_messages_fts MATCH ? AND m.scope = ?
    ORDER BY bm25(memory_messages_fts, 1.0, 0.0), m.id DESC LIMIT ?"""
_CONCLUSIONS: Final = """SELECT conclusion, created_at FROM memory_conclusions
    WHERE scope = ? AND user_id = ? ORDER BY created_at, rowid LIMIT ?"""
_CONCLUDE: Final = """INSERT OR IGNORE INTO memory_conclusions (scope, user_id, normalized,
    conclusion, created_at) VALUES (?, ?, ?, ?, ?)"""
_END_SESSION: Final = """INSERT OR REPLACE INTO memory_session_ends (scope, session_id,
    ended_at) VALUES (?, ?, ?)"""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """One message of an exchange, as it is written."""

    role: str
    sender_id: str
    """The platform user's id for a user message; empty for the assistant."""
    sender_name: str | None
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedConclusion:
    """A lasting fact saved about a user."""

    text: str
    created_at: str


ExchangeRows = tuple[str, str, "Sequence[StoredMessage]", datetime]
"""One exchange to store: its scope, session_id, messages and time."""


@functools.lru_cache(maxsize=4096)
def scope_tag(scope: str) -> str:
    """The FTS5 token standing for ``scope``: one alphanumeric word, whatever the scope holds."""
    return "s" + hashlib.sha256(scope.encode()).hexdigest()[:32]


def fts_query(scope: str, text: str) -> str | None:
    """An FTS5 query for the words of ``text`` inside ``scope``; None when it has no words.

    Each word (a run of word characters, so never a quote) becomes a quoted term: FTS5
    operators in the user's text (``NEAR``, ``AND``, ``*``, parentheses, column filters)
    are plain words.
    """
    terms: list[str] = []
    for word in re.findall(r"\w+", text):
        term = word[:_MAX_TERM_CHARS].casefold()
        if term not in terms:
            terms.append(term)
        if len(terms) == MAX_QUERY_TERMS:
            break
    if not terms:
        return None
    any_term = " OR ".join(f'"{term}"' for term in terms)
    return f'scope_tag : "{scope_tag(scope)}" AND content : ({any_term})'


def normalized(text: str) -> str:
    """``text`` with its whitespace collapsed: the form conclusions are stored and compared in."""
    return " ".join(text.split())


def capped(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED


class LocalMemoryStore:
    """The memory database (module docstring); use from one thread at a time."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the database at ``path`` and prepare its schema."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: opened on the caller's thread, then used only by the worker.
        self._connection = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT_SECONDS, check_same_thread=False
        )
        try:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            with self._connection:
                self._connection.executescript(_SCHEMA)
                self._connection.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error:
            self._connection.close()
            raise

    def append(
        self, scope: str, session_id: str, messages: Sequence[StoredMessage], at: datetime
    ) -> None:
        """Store one exchange's messages in ``scope``, in order, in one transaction."""
        self.append_many(((scope, session_id, messages, at),))

    def append_many(self, exchanges: Sequence[ExchangeRows]) -> None:
        """Store several exchanges, in order, in one transaction."""
        rows = [
            (
                scope,
                scope_tag(scope),
                session_id,
                message.role,
                message.sender_id,
                message.sender_name,
                capped(message.content, MAX_MESSAGE_CHARS),
                stamp,
            )
            for scope, session_id, messages, at in exchanges
            for stamp in (at.isoformat(),)
            for message in messages
        ]
        with self._connection:
            self._connection.executemany(_INSERT_MESSAGE, rows)

    def end_session(self, scope: str, session_id: str, at: datetime) -> None:
        """Record that ``session_id`` of ``scope`` ended."""
        with self._connection:
            self._connection.execute(_END_SESSION, (scope, session_id, at.isoformat()))

    def search(self, scope: str, text: str, limit: int) -> list[Excerpt]:
        """The best ``limit`` messages of ``scope`` matching the words of ``text``."""
        query = fts_query(scope, text)
        if query is None:
            return []
        rows = self._connection.execute(_SEARCH, (query, scope, limit)).fetchall()
        return [
            Excerpt(role=role, sender_id=sender_id, sender_name=name, created_at=at, text=snippet)
            for role, sender_id, name, at, snippet in rows
        ]

    def conclusions(self, scope: str, user_id: str, limit: int) -> list[SavedConclusion]:
        """The conclusions saved about ``user_id`` in ``scope``, oldest first."""
        rows = self._connection.execute(_CONCLUSIONS, (scope, user_id, limit)).fetchall()
        return [SavedConclusion(text=text, created_at=at) for text, at in rows]

    def conclude(self, scope: str, user_id: str, text: str, at: datetime) -> bool:
        """Save ``text`` about ``user_id`` in ``scope``; False when it was already saved."""
        conclusion = capped(normalized(text), MAX_CONCLUSION_CHARS)
        with self._connection:
            cursor = self._connection.execute(
                _CONCLUDE, (scope, user_id, conclusion.casefold(), conclusion, at.isoformat())
            )
        return cursor.rowcount == 1

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
