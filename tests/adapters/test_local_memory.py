import asyncio
import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from hermes.adapters.memory.local_memory import LocalMemoryManager, LocalMemoryProvider
from hermes.adapters.memory.local_store import MAX_MESSAGE_CHARS, scope_tag
from hermes.adapters.memory.writer import RetryPolicy
from hermes.messages.memory import (
    MemoryHandle,
    MemoryManager,
    MemoryProvider,
    MemoryScope,
    MemoryUnavailableError,
)
from hermes.messages.values import Platform, Sender
from tests.fakes.waiting import wait_until

FAST = RetryPolicy(backoff=(0.01, 0.01))
ALICE = Sender(user_id="111", user_name="Alice")
BOB = Sender(user_id="222", user_name="Bob")
DM = "agent:main:telegram:dm:111"
GROUP = "agent:main:telegram:group:-100500"
LOGGER = "hermes.adapters.memory"


def scope_of(key: str) -> MemoryScope:
    return MemoryScope(scope=key, session_key=key, platform=Platform.TELEGRAM)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "home" / "memory.db"


@pytest.fixture
def provider(db_path):
    memory = LocalMemoryProvider(db_path, retry=FAST)
    yield memory
    memory.close(5.0)


def opened(provider: LocalMemoryProvider, key: str) -> LocalMemoryManager:
    return provider.open(scope_of(key))


def rows(db_path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute(sql, args).fetchall()


def record_and_drain(manager: LocalMemoryManager, *texts: str, reply: str = "ok") -> None:
    manager.record("s-1", ALICE, texts, reply)
    assert manager.drain(5.0)


def message_logged(caplog, needle: str, level: int = logging.WARNING) -> bool:
    return any(r.levelno >= level and needle in r.getMessage() for r in list(caplog.records))


def test_the_provider_is_a_memory_provider(provider):
    typed: MemoryProvider = provider
    manager: MemoryManager = typed.open(scope_of(DM))
    handle: MemoryHandle = manager.for_user(ALICE)

    assert handle is not None
    assert manager.drain(1.0)


# --- round trips -----------------------------------------------------------------------------


def test_a_recorded_exchange_is_found_by_search_with_its_date_and_speakers(provider):
    manager = opened(provider, DM)
    record_and_drain(manager, "I really love margherita pizza", reply="Noted: pizza it is.")

    found = asyncio.run(manager.for_user(ALICE).search("pizza"))

    today = datetime.now(UTC).date().isoformat()
    assert found.startswith('Earlier messages matching "pizza"')
    assert f"[{today}] Alice (user 111): I really love margherita pizza" in found
    assert f"[{today}] assistant: Noted: pizza it is." in found


def test_search_without_a_match_or_without_words_says_so(provider):
    manager = opened(provider, DM)
    record_and_drain(manager, "hello there")
    handle = manager.for_user(ALICE)

    assert asyncio.run(handle.search("volcano")) == 'No earlier messages match "volcano".'
    assert asyncio.run(handle.search("  ?! ")) == 'No earlier messages match "?!".'


def test_search_returns_the_best_matches_first_and_a_bounded_number(provider):
    manager = opened(provider, DM)
    for n in range(20):
        manager.record("s-1", ALICE, (f"note {n} about weather and other long things",), "fine")
    manager.record("s-1", ALICE, ("weather weather weather",), "fine")
    assert manager.drain(5.0)

    lines = asyncio.run(manager.for_user(ALICE).search("weather")).splitlines()

    assert len(lines) == 1 + 8
    assert lines[1].endswith("Alice (user 111): weather weather weather")


def test_profile_lists_conclusions_and_conclude_deduplicates(provider):
    handle = opened(provider, DM).for_user(ALICE)

    assert asyncio.run(handle.profile()) == "Nothing saved about this user yet."
    assert asyncio.run(handle.conclude("Prefers  tea over coffee")) == (
        'Saved: "Prefers tea over coffee".'
    )
    assert asyncio.run(handle.conclude("prefers tea over coffee ")).startswith("Already saved")
    assert asyncio.run(handle.conclude("Lives in Lisbon")).startswith("Saved")
    assert asyncio.run(handle.conclude("   ")) == "Nothing to save: the conclusion is empty."

    assert asyncio.run(handle.profile()) == (
        "Saved about this user:\n- Prefers tea over coffee\n- Lives in Lisbon"
    )


def test_context_is_the_profile_plus_the_best_excerpts(provider):
    manager = opened(provider, DM)
    handle = manager.for_user(ALICE)
    assert asyncio.run(handle.context("trip")) == 'Nothing in memory relates to "trip" yet.'
    record_and_drain(manager, "Planning a trip to Kyoto in April", reply="Lovely season.")
    asyncio.run(handle.conclude("Travels every spring"))

    context = asyncio.run(handle.context("Kyoto trip"))

    profile, excerpts = context.split("\n\n")
    assert profile == "Saved about this user:\n- Travels every spring"
    assert excerpts.startswith('Earlier messages matching "Kyoto trip"')
    assert "Planning a trip to Kyoto in April" in excerpts


def test_end_session_records_a_row_and_nothing_else(provider, db_path):
    manager = opened(provider, DM)
    manager.end_session("s-1")
    assert manager.drain(5.0)

    assert rows(db_path, "SELECT scope, session_id FROM memory_session_ends") == [(DM, "s-1")]
    assert rows(db_path, "SELECT count(*) FROM memory_messages") == [(0,)]


def test_a_huge_message_is_capped_and_blank_ones_are_skipped(provider, db_path):
    manager = opened(provider, DM)
    record_and_drain(manager, "x" * (MAX_MESSAGE_CHARS + 5_000), "   ", reply="")

    stored = rows(db_path, "SELECT role, length(content) FROM memory_messages")
    assert stored == [("user", MAX_MESSAGE_CHARS)]


def test_writes_of_one_manager_keep_their_order(provider, db_path):
    manager = opened(provider, DM)
    for n in range(50):
        manager.record("s-1", ALICE, (f"question {n}",), f"answer {n}")
    assert manager.drain(5.0)

    contents = [c for (c,) in rows(db_path, "SELECT content FROM memory_messages ORDER BY id")]
    assert contents == [text for n in range(50) for text in (f"question {n}", f"answer {n}")]


def test_data_survives_reopening_the_provider(db_path):
    first = LocalMemoryProvider(db_path, retry=FAST)
    try:
        manager = opened(first, DM)
        record_and_drain(manager, "my locker code is 4711")
        asyncio.run(manager.for_user(ALICE).conclude("Uses locker 12"))
    finally:
        first.close(5.0)

    second = LocalMemoryProvider(db_path, retry=FAST)
    try:
        handle = opened(second, DM).for_user(ALICE)
        assert "my locker code is 4711" in asyncio.run(handle.search("locker code"))
        assert "Uses locker 12" in asyncio.run(handle.profile())
    finally:
        second.close(5.0)


# --- FTS query escaping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "(pizza OR",
        "*",
        "pizza*",
        "NEAR(pizza margherita, 2)",
        "pizza AND OR NOT",
        "'; DROP TABLE memory_messages; --",
        "content: pizza",
        'scope_tag : "x" OR pizza',
        "^pizza",
        "{content scope_tag}: pizza",
        "-pizza +margherita",
        "",
        "\x00\n\t",
    ],
)
def test_fts_syntax_in_a_query_never_errors(provider, query):
    manager = opened(provider, DM)
    record_and_drain(manager, "margherita pizza tonight")
    handle = manager.for_user(ALICE)

    answer = asyncio.run(handle.search(query))
    context = asyncio.run(handle.context(query))

    assert isinstance(answer, str)
    assert isinstance(context, str)
    assert "margherita pizza tonight" in asyncio.run(handle.search("pizza"))


