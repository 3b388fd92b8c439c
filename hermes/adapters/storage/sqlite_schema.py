"""The layout of the SQLite state database, and how an older file is brought up to date.

``MIGRATIONS[n]`` takes a file from schema version ``n`` to ``n + 1``; a new file runs them
all. The version lives in ``PRAGMA user_version`` and the file is stamped with an
``application_id``, so a file that is not Hermes's, or is newer than this code, is refused and
never modified; so is a damaged one (SQLite's ``quick_check`` runs before anything is written).
Each refusal names the file, what is wrong and what the operator can do.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from hermes.messages.ports import StorageError

APPLICATION_ID: Final = 0x48524D53
"""``PRAGMA application_id`` of a Hermes database (ASCII "HRMS")."""
_UNTOUCHED: Final = "Hermes has not changed it"
_RESTORE: Final = "restore it from a backup, or move it aside to start with an empty database"
# SQLite's primary result codes (sqlite3.h), read off ``sqlite3.Error.sqlite_errorcode``
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_CORRUPT, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 14, 26

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
            raise StorageError(
                f"{location} is an SQLite database, but not Hermes's; {_UNTOUCHED}: "
                "move it aside, or run Hermes with another --home"
            )
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{location} has schema version {version}, newer than this Hermes "
                f"supports ({SCHEMA_VERSION}); {_UNTOUCHED}: upgrade Hermes, or restore a "
                "backup this version wrote"
            )
        _check_integrity(conn, location)
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            raise StorageError(f"{location}: WAL journal mode is unavailable ({mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:
            _migrate(conn)
    except sqlite3.Error as exc:
        raise refusal(location, exc) from exc


def refusal(location: str, exc: sqlite3.Error) -> StorageError:
    """What SQLite's refusal to open or read ``location`` means, and what to do about it."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in {_SQLITE_NOTADB, _SQLITE_CORRUPT}:
        return StorageError(
            f"{location} is not a readable SQLite database ({exc}); {_UNTOUCHED}: {_RESTORE}"
        )
    if code in {_SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY}:
        return StorageError(
            f"cannot open database {location} ({exc}): check that this user may read and write "
            "it and its directory"
        )
    if code in {_SQLITE_BUSY, _SQLITE_LOCKED}:
        return StorageError(
            f"database {location} is locked by another program ({exc}): close it, then start again"
        )
    return StorageError(f"cannot open database {location}: {exc}")


def _check_integrity(conn: sqlite3.Connection, location: str) -> None:
    """Refuse a damaged file before anything is written to it.

    ``quick_check`` only reads: a fraction of a second for hundreds of megabytes.
    """
    rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    problem = str(rows[0][0]) if rows else "no answer"
    # SQLite's report spans lines ("*** in database main ***\nPage 7: ..."): keep it to one
    problem = " ".join(problem.replace("*** in database main ***", "").split())
    if problem != "ok":
        raise StorageError(
            f"{location} is damaged (SQLite's quick_check: {problem}); {_UNTOUCHED}: {_RESTORE}"
        )


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
