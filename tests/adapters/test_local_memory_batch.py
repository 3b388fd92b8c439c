"""Local memory writes the exchanges of all sessions together, and keeps each scope's order.

Exchanges recorded by many sessions at once land in shared transactions; when one of those
fails, each of its exchanges is retried on its own scope's queue, and an exchange of that scope
recorded meanwhile waits behind it instead of overtaking it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from hermes.adapters.memory.local_memory import LocalMemoryProvider
from hermes.adapters.memory.writer import RetryPolicy
from hermes.messages.memory import MemoryScope
from hermes.messages.values import Platform, Sender
from tests.fakes.waiting import wait_until

ALICE = Sender(user_id="111", user_name="Alice")
DM = "agent:main:telegram:dm:111"


def scope_of(key: str) -> MemoryScope:
    return MemoryScope(scope=key, session_key=key, platform=Platform.TELEGRAM)


def rows(db_path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute(sql).fetchall()


def test_many_sessions_recording_at_once_keep_each_scopes_order(tmp_path):
    db_path = tmp_path / "memory.db"
    memory = LocalMemoryProvider(db_path, retry=RetryPolicy(backoff=(0.01,)))
    managers = [memory.open(scope_of(f"agent:main:telegram:dm:{n}")) for n in range(20)]

    def chat(n: int) -> None:
        for turn in range(25):
            managers[n].record("s-1", ALICE, (f"q{turn}",), f"a{turn}")

    threads = [threading.Thread(target=chat, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5.0)
    try:
        assert all(manager.drain(5.0) for manager in managers)
    finally:
        memory.close(5.0)

    stored = rows(db_path, "SELECT scope, content FROM memory_messages ORDER BY id")
    assert len(stored) == 20 * 25 * 2
    for n in range(20):
        scope = f"agent:main:telegram:dm:{n}"
        contents = [content for owner, content in stored if owner == scope]
        assert contents == [text for turn in range(25) for text in (f"q{turn}", f"a{turn}")]


def test_an_exchange_recorded_while_its_scope_retries_waits_behind_it(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="hermes.adapters.memory")
    db_path = tmp_path / "memory.db"
    memory = LocalMemoryProvider(db_path, retry=RetryPolicy(backoff=(1.0,) * 5))
    lock = sqlite3.connect(db_path, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        manager = memory.open(scope_of(DM))
        manager.record("s-1", ALICE, ("first",), "first reply")
        wait_until(
            lambda: any("failed (attempt 1)" in r.getMessage() for r in list(caplog.records)),
            what="a retry of the first exchange",
        )
        lock.execute("COMMIT")  # the first one now waits out its backoff: the second is quicker
        manager.record("s-1", ALICE, ("second",), "second reply")
        assert manager.drain(10.0)
    finally:
        lock.close()
        memory.close(5.0)

    stored = [
        content for (content,) in rows(db_path, "SELECT content FROM memory_messages ORDER BY id")
    ]
    assert stored == ["first", "first reply", "second", "second reply"]
