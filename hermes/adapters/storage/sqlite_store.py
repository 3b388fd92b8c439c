"""SQLite implementation of ``StateStorage``: sessions, transcripts, inbound journal.

One file in WAL mode with ``synchronous=NORMAL``: a committed batch survives a killed
process (a power loss may lose the last commits). Each ``apply`` is one transaction, so
the Store actor's group commit is all or nothing. The schema is versioned; a file that
is not a Hermes database, or has a newer version, is refused and never modified.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, assert_never

from hermes.messages.ports import StorageError
from hermes.messages.store import (
    RecordInbound,
    RecordTurn,
    SaveSession,
    SessionRecord,
    SessionSnapshot,
    StoreWrite,
)
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    ChatType,
    Platform,
    Role,
    SessionKey,
    TokenUsage,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
"""Kept in ``PRAGMA user_version``; a file with a larger one is refused."""
APPLICATION_ID: Final = 0x48524D53
"""``PRAGMA application_id`` of a Hermes database (ASCII "HRMS")."""
_BUSY_TIMEOUT_SECONDS: Final = 5.0

_SCHEMA: Final = (
    """CREATE TABLE sessions (session_key TEXT PRIMARY KEY, session_id TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, origin TEXT,
        input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL)""",
    "CREATE INDEX sessions_updated_at ON sessions (updated_at)",
    """CREATE TABLE session_history (session_id TEXT PRIMARY KEY, session_key TEXT,
        started_at TEXT, ended_at TEXT, end_reason TEXT)""",
    "CREATE INDEX session_history_key ON session_history (session_key)",
    """CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX messages_session ON messages (session_id, id)",
    """CREATE TABLE inbound_journal (platform TEXT NOT NULL, message_id TEXT NOT NULL,
        session_key TEXT NOT NULL, received_at TEXT NOT NULL,
        PRIMARY KEY (platform, message_id))""",
    "CREATE INDEX inbound_journal_received ON inbound_journal (received_at)",
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_UPSERT_SESSION: Final = """INSERT INTO sessions (session_key, session_id, created_at,
        updated_at, origin, input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (session_key) DO UPDATE SET session_id = excluded.session_id,
        created_at = excluded.created_at, updated_at = excluded.updated_at,
        origin = excluded.origin, input_tokens = excluded.input_tokens,
        output_tokens = excluded.output_tokens"""
# The current session_id is by definition not ended, so a reused id loses its end mark.
_UPSERT_CURRENT: Final = """INSERT INTO session_history (session_id, session_key,
        started_at) VALUES (?, ?, ?)
    ON CONFLICT (session_id) DO UPDATE SET session_key = excluded.session_key,
        started_at = excluded.started_at, ended_at = NULL, end_reason = NULL"""
_MARK_ENDED: Final = """INSERT INTO session_history (session_id, session_key, ended_at,
        end_reason) VALUES (?, ?, ?, ?)
    ON CONFLICT (session_id) DO UPDATE SET ended_at = excluded.ended_at,
        end_reason = excluded.end_reason"""
_INSERT_MESSAGE: Final = """INSERT INTO messages (session_id, role, content, created_at)
    VALUES (?, ?, ?, ?)"""
_INSERT_INBOUND: Final = """INSERT OR IGNORE INTO inbound_journal (platform, message_id,
    session_key, received_at) VALUES (?, ?, ?, ?)"""
_SELECT_SESSION: Final = """SELECT session_key, session_id, created_at, updated_at,
    origin, input_tokens, output_tokens FROM sessions WHERE session_key = ?"""
_SELECT_ACTIVE: Final = """SELECT session_key, session_id, created_at, updated_at,
    origin, input_tokens, output_tokens FROM sessions WHERE updated_at >= ?
    ORDER BY updated_at DESC, session_key"""
_SELECT_HISTORY: Final = """SELECT role, content FROM (SELECT id, role, content
    FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id"""
_SELECT_INBOUND: Final = """SELECT platform, message_id FROM inbound_journal
    WHERE received_at >= ? ORDER BY received_at"""
_PRUNE_INBOUND: Final = "DELETE FROM inbound_journal WHERE received_at < ?"
_ROW_ERRORS: Final = (sqlite3.Error, ValueError, TypeError, KeyError)
"""What reading may raise: a database error, or a stored value that does not decode."""


