"""A state database the gateway cannot use is reported at start, never silently replaced.

``python -m hermes.actors`` runs as a user runs it, on a home whose ``state.db`` is random
bytes, a truncated or damaged Hermes database, another program's database, one from a newer
Hermes, or a file it may not read. Each time it exits with EX_DATAERR (65) after one line that
names the file, what is wrong and what to do, and the file is left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hermes.actors.__main__ import EX_DATAERR
from hermes.adapters.storage import sqlite_schema
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.store import RecordInbound
from hermes.messages.values import Platform, SessionKey
from tests.system.gateway_process import GatewayProcesses

QUICK_EXIT_TIMEOUT = 15.0
PAGE = 4096
RESTORE = "Hermes has not changed it: restore it from a backup, or move it aside"


@pytest.fixture
def gateways() -> Iterator[GatewayProcesses]:
    with GatewayProcesses() as started:
        yield started


def hermes_database(path: Path) -> bytes:
    """A real Hermes database of a few hundred pages, closed; returns its bytes."""
    storage = SqliteStorage.open(path)
    key = SessionKey(value="agent:main:telegram:dm:1")
    now = datetime.now(UTC)
    storage.apply(
        [
            RecordInbound(
                platform=Platform.TELEGRAM,
                message_id=f"{number}:" + "m" * 200,
                session_key=key,
                received_at=now,
            )
            for number in range(3000)
        ]
    )
    storage.close()
    return path.read_bytes()


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(64 * 1024))  # noqa: S311  (seeded test data)


def truncated_to_half(path: Path) -> None:
    data = hermes_database(path)
    path.write_bytes(data[: len(data) // 2 // PAGE * PAGE])


def truncated_inside_the_header(path: Path) -> None:
    path.write_bytes(hermes_database(path)[:60])


def a_damaged_page(path: Path) -> None:
    data = bytearray(hermes_database(path))
    middle = len(data) // 2 // PAGE * PAGE
    data[middle : middle + PAGE] = random.Random(2).randbytes(PAGE)  # noqa: S311
    path.write_bytes(bytes(data))


def another_programs_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine, not Hermes''s')")
        conn.commit()


def from_a_newer_hermes(path: Path) -> None:
    hermes_database(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {sqlite_schema.SCHEMA_VERSION + 1}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Unusable:
    """How to spoil ``state.db``, and what the one line must say about it."""

    spoil: Callable[[Path], None]
    expected: tuple[str, ...]


UNUSABLE = [
    pytest.param(
        Unusable(
            spoil=random_bytes,
            expected=("is not a readable SQLite database (file is not a database)", RESTORE),
        ),
        id="random-bytes",
    ),
    pytest.param(
        Unusable(
            spoil=truncated_to_half,
            expected=("is not a readable SQLite database (database disk image is malformed)",),
        ),
        id="truncated",
    ),
    pytest.param(
        Unusable(
            spoil=truncated_inside_the_header,
            expected=("is not a readable SQLite database", RESTORE),
        ),
        id="truncated-inside-the-header",
    ),
    pytest.param(
        Unusable(
            spoil=a_damaged_page,
            expected=("is damaged (SQLite's quick_check: Page ", "error code 11)", RESTORE),
        ),
        id="damaged-page",
    ),
    pytest.param(
        Unusable(
            spoil=another_programs_database,
            expected=("is an SQLite database, but not Hermes's", "move it aside"),
        ),
        id="another-programs-database",
    ),
    pytest.param(
        Unusable(
            spoil=from_a_newer_hermes,
            expected=(
                f"has schema version {sqlite_schema.SCHEMA_VERSION + 1}, newer than this Hermes",
                "upgrade Hermes",
            ),
        ),
        id="newer-schema",
    ),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused_in_one_line(
    gateways: GatewayProcesses, home: Path, expected: tuple[str, ...]
) -> None:
    gateway = gateways.start(home)

    assert gateway.wait(QUICK_EXIT_TIMEOUT) == EX_DATAERR, gateway.log
    lines = gateway.log.strip().splitlines()
    assert len(lines) == 1, gateway.log
    assert "cannot use the state database" in lines[0]
    assert str(home / "state.db") in lines[0]
    for part in expected:
        assert part in lines[0]
    assert not (home / "gateway.pid").exists()
    assert not (home / "admin.sock").exists()


@pytest.mark.parametrize("case", UNUSABLE)
def test_an_unusable_state_database_is_refused_and_left_untouched(
    tmp_path: Path, gateways: GatewayProcesses, case: Unusable
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    state_db = home / "state.db"
    case.spoil(state_db)
    before, stat_before = sha256(state_db), state_db.stat()

    assert_refused_in_one_line(gateways, home, case.expected)

    assert sha256(state_db) == before
    assert state_db.stat().st_size == stat_before.st_size
    assert state_db.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert sorted(p.name for p in home.glob("state.db*")) == ["state.db"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_state_database_is_refused_and_left_untouched(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    state_db = home / "state.db"
    hermes_database(state_db)
    before = sha256(state_db)
    state_db.chmod(0o000)
    try:
        assert_refused_in_one_line(
            gateways, home, ("cannot open database", "check that this user may read and write")
        )
    finally:
        state_db.chmod(0o600)
    assert sha256(state_db) == before


def test_a_healthy_database_still_starts_and_a_moved_aside_one_starts_afresh(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    state_db = home / "state.db"
    hermes_database(state_db)
    gateway = gateways.start(home)
    gateway.wait_ready()
    assert gateway.stop() == 0, gateway.log

    random_bytes(state_db)
    assert_refused_in_one_line(gateways, home, (RESTORE,))
    state_db.rename(home / "state.db.damaged")  # what the line says to do

    gateway = gateways.start(home)
    gateway.wait_ready()
    assert gateway.stop() == 0, gateway.log
    assert (home / "state.db").exists()
