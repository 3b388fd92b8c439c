from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hermes.adapters.storage import sqlite_intake, sqlite_schema, sqlite_store
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.ports import StateStorage, StorageError
from hermes.messages.store import RecordInbound, RecordTurn, SaveSession, SessionRecord, StoreWrite
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
    from collections.abc import Iterator

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
KEY = SessionKey(value="agent:main:telegram:group:-100:7")
REPO_ROOT = Path(__file__).resolve().parents[2]


def record(
    session_id: str = "s1",
    key: SessionKey = KEY,
    updated_at: datetime = T0,
    origin: ChatAddress | None = None,
    usage: TokenUsage | None = None,
) -> SessionRecord:
    return SessionRecord(
        session_key=key,
        session_id=session_id,
        created_at=T0,
        updated_at=updated_at,
        origin=origin,
        usage=usage or TokenUsage(),
    )


def messages(*texts: str) -> tuple[ChatMessage, ...]:
    roles = (Role.USER, Role.ASSISTANT)
    return tuple(ChatMessage(role=roles[i % 2], content=text) for i, text in enumerate(texts))


def inbound(message_id: str, received_at: datetime = T0) -> RecordInbound:
    return RecordInbound(
        platform=Platform.TELEGRAM, message_id=message_id, session_key=KEY, received_at=received_at
    )


def raw_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "hermes.db"


@pytest.fixture
def storage(db_path: Path) -> Iterator[SqliteStorage]:
    db_path.parent.mkdir()
    opened = SqliteStorage.open(db_path)
    yield opened
    opened.close()


def test_satisfies_the_state_storage_port(storage: SqliteStorage, db_path: Path) -> None:
    port: StateStorage = storage
    assert port.location == str(db_path)
    assert db_path.is_file()


def test_session_record_round_trips_through_a_restart(db_path: Path) -> None:
    db_path.parent.mkdir()
    paris = timezone(timedelta(hours=2))
    original = SessionRecord(
        session_key=KEY,
        session_id="s1",
        created_at=datetime(2025, 3, 1, 14, 0, 0, 500, tzinfo=paris),
        updated_at=datetime(2025, 3, 1, 14, 5, 0, tzinfo=paris),
        origin=ChatAddress(
            platform=Platform.TELEGRAM,
            chat_id="-100",
            chat_type=ChatType.THREAD,
            thread_id="7",
            chat_name="Ünïcode chat",
        ),
        usage=TokenUsage(input_tokens=120, output_tokens=45),
    )
    plain = record(session_id="s2", key=SessionKey(value="other"))
    first = SqliteStorage.open(db_path)
    first.apply([SaveSession(record=original), SaveSession(record=plain)])
    first.close()

    reopened = SqliteStorage.open(db_path)
    try:
        loaded = reopened.get_session(KEY)
        assert loaded == original
        assert loaded is not None
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert loaded.updated_at.tzinfo == UTC
        assert loaded.created_at.hour == 12
        assert reopened.get_session(SessionKey(value="other")) == plain
        assert reopened.get_session(SessionKey(value="missing")) is None
        assert reopened.count_sessions() == 2
    finally:
        reopened.close()


def test_record_turn_appends_in_order_and_load_returns_the_last_n(storage: SqliteStorage) -> None:
    first = record(updated_at=T0, usage=TokenUsage(input_tokens=1))
    second = record(updated_at=T0 + timedelta(minutes=1), usage=TokenUsage(input_tokens=2))
    storage.apply([RecordTurn(record=first, messages=messages("m1", "m2"))])
    storage.apply([RecordTurn(record=second, messages=messages("m3", "m4", "m5"))])

    snapshot = storage.load_session(KEY, None, 3)
    assert snapshot.record == second
    assert [m.content for m in snapshot.history] == ["m3", "m4", "m5"]
    everything = storage.load_session(KEY, None, 100).history
    assert [m.content for m in everything] == ["m1", "m2", "m3", "m4", "m5"]
    assert everything[0] == ChatMessage(role=Role.USER, content="m1")
    assert everything[1].role is Role.ASSISTANT
    assert storage.load_session(KEY, None, 0).history == ()