def test_fts_operator_words_are_searched_as_plain_words(provider):
    manager = opened(provider, DM)
    record_and_drain(manager, "meet me NEAR the station", reply="sure")

    assert "meet me NEAR the station" in asyncio.run(manager.for_user(ALICE).search("NEAR"))


# --- isolation ---------------------------------------------------------------------------------


def test_a_search_never_returns_another_scopes_text(provider):
    dm, group = opened(provider, DM), opened(provider, GROUP)
    record_and_drain(dm, "apple pie recipe from the dm", reply="dm reply")
    record_and_drain(group, "apple pie recipe from the group", reply="group reply")

    in_dm = asyncio.run(dm.for_user(ALICE).search("apple pie recipe"))
    in_group = asyncio.run(group.for_user(ALICE).search("apple pie recipe"))
    forged = asyncio.run(dm.for_user(ALICE).search(f'scope_tag : "{scope_tag(GROUP)}" group'))

    assert "from the dm" in in_dm
    assert "group" not in in_dm
    assert "from the group" in in_group
    assert "dm" not in in_group
    assert "from the group" not in forged


def test_conclusions_belong_to_one_user_in_one_scope(provider):
    dm, group = opened(provider, DM), opened(provider, GROUP)
    asyncio.run(group.for_user(ALICE).conclude("Alice is vegetarian"))

    assert asyncio.run(group.for_user(BOB).profile()) == "Nothing saved about this user yet."
    assert asyncio.run(dm.for_user(ALICE).profile()) == "Nothing saved about this user yet."
    assert "Alice is vegetarian" in asyncio.run(group.for_user(ALICE).profile())
    assert "Alice is vegetarian" not in asyncio.run(group.for_user(BOB).context("vegetarian"))


