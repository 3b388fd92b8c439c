"""SQLite implementation of ``StateStorage``: sessions, transcripts, inbound journal, outbox.

One file in WAL mode with ``synchronous=NORMAL``: a committed batch survives a killed
process (a power loss may lose the last commits). Each ``apply`` is one transaction, so
the Store actor's group commit is all or nothing. The schema is versioned; a file that
is not a Hermes database, or has a newer version, is refused and never modified.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Final, assert_never

from hermes.adapters.storage.sqlite_batch import StatementBuffer
from hermes.adapters.storage.sqlite_codec import (
    address_from_json,
    address_to_json,
    record_from_row,
    sender_to_json,
    to_text,
)
from hermes.adapters.storage.sqlite_intake import (
    WRITES,
    apply_intake,
    pending_outbox,
    prune_inbound,
    recent_inbound,
    settle,
    unsettled_inbound,
)
from hermes.adapters.storage.sqlite_jobs import delete_job, load_jobs, save_job
from hermes.adapters.storage.sqlite_pairing import apply_pairing, load_pairing
from hermes.adapters.storage.sqlite_schema import prepare, refusal
from hermes.messages.cron import CronJob
from hermes.messages.delivery import DeliverMessage
from hermes.messages.pairing import PairingState
from hermes.messages.ports import StorageError
from hermes.messages.store import (
    DeleteCronJob,
    OutboxDone,
    RecordInbound,
    RecordPairing,
    RecordTurn,
    SaveCronJob,
    SaveHomeChannel,
    SaveSession,
    SessionRecord,
    SessionSnapshot,
    Settle,
    StoreWrite,
)
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    HomeChannel,
    InboundMessage,
    Platform,
    Role,
    SessionKey,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECONDS: Final = 5.0

_UPSERT_SESSION: Final = """INSERT INTO sessions (session_key, session_id, created_at,
        updated_at, origin, input_tokens, output_tokens, memory_flushed, last_sender)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (session_key) DO UPDATE SET session_id = excluded.session_id,
        created_at = excluded.created_at, updated_at = excluded.updated_at,
        origin = excluded.origin, input_tokens = excluded.input_tokens,
        output_tokens = excluded.output_tokens, memory_flushed = excluded.memory_flushed,
        last_sender = excluded.last_sender"""
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
_SELECT_SESSION: Final = """SELECT session_key, session_id, created_at, updated_at,
    origin, input_tokens, output_tokens, memory_flushed, last_sender FROM sessions
    WHERE session_key = ?"""
_SELECT_EXPIRED: Final = """SELECT session_key FROM sessions
    WHERE memory_flushed = 0 AND updated_at < ? ORDER BY updated_at LIMIT ?"""
_SELECT_ACTIVE: Final = """SELECT session_key, session_id, created_at, updated_at,
    origin, input_tokens, output_tokens, memory_flushed, last_sender FROM sessions
    WHERE updated_at >= ? ORDER BY updated_at DESC, session_key"""
_SELECT_CHATS: Final = """SELECT session_key, origin FROM sessions
    WHERE updated_at >= ? AND origin IS NOT NULL ORDER BY updated_at DESC LIMIT ?"""
_SELECT_HISTORY: Final = """SELECT role, content FROM (SELECT id, role, content
    FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id"""
_UPSERT_HOME: Final = """INSERT INTO home_channels (platform, address, name, updated_at)
    VALUES (?, ?, ?, ?) ON CONFLICT (platform) DO UPDATE SET address = excluded.address,
        name = excluded.name, updated_at = excluded.updated_at"""
_SELECT_HOMES: Final = "SELECT platform, address, name FROM home_channels ORDER BY platform"
_BATCHED: Final = (_UPSERT_SESSION, _UPSERT_CURRENT, _INSERT_MESSAGE, *WRITES)
"""Statements gathered per transaction (``sqlite_batch``), in the order they are written."""
_CURRENT_CACHE: Final = 50_000
"""Session keys whose current session_history row is remembered (then forgotten at once)."""
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
        self._current: dict[str, tuple[str, str]] = {}
        """session_key -> (session_id, started_at) committed as current in session_history,
        so a turn does not write that row again (cleared on rollback and on any session end)."""

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
            raise refusal(location, exc) from exc
        try:
            prepare(conn, location)
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
                rows = StatementBuffer(self._conn, _BATCHED)
                for write in writes:
                    self._apply_one(write, rows)
                rows.flush()
                self._conn.execute("COMMIT")
            except BaseException:
                self._current.clear()  # it may name rows this rollback takes back
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
            return None if row is None else record_from_row(row)

    def list_sessions(self, active_since: datetime | None) -> tuple[SessionRecord, ...]:
        """Entries updated at or after ``active_since`` (all if None), newest first."""
        since = "" if active_since is None else to_text(active_since)
        with self._translate("list sessions in", _ROW_ERRORS):
            cursor = self._conn.execute(_SELECT_ACTIVE, (since,))
            return tuple(record_from_row(row) for row in cursor)

    def recent_chats(
        self, active_since: datetime, limit: int
    ) -> tuple[tuple[ChatAddress, SessionKey], ...]:
        """The chats of the ``limit`` sessions updated last since ``active_since``, newest first."""
        with self._translate("list chats in", _ROW_ERRORS):
            cursor = self._conn.execute(_SELECT_CHATS, (to_text(active_since), limit))
            return tuple((address_from_json(o), SessionKey(value=k)) for k, o in cursor)

    def count_sessions(self) -> int:
        """How many session entries exist, for status."""
        with self._translate("count sessions in"):
            (count,) = self._conn.execute("SELECT count(*) FROM sessions").fetchone()
            return int(count)

    def expired_candidates(self, updated_before: datetime, limit: int) -> tuple[SessionKey, ...]:
        """Keys with unflushed turns, last active before ``updated_before``, oldest first."""
        with self._translate("read", _ROW_ERRORS):
            rows = self._conn.execute(_SELECT_EXPIRED, (to_text(updated_before), limit)).fetchall()
            return tuple(SessionKey(value=key) for (key,) in rows)

    def home_channels(self) -> tuple[HomeChannel, ...]:
        """The home channels chosen with ``/sethome``."""
        with self._translate("read", _ROW_ERRORS):
            rows = self._conn.execute(_SELECT_HOMES).fetchall()
            return tuple(
                HomeChannel(
                    platform=Platform(platform), address=address_from_json(address), name=name
                )
                for platform, address, name in rows
            )

    def cron_jobs(self) -> tuple[CronJob, ...]:
        """Every cron job, oldest first (read once, at start, for the Scheduler)."""
        with self._translate("read cron jobs from", _ROW_ERRORS):
            return load_jobs(self._conn)

    def pairing_state(self) -> PairingState:
        """Everything DM pairing stored (read once, at start, for the PairingActor)."""
        with self._translate("read pairing state from", _ROW_ERRORS):
            return load_pairing(self._conn)

    def recent_inbound(self, since: datetime) -> tuple[tuple[Platform, str], ...]:
        """(platform, message_id) of messages journaled since ``since``, in journal order."""
        with self._translate("read inbound journal from", _ROW_ERRORS):
            return recent_inbound(self._conn, since)

    def unsettled_inbound(self, since: datetime) -> tuple[InboundMessage, ...]:
        """Journaled chat messages since ``since`` never answered, oldest first (read at start).

        Older unanswered ones are given up (and logged).
        """
        with self._translate("read inbound journal from", _ROW_ERRORS):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                messages = unsettled_inbound(self._conn, since)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return messages

    def pending_outbox(self) -> tuple[DeliverMessage, ...]:
        """Replies committed but never confirmed by their platform, oldest first (at start)."""
        with self._translate("read the outbox from", _ROW_ERRORS):
            return pending_outbox(self._conn)

    def prune_inbound(self, before: datetime) -> int:
        """Delete journal entries received before ``before``; return how many."""
        with self._translate("prune inbound journal in"):
            return prune_inbound(self._conn, before)

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

    def _apply_one(self, write: StoreWrite, rows: StatementBuffer) -> None:
        """Apply ``write``: the frequent statements gathered in ``rows``, others at once."""
        match write:
            case SaveSession(record=record, ended_session_id=ended_id):
                self._save_record(record, rows)
                if ended_id is not None:
                    self._current.clear()  # rare; the ended id must not be taken as current
                    ended_at = to_text(record.updated_at)
                    key = record.session_key.value
                    rows.flush()
                    self._conn.execute(_MARK_ENDED, (ended_id, key, ended_at, write.end_reason))
            case RecordTurn(record=record, messages=messages):
                self._save_record(record, rows)
                at = to_text(record.updated_at)
                rows.executemany(
                    _INSERT_MESSAGE,
                    ((record.session_id, m.role.value, m.content, at) for m in messages),
                )
                if write.settle is not None:
                    settle(rows, write.settle, record.updated_at)
            case RecordInbound() | Settle() | OutboxDone():
                apply_intake(rows, write)
            case SaveHomeChannel() | SaveCronJob() | DeleteCronJob() | RecordPairing():
                rows.flush()  # the rare writes run in their place in the transaction
                self._apply_other(write)
            case _:
                assert_never(write)

    def _apply_other(
        self, write: SaveHomeChannel | SaveCronJob | DeleteCronJob | RecordPairing
    ) -> None:
        match write:
            case SaveHomeChannel(home=home):
                self._conn.execute(
                    _UPSERT_HOME,
                    (
                        home.platform.value,
                        address_to_json(home.address),
                        home.name,
                        to_text(write.at),
                    ),
                )
            case SaveCronJob(job=job):
                save_job(self._conn, job)
            case DeleteCronJob(job_id=job_id):
                delete_job(self._conn, job_id)
            case RecordPairing(changes=changes):
                apply_pairing(self._conn, changes)
            case _:
                assert_never(write)

    def _save_record(self, record: SessionRecord, rows: StatementBuffer) -> None:
        origin = None if record.origin is None else address_to_json(record.origin)
        key = record.session_key.value
        created_at = to_text(record.created_at)
        usage = record.usage
        rows.execute(
            _UPSERT_SESSION,
            (
                key,
                record.session_id,
                created_at,
                to_text(record.updated_at),
                origin,
                usage.input_tokens,
                usage.output_tokens,
                int(record.memory_flushed),
                None if record.last_sender is None else sender_to_json(record.last_sender),
            ),
        )
        current = (record.session_id, created_at)
        if self._current.get(key) != current:  # written once per session, not every turn
            rows.execute(_UPSERT_CURRENT, (record.session_id, key, created_at))
            if len(self._current) >= _CURRENT_CACHE:
                self._current.clear()
            self._current[key] = current

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
