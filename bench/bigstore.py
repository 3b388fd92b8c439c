"""Big state databases for the activation and start-up figures, built once and cached.

The rows are written through the gateway's own ``SqliteStorage.apply`` (in transactions of
``BATCH`` writes), so the file has exactly the layout the gateway writes, whatever its schema
version. A built file is kept in the cache directory under a name that holds its size, the
schema version and the UTC date (its inbound journal is dated today, inside the two days the
gateway reads back at start), and is copied for each run that writes to it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.store import RecordInbound, RecordTurn, SessionRecord, StoreWrite
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    InboundMessage,
    Platform,
    Role,
    Sender,
    SessionKey,
)
from hermes.policies.session_keys import derive_session_key

BATCH: Final = 20_000


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """What the database holds: sessions of two transcript messages each, and a journal."""

    sessions: int
    message_chars: int
    journal: int
    """Recent inbound messages in the dedupe journal (the gateway reads them at start)."""


def chat_id(index: int) -> str:
    """The embedded chat id of session ``index``."""
    return f"u{index}"


def session_key(chat: str) -> SessionKey:
    """The key the gateway derives for a message from embedded chat ``chat``."""
    message = InboundMessage(
        message_id="key",
        origin=ChatAddress(platform=Platform.EMBEDDED, chat_id=chat),
        sender=Sender(user_id="bench"),
        text="",
        received_at=datetime.now(UTC),
    )
    return derive_session_key(message, group_sessions_per_user=True)


def prepared(cache_dir: Path, spec: StoreSpec) -> Path:
    """The cached database for ``spec``, built now if there is none for today."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).strftime("%Y%m%d")
    name = f"state-{spec.sessions}-{spec.message_chars}-{spec.journal}"
    path = cache_dir / f"{name}-v{_schema_version()}-{today}.db"
    if path.exists():
        return path
    handle, name = tempfile.mkstemp(dir=cache_dir, suffix=".partial")
    os.close(handle)
    partial = Path(name)
    partial.unlink()  # SqliteStorage creates it with the schema
    try:
        _build(partial, spec)
        partial.replace(path)  # atomic: a concurrent run sees the whole file or none
    finally:
        for leftover in (name, f"{name}-wal", f"{name}-shm"):
            Path(leftover).unlink(missing_ok=True)
    return path


def copy_into(database: Path, home: Path) -> Path:
    """Copy ``database`` to ``home/state.db`` (the gateway's file); return ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(database, home / "state.db")
    return home


def _build(path: Path, spec: StoreSpec) -> None:
    storage = SqliteStorage.open(path)
    try:
        batch: list[StoreWrite] = []
        for write in _writes(spec):
            batch.append(write)
            if len(batch) >= BATCH:
                storage.apply(batch)
                batch = []
        storage.apply(batch)
    finally:
        storage.close()
    with sqlite3.connect(path) as connection:  # fold the WAL in: one file to copy
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _writes(spec: StoreSpec) -> Iterator[StoreWrite]:
    now = datetime.now(UTC)
    body = "x" * spec.message_chars
    messages = (
        ChatMessage(role=Role.USER, content=body),
        ChatMessage(role=Role.ASSISTANT, content=body),
    )
    for index in range(spec.sessions):
        chat = chat_id(index)
        key = session_key(chat)
        origin = ChatAddress(platform=Platform.EMBEDDED, chat_id=chat)
        record = SessionRecord(
            session_key=key,
            session_id=f"bench_{index}",
            created_at=now,
            updated_at=now,
            origin=origin,
        )
        yield RecordTurn(record=record, messages=messages)
        if index < spec.journal:
            yield RecordInbound(
                platform=Platform.EMBEDDED, message_id=f"m{index}", session_key=key, received_at=now
            )


def _schema_version() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "probe.db"
        SqliteStorage.open(path).close()
        connection = sqlite3.connect(path)
        try:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])
        finally:
            connection.close()
