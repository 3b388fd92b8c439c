"""The layout of the SQLite state database, and how an older file is brought up to date.

``MIGRATIONS[n]`` takes a file from schema version ``n`` to ``n + 1``; a new file runs them
all. The version lives in ``PRAGMA user_version`` and the file is stamped with an
``application_id``, so a file that is not Hermes's, or is newer than this code, is refused and
never modified.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from hermes.messages.ports import StorageError

APPLICATION_ID: Final = 0x48524D53
"""``PRAGMA application_id`` of a Hermes database (ASCII "HRMS")."""

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 0 -> 1: sessions, transcripts, the inbound journal
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
    ),
    (  # 1 -> 2: home channels chosen with /sethome
        """CREATE TABLE home_channels (platform TEXT PRIMARY KEY, address TEXT NOT NULL,
            name TEXT, updated_at TEXT NOT NULL)""",
    ),
    (  # 2 -> 3: which sessions still owe their memory flush (1 for existing ones: no storm),
        # and who spoke last (the user a flush saves memories about)
        "ALTER TABLE sessions ADD COLUMN memory_flushed INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE sessions ADD COLUMN last_sender TEXT",
        "CREATE INDEX sessions_unflushed ON sessions (memory_flushed, updated_at)",
    ),
    (  # 3 -> 4: cron jobs (schedule, origin and creator as JSON)
        """CREATE TABLE cron_jobs (job_id TEXT PRIMARY KEY, name TEXT NOT NULL,
            prompt TEXT NOT NULL, schedule TEXT NOT NULL, deliver TEXT NOT NULL,
            enabled INTEGER NOT NULL, next_run_at TEXT, created_at TEXT NOT NULL,
            origin TEXT, creator TEXT, last_run_at TEXT, last_status TEXT, last_error TEXT)""",
    ),
    (  # 4 -> 5: DM pairing: pending codes (salted hashes only), approvals, rate limits, lockouts
        """CREATE TABLE pairing_pending (platform TEXT NOT NULL, user_id TEXT NOT NULL,
            user_name TEXT, chat TEXT NOT NULL, code_hash TEXT NOT NULL, salt TEXT NOT NULL,
            iterations INTEGER NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (platform, user_id))""",
        """CREATE TABLE pairing_approved (platform TEXT NOT NULL, user_id TEXT NOT NULL,
            user_name TEXT, chat TEXT, approved_at TEXT NOT NULL,
            PRIMARY KEY (platform, user_id))""",
        """CREATE TABLE pairing_requests (platform TEXT NOT NULL, user_id TEXT NOT NULL,
            requested_at TEXT NOT NULL, PRIMARY KEY (platform, user_id))""",
        """CREATE TABLE pairing_guards (platform TEXT PRIMARY KEY, failures INTEGER NOT NULL,
            locked_until TEXT)""",
    ),
    (  # 5 -> 6: durable intake: journaled messages kept whole until settled, and the outbox
        # of replies not yet confirmed by their platform (existing entries: settled)
        "ALTER TABLE inbound_journal ADD COLUMN message TEXT",
        "ALTER TABLE inbound_journal ADD COLUMN settled INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX inbound_journal_unsettled ON inbound_journal (settled, received_at)",
        """CREATE TABLE outbox (delivery_id TEXT PRIMARY KEY, message TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
"""Kept in ``PRAGMA user_version``; a file with a larger one is refused."""


def prepare(conn: sqlite3.Connection, location: str) -> None:
    """Check what the file holds, switch to WAL, create or update the schema."""
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
        if version < SCHEMA_VERSION:
            _migrate(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {location}: {exc}") from exc


def _header(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """The file's application id, schema version and number of schema objects."""
    return (
        int(conn.execute("PRAGMA application_id").fetchone()[0]),
        int(conn.execute("PRAGMA user_version").fetchone()[0]),
        int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]),
    )


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated it since we looked: look again.
        version = _header(conn)[1]
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