def test_a_pinned_session_id_reads_that_transcript(storage: SqliteStorage) -> None:
    storage.apply(
        [
            RecordTurn(record=record("s1"), messages=messages("current")),
            RecordTurn(
                record=record("pinned", key=SessionKey(value="api")), messages=messages("p1", "p2")
            ),
        ]
    )
    snapshot = storage.load_session(KEY, "pinned", 10)
    assert snapshot.record == record("s1")
    assert [m.content for m in snapshot.history] == ["p1", "p2"]
    unknown = storage.load_session(SessionKey(value="nobody"), None, 10)
    assert unknown.record is None
    assert unknown.history == ()


def test_reset_keeps_the_old_transcript_and_starts_the_new_one_empty(
    storage: SqliteStorage, db_path: Path
) -> None:
    storage.apply([RecordTurn(record=record("old"), messages=messages("a", "b"))])
    reset_at = T0 + timedelta(hours=1)
    storage.apply(
        [
            SaveSession(
                record=SessionRecord(
                    session_key=KEY, session_id="new", created_at=reset_at, updated_at=reset_at
                ),
                ended_session_id="old",
                end_reason="user_reset",
            )
        ]
    )

    after = storage.load_session(KEY, None, 10)
    assert after.record is not None
    assert after.record.session_id == "new"
    assert after.history == ()
    assert [m.content for m in storage.load_session(KEY, "old", 10).history] == ["a", "b"]
    history = raw_rows(
        db_path,
        "SELECT session_id, session_key, started_at, ended_at, end_reason"
        " FROM session_history ORDER BY session_id",
    )
    assert history == [
        ("new", KEY.value, reset_at.isoformat(), None, None),
        ("old", KEY.value, T0.isoformat(), reset_at.isoformat(), "user_reset"),
    ]


def test_a_batch_is_all_or_nothing(storage: SqliteStorage, db_path: Path) -> None:
    # A real database error in the middle of the batch: a trigger refuses one row.
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON inbound_journal"
            " WHEN NEW.message_id = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        conn.commit()
    batch: list[StoreWrite] = [
        SaveSession(record=record("s1")),
        RecordTurn(record=record("s1"), messages=messages("hello", "hi")),
        inbound("boom"),
    ]

    with pytest.raises(StorageError, match="injected failure") as raised:
        storage.apply(batch)

    assert str(db_path) in str(raised.value)
    assert storage.get_session(KEY) is None
    assert storage.load_session(KEY, "s1", 10).history == ()
    assert raw_rows(db_path, "SELECT count(*) FROM messages") == [(0,)]
    assert raw_rows(db_path, "SELECT count(*) FROM session_history") == [(0,)]
    storage.apply(batch[:2])
    assert storage.get_session(KEY) == record("s1")


def test_a_naive_datetime_is_refused_and_nothing_is_kept(storage: SqliteStorage) -> None:
    naive = datetime(2025, 3, 1, 12, 0)  # noqa: DTZ001 - the bug under test
    with pytest.raises(ValueError, match="naive"):
        storage.apply([SaveSession(record=record("s1")), inbound("m1", naive)])
    assert storage.get_session(KEY) is None


def test_data_survives_close_and_reopen_in_wal_mode(db_path: Path) -> None:
    db_path.parent.mkdir()
    first = SqliteStorage.open(db_path)
    first.apply([RecordTurn(record=record("s1"), messages=messages("q", "a")), inbound("1")])
    first.close()
    first.close()  # idempotent

    assert raw_rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    second = SqliteStorage.open(db_path)
    try:
        assert [m.content for m in second.load_session(KEY, None, 5).history] == ["q", "a"]
        assert second.recent_inbound(T0) == ((Platform.TELEGRAM, "1"),)
    finally:
        second.close()