class SqliteStorage:
    """Durable state in one SQLite file; implements ``StateStorage``.

    Not thread-safe: start-up code opens it and hands it to the Store actor's thread,
    and from then on only that thread uses it.
    """

    def __init__(self, connection: sqlite3.Connection, location: str) -> None:
        """Wrap an open, prepared connection; call ``SqliteStorage.open`` instead."""
        self._conn = connection
        self._location = location
        self._closed = False

    @classmethod
    def open(cls, path: Path) -> SqliteStorage:
        """Open the database at ``path``, creating the file and schema if missing.

        Raises:
            StorageError: ``path`` cannot be opened, is not a Hermes SQLite database
                (a foreign or corrupt file, left untouched) or has a newer schema.
        """
        location = str(path)
        try:
            # check_same_thread=False: opened here, then used by the Store actor's
            # thread alone, never by two threads at once. isolation_level=None: no
            # implicit transactions; ``apply`` says BEGIN and COMMIT itself.
            conn = sqlite3.connect(
                location,
                timeout=_BUSY_TIMEOUT_SECONDS,  # sets SQLite's busy_timeout
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {location}: {exc}") from exc
        try:
            _prepare(conn, location)
        except BaseException:
            conn.close()
            raise
        return cls(conn, location)

    @property
    def location(self) -> str:
        """The database file's path, for logs and errors."""
        return self._location

    def apply(self, writes: Sequence[StoreWrite]) -> None:
        """Apply ``writes`` in order, in one transaction (all or none).

        Raises:
            StorageError: the database refused the batch; nothing of it was kept.
            ValueError: a write holds a naive datetime (a caller bug); nothing kept.
        """
        if not writes:
            return
        with self._translate("write to"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for write in writes:
                    self._apply_one(write)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def load_session(
        self, session_key: SessionKey, session_id: str | None, history_limit: int
    ) -> SessionSnapshot:
        """The entry of ``session_key`` and its last ``history_limit`` messages.

        The transcript read is ``session_id``'s when given, else the entry's current
        one; messages come in chronological order.
        """
        record = self.get_session(session_key)
        if session_id is None and record is not None:
            session_id = record.session_id
        # SQLite reads a negative LIMIT as "no limit"; asking for none must get none.
        if session_id is None or history_limit <= 0:
            return SessionSnapshot(record=record, history=())
        with self._translate("read transcript from", _ROW_ERRORS):
            cursor = self._conn.execute(_SELECT_HISTORY, (session_id, history_limit))
            history = tuple(
                ChatMessage(role=Role(role), content=content) for role, content in cursor
            )
        return SessionSnapshot(record=record, history=history)

    def get_session(self, session_key: SessionKey) -> SessionRecord | None:
        """The entry of ``session_key``, if any."""
        with self._translate("read session from", _ROW_ERRORS):
            row = self._conn.execute(_SELECT_SESSION, (session_key.value,)).fetchone()
            return None if row is None else _record_from_row(row)

    def list_sessions(self, active_since: datetime | None) -> tuple[SessionRecord, ...]:
        """Entries updated at or after ``active_since`` (all if None), newest first."""
        since = "" if active_since is None else _to_text(active_since)
        with self._translate("list sessions in", _ROW_ERRORS):
            cursor = self._conn.execute(_SELECT_ACTIVE, (since,))
            return tuple(_record_from_row(row) for row in cursor)

    def count_sessions(self) -> int:
        """How many session entries exist, for status."""
        with self._translate("count sessions in"):
            (count,) = self._conn.execute("SELECT count(*) FROM sessions").fetchone()
            return int(count)

    def recent_inbound(self, since: datetime) -> tuple[tuple[Platform, str], ...]:
        """(platform, message_id) of inbound messages journaled at or after ``since``.

        Ordered by the time they were journaled.
        """
        with self._translate("read inbound journal from", _ROW_ERRORS):
            cursor = self._conn.execute(_SELECT_INBOUND, (_to_text(since),))
            return tuple((Platform(platform), str(mid)) for platform, mid in cursor)

    def prune_inbound(self, before: datetime) -> int:
        """Delete journal entries received before ``before``; return how many."""
        with self._translate("prune inbound journal in"):
            return self._conn.execute(_PRUNE_INBOUND, (_to_text(before),)).rowcount

    def close(self) -> None:
        """Checkpoint the WAL if that is cheap, and close; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            # PASSIVE never waits for readers; what it leaves undone the next open does.
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            logger.warning("WAL checkpoint of %s failed", self._location, exc_info=True)
        with self._translate("close"):
            self._conn.close()

    def _apply_one(self, write: StoreWrite) -> None:
        match write:
            case SaveSession(record=record, ended_session_id=ended_id):
                self._save_record(record)
                if ended_id is not None:
                    ended_at = _to_text(record.updated_at)
                    key = record.session_key.value
                    self._conn.execute(_MARK_ENDED, (ended_id, key, ended_at, write.end_reason))
            case RecordTurn(record=record, messages=messages):
                self._save_record(record)
                at = _to_text(record.updated_at)
                self._conn.executemany(
                    _INSERT_MESSAGE,
                    ((record.session_id, m.role.value, m.content, at) for m in messages),
                )
            case RecordInbound(platform=platform, session_key=key):
                received_at = _to_text(write.received_at)
                self._conn.execute(
                    _INSERT_INBOUND, (platform.value, write.message_id, key.value, received_at)
                )
            case _:
                assert_never(write)

    def _save_record(self, record: SessionRecord) -> None:
        origin = None if record.origin is None else _origin_to_json(record.origin)
        key = record.session_key.value
        created_at = _to_text(record.created_at)
        usage = record.usage
        self._conn.execute(
            _UPSERT_SESSION,
            (
                key,
                record.session_id,
                created_at,
                _to_text(record.updated_at),
                origin,
                usage.input_tokens,
                usage.output_tokens,
            ),
        )
        self._conn.execute(_UPSERT_CURRENT, (record.session_id, key, created_at))

    def _rollback(self) -> None:
        # SQLite ends the transaction itself on some errors (SQLITE_FULL, IOERR), and
        # a ROLLBACK then would fail and hide the error that matters.
        if not self._conn.in_transaction:
            return
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.warning("ROLLBACK on %s failed", self._location, exc_info=True)

    @contextmanager
    def _translate(
        self, action: str, errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    ) -> Iterator[None]:
        try:
            yield
        except errors as exc:
            message = f"cannot {action} database {self._location}: {exc}"
            raise StorageError(message) from exc


def _prepare(conn: sqlite3.Connection, location: str) -> None:
    """Check what the file holds, switch to WAL, create the schema if it is new."""
    try:
        # Only reads until the header checks out: a foreign file fails here untouched.
        app_id, version, tables = _header(conn)
        if app_id != APPLICATION_ID and (app_id, version, tables) != (0, 0, 0):
            raise StorageError(f"{location} is an SQLite database, but not Hermes's")
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{location} has schema version {version}, newer than this Hermes "
                f"supports ({SCHEMA_VERSION}); upgrade Hermes or use another file"
            )
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            raise StorageError(f"{location}: WAL journal mode is unavailable ({mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version == 0:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have created it since we looked: look again.
                if _header(conn)[1] == 0:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {location}: {exc}") from exc


def _header(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """The file's application id, schema version and number of schema objects."""
    return (
        int(conn.execute("PRAGMA application_id").fetchone()[0]),
        int(conn.execute("PRAGMA user_version").fetchone()[0]),
        int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]),
    )


def _to_text(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so that text order is time order."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store keeps aware UTC only")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _origin_to_json(origin: ChatAddress) -> str:
    fields = {
        "platform": origin.platform.value,
        "chat_id": origin.chat_id,
        "chat_type": origin.chat_type.value,
        "thread_id": origin.thread_id,
        "chat_name": origin.chat_name,
    }
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def _origin_from_json(text: str) -> ChatAddress:
    fields = json.loads(text)
    return ChatAddress(
        platform=Platform(fields["platform"]),
        chat_id=str(fields["chat_id"]),
        chat_type=ChatType(fields["chat_type"]),
        thread_id=fields.get("thread_id"),
        chat_name=fields.get("chat_name"),
    )


def _record_from_row(row: tuple[str, str, str, str, str | None, int, int]) -> SessionRecord:
    key, session_id, created_at, updated_at, origin, input_tokens, output_tokens = row
    return SessionRecord(
        session_key=SessionKey(value=key),
        session_id=session_id,
        created_at=_from_text(created_at),
        updated_at=_from_text(updated_at),
        origin=None if origin is None else _origin_from_json(origin),
        usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens),
    )