def test_fifty_sessions_write_and_read_concurrently_each_in_its_own_scope(provider, db_path):
    keys = [f"agent:main:telegram:dm:{n}" for n in range(50)]
    managers = [opened(provider, key) for key in keys]
    start = threading.Barrier(51)

    def session(n: int) -> None:
        start.wait(10.0)
        for turn in range(5):
            managers[n].record(f"s-{n}", ALICE, (f"shared marker{n} turn{turn}",), f"re{n}")

    async def reads() -> tuple[list[str], list[str]]:
        handles = [manager.for_user(ALICE) for manager in managers]
        concluded = await asyncio.gather(
            *(h.conclude(f"fact of marker{n}") for n, h in enumerate(handles))
        )
        found = await asyncio.gather(*(h.search("shared") for h in handles))
        return concluded, found

    with ThreadPoolExecutor(max_workers=50, thread_name_prefix="session") as sessions:
        recorded = [sessions.submit(session, n) for n in range(50)]
        start.wait(10.0)
        concluded, during = asyncio.run(reads())
        for done in recorded:
            done.result(10.0)
    assert all(manager.drain(5.0) for manager in managers)

    assert all(answer.startswith("Saved") for answer in concluded)
    for n, answer in enumerate(during):
        assert {f"marker{m}" for m in range(50) if f"marker{m} " in answer} <= {f"marker{n}"}
    stored = rows(db_path, "SELECT scope, content FROM memory_messages WHERE role = 'user'")
    assert len(stored) == 250
    for scope, content in stored:
        assert content.startswith(f"shared marker{keys.index(scope)} turn")
    after = asyncio.run(managers[7].for_user(ALICE).search("shared"))
    assert after.count("marker7 turn") == 5
    assert "marker8" not in after
    facts = rows(db_path, "SELECT scope, conclusion FROM memory_conclusions")
    assert sorted(facts) == sorted((key, f"fact of marker{n}") for n, key in enumerate(keys))


# --- queueing, failures and shutdown -----------------------------------------------------------


def test_drain_returns_only_when_queued_writes_are_stored(provider, db_path):
    manager = opened(provider, DM)
    for n in range(200):
        manager.record("s-1", ALICE, (f"message {n}",), f"reply {n}")

    assert manager.drain(5.0)
    assert rows(db_path, "SELECT count(*) FROM memory_messages") == [(400,)]


@pytest.fixture
def blocker(db_path, provider):
    """A second connection holding the database's write lock until the test commits."""
    connection = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    yield connection
    if connection.in_transaction:
        connection.execute("COMMIT")
    connection.close()


def test_a_locked_database_is_retried_and_the_write_lands_once(db_path, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    patient = LocalMemoryProvider(db_path, retry=RetryPolicy(backoff=(0.2,) * 20))
    lock = sqlite3.connect(db_path, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        manager = opened(patient, DM)
        manager.record("s-1", ALICE, ("written despite the lock",), "ok")

        wait_until(lambda: message_logged(caplog, "failed (attempt 1)"), what="a retry")
        assert not manager.drain(0.05)
        lock.execute("COMMIT")
        assert manager.drain(10.0)
    finally:
        lock.close()
        patient.close(5.0)

    stored = rows(db_path, "SELECT content FROM memory_messages WHERE role = 'user'")
    assert stored == [("written despite the lock",)]
    assert DM in next(r.getMessage() for r in caplog.records if "attempt 1" in r.getMessage())


def test_a_write_that_keeps_failing_is_logged_and_dropped_without_raising(
    provider, db_path, blocker, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    manager = opened(provider, DM)

    manager.record("s-1", ALICE, ("lost to the lock",), "ok")

    assert manager.drain(10.0)
    assert message_logged(caplog, f"memory record for scope {DM!r} dropped", logging.ERROR)
    assert message_logged(caplog, "database is locked", logging.ERROR)
    blocker.execute("COMMIT")
    record_and_drain(manager, "after the lock")
    stored = rows(db_path, "SELECT content FROM memory_messages WHERE role = 'user'")
    assert stored == [("after the lock",)]


def test_a_read_that_fails_raises_memory_unavailable_with_a_readable_reason(provider, blocker):
    handle = opened(provider, DM).for_user(ALICE)

    with pytest.raises(MemoryUnavailableError, match="Local memory is unavailable right now"):
        asyncio.run(handle.conclude("cannot be written while locked"))


def test_a_closed_manager_refuses_reads(provider):
    manager = opened(provider, DM)
    handle = manager.for_user(ALICE)
    manager.close()

    with pytest.raises(MemoryUnavailableError, match="closed"):
        asyncio.run(handle.profile())


def test_writes_after_the_provider_closed_are_logged_not_raised(db_path, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    memory = LocalMemoryProvider(db_path, retry=FAST)
    manager = opened(memory, DM)
    memory.close(5.0)

    manager.record("s-1", ALICE, ("too late",), "ok")

    assert message_logged(caplog, "dropped: provider closed", logging.ERROR)
    assert manager.drain(1.0)
    with pytest.raises(RuntimeError, match="closed"):
        memory.open(scope_of(DM))
    with pytest.raises(MemoryUnavailableError):
        asyncio.run(manager.for_user(ALICE).search("late"))


def test_close_finishes_queued_writes(db_path):
    memory = LocalMemoryProvider(db_path, retry=FAST)
    manager = opened(memory, DM)
    for n in range(100):
        manager.record("s-1", ALICE, (f"message {n}",), "ok")

    memory.close(5.0)

    assert rows(db_path, "SELECT count(*) FROM memory_messages") == [(200,)]