def test_committed_writes_survive_a_killed_process(db_path: Path) -> None:
    db_path.parent.mkdir()
    child = textwrap.dedent(
        """
        import os, signal, sys
        from datetime import UTC, datetime
        from pathlib import Path
        from hermes.adapters.storage.sqlite_store import SqliteStorage
        from hermes.messages.store import SaveSession, SessionRecord
        from hermes.messages.values import SessionKey

        at = datetime(2025, 3, 1, tzinfo=UTC)
        storage = SqliteStorage.open(Path(sys.argv[1]))
        storage.apply([SaveSession(record=SessionRecord(
            session_key=SessionKey(value="crash"), session_id="c1",
            created_at=at, updated_at=at))])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child, str(db_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -9, result.stderr.decode()
    assert Path(f"{db_path}-wal").stat().st_size > 0  # never checkpointed

    reopened = SqliteStorage.open(db_path)
    try:
        survivor = reopened.get_session(SessionKey(value="crash"))
        assert survivor is not None
        assert survivor.session_id == "c1"
    finally:
        reopened.close()


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    garbage = b"this is not a database\n" * 500
    path.write_bytes(garbage)

    with pytest.raises(StorageError) as raised:
        SqliteStorage.open(path)

    assert str(path) in str(raised.value)
    assert path.read_bytes() == garbage
    assert not Path(f"{path}-wal").exists()


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
    before = path.read_bytes()

    with pytest.raises(StorageError, match="not Hermes") as raised:
        SqliteStorage.open(path)

    assert str(path) in str(raised.value)
    assert path.read_bytes() == before
    assert raw_rows(path, "SELECT name FROM sqlite_master") == [("notes",)]


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir()
    SqliteStorage.open(db_path).close()
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {sqlite_schema.SCHEMA_VERSION + 1}")

    newer = f"schema version {sqlite_schema.SCHEMA_VERSION + 1}"
    with pytest.raises(StorageError, match=newer) as raised:
        SqliteStorage.open(db_path)

    assert str(db_path) in str(raised.value)


def test_a_path_that_cannot_be_opened_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as raised:
        SqliteStorage.open(tmp_path)  # a directory
    assert str(tmp_path) in str(raised.value)


def test_the_inbound_journal_dedupes_filters_and_prunes(storage: SqliteStorage) -> None:
    storage.apply([inbound("old", T0), inbound("new", T0 + timedelta(hours=2))])
    storage.apply([inbound("new", T0 + timedelta(hours=3))])  # a re-delivery
    storage.apply(
        [
            RecordInbound(
                platform=Platform.DISCORD,
                message_id="new",
                session_key=KEY,
                received_at=T0 + timedelta(hours=1),
            )
        ]
    )

    assert storage.recent_inbound(T0 + timedelta(hours=1)) == (
        (Platform.DISCORD, "new"),
        (Platform.TELEGRAM, "new"),
    )
    assert len(storage.recent_inbound(T0)) == 3
    # The re-delivery changed nothing: the first sighting's time stands.
    assert (Platform.TELEGRAM, "new") not in storage.recent_inbound(
        T0 + timedelta(hours=2, seconds=1)
    )
    assert storage.prune_inbound(T0 + timedelta(minutes=1)) == 1
    assert storage.prune_inbound(T0 + timedelta(minutes=1)) == 0
    assert len(storage.recent_inbound(T0 - timedelta(days=1))) == 2


def test_list_sessions_is_newest_first_and_filters_by_activity(storage: SqliteStorage) -> None:
    keys = [SessionKey(value=name) for name in ("a", "b", "c")]
    storage.apply(
        [
            SaveSession(record=record("s-a", keys[0], T0 + timedelta(minutes=5))),
            SaveSession(record=record("s-b", keys[1], T0)),
            SaveSession(record=record("s-c", keys[2], T0 + timedelta(minutes=9))),
        ]
    )

    assert [r.session_key for r in storage.list_sessions(None)] == [keys[2], keys[0], keys[1]]
    recent = storage.list_sessions(T0 + timedelta(minutes=5))
    assert [r.session_id for r in recent] == ["s-c", "s-a"]
    assert storage.list_sessions(T0 + timedelta(days=1)) == ()


def test_recent_chats_are_the_newest_with_an_origin_up_to_the_limit(storage: SqliteStorage) -> None:
    keys = [SessionKey(value=name) for name in ("a", "b", "c", "d")]
    chats = [ChatAddress(platform=Platform.TELEGRAM, chat_id=k.value) for k in keys]
    storage.apply(
        [
            SaveSession(
                record=record(
                    f"s-{key.value}",
                    key,
                    T0 + timedelta(minutes=n),
                    origin=None if key.value == "c" else chat,
                )
            )
            for n, (key, chat) in enumerate(zip(keys, chats, strict=True))
        ]
    )

    assert storage.recent_chats(T0, limit=2) == ((chats[3], keys[3]), (chats[1], keys[1]))
    assert storage.recent_chats(T0 + timedelta(minutes=1), limit=10) == (
        (chats[3], keys[3]),
        (chats[1], keys[1]),
    )
    assert storage.recent_chats(T0 + timedelta(minutes=4), limit=10) == ()


@pytest.mark.parametrize(
    ("sql", "parameters"),
    [
        (sqlite_store._SELECT_SESSION, ("k",)),
        (sqlite_store._SELECT_HISTORY, ("s", 50)),
        (sqlite_store._SELECT_ACTIVE, (T0.isoformat(),)),
        (sqlite_store._SELECT_CHATS, (T0.isoformat(), 10)),
        (sqlite_intake._SELECT_RECENT, (T0.isoformat(),)),
        (sqlite_intake._PRUNE, (T0.isoformat(),)),
    ],
)
def test_reads_are_index_lookups_not_table_scans(
    storage: SqliteStorage, db_path: Path, sql: str, parameters: tuple[object, ...]
) -> None:
    # A load must stay fast with a million sessions: no query may scan a whole table.
    with closing(sqlite3.connect(db_path)) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]
    tables = ("sessions", "session_history", "messages", "inbound_journal")
    assert plan
    assert not [step for step in plan if step.startswith(tuple(f"SCAN {t}" for t in tables))]
    assert any("INDEX" in step or "PRIMARY KEY" in step for step in plan), plan


def test_closed_storage_raises_storage_error(storage: SqliteStorage) -> None:
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.get_session(KEY)


def test_a_session_id_made_current_again_loses_its_end_mark(
    storage: SqliteStorage, db_path: Path
) -> None:
    storage.apply([SaveSession(record=record("new"), ended_session_id="old", end_reason="idle")])
    assert raw_rows(db_path, "SELECT ended_at FROM session_history WHERE session_id = 'old'") == [
        (T0.isoformat(),)
    ]
    storage.apply([SaveSession(record=record("old"))])
    assert raw_rows(
        db_path, "SELECT ended_at, end_reason FROM session_history WHERE session_id = 'old'"
    ) == [(None, None)]


def test_an_older_database_is_migrated_keeping_its_data(db_path: Path) -> None:
    db_path.parent.mkdir()
    with closing(sqlite3.connect(db_path)) as conn:
        for statement in sqlite_schema.MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO sessions VALUES ('k', 's1', '2026-01-01T00:00:00.000000+00:00',"
            " '2026-01-01T00:00:00.000000+00:00', NULL, 1, 2)"
        )
        conn.execute(f"PRAGMA application_id = {sqlite_schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()

    storage = SqliteStorage.open(db_path)
    try:
        assert [r.session_id for r in storage.list_sessions(None)] == ["s1"]
    finally:
        storage.close()
    assert raw_rows(db_path, "PRAGMA user_version") == [(sqlite_schema.SCHEMA_VERSION,)]
    tables = {row[0] for row in raw_rows(db_path, "SELECT name FROM sqlite_master")}
    assert "home_channels" in tables
